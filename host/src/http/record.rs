//! One log line per MCP request: method, target, duration and outcome; its
//! tool call counted for the status page; and, when telemetry is on, its span
//! and duration metric.

use std::sync::Arc;
use std::time::Instant;

use mcp_protocol::jsonrpc::Incoming;
use serde_json::Value;

use crate::sources::Catalog;
use crate::telemetry::recent::Recent;
use crate::telemetry::{self, Operation};
use crate::untrusted::Untrusted;

/// What one request did, for its log line.
pub struct Record {
    method: String,
    target: Option<String>,
    started: Instant,
    operation: Option<Operation>,
    /// Whether this is a `tools/call` of a tool the catalog serves: only those
    /// are counted for the status page, so a client's made-up names never are.
    served_tool: bool,
    recent: Arc<Recent>,
}

/// What is known of a request beyond its message.
pub struct Seen<'a> {
    pub headers: &'a http::HeaderMap,
    /// The session it belongs to, if the host knows it.
    pub session: Option<&'a str>,
    pub protocol_version: Option<&'a str>,
}

impl Record {
    pub fn of(
        incoming: &Incoming,
        seen: &Seen<'_>,
        catalog: &Catalog,
        recent: &Arc<Recent>,
    ) -> Option<Record> {
        let Incoming::Message(message) = incoming else { return None };
        let target = ["name", "uri"].iter().find_map(|k| message.params.get(*k)?.as_str().map(String::from));
        let served = target.as_deref().is_some_and(|target| match message.method.as_str() {
            "tools/call" => catalog.tool_owner(target).is_some(),
            "prompts/get" => catalog.prompt_owner(target).is_some(),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                catalog.resource_owner(target).is_some()
            }
            _ => false,
        });
        let served_tool = served && message.method == "tools/call";
        // Span names and metric attributes name only what the catalog serves: a
        // client's made-up names would each make a new series.
        let operation = Operation::start(&telemetry::Request {
            method: &message.method,
            target: target.as_deref().filter(|_| served),
            id: message.id.as_ref(),
            session: seen.session,
            protocol_version: seen.protocol_version,
            meta: message.params.get("_meta").and_then(Value::as_object),
            headers: seen.headers,
        });
        Some(Record {
            method: message.method.clone(),
            target,
            started: Instant::now(),
            operation,
            served_tool,
            recent: recent.clone(),
        })
    }

    /// The request's span (nothing when tracing is off), for the work done for it.
    pub fn span(&self) -> &telemetry::Span {
        static NONE: telemetry::Span = telemetry::Span::NONE;
        self.operation.as_ref().map_or(&NONE, Operation::span)
    }

    pub fn log(self, reply: &Value) {
        let (outcome, error) = match (&reply["error"]["code"], &reply["result"]["isError"]) {
            (Value::Number(code), _) => {
                let message = reply["error"]["message"].as_str().unwrap_or_default().to_owned();
                (format!("error {code}"), Some((code.to_string(), message)))
            }
            (_, Value::Bool(true)) => {
                ("tool error".into(), Some(("tool_error".into(), "the tool failed".into())))
            }
            _ => ("ok".into(), None),
        };
        // The status page's figures: calls of tools the catalog serves, not
        // refused as invalid params.
        let refused = reply["error"]["code"] == -32602;
        if let (Some(tool), true, false) = (&self.target, self.served_tool, refused) {
            self.recent.call(tool, self.started.elapsed(), error.is_some());
        }
        let _current = self.span().enter();
        tracing::info!(
            method = %Untrusted(&self.method),
            target = ?Untrusted(self.target.as_deref().unwrap_or("-")),
            ms = self.started.elapsed().as_secs_f64() * 1e3,
            outcome,
            "request"
        );
        if let Some(operation) = self.operation {
            operation.finish(error);
        }
    }
}
