//! Spans: one per MCP request (`Operation`), named and attributed as the
//! OpenTelemetry semantic conventions for MCP say, and its children
//! (instantiation, the component's run, outbound requests).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use futures::future::Either;
use mcp_protocol::version::Version;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, StringValue, Value};
use serde_json::Map;

use super::{metrics, propagate};

/// The longest span-name target (a tool or prompt name, as the client sent it).
const MAX_TARGET: usize = 128;
/// The longest error description: the protocol's message may quote the client.
const MAX_MESSAGE: usize = 256;

/// What a span measures.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Internal,
    Client,
}

/// A span being recorded, or nothing when tracing is off. It ends when
/// dropped, if not before.
#[derive(Default)]
pub struct Span(Option<Context>);

impl Span {
    /// No span: what every hook gets while tracing is off.
    pub const NONE: Span = Span(None);

    /// A child of the current span, named and attributed by `describe` (only
    /// called when recording); none when the current span is not recorded (or
    /// there is none, or tracing is off). A child of a span that the caller or
    /// the sampler left out would not be recorded either (every standard
    /// sampler decides alike for the whole trace), so it is not built: a call
    /// outside the sample costs little more than with tracing off.
    pub fn child(kind: Kind, describe: impl FnOnce() -> (Cow<'static, str>, Vec<KeyValue>)) -> Span {
        let Some(tracer) = super::get().and_then(|t| t.tracer.as_ref()) else { return Span(None) };
        let parent = Context::current();
        if !parent.span().is_recording() {
            return Span(None);
        }
        let kind = match kind {
            Kind::Internal => SpanKind::Internal,
            Kind::Client => SpanKind::Client,
        };
        let (name, attributes) = describe();
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        Span(Some(parent.with_span(span)))
    }

    pub(super) fn context(&self) -> Option<&Context> {
        self.0.as_ref()
    }

    /// Sets an attribute, if recording.
    pub fn set(&self, key: &'static str, value: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Marks the span failed: `error.type` and an error status.
    pub fn fail(&self, error_type: impl Into<Value>, message: impl Into<Cow<'static, str>>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new("error.type", error_type));
            cx.span().set_status(Status::error(message));
        }
    }

    /// Runs `future` with this span as the current one (its children's parent).
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        match &self.0 {
            Some(cx) => Either::Left(future.with_context(cx.clone())),
            None => Either::Right(future),
        }
    }

    /// Makes this span the current one until the guard is dropped (for the
    /// lines logged meanwhile).
    pub fn enter(&self) -> Option<opentelemetry::ContextGuard> {
        self.0.clone().map(Context::attach)
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }
}

/// Runs `future` with the current span carried along (for a task it spawns).
pub fn carry<F: Future>(future: F) -> impl Future<Output = F::Output> {
    if super::tracing() { Either::Left(future.with_current_context()) } else { Either::Right(future) }
}

/// What the conventions record of an MCP request.
pub struct Request<'a> {
    pub method: &'a str,
    /// A tool's or prompt's name, or a resource's URI.
    pub target: Option<&'a str>,
    /// `None` for notifications.
    pub id: Option<&'a serde_json::Value>,
    pub session: Option<&'a str>,
    pub protocol_version: Option<&'a str>,
    pub meta: Option<&'a Map<String, serde_json::Value>>,
    pub headers: &'a http::HeaderMap,
}

/// One MCP request being answered: its span and its duration metric.
pub struct Operation {
    span: Span,
    /// The metric's attributes (the span's low-cardinality ones).
    attributes: Vec<KeyValue>,
    started: Instant,
}

impl Operation {
    /// `None` when telemetry is off.
    pub fn start(request: &Request<'_>) -> Option<Operation> {
        let telemetry = super::get()?;
        let started = Instant::now();
        let method = method_name(request.method);
        let mut attributes = vec![
            KeyValue::new("mcp.method.name", method),
            KeyValue::new("network.transport", "tcp"),
            KeyValue::new("network.protocol.name", "http"),
        ];
        // A version the host does not speak is refused; it is not recorded.
        if let Some(version) = request.protocol_version.and_then(Version::parse) {
            attributes.push(KeyValue::new("mcp.protocol.version", version.as_str()));
        }
        // Shared by the span's name and attributes and the metric's, not copied.
        let target = request.target.map(|t| StringValue::from(Arc::<str>::from(bounded(t, MAX_TARGET))));
        match (method, &target) {
            ("tools/call", Some(tool)) => {
                attributes.push(KeyValue::new("gen_ai.tool.name", tool.clone()));
                attributes.push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
            }
            ("prompts/get", Some(prompt)) => {
                attributes.push(KeyValue::new("gen_ai.prompt.name", prompt.clone()))
            }
            _ => {}
        }
        let span = telemetry.tracer.as_ref().map(|tracer| {
            // A resource's URI goes in an attribute, never the name (cardinality).
            let name: Cow<'static, str> = match (&target, method) {
                (Some(target), "tools/call" | "prompts/get") => format!("{method} {target}").into(),
                _ => method.into(),
            };
            let mut span_attributes = attributes.clone();
            if let (Some(uri), "resources/read" | "resources/subscribe" | "resources/unsubscribe") =
                (&target, method)
            {
                span_attributes.push(KeyValue::new("mcp.resource.uri", uri.clone()));
            }
            if let Some(id) = request.id.and_then(request_id) {
                span_attributes.push(KeyValue::new("jsonrpc.request.id", id));
            }
            if let Some(session) = request.session {
                span_attributes.push(KeyValue::new("mcp.session.id", session_id(session)));
            }
            let parent = propagate::extract(request.meta, request.headers);
            let span = tracer
                .span_builder(name)
                .with_kind(SpanKind::Server)
                .with_attributes(span_attributes)
                .start_with_context(tracer, &parent);
            parent.with_span(span)
        });
        Some(Operation { span: Span(span), attributes, started })
    }

    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Ends the request: `error` is its `error.type` and message, if it failed.
    pub fn finish(mut self, error: Option<(String, String)>) {
        if let Some((error_type, message)) = error {
            self.span.fail(error_type.clone(), bounded(&message, MAX_MESSAGE).to_owned());
            if error_type != "tool_error" {
                self.span.set("rpc.response.status_code", error_type.clone());
            }
            self.attributes.push(KeyValue::new("error.type", error_type));
        }
        metrics::operation(self.started.elapsed(), &self.attributes);
    }
}

/// The methods of MCP a client sends, as the conventions name them; any other
/// is `_OTHER` (as HTTP's conventions do for methods): a client's made-up
/// names never become span names or metric series, which are kept for the
/// host's life.
fn method_name(method: &str) -> &'static str {
    const METHODS: &[&str] = &[
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "skills/list",
        "skills/get",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/update",
        "tasks/cancel",
        "subscriptions/listen",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
    ];
    METHODS.iter().find(|known| **known == method).copied().unwrap_or("_OTHER")
}

/// A JSON-RPC id as the attribute records it; none for `null`.
fn request_id(id: &serde_json::Value) -> Option<String> {
    match id {
        serde_json::Value::String(s) => Some(bounded(s, MAX_TARGET).to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A session is identified by a digest of its id: the id itself lets its
/// holder continue the session, and telemetry is read by more people.
fn session_id(session: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(session.as_bytes())[..16])
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub fn bounded(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
