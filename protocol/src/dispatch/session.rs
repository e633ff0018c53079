//! The generation with sessions (2025-03-26 … 2025-11-25): `initialize`
//! negotiates a revision and opens a session, which holds the client's
//! capabilities and the log level it picks with `logging/setLevel`.

use serde_json::{Value, json};

use super::lifecycle::{self, InitializeParams};
use super::logging::SetLevelParams;
use super::request::Request;
use super::{Context, Era, ServerInfo, Step, resources};
use crate::jsonrpc::{self, INVALID_REQUEST, Message, RpcError};
use crate::types::JsonObject;
use crate::version::Version;

/// A request this generation serves.
#[derive(Debug, Clone, PartialEq)]
enum SessionRequest {
    Initialize(InitializeParams),
    Ping,
    SetLevel(SetLevelParams),
    /// `resources/subscribe` or `resources/unsubscribe`.
    Subscription,
    Shared(Request),
}

impl SessionRequest {
    fn parse(method: &str, params: JsonObject, era: Era) -> Result<Self, RpcError> {
        Ok(match method {
            "initialize" => Self::Initialize(InitializeParams::parse(&params)?),
            "ping" => Self::Ping,
            "logging/setLevel" => Self::SetLevel(SetLevelParams::parse(&params)?),
            "resources/subscribe" | "resources/unsubscribe" => {
                resources::check_subscription(method, &params)?;
                Self::Subscription
            }
            _ => Self::Shared(Request::parse(method, params, era)?),
        })
    }
}

pub(super) fn route(message: Message, cx: &Context, server: &ServerInfo) -> Step {
    let Message { id, method, params } = message;
    let Some(id) = id else { return Step::Accepted };
    let version = match revision(cx, &method) {
        Ok(version) => version,
        Err(error) => return Step::error(400, &id, error),
    };
    let era = Era::Legacy(version);
    let request = match SessionRequest::parse(&method, params, era) {
        Ok(request) => request,
        Err(error) => return Step::error(200, &id, error),
    };
    let empty = |id: &Value| jsonrpc::success(id, json!({}));
    match request {
        SessionRequest::Initialize(params) => {
            let (result, version) = lifecycle::initialize(&params, server);
            Step::Initialized { body: jsonrpc::success(&id, result), version }
        }
        SessionRequest::Ping | SessionRequest::Subscription => Step::Reply { status: 200, body: empty(&id) },
        SessionRequest::SetLevel(SetLevelParams { level }) => Step::SetLevel { level, body: empty(&id) },
        // Like 2026-07-28: no logs until the client picks a level.
        SessionRequest::Shared(request) => request.perform(
            id,
            era,
            cx.session_log_level,
            cx.session_capabilities.clone().unwrap_or_default(),
        ),
    }
}

/// The revision a request is served under: its session's, else the one its
/// header names, else 2025-03-26 (which had no header).
fn revision(cx: &Context, method: &str) -> Result<Version, RpcError> {
    match (cx.session_version, cx.protocol_version) {
        (Some(version), _) => Ok(version),
        (None, None) => Ok(Version::V2025_03_26),
        (None, Some(header)) => match Version::parse(header) {
            Some(version) => Ok(version),
            // `initialize` negotiates the revision itself.
            None if method == "initialize" => Ok(Version::V2025_03_26),
            None => {
                Err(RpcError::new(INVALID_REQUEST, format!("Unsupported MCP-Protocol-Version: {header}"))
                    .with_data(json!({ "supported": Version::supported_strings(), "requested": header })))
            }
        },
    }
}
