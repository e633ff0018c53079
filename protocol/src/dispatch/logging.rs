//! Log levels, chosen per session (`logging/setLevel`) or per request
//! (`_meta`), and the log messages a call sends at or above them.

use serde_json::{Value, json};

use super::META_LOG_LEVEL;
use crate::jsonrpc::{self, RpcError};
use crate::types::{JsonObject, LogLevel};

/// `logging/setLevel` (sessions only).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SetLevelParams {
    pub level: LogLevel,
}

impl SetLevelParams {
    pub(super) fn parse(params: &JsonObject) -> Result<Self, RpcError> {
        match params.get("level").and_then(Value::as_str).and_then(LogLevel::parse) {
            Some(level) => Ok(Self { level }),
            None => Err(RpcError::invalid_params("level must be an RFC 5424 level name")),
        }
    }
}

/// The level a 2026-07-28 request's `_meta` asks for; none: no logs.
pub(super) fn meta_level(meta: &JsonObject) -> Result<Option<LogLevel>, RpcError> {
    match meta.get(META_LOG_LEVEL) {
        None => Ok(None),
        Some(level) => match level.as_str().and_then(LogLevel::parse) {
            Some(level) => Ok(Some(level)),
            None => Err(RpcError::invalid_params(format!("{META_LOG_LEVEL} is not a log level"))),
        },
    }
}

/// `notifications/message`.
pub(super) fn message(level: LogLevel, logger: Option<&str>, data: &Value) -> Value {
    let mut params = JsonObject::new();
    params.insert("level".into(), json!(level));
    params.insert("data".into(), data.clone());
    if let Some(logger) = logger {
        params.insert("logger".into(), json!(logger));
    }
    jsonrpc::notification("notifications/message", Value::Object(params))
}
