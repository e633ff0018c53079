//! Outbound HTTP for components: only to the destinations their policy names,
//! never to a private address the policy does not name exactly, at most so
//! many requests per call, each bounded in time and size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use opentelemetry::KeyValue;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::cache;
use super::{self as egress, Egress};
use crate::policy::Policy;
use crate::telemetry::{self, Kind, metrics};
use crate::untrusted::Untrusted;

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type WasiResponse = http::Response<WasiBody>;
type Sent = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// The `wasi:http` hooks of one call's store.
pub struct Outbound {
    egress: Arc<Egress>,
    component: Arc<str>,
    policy: Arc<Policy>,
    /// Requests this call has made so far.
    sent: usize,
}

impl Outbound {
    pub fn new(egress: Arc<Egress>, component: Arc<str>, policy: Arc<Policy>) -> Self {
        Self { egress, component, policy, sent: 0 }
    }

    /// An environment variable the policy grants the component.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.policy.env.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// A GET as a component's `wasi:http` request would go, through every
    /// check above: for native tools. The body is read whole, within the
    /// policy's size and time limits.
    pub async fn get(&mut self, url: &str, accept: &str) -> Result<(u16, Bytes), Error> {
        let empty = http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync();
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, accept)
            .body(empty)
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        let noop: IoFuture = Box::new(async { Ok(()) });
        let (response, _) = Box::into_pin(self.send_request(request, None, noop)).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }

    fn deny(&self, policy: &'static str, destination: &str, why: &str, observed: Option<Observed>) -> Sent {
        tracing::warn!(component = %self.component, policy, destination = %Untrusted(destination), "outbound request denied: {why}");
        metrics::refused(&self.component, policy);
        if let Some(observed) = observed {
            observed.span.set("mcp_host.policy.verdict", "denied");
            observed.span.set("mcp_host.policy.key", policy);
            observed.failed(&self.component, &Error::HttpRequestDenied);
        }
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}

/// An outbound request's span and timing, while telemetry is on.
struct Observed {
    span: telemetry::Span,
    started: Instant,
    /// The duration metric's attributes: method and destination.
    attributes: Vec<KeyValue>,
}

impl Observed {
    /// `allowed`: whether the policy names the destination. The metric, whose
    /// series the host keeps for its life, names only such destinations and
    /// the standard methods: a component's made-up hosts and methods are all
    /// `_OTHER`, so that it cannot make a series for each. The span, which is
    /// only passed on, names them, cut short.
    fn start(
        request: &http::Request<WasiBody>,
        https: bool,
        host: &str,
        port: u16,
        allowed: bool,
    ) -> Option<Observed> {
        if !telemetry::enabled() {
            return None;
        }
        let method = method_name(request.method());
        let destination = [
            KeyValue::new("server.address", telemetry::bounded(host, MAX_HOST).to_owned()),
            KeyValue::new("server.port", i64::from(port)),
        ];
        let mut attributes = vec![KeyValue::new("http.request.method", method)];
        match allowed {
            true => attributes.extend(destination.iter().cloned()),
            false => attributes.push(KeyValue::new("server.address", "_OTHER")),
        }
        let span = telemetry::Span::child(Kind::Client, || {
            let uri = request.uri();
            // The query (coordinates, keys, ...) stays out of the trace.
            let url = format!(
                "{}://{}{}",
                if https { "https" } else { "http" },
                uri.authority().map_or("", |a| a.as_str()),
                uri.path()
            );
            let mut span_attributes = vec![KeyValue::new("http.request.method", method)];
            span_attributes.extend(destination);
            span_attributes.push(KeyValue::new("url.full", telemetry::bounded(&url, MAX_URL).to_owned()));
            (method.into(), span_attributes)
        });
        Some(Observed { span, started: Instant::now(), attributes })
    }

