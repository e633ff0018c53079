//! W3C trace context: read from an MCP request's `params._meta` (as the MCP
//! conventions ask) or else its HTTP headers, and written on outbound requests
//! so that an upstream that traces joins the caller's trace.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::{Map, Value};

struct Meta<'a>(&'a Map<String, Value>);

impl Extractor for Meta<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The caller's context: `_meta`'s `traceparent` if valid, else the headers'.
pub fn extract(meta: Option<&Map<String, Value>>, headers: &http::HeaderMap) -> Context {
    let propagator = TraceContextPropagator::new();
    if let Some(meta) = meta {
        let cx = propagator.extract(&Meta(meta));
        if cx.span().span_context().is_valid() {
            return cx;
        }
    }
    propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
}

/// Writes `traceparent` (and `tracestate`) for `span` on an outbound request.
/// Outside the sample there is no such span: the current context (the request's
/// span, not sampled) goes on instead, so that the upstream hears the same choice.
pub fn inject(span: &super::Span, headers: &mut http::HeaderMap) {
    let current;
    let cx = match span.context() {
        Some(cx) => cx,
        None if super::tracing() => {
            current = Context::current();
            &current
        }
        None => return,
    };
    TraceContextPropagator::new().inject_context(cx, &mut opentelemetry_http::HeaderInjector(headers));
}
