//! The tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) on
//! 2026-07-28: a `tools/call` answered with a task handle, then `tasks/get`,
//! `tasks/update` and `tasks/cancel`. The caller keeps the tasks; this module
//! says which calls become tasks and how each answer is written.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::request::take_string;
use super::{Era, Op, Pending};
use crate::jsonrpc::{self, MISSING_CLIENT_CAPABILITY, RpcError};
use crate::types::{JsonObject, Tool};

pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// The key of a tool's `_meta` by which a component says its tool may run as
/// a task: `{"support": "optional" | "required", "afterInput": bool}`. The host
/// reads and removes it when the component loads; clients never see it.
pub const TOOL_TASK_META: &str = "mcp-host/task";

/// Whether a tool's calls may run as tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSupport {
    pub support: Support,
    /// Ask for input first: a call without answers runs at once (and may ask
    /// for input with an `input_required` result); the retry that brings the
    /// answers becomes the task.
    #[serde(default)]
    pub after_input: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Support {
    /// Always answered at once.
    #[default]
    Forbidden,
    /// A task for clients of the extension, answered at once for the others.
    Optional,
    /// A task; clients without the extension are refused (-32021).
    Required,
}

impl TaskSupport {
    /// Takes the tool's declaration out of its `_meta`.
    pub fn take(tool: &mut Tool) -> Result<TaskSupport, String> {
        let Some(meta) = tool.meta.as_mut() else { return Ok(TaskSupport::default()) };
        let Some(declared) = meta.remove(TOOL_TASK_META) else { return Ok(TaskSupport::default()) };
        if meta.is_empty() {
            tool.meta = None;
        }
        serde_json::from_value(declared).map_err(|e| {
            format!(
                "tool {:?}: _meta[{TOOL_TASK_META:?}] must be {{\"support\": \"forbidden\" | \"optional\" | \"required\", \"afterInput\": bool}}: {e}",
                tool.name
            )
        })
    }
}

/// Whether the client declared the extension (in this request's `_meta`, the
/// only place 2026-07-28 declares anything).
pub(super) fn declared(era: Era, capabilities: &JsonObject) -> bool {
    matches!(era, Era::Stateless(_))
        && capabilities
            .get("extensions")
            .and_then(Value::as_object)
            .is_some_and(|e| e.contains_key(TASKS_EXTENSION))
}

/// -32021, naming the extension the client must declare.
pub(super) fn missing_extension(message: &str) -> RpcError {
    RpcError::new(MISSING_CLIENT_CAPABILITY, message)
        .with_data(json!({ "requiredCapabilities": { "extensions": { TASKS_EXTENSION: {} } } }))
}

/// `tasks/get`, `tasks/update`, `tasks/cancel`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TaskRequest {
    Get(String),
    Update(String, JsonObject),
    Cancel(String),
}

impl TaskRequest {
    pub(super) fn parse(method: &str, mut params: JsonObject) -> Option<Result<Self, RpcError>> {
        let id = |params: &mut JsonObject| take_string(params, "taskId", "taskId must be a string");
        Some(match method {
            "tasks/get" => id(&mut params).map(TaskRequest::Get),
            "tasks/cancel" => id(&mut params).map(TaskRequest::Cancel),
            "tasks/update" => id(&mut params).and_then(|task| match params.remove("inputResponses") {
                Some(Value::Object(responses)) if responses.values().all(Value::is_object) => {
                    Ok(TaskRequest::Update(task, responses))
                }
                _ => Err(RpcError::invalid_params("inputResponses must map each key to a result object")),
            }),
            _ => return None,
        })
    }

    /// The caller's work, once the client is known to have declared the extension.
    pub(super) fn into_op(self, era: Era, capabilities: &JsonObject) -> Result<Op, RpcError> {
        if !declared(era, capabilities) {
            return Err(missing_extension(
                "the tasks methods need the io.modelcontextprotocol/tasks extension",
            ));
        }
        Ok(match self {
            TaskRequest::Get(task_id) => Op::GetTask { task_id },
            TaskRequest::Update(task_id, responses) => Op::UpdateTask { task_id, responses },
            TaskRequest::Cancel(task_id) => Op::CancelTask { task_id },
        })
    }
}

/// A task's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Working,
    InputRequired,
    Completed,
    Cancelled,
    Failed,
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Cancelled | TaskStatus::Failed)
    }
}

/// A task as `tasks/get` shows it (a `DetailedTask`); without `input_requests`,
/// `result` and `error` it is the `Task` a `CreateTaskResult` carries.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    pub status: TaskStatus,
    pub status_message: Option<String>,
    /// ISO 8601.
    pub created_at: String,
    pub last_updated_at: String,
    #[serde(serialize_with = "always")]
    pub ttl_ms: Option<u64>,
    pub poll_interval_ms: Option<u64>,
    pub input_requests: Option<JsonObject>,
    pub result: Option<Value>,
    pub error: Option<Value>,
}

/// `ttlMs` is written even when null (unlimited).
fn always<S: serde::Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
    value.serialize(serializer)
}

impl Task {
    fn fields(&self) -> JsonObject {
        match serde_json::to_value(self).expect("tasks serialize") {
            Value::Object(fields) => fields,
            _ => Map::new(),
        }
    }
}

impl Pending {
    /// Whether this call runs as a task, given its tool's support: `Err` is the
    /// answer for a client that cannot take a task the tool requires.
    pub fn as_task(&self, support: TaskSupport) -> Result<bool, (u16, Value)> {
        let Op::CallTool(request) = &self.op else { return Ok(false) };
        let declared = declared(self.era, &self.client_capabilities);
        match support.support {
            Support::Forbidden => Ok(false),
            Support::Optional | Support::Required if declared => {
                Ok(!(support.after_input && request.inputs.is_none()))
            }
            Support::Optional => Ok(false),
            Support::Required => {
                let error = missing_extension(&format!(
                    "tool {} runs only as a task: the client must declare the io.modelcontextprotocol/tasks extension",
                    request.name
                ));
                Err((200, jsonrpc::failure(&self.id, &error)))
            }
        }
    }

    /// The `CreateTaskResult` of a call that became `task`.
    pub fn task_created(&self, task: &Task, server: &super::ServerInfo) -> (u16, Value) {
        let mut result = super::stateless::result(task.fields(), server, false);
        result.insert("resultType".into(), json!("task"));
        (200, jsonrpc::success(&self.id, Value::Object(result)))
    }
}

/// What `tasks/get` renders: the task, or `None` when there is none by that
/// id for this caller (or it expired).
pub(super) fn get(task: Option<Task>) -> Result<JsonObject, RpcError> {
    task.map(|task| task.fields())
        .ok_or_else(|| RpcError::invalid_params("Failed to retrieve task: Task not found"))
}

/// What `tasks/update` and `tasks/cancel` render: an empty acknowledgement,
/// or -32602 when there is no such task.
pub(super) fn ack(known: bool) -> Result<JsonObject, RpcError> {
    if known { Ok(JsonObject::new()) } else { Err(RpcError::invalid_params("Task not found")) }
}

impl Tool {
    /// Declares that this tool's calls may (or must) run as tasks, for
    /// `mcp-host` to read when the component loads.
    pub fn with_tasks(mut self, support: TaskSupport) -> Self {
        let declared = serde_json::to_value(support).expect("task support serializes");
        self.meta.get_or_insert_with(JsonObject::new).insert(TOOL_TASK_META.into(), declared);
        self
    }
}