    /// The response's head arrived: the duration is measured; the span ends
    /// with the body, which says how many bytes came (`Counted`).
    fn answered(mut self, component: &Arc<str>, response: WasiResponse) -> WasiResponse {
        let status = i64::from(response.status().as_u16());
        self.span.set("http.response.status_code", status);
        if status >= 400 {
            self.span.fail(status.to_string(), format!("HTTP {status}"));
            self.attributes.push(KeyValue::new("error.type", status.to_string()));
        }
        self.attributes.push(KeyValue::new("http.response.status_code", status));
        metrics::outbound(component, self.started.elapsed(), self.attributes);
        let span = self.span;
        response.map(|body| Counted { inner: body, bytes: 0, span: Some(span) }.boxed_unsync())
    }

    fn failed(mut self, component: &Arc<str>, error: &Error) {
        // The variant's name: low cardinality, whatever it carries.
        let kind = format!("{error:?}");
        let kind = kind.split(['(', ' ', '{']).next().unwrap_or_default().to_owned();
        self.span.fail(kind.clone(), error.to_string());
        self.attributes.push(KeyValue::new("error.type", kind));
        metrics::outbound(component, self.started.elapsed(), self.attributes);
    }
}

/// The longest destination host and URL a span records (a DNS name is at
/// most 253 bytes).
const MAX_HOST: usize = 253;
const MAX_URL: usize = 512;

/// HTTP's standard methods by name; any other is `_OTHER`, as the HTTP
/// conventions say.
fn method_name(method: &http::Method) -> &'static str {
    const METHODS: [&str; 9] =
        ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    METHODS.into_iter().find(|known| *known == method.as_str()).unwrap_or("_OTHER")
}

/// The guest's timeouts, each capped at `limit`.
fn clamp(options: Option<RequestOptions>, limit: Duration) -> RequestOptions {
    let cap = |t: Option<Duration>| Some(t.map_or(limit, |t| t.min(limit)));
    let options = options.unwrap_or_default();
    RequestOptions {
        connect_timeout: cap(options.connect_timeout),
        first_byte_timeout: cap(options.first_byte_timeout),
        between_bytes_timeout: cap(options.between_bytes_timeout),
    }
}

/// Bytes one write to an outgoing body may carry; with the one chunk
/// wasmtime buffers besides, a body the guest never sends holds at most twice
/// this in the host.
const BODY_CHUNK_BYTES: usize = 16 << 10;

