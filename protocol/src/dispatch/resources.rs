//! Resource requests: `resources/read`, and (sessions only) subscriptions.

use serde_json::Value;

use super::request::take_string;
use crate::jsonrpc::RpcError;
use crate::types::JsonObject;

/// `resources/read`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ReadResourceParams {
    pub uri: String,
}

impl ReadResourceParams {
    pub(super) fn parse(mut params: JsonObject) -> Result<Self, RpcError> {
        Ok(Self { uri: take_string(&mut params, "uri", "resources/read needs a uri string")? })
    }
}

/// Checks the params of `resources/subscribe` or `resources/unsubscribe`
/// (`method`). Resources change only when a component is replaced, so a
/// subscription needs no state: its URI is only checked.
pub(super) fn check_subscription(method: &str, params: &JsonObject) -> Result<(), RpcError> {
    match params.get("uri") {
        Some(Value::String(_)) => Ok(()),
        _ => Err(RpcError::invalid_params(format!("{method} needs a uri string"))),
    }
}
