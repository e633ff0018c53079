//! The connector of every component's client: resolves the host here, vets
//! the address, and connects to the address it vetted (so a name that
//! re-resolves elsewhere cannot reach inside), speaking TLS for `https`.

use std::error::Error as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tower_service::Service;
use wasmtime_wasi_http::Error;
use wasmtime_wasi_http::p2::bindings::http::types::{DnsErrorPayload, ErrorCode};

use super::address::resolve;

/// Web PKI roots, no client certificate.
pub fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()
}

tokio::task_local! {
    /// How the request being sent may connect. The client's `request` takes
    /// nothing but the request, so the connector reads this when it starts
    /// connecting, within the request's task (as Spin's outbound HTTP does).
    static CONNECT: Connect;
}

/// How one request may open a connection.
#[derive(Debug, Clone, Copy)]
pub struct Connect {
    /// The request's host is an IP address its policy names exactly.
    pub named_address: bool,
    /// For the TCP connection and the TLS handshake.
    pub timeout: Duration,
}

impl Connect {
    /// Runs `send` (a request on a [`Client`]) with these rules for any
    /// connection it opens.
    pub async fn scope<F: Future>(self, send: F) -> F::Output {
        CONNECT.scope(self, send).await
    }
}

/// Opens connections to vetted addresses only: resolves the host here,
/// refuses a non-public address unless the policy names it, and connects to
/// the address it vetted (so a name that re-resolves elsewhere cannot reach
/// inside), speaking TLS for `https`.
#[derive(Clone)]
pub struct Connector {
    pub(super) tls: tokio_rustls::TlsConnector,
}

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

impl Service<Uri> for Connector {
    type Response = Stream;
    type Error = ErrorCode;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, ErrorCode>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ErrorCode>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // Outside a request's scope nothing may connect.
        let Ok(connect) = CONNECT.try_with(|connect| *connect) else {
            return Box::pin(async { Err(ErrorCode::HttpRequestDenied) });
        };
        let tls = self.tls.clone();
        Box::pin(async move {
            let https = uri.scheme() == Some(&Scheme::HTTPS);
            let host =
                uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let address = resolve(&host, port, connect.named_address).await?;
            let open = async {
                let stream = TcpStream::connect(address).await.map_err(|e| match e.kind() {
                    io::ErrorKind::AddrNotAvailable => ErrorCode::DnsError(DnsErrorPayload {
                        rcode: Some("address not available".into()),
                        info_code: None,
                    }),
                    _ => ErrorCode::ConnectionRefused,
                })?;
                let _ = stream.set_nodelay(true);
                if !https {
                    return Ok(MaybeHttpsStream::Http(TokioIo::new(stream)));
                }
                let name = ServerName::try_from(host).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
                let stream = tls
                    .connect(name, TokioIo::new(TokioIo::new(stream)))
                    .await
                    .map_err(|_| ErrorCode::TlsProtocolError)?;
                Ok(MaybeHttpsStream::Https(TokioIo::new(stream)))
            };
            tokio::time::timeout(connect.timeout, open).await.map_err(|_| ErrorCode::ConnectionTimeout)?
        })
    }
}

/// The `wasi:http` error for a request the client could not send: the
/// connector's own when it refused or failed, else a protocol error.
pub fn failed(error: &hyper_util::client::legacy::Error) -> Error {
    let mut cause = error.source();
    while let Some(inner) = cause {
        if let Some(code) = inner.downcast_ref::<ErrorCode>() {
            return code.clone().into();
        }
        cause = inner.source();
    }
    tracing::debug!(error = %format!("{error:#}"), "outbound request failed");
    Error::HttpProtocolError
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{Client, Egress};
    use super::*;

    async fn send(client: &Client, url: &str, connect: Option<Connect>) -> Error {
        use http_body_util::BodyExt as _;
        let empty = http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync();
        let request = http::Request::get(url).body(empty).unwrap();
        let outcome = match connect {
            Some(connect) => connect.scope(client.request(request)).await,
            None => client.request(request).await,
        };
        failed(&outcome.expect_err("no server answers"))
    }

    #[tokio::test]
    async fn the_connector_refuses_private_addresses() {
        let client = Egress::new().client(&Arc::from("c"));
        let rules = |named_address| Some(Connect { named_address, timeout: Duration::from_secs(5) });
        for url in
            ["http://127.0.0.1:9/", "http://169.254.169.254/", "http://localhost:9/", "http://[::1]:9/"]
        {
            assert!(matches!(send(&client, url, rules(false)).await, Error::HttpRequestDenied), "{url}");
        }
        // Outside a request's rules nothing connects.
        assert!(matches!(send(&client, "http://1.1.1.1/", None).await, Error::HttpRequestDenied));
        // An address the policy names is connected to (nothing listens on port 9).
        let named = send(&client, "http://127.0.0.1:9/", rules(true)).await;
        assert!(matches!(named, Error::ConnectionRefused), "{named:?}");
    }
}
