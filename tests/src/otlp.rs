//! A loopback OTLP/HTTP receiver: accepts `POST /v1/traces` and
//! `POST /v1/metrics` in the protobuf encoding and decodes them with the
//! OpenTelemetry project's own message definitions, as a collector would.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

pub use opentelemetry_proto::tonic::metrics::v1::metric::Data;

/// What the receiver was sent, decoded.
#[derive(Default)]
pub struct Received {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    /// Requests to any other path, or with another content type.
    pub other: Vec<String>,
    /// Exports held undecoded (`start_counting`): path and body.
    held: Vec<(String, Bytes)>,
    /// Each export's `Authorization` header, if it had one, in order.
    pub authorizations: Vec<Option<String>>,
}

impl Received {
    /// Every span received, with its resource's `service.name`.
    pub fn spans(&self) -> Vec<(String, Span)> {
        let mut spans = Vec::new();
        for request in &self.traces {
            for resource in &request.resource_spans {
                let attributes = resource.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
                let service = string(attributes, "service.name").unwrap_or_default();
                for scope in &resource.scope_spans {
                    spans.extend(scope.spans.iter().map(|span| (service.clone(), span.clone())));
                }
            }
        }
        spans
    }

    /// Every metric received, in the order sent (periodic exports repeat them).
    pub fn metrics(&self) -> Vec<Metric> {
        let scopes = self.metrics.iter().flat_map(|r| &r.resource_metrics).flat_map(|r| &r.scope_metrics);
        scopes.flat_map(|s| s.metrics.iter().cloned()).collect()
    }

    /// The last export of the metric called `name`.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        self.metrics().into_iter().rev().find(|m| m.name == name)
    }
}

/// A string attribute's value.
pub fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    match value(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s),
        other => Some(format!("{other:?}")),
    }
}

/// An integer attribute's value.
pub fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match value(attributes, key)? {
        any_value::Value::IntValue(i) => Some(i),
        _ => None,
    }
}

fn value(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    let found = attributes.iter().find(|kv| kv.key == key)?;
    found.value.clone().and_then(|AnyValue { value }| value)
}

/// A running receiver; it stops when the runtime does.
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Received>>,
}

impl Receiver {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts a receiver on `addr` (port 0 picks a free one) that keeps what it receives.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Receiver> {
        Receiver::spawn(addr, Mode::Keep, None).await
    }

    /// Starts a receiver for a benchmark's load: it answers each export at
    /// once and holds its bytes, undecoded, until `count_spans`. A collector
    /// decodes on a machine of its own; here it would take the CPU the host
    /// is being measured on.
    pub async fn start_counting(addr: SocketAddr) -> std::io::Result<Receiver> {
        Receiver::spawn(addr, Mode::Hold, None).await
    }

    /// Starts a receiver that, as an Entra-protected endpoint does, answers
    /// 401 to an export without exactly this `Authorization` and keeps nothing of it.
    pub async fn start_requiring(addr: SocketAddr, authorization: &str) -> std::io::Result<Receiver> {
        Receiver::spawn(addr, Mode::Keep, Some(authorization.to_owned())).await
    }

    /// Decodes the exports held since the last call (`start_counting`) and
    /// counts their spans; fails on any export that is not valid OTLP.
    pub fn count_spans(&self) -> Result<usize, prost::DecodeError> {
        let held = std::mem::take(&mut self.received.lock().expect("no panics while locked").held);
        let mut spans = 0;
        for (path, body) in held {
            match path.as_str() {
                "/v1/traces" => {
                    let request = ExportTraceServiceRequest::decode(body)?;
                    let scopes = request.resource_spans.iter().flat_map(|r| &r.scope_spans);
                    spans += scopes.map(|s| s.spans.len()).sum::<usize>();
                }
                _ => drop(ExportMetricsServiceRequest::decode(body)?),
            }
        }
        Ok(spans)
    }

    async fn spawn(addr: SocketAddr, mode: Mode, required: Option<String>) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let sink = received.clone();
        crate::fake::serve(listener, Arc::new(AtomicUsize::new(0)), move |request: hyper::Request<_>| {
            let sink = sink.clone();
            let required = required.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let authorization = parts
                    .headers
                    .get("authorization")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                sink.lock().expect("no panics while locked").authorizations.push(authorization.clone());
                if required.is_some() && authorization != required {
                    let refused = Response::builder().status(401);
                    return refused.body(Full::new(Bytes::new())).expect("valid response");
                }
                let protobuf = parts
                    .headers
                    .get("content-type")
                    .is_some_and(|v| v.as_bytes() == b"application/x-protobuf");
                let mut received = sink.lock().expect("no panics while locked");
                let accepted = match (parts.uri.path(), protobuf, mode) {
                    (path @ ("/v1/traces" | "/v1/metrics"), true, Mode::Hold) => {
                        received.held.push((path.to_owned(), body));
                        true
                    }
                    ("/v1/traces", true, Mode::Keep) => {
                        ExportTraceServiceRequest::decode(body).map(|r| received.traces.push(r)).is_ok()
                    }
                    ("/v1/metrics", true, Mode::Keep) => {
                        ExportMetricsServiceRequest::decode(body).map(|r| received.metrics.push(r)).is_ok()
                    }
                    _ => false,
                };
                if !accepted {
                    received.other.push(format!("{} {}", parts.method, parts.uri));
                }
                let status = if accepted { 200 } else { 400 };
                // An empty Export*ServiceResponse: full success.
                let answer =
                    Response::builder().status(status).header("content-type", "application/x-protobuf");
                answer.body(Full::new(Bytes::new())).expect("valid response")
            }
        });
        Ok(Receiver { addr, received })
    }
}

/// What a receiver does with an export.
#[derive(Clone, Copy)]
enum Mode {
    /// Decodes it and keeps it, for a test to read.
    Keep,
    /// Holds its bytes for `count_spans`.
    Hold,
}
