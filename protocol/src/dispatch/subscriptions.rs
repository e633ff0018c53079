//! `subscriptions/listen` (2026-07-28): a long-lived stream of the
//! notifications a client opts in to, in place of the GET stream and
//! `resources/subscribe` of the session revisions. The caller keeps the
//! stream open and reports each change; this module says what to send.

use serde_json::{Value, json};

use super::{META_SERVER_INFO, ServerInfo};
use crate::jsonrpc::{self, INVALID_REQUEST, RpcError};
use crate::types::JsonObject;

pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// Most resource URIs one stream may watch.
pub const MAX_RESOURCE_SUBSCRIPTIONS: usize = 100;
/// Longest resource URI a stream may watch, in bytes.
const MAX_URI_BYTES: usize = 2_048;
/// Most tasks one stream may watch (each is read from the task store once a second).
pub const MAX_TASK_SUBSCRIPTIONS: usize = 16;
/// Longest task id a stream may name, in bytes (the host's are 32).
const MAX_TASK_ID_BYTES: usize = 64;

/// What changed on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Tools,
    Resources,
    Prompts,
    /// A resource's contents may differ (its component changed).
    ResourceUpdated(&'a str),
}

/// The notifications a stream carries: what the client asked for, less what
/// the server does not offer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub tools: bool,
    pub resources: bool,
    pub prompts: bool,
    pub resource_uris: Vec<String>,
    /// Tasks whose status changes the stream carries (the tasks extension).
    pub task_ids: Vec<String>,
}

impl Filter {
    pub(super) fn parse(
        params: &JsonObject,
        server: &ServerInfo,
        capabilities: &JsonObject,
    ) -> Result<Self, RpcError> {
        let Some(asked) = params.get("notifications").and_then(Value::as_object) else {
            return Err(RpcError::invalid_params("subscriptions/listen needs a notifications object"));
        };
        let flag = |key: &str| match asked.get(key) {
            None => Ok(false),
            Some(Value::Bool(on)) => Ok(*on),
            Some(_) => Err(RpcError::invalid_params(format!("notifications.{key} must be a boolean"))),
        };
        let uris =
            strings(asked, "resourceSubscriptions", MAX_RESOURCE_SUBSCRIPTIONS, MAX_URI_BYTES, "URIs")?;
        let stateless = super::Era::Stateless(crate::Version::V2026_07_28);
        if asked.contains_key("taskIds") && !super::tasks::declared(stateless, capabilities) {
            return Err(super::tasks::missing_extension(
                "task status notifications need the io.modelcontextprotocol/tasks extension",
            ));
        }
        let task_ids = strings(asked, "taskIds", MAX_TASK_SUBSCRIPTIONS, MAX_TASK_ID_BYTES, "task ids")?;
        // Only what can change: a kind the server offers, whose list it says changes.
        let changes = |kind: &str| {
            server.capabilities.get(kind).and_then(|c| c.get("listChanged")) == Some(&json!(true))
        };
        Ok(Self {
            tools: flag("toolsListChanged")? && changes("tools"),
            resources: flag("resourcesListChanged")? && changes("resources"),
            prompts: flag("promptsListChanged")? && changes("prompts"),
            resource_uris: if changes("resources") { uris } else { Vec::new() },
            task_ids: if server.tasks { task_ids } else { Vec::new() },
        })
    }

    fn to_json(&self) -> Value {
        let mut agreed = JsonObject::new();
        for (key, on) in [
            ("toolsListChanged", self.tools),
            ("resourcesListChanged", self.resources),
            ("promptsListChanged", self.prompts),
        ] {
            if on {
                agreed.insert(key.into(), json!(true));
            }
        }
        if !self.resource_uris.is_empty() {
            agreed.insert("resourceSubscriptions".into(), json!(self.resource_uris));
        }
        if !self.task_ids.is_empty() {
            agreed.insert("taskIds".into(), json!(self.task_ids));
        }
        Value::Object(agreed)
    }
}

/// `notifications.KEY`: an array of at most `most` strings of 1 to `bytes` bytes
/// (none when absent).
fn strings(
    asked: &JsonObject,
    key: &str,
    most: usize,
    bytes: usize,
    what: &str,
) -> Result<Vec<String>, RpcError> {
    match asked.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= most => items
            .iter()
            .map(|item| match item.as_str() {
                Some(item) if !item.is_empty() && item.len() <= bytes => Ok(item.to_owned()),
                _ => Err(RpcError::invalid_params(format!(
                    "notifications.{key} must hold {what} of 1 to {bytes} bytes"
                ))),
            })
            .collect(),
        Some(_) => Err(RpcError::invalid_params(format!(
            "notifications.{key} must be an array of at most {most} {what}"
        ))),
    }
}

/// An open `subscriptions/listen` stream: its request id tags everything it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: Value,
    pub filter: Filter,
}

impl Subscription {
    /// The stream's first message: which notifications it will carry.
    pub fn acknowledged(&self) -> Value {
        self.tagged(
            "notifications/subscriptions/acknowledged",
            json!({ "notifications": self.filter.to_json() }),
        )
    }

    /// The notification for a change, if the client opted in to it.
    pub fn notification(&self, change: Change) -> Option<Value> {
        let filter = &self.filter;
        match change {
            Change::Tools if filter.tools => Some(self.tagged("notifications/tools/list_changed", json!({}))),
            Change::Resources if filter.resources => {
                Some(self.tagged("notifications/resources/list_changed", json!({})))
            }
            Change::Prompts if filter.prompts => {
                Some(self.tagged("notifications/prompts/list_changed", json!({})))
            }
            Change::ResourceUpdated(uri) if filter.resource_uris.iter().any(|u| u == uri) => {
                Some(self.tagged("notifications/resources/updated", json!({ "uri": uri })))
            }
            _ => None,
        }
    }

    /// `notifications/tasks`: a watched task as `tasks/get` would show it now.
    pub fn task_changed(&self, task: &super::Task) -> Value {
        self.tagged("notifications/tasks", serde_json::to_value(task).expect("tasks serialize"))
    }

    /// The response that ends the stream gracefully (the server is stopping).
    pub fn ended(&self, server: &ServerInfo) -> Value {
        let meta = json!({ META_SUBSCRIPTION_ID: self.id, META_SERVER_INFO: server.implementation });
        jsonrpc::success(&self.id, json!({ "resultType": "complete", "_meta": meta }))
    }

    /// The answer to a listen that shares its POST with other messages: a
    /// stream needs the response to itself.
    pub fn not_alone(&self) -> Value {
        let error =
            RpcError::new(INVALID_REQUEST, "subscriptions/listen must be the only message of its POST");
        jsonrpc::failure(&self.id, &error)
    }

    fn tagged(&self, method: &str, mut params: Value) -> Value {
        if let Some(params) = params.as_object_mut() {
            params.insert("_meta".into(), json!({ META_SUBSCRIPTION_ID: self.id }));
        }
        jsonrpc::notification(method, params)
    }
}
