//! The methods both generations serve, each paired with its typed params: a
//! message is parsed once into a [`Request`], which becomes the caller's [`Op`].

use serde_json::Value;

use super::prompts::GetPromptParams;
use super::resources::ReadResourceParams;
use super::skills::GetSkillParams;
use super::tools::CallToolParams;
use super::{Era, Op, Pending, Step};
use crate::jsonrpc::{METHOD_NOT_FOUND, RpcError};
use crate::types::{CompletionRequest, JsonObject, LogLevel};

/// A request for work the caller performs.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Request {
    ListTools,
    ListResources,
    ListResourceTemplates,
    ListPrompts,
    ReadResource(ReadResourceParams),
    CallTool(CallToolParams),
    GetPrompt(GetPromptParams),
    Complete(CompletionRequest),
    ListSkills,
    GetSkill(GetSkillParams),
}

impl Request {
    /// Parses `params` as `method`'s, in the revision the message arrived under.
    pub(super) fn parse(method: &str, params: JsonObject, era: Era) -> Result<Request, RpcError> {
        Ok(match method {
            "tools/list" => list(&params, Request::ListTools)?,
            "resources/list" => list(&params, Request::ListResources)?,
            "resources/templates/list" => list(&params, Request::ListResourceTemplates)?,
            "prompts/list" => list(&params, Request::ListPrompts)?,
            "resources/read" => Request::ReadResource(ReadResourceParams::parse(params)?),
            "tools/call" => Request::CallTool(CallToolParams::parse(params, era)?),
            "prompts/get" => Request::GetPrompt(GetPromptParams::parse(params, era)?),
            "completion/complete" => Request::Complete(CompletionRequest::parse(&params)?),
            "skills/list" => list(&params, Request::ListSkills)?,
            "skills/get" => Request::GetSkill(GetSkillParams::parse(params)?),
            _ => return Err(RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {method}"))),
        })
    }

    /// Hands the request to the caller, with what the client said about itself
    /// (in `_meta` or when it opened its session).
    pub(super) fn perform(
        self,
        id: Value,
        era: Era,
        log_level: Option<LogLevel>,
        client_capabilities: JsonObject,
    ) -> Step {
        let op = match self {
            Request::ListTools => Op::ListTools,
            Request::ListResources => Op::ListResources,
            Request::ListResourceTemplates => Op::ListResourceTemplates,
            Request::ListPrompts => Op::ListPrompts,
            Request::ReadResource(ReadResourceParams { uri }) => Op::ReadResource { uri },
            Request::CallTool(params) => Op::CallTool(params.into_request(log_level, &client_capabilities)),
            Request::GetPrompt(GetPromptParams { name, arguments, inputs }) => {
                Op::GetPrompt { name, arguments, inputs }
            }
            Request::Complete(request) => Op::Complete(request),
            Request::ListSkills => Op::ListSkills,
            Request::GetSkill(GetSkillParams { uri }) => Op::GetSkill { uri },
        };
        Step::Perform(Box::new(Pending { id, era, op, client_capabilities }))
    }
}

/// A list request: we answer every list in one page, so no cursor of ours exists.
fn list(params: &JsonObject, request: Request) -> Result<Request, RpcError> {
    if params.contains_key("cursor") {
        return Err(RpcError::invalid_params("invalid cursor"));
    }
    Ok(request)
}

/// Takes the string that names what a request is about (`name`, `uri`);
/// anything else is answered with `message`.
pub(super) fn take_string(params: &mut JsonObject, key: &str, message: &str) -> Result<String, RpcError> {
    match params.remove(key) {
        Some(Value::String(text)) => Ok(text),
        _ => Err(RpcError::invalid_params(message)),
    }
}

/// Takes a call's or a prompt's `arguments`: none or `null` is no arguments,
/// an object is accepted when `valid` says so, anything else is answered with
/// `message`.
pub(super) fn take_arguments(
    params: &mut JsonObject,
    valid: impl Fn(&JsonObject) -> bool,
    message: &str,
) -> Result<JsonObject, RpcError> {
    match params.remove("arguments") {
        None | Some(Value::Null) => Ok(JsonObject::new()),
        Some(Value::Object(arguments)) if valid(&arguments) => Ok(arguments),
        Some(_) => Err(RpcError::invalid_params(message)),
    }
}
