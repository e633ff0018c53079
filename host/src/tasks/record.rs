//! A task as it is stored: what was called, where it stands, and what it
//! produced. Every change goes through these methods, which keep the rules of
//! the tasks extension (no way back from a terminal status, keys of input
//! requests never reused, answers only to requests still outstanding).

use std::collections::BTreeMap;

use mcp_protocol::{CallRequest, InputRequired, Inputs, JsonObject, LogLevel, Task, TaskStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How often clients are asked to poll.
const POLL_INTERVAL_MS: u64 = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Digest of the caller's token subject: only that caller sees the task.
    pub owner: Option<String>,
    /// The component that owned the tool when the task was created.
    pub component: String,
    pub status: TaskStatus,
    pub status_message: Option<String>,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub ttl_ms: u64,
    pub work: Work,
    /// Attempts so far; each round of input requests starts another.
    pub round: u32,
    /// What the component handed out with its last input requests.
    pub state: Option<String>,
    /// Outstanding input requests, by the key the client sees.
    pub asked: BTreeMap<String, Asked>,
    /// Answers of this round so far, by the component's own key.
    pub answers: JsonObject,
    pub result: Option<Value>,
    pub error: Option<Value>,
    /// Which instance runs the task, until when; renewed while it runs.
    pub lease: Option<Lease>,
}

/// The call a task runs (what `CallRequest` holds that outlives a request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Work {
    pub name: String,
    pub arguments: JsonObject,
    pub meta: Option<JsonObject>,
    pub client_capabilities: JsonObject,
    pub identity: Option<JsonObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asked {
    /// The component's key for this request.
    pub key: String,
    pub method: String,
    pub params: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub instance: String,
    pub until_ms: u64,
}

impl Record {
    /// A task about to run its first attempt on `instance`.
    pub fn new(
        id: String,
        owner: Option<String>,
        component: String,
        request: &CallRequest,
        ttl_ms: u64,
        now: u64,
        lease: Lease,
    ) -> Self {
        let work = Work {
            name: request.name.clone(),
            arguments: request.arguments.clone(),
            meta: request.meta.clone(),
            client_capabilities: request.client_capabilities.clone(),
            identity: request.identity.clone(),
        };
        let state = request.inputs.as_ref().and_then(|inputs| inputs.state.clone());
        let answers = request.inputs.as_ref().map(|inputs| inputs.responses.clone()).unwrap_or_default();
        Record {
            id,
            owner,
            component,
            status: TaskStatus::Working,
            status_message: None,
            created_ms: now,
            updated_ms: now,
            ttl_ms,
            work,
            round: 0,
            state,
            asked: BTreeMap::new(),
            answers,
            result: None,
            error: None,
            lease: Some(lease),
        }
    }

    pub fn expired(&self, now: u64) -> bool {
        now >= self.created_ms.saturating_add(self.ttl_ms)
    }

    /// Whether `instance` holds the running task's lease.
    pub fn runs_on(&self, instance: &str) -> bool {
        self.status == TaskStatus::Working && self.lease.as_ref().is_some_and(|l| l.instance == instance)
    }

    /// Whether the instance running it stopped renewing its lease.
    pub fn abandoned(&self, now: u64) -> bool {
        self.status == TaskStatus::Working && self.lease.as_ref().is_none_or(|l| l.until_ms < now)
    }

    /// The call of the next attempt: the first one's arguments, this round's answers.
    pub fn request(&self) -> CallRequest {
        let inputs = (self.state.is_some() || !self.answers.is_empty())
            .then(|| Inputs { responses: self.answers.clone(), state: self.state.clone() });
        CallRequest {
            name: self.work.name.clone(),
            arguments: self.work.arguments.clone(),
            // Logs and progress are not delivered for tasks (SEP-2663).
            log_level: None::<LogLevel>,
            progress_token: None,
            meta: self.work.meta.clone(),
            inputs,
            client_capabilities: self.work.client_capabilities.clone(),
            identity: self.work.identity.clone(),
        }
    }

    fn touch(&mut self, now: u64) {
        self.updated_ms = now.max(self.updated_ms);
    }

    /// The attempt ended with a result (`Ok`, a `CallToolResult`) or a
    /// JSON-RPC error (`Err`).
    pub fn finish(&mut self, outcome: Result<Value, Value>, now: u64) {
        match outcome {
            Ok(result) => {
                self.status = TaskStatus::Completed;
                self.result = Some(result);
            }
            Err(error) => {
                self.status_message =
                    error.get("message").and_then(Value::as_str).map(|m| format!("The call failed: {m}"));
                self.status = TaskStatus::Failed;
                self.error = Some(error);
            }
        }
        self.lease = None;
        self.asked.clear();
        self.answers.clear();
        self.touch(now);
    }

    /// The attempt asked for input: the task waits for the client's answers,
    /// under keys unique over the task's life.
    pub fn ask(&mut self, needed: InputRequired, now: u64) {
        self.round += 1;
        self.asked = needed
            .requests
            .into_iter()
            .map(|(key, request)| {
                let wire = format!("{}-{key}", self.round);
                (wire, Asked { key, method: request.method, params: request.params })
            })
            .collect();
        self.answers.clear();
        self.state = needed.state;
        self.status = TaskStatus::InputRequired;
        self.status_message = Some("Waiting for the client's answers".into());
        self.lease = None;
        self.touch(now);
    }

