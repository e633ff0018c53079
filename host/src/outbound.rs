//! Outbound HTTP for components: only to the destinations their policy names,
//! and never for longer than the policy allows.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::policy::Policy;

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The `wasi:http` hooks of one call's store.
pub struct Outbound {
    component: Arc<str>,
    policy: Arc<Policy>,
}

impl Outbound {
    pub fn new(component: Arc<str>, policy: Arc<Policy>) -> Self {
        Self { component, policy }
    }

    fn allowed(&self, uri: &http::Uri) -> bool {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let Some(host) = uri.host() else { return false };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        self.policy.outbound.iter().any(|d| d.matches(https, host, port))
    }
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

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)>> + Send>
    {
        drop(fut);
        let uri = request.uri().clone();
        if !self.allowed(&uri) {
            tracing::warn!(
                component = %self.component,
                policy = "outbound.allow",
                destination = %format!("{}://{}", uri.scheme_str().unwrap_or("?"), uri.authority().map_or("?", |a| a.as_str())),
                "outbound request denied"
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let limit = self.policy.outbound_timeout;
        let options = clamp(options, limit);
        let component = self.component.clone();
        Box::new(async move {
            let sent =
                tokio::time::timeout(limit, wasmtime_wasi_http::default_send_request(request, Some(options)));
            match sent.await {
                Ok(Ok((response, io))) => Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture)),
                Ok(Err(error)) => Err(error),
                Err(_) => {
                    tracing::warn!(%component, policy = "outbound.timeout_ms", limit_ms = limit.as_millis() as u64, "outbound request timed out");
                    Err(Error::ConnectionTimeout)
                }
            }
        })
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

    #[test]
    fn matches_scheme_host_and_port() {
        let policy =
            Policy::parse(r#"outbound.allow = ["https://api.example.com", "http://127.0.0.1:9000"]"#, |_| {
                None
            })
            .unwrap();
        let outbound = Outbound::new("c".into(), Arc::new(policy));
        let ok = |uri: &str| outbound.allowed(&uri.parse().unwrap());
        assert!(ok("https://api.example.com/v1/forecast?x=1"));
        assert!(ok("https://API.example.com:443/"));
        assert!(ok("http://127.0.0.1:9000/v1"));
        assert!(!ok("http://api.example.com/"));
        assert!(!ok("https://api.example.com:8443/"));
        assert!(!ok("https://api.example.com.evil.net/"));
        assert!(!ok("http://127.0.0.1:9001/"));
        assert!(!ok("http://169.254.169.254/"));
    }
}
