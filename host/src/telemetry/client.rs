//! The exporters' HTTP client: hyper with rustls (the stack the host already
//! has), on the host's Tokio runtime. The SDK exports from threads of its own,
//! so each request is handed to the runtime and awaited from there.
//!
//! With `MCP_OTLP_ENTRA_AUDIENCE` set (`https://monitor.azure.com` for Azure
//! Monitor), each export carries an Entra token of the app's managed identity
//! for that audience (`Authorization: Bearer`): no keys in the settings.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

use crate::identity::Identity;
use crate::untrusted::Untrusted;

/// The most of a collector's answer that is read (it is a small protobuf).
const MAX_RESPONSE_BYTES: usize = 64 << 10;
/// How long one export may take, whatever the collector does.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);
/// Managed-identity tokens last about a day; each is renewed well before.
const TOKEN_RENEW_AFTER: Duration = Duration::from_secs(30 * 60);
/// How long asking the identity endpoint may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<Https, Full<Bytes>>,
    runtime: tokio::runtime::Handle,
    entra: Option<Arc<Entra>>,
}

/// The managed identity's token for the collector's audience, kept until renewed.
struct Entra {
    audience: String,
    identity: Identity,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    /// Whether the last attempt failed (a failure is logged once, not per export).
    failing: AtomicBool,
}

impl Entra {
    async fn bearer(&self) -> Result<String, HttpError> {
        let mut held = self.token.lock().await;
        if let Some((token, obtained)) = held.as_ref()
            && obtained.elapsed() < TOKEN_RENEW_AFTER
        {
            return Ok(format!("Bearer {token}"));
        }
        let fresh = match self.identity.token(&self.http, &self.audience).await {
            Ok(fresh) => fresh,
            Err(error) => {
                // The exporter reports only "network error": say why, once a failing streak.
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(audience = %Untrusted(&self.audience), error = %Untrusted(&format!("{error:#}")),
                        "no managed-identity token for OTLP export: telemetry is lost until one comes");
                }
                return Err("no managed-identity token".into());
            }
        };
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(audience = %Untrusted(&self.audience), "managed-identity token for OTLP export obtained");
        }
        let bearer = format!("Bearer {fresh}");
        *held = Some((fresh, Instant::now()));
        Ok(bearer)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("telemetry::Client")
    }
}

impl Client {
    /// A client on the current Tokio runtime; `entra_audience`, if any, is
    /// the audience of the managed identity's token each export carries.
    pub fn new(entra_audience: Option<String>) -> anyhow::Result<Self> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
        let entra = entra_audience
            .map(|audience| {
                let http = reqwest::Client::builder().timeout(TOKEN_TIMEOUT).build()?;
                let token = tokio::sync::Mutex::new(None);
                let failing = AtomicBool::new(false);
                anyhow::Ok(Arc::new(Entra { audience, identity: Identity::from_env(), http, token, failing }))
            })
            .transpose()?;
        Ok(Self { inner, runtime: tokio::runtime::Handle::current(), entra })
    }
}

#[async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.inner.clone();
        let entra = self.entra.clone();
        let exchange = async move {
            if let Some(entra) = entra {
                let bearer = http::HeaderValue::try_from(entra.bearer().await?)?;
                request.headers_mut().insert(http::header::AUTHORIZATION, bearer);
            }
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