    /// Takes the answers to outstanding requests (others are ignored); once
    /// every one is answered the task runs again, on `lease`. True if it should
    /// start running now. A round's answers together may hold at most
    /// `max_bytes` of JSON, as one retry's body could: more are refused whole.
    pub fn answer(
        &mut self,
        responses: &JsonObject,
        lease: Lease,
        now: u64,
        max_bytes: usize,
    ) -> Result<bool, String> {
        if self.status != TaskStatus::InputRequired {
            return Ok(false);
        }
        let (mut asked, mut answers) = (self.asked.clone(), self.answers.clone());
        for (wire, response) in responses {
            if let Some(asked) = asked.remove(wire) {
                answers.insert(asked.key, response.clone());
            }
        }
        if answers.len() == self.answers.len() {
            return Ok(false);
        }
        if serde_json::to_vec(&answers).map_or(usize::MAX, |json| json.len()) > max_bytes {
            return Err(format!("the answers to this round may hold at most {max_bytes} bytes of JSON"));
        }
        (self.asked, self.answers) = (asked, answers);
        self.touch(now);
        if !self.asked.is_empty() {
            return Ok(false);
        }
        self.status = TaskStatus::Working;
        self.status_message = None;
        self.lease = Some(lease);
        Ok(true)
    }

    /// The client cancelled: false if the task had already ended.
    pub fn cancel(&mut self, now: u64) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = TaskStatus::Cancelled;
        self.status_message = Some("Cancelled by the client".into());
        self.lease = None;
        self.asked.clear();
        self.answers.clear();
        self.touch(now);
        true
    }

    /// The instance running it stopped (or shut down) before the call ended.
    pub fn abandon(&mut self, why: &str, now: u64) {
        self.finish(Err(json!({ "code": -32603, "message": why })), now);
    }

    /// What `tasks/get` shows (`detailed`), or the seed of a `CreateTaskResult`.
    pub fn view(&self, detailed: bool) -> Task {
        let detail = |value: &Option<Value>| value.clone().filter(|_| detailed);
        let input_requests = (detailed && self.status == TaskStatus::InputRequired).then(|| {
            self.asked
                .iter()
                .map(|(wire, asked)| {
                    (wire.clone(), json!({ "method": asked.method, "params": asked.params }))
                })
                .collect()
        });
        Task {
            task_id: self.id.clone(),
            status: self.status,
            status_message: self.status_message.clone(),
            created_at: iso8601(self.created_ms),
            last_updated_at: iso8601(self.updated_ms),
            ttl_ms: Some(self.ttl_ms),
            poll_interval_ms: Some(POLL_INTERVAL_MS),
            input_requests,
            result: detail(&self.result),
            error: detail(&self.error),
        }
    }
}

/// Milliseconds since the epoch as ISO 8601 (UTC).
fn iso8601(ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use mcp_protocol::InputRequest;

    use super::*;

    fn record() -> Record {
        let request = CallRequest {
            name: "t".into(),
            arguments: JsonObject::new(),
            log_level: None,
            progress_token: None,
            meta: None,
            inputs: None,
            client_capabilities: JsonObject::new(),
            identity: None,
        };
        let lease = Lease { instance: "a".into(), until_ms: 100 };
        Record::new("id".into(), None, "c".into(), &request, 1000, 0, lease)
    }

    fn asking(keys: &[&str]) -> InputRequired {
        let request = InputRequest { method: "elicitation/create".into(), params: json!({}) };
        InputRequired {
            requests: keys.iter().map(|k| (k.to_string(), request.clone())).collect(),
            state: Some("s".into()),
        }
    }

    #[test]
    fn partial_answers_keep_waiting_and_keys_are_never_reused() {
        let mut task = record();
        task.ask(asking(&["a", "b"]), 1);
        let keys: Vec<_> = task.asked.keys().cloned().collect();
        assert_eq!(keys, ["1-a", "1-b"]);
        let lease = Lease { instance: "x".into(), until_ms: 50 };
        let first =
            JsonObject::from_iter([("1-a".into(), json!({"action": "accept"})), ("9-z".into(), json!({}))]);
        assert_eq!(task.answer(&first, lease.clone(), 2, 1 << 20), Ok(false));
        assert_eq!(task.view(true).input_requests.unwrap().keys().collect::<Vec<_>>(), ["1-b"]);
        let big = JsonObject::from_iter([("1-b".into(), json!({ "content": "x".repeat(100) }))]);
        assert!(task.answer(&big, lease.clone(), 3, 64).unwrap_err().contains("at most 64 bytes"));
        assert_eq!(task.view(true).input_requests.unwrap().len(), 1, "a refused update changes nothing");
        assert_eq!(
            task.answer(&JsonObject::from_iter([("1-b".into(), json!({}))]), lease, 3, 1 << 20),
            Ok(true)
        );
        assert_eq!(task.status, TaskStatus::Working);
        let next = task.request();
        assert_eq!(next.inputs.as_ref().unwrap().responses.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(next.inputs.unwrap().state.as_deref(), Some("s"));
        task.ask(asking(&["a"]), 4);
        assert_eq!(task.asked.keys().collect::<Vec<_>>(), ["2-a"]);
    }

    #[test]
    fn terminal_is_final_and_the_seed_carries_no_payload() {
        let mut task = record();
        task.finish(Ok(json!({"content": []})), 5);
        assert!(!task.cancel(6));
        assert_eq!(task.status, TaskStatus::Completed);
        assert!(task.view(false).result.is_none());
        assert!(task.view(true).result.is_some());
        assert_eq!(
            task.answer(&JsonObject::new(), Lease { instance: "x".into(), until_ms: 9 }, 7, 64),
            Ok(false)
        );
    }

    #[test]
    fn a_lease_not_renewed_abandons_the_task() {
        let task = record();
        assert!(task.runs_on("a") && !task.runs_on("b"));
        assert!(!task.abandoned(100) && task.abandoned(101));
        assert!(!task.expired(999) && task.expired(1000));
    }
}
