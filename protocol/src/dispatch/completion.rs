//! `completion/complete`: its params are a [`CompletionRequest`].

use serde_json::Value;

use crate::jsonrpc::RpcError;
use crate::types::{CompletionRef, CompletionRequest, JsonObject};

impl CompletionRequest {
    pub(super) fn parse(params: &JsonObject) -> Result<Self, RpcError> {
        let text = |value: Option<&Value>, what: &str| {
            value
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| RpcError::invalid_params(what.to_owned()))
        };
        let reference = params.get("ref").and_then(Value::as_object);
        let field = |key: &str| reference.and_then(|r| r.get(key));
        let reference = match field("type").and_then(Value::as_str) {
            Some("ref/prompt") => CompletionRef::Prompt(text(field("name"), "ref.name must be a string")?),
            Some("ref/resource") => {
                CompletionRef::ResourceTemplate(text(field("uri"), "ref.uri must be a string")?)
            }
            _ => return Err(RpcError::invalid_params("ref must be a ref/prompt or ref/resource")),
        };
        let argument = params.get("argument");
        let context = params
            .get("context")
            .and_then(|c| c.get("arguments"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok(CompletionRequest {
            reference,
            argument: text(argument.and_then(|a| a.get("name")), "argument.name must be a string")?,
            value: text(argument.and_then(|a| a.get("value")), "argument.value must be a string")?,
            context,
        })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index the JSON they check")]
mod tests {
    use serde_json::{Value, json};

    use crate::types::{CompletionRef, CompletionRequest};

    #[test]
    fn completion_requests() {
        let parse = |params: Value| CompletionRequest::parse(params.as_object().unwrap());
        let request =
            parse(json!({"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"pa"},
            "context":{"arguments":{"b":"x"}}}))
            .unwrap();
        assert_eq!(request.reference, CompletionRef::Prompt("p".into()));
        assert_eq!((request.argument.as_str(), request.value.as_str()), ("a", "pa"));
        assert_eq!(request.context["b"], "x");
        assert!(parse(json!({"ref":{"type":"ref/other"},"argument":{"name":"a","value":""}})).is_err());
        assert!(
            parse(json!({"ref":{"type":"ref/resource","uri":"x://{id}"},"argument":{"name":"a"}})).is_err()
        );
    }
}
