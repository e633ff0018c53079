//! `tools/call`, and the notifications a running call sends.

use serde_json::{Map, Value, json};

use super::request::{take_arguments, take_string};
use super::{Era, Op, Pending, ServerInfo, input, logging};
use crate::http::Headers;
use crate::jsonrpc::{self, RpcError};
use crate::schema::ToolSchema;
use crate::types::{CallEvent, CallRequest, Inputs, JsonObject, LogLevel};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct CallToolParams {
    pub name: String,
    pub arguments: JsonObject,
    pub progress_token: Option<Value>,
    /// `_meta` without the progress token and the protocol's own keys.
    pub meta: Option<JsonObject>,
    pub inputs: Option<Inputs>,
}

impl CallToolParams {
    pub(super) fn parse(mut params: JsonObject, era: Era) -> Result<Self, RpcError> {
        let name = take_string(&mut params, "name", "tools/call needs a tool name string")?;
        let arguments = take_arguments(&mut params, |_| true, "tools/call arguments must be an object")?;
        let mut meta = match params.remove("_meta") {
            Some(Value::Object(meta)) => meta,
            _ => Map::new(),
        };
        let progress_token = meta.remove("progressToken");
        if progress_token.as_ref().is_some_and(|t| !(t.is_string() || t.is_i64() || t.is_u64())) {
            return Err(RpcError::invalid_params("progressToken must be a string or an integer"));
        }
        meta.retain(|key, _| !key.starts_with("io.modelcontextprotocol/"));
        let inputs = input::parse(&mut params, era)?;
        Ok(Self { name, arguments, progress_token, meta: (!meta.is_empty()).then_some(meta), inputs })
    }

    /// The call as the component sees it.
    pub(super) fn into_request(
        self,
        log_level: Option<LogLevel>,
        client_capabilities: &JsonObject,
    ) -> CallRequest {
        let Self { name, arguments, progress_token, meta, inputs } = self;
        CallRequest {
            name,
            arguments,
            log_level,
            progress_token,
            meta,
            inputs,
            client_capabilities: client_capabilities.clone(),
            identity: None,
        }
    }
}

impl Pending {
    /// Checks a tool call against its tool's schema before the tool runs: in
    /// 2026-07-28 the `Mcp-Param-*` headers must repeat the annotated
    /// arguments (else 400, -32020), and in every revision the arguments must
    /// match `inputSchema` (else a tool error the model can correct; with the
    /// `json-schema` feature only). `Some` is the answer to send instead of
    /// running the tool.
    pub fn vet_call(
        &self,
        schema: &ToolSchema,
        headers: &(impl Headers + ?Sized),
        server: &ServerInfo,
    ) -> Option<(u16, Value)> {
        let Op::CallTool(request) = &self.op else { return None };
        if matches!(self.era, Era::Stateless(_))
            && let Err(error) = schema.check_headers(&request.arguments, headers)
        {
            return Some((400, jsonrpc::failure(&self.id, &error)));
        }
        #[cfg(feature = "json-schema")]
        if let Err(invalid) = schema.check_arguments(&request.name, &request.arguments) {
            let refusal = crate::types::CallToolResult::error(invalid);
            return Some(self.finish(super::Outcome::Call(Ok(refusal)), server));
        }
        #[cfg(not(feature = "json-schema"))]
        let _ = server;
        None
    }

    /// The notification for an event of this call, if the client asked for it.
    pub fn notification(&self, event: &CallEvent) -> Option<Value> {
        let Op::CallTool(request) = &self.op else { return None };
        match event {
            CallEvent::Log { level, logger, data } => {
                if request.log_level.is_none_or(|min| *level < min) {
                    return None;
                }
                Some(logging::message(*level, logger.as_deref(), data))
            }
            CallEvent::Progress { progress, total, message } => {
                let token = request.progress_token.as_ref()?;
                let mut params = JsonObject::new();
                params.insert("progressToken".into(), token.clone());
                params.insert("progress".into(), json!(progress));
                if let Some(total) = total {
                    params.insert("total".into(), json!(total));
                }
                if let Some(message) = message {
                    params.insert("message".into(), json!(message));
                }
                Some(jsonrpc::notification("notifications/progress", Value::Object(params)))
            }
        }
    }
}
