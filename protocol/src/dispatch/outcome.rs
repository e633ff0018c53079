//! How the outcome of the caller's work is written back, in the revision the
//! request arrived under.

use serde_json::{Value, json};

use super::{Era, Op, Outcome, Pending, ServerInfo, stateless, tasks};
use crate::jsonrpc::{self, INTERNAL_ERROR, INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError};
use crate::types::{CallError, JsonObject, ReadError};

impl Pending {
    /// The JSON-RPC response for this request's outcome, and its HTTP status.
    pub fn finish(&self, outcome: Outcome, server: &ServerInfo) -> (u16, Value) {
        let id = &self.id;
        let stateless = matches!(self.era, Era::Stateless(_));
        let failure = |status: u16, error: RpcError| (status, jsonrpc::failure(id, &error));
        let one = |key: &str, value: Value| JsonObject::from_iter([(key.to_owned(), value)]);
        let (result, cacheable) = match outcome {
            Outcome::Tools(tools) => (one("tools", json!(tools)), true),
            Outcome::Resources(resources) => (one("resources", json!(resources)), true),
            Outcome::Templates(templates) => (one("resourceTemplates", json!(templates)), true),
            Outcome::Prompts(prompts) => (one("prompts", json!(prompts)), true),
            Outcome::Read(Ok(contents)) => (one("contents", json!(contents)), true),
            Outcome::Read(Err(ReadError::NotFound)) => {
                let code = if stateless { INVALID_PARAMS } else { RESOURCE_NOT_FOUND };
                let uri = self.target();
                return failure(
                    200,
                    RpcError::new(code, format!("Resource not found: {uri}"))
                        .with_data(json!({ "uri": uri })),
                );
            }
            Outcome::Call(Ok(result)) => (fields(result), false),
            Outcome::Prompt(Ok(result)) => (fields(result), false),
            Outcome::Completion(Ok(completion)) => (one("completion", json!(completion)), false),
            Outcome::Skills(skills) => (one("skills", json!(skills)), true),
            Outcome::Skill(Some(skill)) => (one("skill", skill), true),
            Outcome::Skill(None) => {
                let uri = self.target();
                return failure(
                    200,
                    RpcError::invalid_params(format!("Skill not found: {uri}"))
                        .with_data(json!({ "uri": uri })),
                );
            }
            Outcome::Task(task) => match tasks::get(task) {
                Ok(fields) => (fields, false),
                Err(error) => return failure(200, error),
            },
            Outcome::TaskAck(known) => match tasks::ack(known) {
                Ok(fields) => (fields, false),
                Err(error) => return failure(200, error),
            },
            Outcome::Call(Err(error)) | Outcome::Prompt(Err(error)) | Outcome::Completion(Err(error)) => {
                return self.error(error, server);
            }
            Outcome::Read(Err(ReadError::Internal(_))) => {
                return failure(200, RpcError::new(INTERNAL_ERROR, "Internal error"));
            }
        };
        let result = if stateless { stateless::result(result, server, cacheable) } else { result };
        (200, jsonrpc::success(id, Value::Object(result)))
    }

    fn error(&self, error: CallError, server: &ServerInfo) -> (u16, Value) {
        let id = &self.id;
        let kind = if matches!(self.op, Op::GetPrompt { .. }) { "prompt" } else { "tool" };
        let error = match error {
            CallError::UnknownTool => RpcError::invalid_params(format!("Unknown {kind}: {}", self.target())),
            CallError::InvalidParams(message) => RpcError::invalid_params(message),
            CallError::Internal(_) => RpcError::new(INTERNAL_ERROR, "Internal error"),
            CallError::InputRequired(needed) => return self.input_required(needed, server),
        };
        (200, jsonrpc::failure(id, &error))
    }

    /// The name the request was about (tool, prompt or resource).
    fn target(&self) -> &str {
        match &self.op {
            Op::CallTool(request) => &request.name,
            Op::GetPrompt { name, .. } => name,
            Op::ReadResource { uri } | Op::GetSkill { uri } => uri,
            Op::GetTask { task_id } | Op::UpdateTask { task_id, .. } | Op::CancelTask { task_id } => task_id,
            _ => "",
        }
    }
}

/// The fields of a result type (each serializes to a JSON object).
fn fields(result: impl serde::Serialize) -> JsonObject {
    match serde_json::to_value(result).expect("results serialize") {
        Value::Object(fields) => fields,
        _ => JsonObject::new(),
    }
}
