//! Dispatch rules: what each JSON-RPC message means in the protocol revision it
//! arrived under, and how each outcome is written back.
//!
//! `route` answers everything the protocol itself decides (handshake, ping,
//! discovery, validation errors) and hands the rest to the caller as an `Op`;
//! the caller performs it (list, call, read) and renders the outcome with
//! `Pending::finish`.
//!
//! Each generation has its router: `session` for the revisions that open a
//! session with `initialize` (2025-03-26 … 2025-11-25), `stateless` for
//! 2026-07-28. Each parses a message once into a typed request, its method
//! paired with its params, whose parsing lives with its concern (`request` for
//! what both serve, `lifecycle`, `tools`, `resources`, `prompts`, `completion`,
//! `logging`, `subscriptions`, `skills`); `outcome` and `input` write back what the
//! caller reports.

mod completion;
mod input;
mod lifecycle;
mod logging;
mod outcome;
mod prompts;
mod request;
mod resources;
mod session;
mod skills;
mod stateless;
mod subscriptions;
mod tasks;
mod tools;

use serde_json::Value;

use crate::http::{Headers, METHOD_HEADER, NAME_HEADER, PROTOCOL_VERSION_HEADER};
use crate::jsonrpc::{self, Incoming, Message, RpcError};
use crate::types::{
    CallError, CallRequest, CallToolResult, Completion, CompletionRequest, GetPromptResult, Inputs,
    JsonObject, LogLevel, ReadError, ResourceContents,
};
use crate::version::Version;

pub use lifecycle::{Offers, ServerInfo};
pub use skills::SKILLS_EXTENSION;
pub use subscriptions::{Change, Filter, META_SUBSCRIPTION_ID, Subscription};
pub use tasks::{Support, TASKS_EXTENSION, TOOL_TASK_META, Task, TaskStatus, TaskSupport};

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The revision a message is served under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` and sessions (2025-03-26 … 2025-11-25).
    Legacy(Version),
    /// Per-request `_meta`, no sessions (2026-07-28).
    Stateless(Version),
}

/// What the caller knows about the request beyond its body.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub protocol_version: Option<&'a str>,
    pub mcp_method: Option<&'a str>,
    pub mcp_name: Option<&'a str>,
    /// The revision the client's session negotiated, when it sent a valid one.
    pub session_version: Option<Version>,
    /// The level the session chose with `logging/setLevel`.
    pub session_log_level: Option<LogLevel>,
    /// The capabilities the client declared when it opened its session.
    pub session_capabilities: Option<JsonObject>,
}

impl<'a> Context<'a> {
    pub fn from_headers(headers: &'a (impl Headers + ?Sized)) -> Self {
        Self {
            protocol_version: headers.get(PROTOCOL_VERSION_HEADER).map(str::trim),
            mcp_method: headers.get(METHOD_HEADER).map(str::trim),
            mcp_name: headers.get(NAME_HEADER).map(str::trim),
            ..Self::default()
        }
    }
}

/// Work the caller performs before the answer can be written.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    ListTools,
    ListResources,
    ListResourceTemplates,
    ReadResource {
        uri: String,
    },
    CallTool(CallRequest),
    ListPrompts,
    GetPrompt {
        name: String,
        arguments: JsonObject,
        inputs: Option<Inputs>,
    },
    Complete(CompletionRequest),
    /// `skills/list` (the Skills extension).
    ListSkills,
    /// `skills/get`: the entry of the skill whose `SKILL.md` is `uri`.
    GetSkill {
        uri: String,
    },
    /// `tasks/get` (the tasks extension).
    GetTask {
        task_id: String,
    },
    /// `tasks/update`: answers to some of the task's input requests.
    UpdateTask {
        task_id: String,
        responses: JsonObject,
    },
    /// `tasks/cancel`.
    CancelTask {
        task_id: String,
    },
}

/// A request waiting for its `Op` to finish.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: Value,
    pub era: Era,
    pub op: Op,
    /// What the client said it supports (`_meta` or the session's `initialize`).
    pub client_capabilities: JsonObject,
}

/// The outcome of an `Op`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Pre-serialized tool definitions.
    Tools(Vec<Value>),
    /// Pre-serialized resource definitions.
    Resources(Vec<Value>),
    /// Pre-serialized resource templates.
    Templates(Vec<Value>),
    /// Pre-serialized prompt definitions.
    Prompts(Vec<Value>),
    Read(Result<Vec<ResourceContents>, ReadError>),
    Call(Result<CallToolResult, CallError>),
    Prompt(Result<GetPromptResult, CallError>),
    Completion(Result<Completion, CallError>),
    /// Pre-serialized skill entries.
    Skills(Vec<Value>),
    /// A skill's entry, `None` when no skill has that `SKILL.md`.
    Skill(Option<Value>),
    /// `tasks/get`: the task, `None` when the caller has none by that id.
    Task(Option<Task>),
    /// `tasks/update`, `tasks/cancel`: whether the caller has that task.
    TaskAck(bool),
}

/// What to do with one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this JSON-RPC response (with this HTTP status when it travels alone).
    Reply {
        status: u16,
        body: Value,
    },
    /// A notification (or a client's response): nothing to send back.
    Accepted,
    /// A legacy handshake: send `body`; the caller may open a session at `version`.
    Initialized {
        body: Value,
        version: Version,
    },
    /// `logging/setLevel` for the caller's session; reply with `body` once stored.
    SetLevel {
        level: LogLevel,
        body: Value,
    },
    Perform(Box<Pending>),
    /// `subscriptions/listen` (2026-07-28): open a stream that starts with
    /// `Subscription::acknowledged` and carries the changes it asked for.
    Listen(Box<Subscription>),
}

impl Step {
    /// A JSON-RPC error answer to the request `id`.
    fn error(status: u16, id: &Value, error: RpcError) -> Step {
        Step::Reply { status, body: jsonrpc::failure(id, &error) }
    }
}

/// Decides what one element of a POST body means.
pub fn step(incoming: Incoming, cx: &Context, server: &ServerInfo) -> Step {
    match incoming {
        Incoming::Message(message) => route(message, cx, server),
        Incoming::Response { .. } => Step::Accepted,
        Incoming::Invalid { id, error } => Step::error(400, &id, error),
    }
}

/// Decides what one JSON-RPC message means.
pub fn route(message: Message, cx: &Context, server: &ServerInfo) -> Step {
    if is_stateless(&message, cx) {
        stateless::route(message, cx, server)
    } else {
        session::route(message, cx, server)
    }
}

/// Whether a message is served statelessly (2026-07-28) rather than within
/// the sessions of earlier revisions.
pub fn is_stateless(message: &Message, cx: &Context) -> bool {
    let meta_version = message
        .params
        .get("_meta")
        .and_then(Value::as_object)
        .is_some_and(|meta| meta.contains_key(META_PROTOCOL_VERSION));
    meta_version || cx.protocol_version.and_then(Version::parse).is_some_and(Version::is_stateless)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index the JSON they check")]
mod tests;