impl WasiHttpHooks for Outbound {
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_CHUNK_BYTES
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Sent {
        drop(fut);
        let mut request = request;
        let uri = request.uri().clone();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let shown = format!(
            "{}://{}",
            if https { "https" } else { "http" },
            uri.authority().map_or("?", |a| a.as_str())
        );
        let destination = self.policy.outbound.iter().find(|d| d.matches(https, &host, port));
        let observed = Observed::start(&request, https, &host, port, destination.is_some());
        let Some(destination) = destination else {
            return self.deny("outbound.allow", &shown, "not in the allow-list", observed);
        };
        self.sent += 1;
        if self.sent > self.policy.max_requests {
            let why = format!("more than {} requests in one call", self.policy.max_requests);
            return self.deny("outbound.max_requests", &shown, &why, observed);
        }
        let named_address = destination.host.parse::<std::net::IpAddr>().is_ok();
        let (limit, max_bytes) = (self.policy.outbound_timeout, self.policy.max_response_bytes);
        let options = clamp(options, limit);
        let component = self.component.clone();
        let cached = self.policy.cache.and_then(|policy| {
            let key = cache::key(&request)?;
            let mut head = http::Request::new(());
            *head.uri_mut() = request.uri().clone();
            *head.headers_mut() = request.headers().clone();
            Some((self.egress.cache(&component, policy), key, head))
        });
        if let Some(hit) = cached.as_ref().and_then(|(cache, key, head)| cache.get(key, head)) {
            tracing::debug!(%component, destination = %Untrusted(&shown), "outbound GET answered from the cache");
            let hit = match observed {
                Some(observed) => {
                    observed.span.set("mcp_host.policy.verdict", "cached");
                    observed.answered(&component, hit)
                }
                None => hit,
            };
            return Box::new(async { Ok((hit, Box::new(async { Ok(()) }) as IoFuture)) });
        }
        if let Some(observed) = &observed {
            observed.span.set("mcp_host.policy.verdict", "allowed");
            telemetry::inject(&observed.span, request.headers_mut());
        }
        let client = self.egress.client(&component);
        Box::new(async move {
            // `timeout_ms` runs from here to the response's last byte.
            let deadline = tokio::time::Instant::now() + limit;
            let exchange = async {
                // A new connection, if one is needed, goes to a vetted address.
                let connect =
                    egress::Connect { named_address, timeout: options.connect_timeout.unwrap_or(limit) };
                let first_byte = options.first_byte_timeout.unwrap_or(limit);
                let sent = tokio::time::timeout(first_byte, connect.scope(client.request(request)));
                let response = match sent.await {
                    Err(_) => return Err(Error::ConnectionReadTimeout),
                    Ok(Ok(response)) => response,
                    Ok(Err(error)) => {
                        let error = egress::failed(&error);
                        if matches!(error, Error::HttpRequestDenied) {
                            metrics::refused(&component, "outbound.allow");
                            tracing::warn!(%component, policy = "outbound.allow", destination = %Untrusted(&shown),
                                "outbound request denied: the name resolves to a non-public address");
                        }
                        return Err(error);
                    }
                };
                let idle = options.between_bytes_timeout.unwrap_or(limit);
                let response = response
                    .map(|body| egress::Bounded::new(body, max_bytes, idle).until(deadline).boxed_unsync());
                match cached {
                    Some((cache, key, head)) => cache.keep(key, &head, response).await,
                    None => Ok(response),
                }
            };
            let outcome =
                tokio::time::timeout(limit, exchange).await.unwrap_or(Err(Error::ConnectionTimeout));
            if let Err(Error::ConnectionTimeout | Error::ConnectionReadTimeout) = &outcome {
                tracing::warn!(%component, policy = "outbound.timeout_ms", limit_ms = limit.as_millis() as u64,
                    destination = %Untrusted(&shown), "outbound request timed out");
                metrics::refused(&component, "outbound.timeout_ms");
            }
            let outcome = match (observed, outcome) {
                (Some(observed), Ok(response)) => Ok(observed.answered(&component, response)),
                (Some(observed), Err(error)) => {
                    observed.failed(&component, &error);
                    Err(error)
                }
                (None, outcome) => outcome,
            };
            outcome.map(|response| (response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// A response body that, when it ends (or is dropped), records on its
/// outbound span how many bytes it carried: `Content-Length` is absent from
/// chunked answers.
struct Counted {
    inner: WasiBody,
    bytes: u64,
    span: Option<telemetry::Span>,
}

impl Counted {
    fn end(&mut self) {
        if let Some(span) = self.span.take() {
            span.set("http.response.body.size", i64::try_from(self.bytes).unwrap_or(i64::MAX));
        }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                self.bytes += frame.data_ref().map_or(0, |data| data.len() as u64);
            }
            std::task::Poll::Ready(_) => self.end(),
            std::task::Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_guest_timeouts() {
        let limit = Duration::from_secs(5);
        let asked = RequestOptions {
            connect_timeout: Some(Duration::from_secs(60)),
            first_byte_timeout: Some(Duration::from_secs(1)),
            between_bytes_timeout: None,
        };
        let clamped = clamp(Some(asked), limit);
        assert_eq!(clamped.connect_timeout, Some(limit));
        assert_eq!(clamped.first_byte_timeout, Some(Duration::from_secs(1)));
        assert_eq!(clamped.between_bytes_timeout, Some(limit));
    }
}
