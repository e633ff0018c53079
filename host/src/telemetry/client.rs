//! The exporters' HTTP client: hyper with rustls (the stack the host already
//! has), on the host's Tokio runtime. The SDK exports from threads of its own,
//! so each request is handed to the runtime and awaited from there.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

/// The most of a collector's answer that is read (it is a small protobuf).
const MAX_RESPONSE_BYTES: usize = 64 << 10;
/// How long one export may take, whatever the collector does.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<Https, Full<Bytes>>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("telemetry::Client")
    }
}

impl Client {
    /// A client on the current Tokio runtime.
    pub fn new() -> Self {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
        Self { inner, runtime: tokio::runtime::Handle::current() }
    }
}

#[async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.inner.clone();
        let exchange = async move {
            let response = client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES).collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        // The timer too belongs to the runtime: made there, not on the SDK's thread.
        let sent = self.runtime.spawn(async move { tokio::time::timeout(EXPORT_TIMEOUT, exchange).await });
        match sent.await? {
            Ok(answer) => answer,
            Err(_) => Err("the OTLP export timed out".into()),
        }
    }
}
