//! What the server says about itself, and the requests that ask: `initialize`
//! (sessions, which negotiates the revision) and `server/discover` (stateless).

use serde_json::{Value, json};

use crate::jsonrpc::RpcError;
use crate::types::{Implementation, JsonObject};
use crate::version::Version;

/// What the server says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub implementation: Implementation,
    pub instructions: Option<String>,
    /// The `capabilities` object of `initialize` and `server/discover`.
    pub capabilities: Value,
    /// How long clients of 2026-07-28 may cache lists and reads.
    pub ttl_ms: u64,
    /// Some tool may run as a task: `server/discover` names the tasks extension.
    pub tasks: bool,
}

/// What kinds of things a server offers besides tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offers {
    pub resources: bool,
    pub prompts: bool,
    /// Prompts or resource templates whose arguments can be completed.
    pub completions: bool,
    /// Clients with an open stream are told when the lists change.
    pub list_changed: bool,
    /// Skills (`skill://` resources), served with `skills/list` and `skills/get`.
    pub skills: bool,
    /// Tools that may run as tasks (the tasks extension, 2026-07-28 only).
    pub tasks: bool,
}

impl ServerInfo {
    /// A server offering tools and logging, and the other kinds it has.
    pub fn new(implementation: Implementation, offers: Offers) -> Self {
        let changes = offers.list_changed;
        let mut capabilities = JsonObject::new();
        capabilities.insert("tools".into(), json!({ "listChanged": changes }));
        capabilities.insert("logging".into(), json!({}));
        if offers.resources {
            capabilities.insert("resources".into(), json!({ "subscribe": true, "listChanged": changes }));
        }
        if offers.prompts {
            capabilities.insert("prompts".into(), json!({ "listChanged": changes }));
        }
        if offers.completions {
            capabilities.insert("completions".into(), json!({}));
        }
        if offers.skills {
            capabilities.insert("extensions".into(), json!({ super::SKILLS_EXTENSION: {} }));
        }
        Self {
            implementation,
            instructions: None,
            capabilities: Value::Object(capabilities),
            ttl_ms: 60_000,
            tasks: offers.tasks,
        }
    }
}

/// `initialize`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct InitializeParams {
    /// The revision the client asks for.
    pub protocol_version: String,
}

impl InitializeParams {
    pub(super) fn parse(params: &JsonObject) -> Result<Self, RpcError> {
        match params.get("protocolVersion").and_then(Value::as_str) {
            Some(requested) => Ok(Self { protocol_version: requested.to_owned() }),
            None => Err(RpcError::invalid_params("initialize needs a protocolVersion string")),
        }
    }
}

/// The result of `initialize`, and the revision it negotiated.
pub(super) fn initialize(params: &InitializeParams, server: &ServerInfo) -> (Value, Version) {
    let version = Version::negotiate(&params.protocol_version);
    let mut result = JsonObject::new();
    result.insert("protocolVersion".into(), json!(version.as_str()));
    result.insert("capabilities".into(), server.capabilities.clone());
    result.insert("serverInfo".into(), json!(server.implementation));
    if let Some(instructions) = &server.instructions {
        result.insert("instructions".into(), json!(instructions));
    }
    (Value::Object(result), version)
}

/// The result of `server/discover`, before what every 2026-07-28 result carries.
pub(super) fn discover(server: &ServerInfo) -> JsonObject {
    // 2026-07-28 delivers list changes and resource updates on
    // subscriptions/listen streams, which carry them when the lists can change.
    let mut capabilities = server.capabilities.clone();
    if let Some(resources) = capabilities.get_mut("resources").and_then(Value::as_object_mut) {
        let changes = resources.get("listChanged").cloned().unwrap_or(json!(false));
        resources.insert("subscribe".into(), changes);
    }
    // Tasks exist in 2026-07-28 only, so `initialize` does not name them.
    if server.tasks
        && let Some(capabilities) = capabilities.as_object_mut()
        && let Some(extensions) =
            capabilities.entry("extensions").or_insert_with(|| json!({})).as_object_mut()
    {
        extensions.insert(super::TASKS_EXTENSION.into(), json!({}));
    }
    let mut result = JsonObject::new();
    result.insert("supportedVersions".into(), json!(Version::supported_strings()));
    result.insert("capabilities".into(), capabilities);
    if let Some(instructions) = &server.instructions {
        result.insert("instructions".into(), json!(instructions));
    }
    result
}
