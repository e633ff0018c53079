//! One log line per MCP request: method, target, duration and outcome.

use std::time::Instant;

use mcp_protocol::jsonrpc::Incoming;
use serde_json::Value;

use crate::untrusted::Untrusted;

/// What one request did, for its log line.
pub struct Record {
    method: String,
    target: Option<String>,
    started: Instant,
}

impl Record {
    pub fn of(incoming: &Incoming) -> Option<Record> {
        let Incoming::Message(message) = incoming else { return None };
        let target = ["name", "uri"].iter().find_map(|k| message.params.get(*k)?.as_str().map(String::from));
        Some(Record { method: message.method.clone(), target, started: Instant::now() })
    }

    pub fn log(&self, reply: &Value) {
        let outcome = match (&reply["error"]["code"], &reply["result"]["isError"]) {
            (Value::Number(code), _) => format!("error {code}"),
            (_, Value::Bool(true)) => "tool error".into(),
            _ => "ok".into(),
        };
        tracing::info!(
            method = %Untrusted(&self.method),
            target = ?Untrusted(self.target.as_deref().unwrap_or("-")),
            ms = self.started.elapsed().as_secs_f64() * 1e3,
            outcome,
            "request"
        );
    }
}
