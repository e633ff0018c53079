//! A stand-in for Azure Container Registry and the app's managed identity, as far
//! as the host sees them: the Functions identity endpoint (`crate::identity`,
//! served here too), ACR's `/oauth2/exchange` (an Entra token
//! for a refresh token) and `/oauth2/token` (the registry token flow), in front
//! of a real `docker-registry` that trusts only the tokens this front signs. It
//! records every credential it was shown, so a test can tell which flow ran.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::identity::{self, reply, token_for};
use crate::issuer::now;
use crate::registry::{self, Registry};

/// The Entra audience of every registry.
const RESOURCE: &str = "https://containerregistry.azure.net";
const REFRESH_TOKEN: &str = "acr-refresh-token";
const ISSUER: &str = "fake-acr";

/// The client the front passes registry requests on with.
type Upstream = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct State {
    /// `host:port` of this front: the registry's name for clients and its token service.
    service: String,
    upstream: SocketAddr,
    key: EncodingKey,
    chain: String,
    /// What each route was shown, in order: `(route, what)`.
    seen: Mutex<Vec<(String, String)>>,
}

pub struct FakeAcr {
    state: Arc<State>,
    /// The registry behind the front; stops with it.
    _registry: Registry,
}

impl FakeAcr {
    pub async fn start() -> FakeAcr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let service = listener.local_addr().expect("bound").to_string();
        let key = rcgen::KeyPair::generate().expect("a P-256 key");
        let certificate = rcgen::CertificateParams::new(Vec::<String>::new())
            .and_then(|params| params.self_signed(&key))
            .expect("a token signing certificate");
        let realm = format!("http://{service}/oauth2/token");
        let registry = Registry::with_token_auth(&realm, &service, ISSUER, &certificate.pem());
        let state = Arc::new(State {
            upstream: SocketAddr::from(([127, 0, 0, 1], registry.port())),
            service,
            key: EncodingKey::from_ec_der(&key.serialize_der()),
            chain: STANDARD.encode(certificate.der()),
            seen: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let upstream = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        crate::fake::serve(listener, Default::default(), move |request| {
            let (state, upstream) = (shared.clone(), upstream.clone());
            async move { answer(&state, &upstream, request).await }
        });
        FakeAcr { state, _registry: registry }
    }

    /// `127.0.0.1:PORT`, the registry's name in references.
    pub fn host(&self) -> String {
        self.state.service.clone()
    }

    /// The host's environment on a Functions instance with a managed identity;
    /// `secret` is what it presents as `IDENTITY_HEADER`.
    pub fn identity_env(&self, secret: &str) -> Vec<(&'static str, String)> {
        vec![
            ("MCP_OCI_INSECURE", self.host()),
            ("MCP_OCI_MANAGED_IDENTITY", "true".to_owned()),
            ("IDENTITY_ENDPOINT", format!("http://{}{}", self.host(), identity::PATH)),
            ("IDENTITY_HEADER", secret.to_owned()),
        ]
    }

    /// Pushes with the project's publisher, as a CI job would with its own credentials.
    pub fn publish(&self, repository: &str, tag: &str, wasm: &[u8]) -> String {
        let env = [
            ("MCP_OCI_INSECURE", self.host()),
            ("MCP_OCI_USERNAME", registry::USER.to_owned()),
            ("MCP_OCI_PASSWORD", registry::PASSWORD.to_owned()),
        ];
        registry::push(&self.host(), &env, repository, tag, wasm, None)
    }

    /// What the routes were shown so far: `(route, what)`.
    pub fn seen(&self) -> Vec<(String, String)> {
        self.state.seen.lock().expect("no panics while locked").clone()
    }
}

async fn answer(
    state: &State,
    upstream: &Upstream,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let query = identity::query(&request);
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let record = |route: &str, what: String| {
        state.seen.lock().expect("no panics while locked").push((route.to_owned(), what));
    };
    match path.as_str() {
        identity::PATH => {
            let secret = header("x-identity-header").unwrap_or_default();
            record("identity", format!("{} {}", query.get("resource").cloned().unwrap_or_default(), secret));
            identity::answer(&query, &secret)
        }
        "/oauth2/exchange" => {
            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
            let field = |name: &str| form.get(name).cloned().unwrap_or_default();
            record(
                "exchange",
                format!("{} {} {}", field("grant_type"), field("service"), field("access_token")),
            );
            if field("access_token") != token_for(RESOURCE) || field("service") != state.service {
                return reply(StatusCode::UNAUTHORIZED, json!({"errors": [{"code": "UNAUTHORIZED"}]}));
            }
            reply(StatusCode::OK, json!({"refresh_token": REFRESH_TOKEN}))
        }
        "/oauth2/token" => {
            let basic = header("authorization")
                .and_then(|value| value.strip_prefix("Basic ").map(str::to_owned))
                .and_then(|encoded| STANDARD.decode(encoded).ok())
                .and_then(|decoded| String::from_utf8(decoded).ok())
                .unwrap_or_default();
            record("token", basic.clone());
            let allowed = [
                format!("00000000-0000-0000-0000-000000000000:{REFRESH_TOKEN}"),
                format!("{}:{}", registry::USER, registry::PASSWORD),
            ];
            if !allowed.contains(&basic) {
                return reply(StatusCode::UNAUTHORIZED, json!({"errors": [{"code": "UNAUTHORIZED"}]}));
            }
            let scope = query.get("scope").cloned().unwrap_or_default();
            let token = sign(state, &scope);
            reply(StatusCode::OK, json!({"token": token, "access_token": token, "expires_in": 300}))
        }
        _ => forward(state, upstream, request).await,
    }
}

/// A registry token granting what `scope` (`repository:NAME:ACTIONS`) asks.
fn sign(state: &State, scope: &str) -> String {
    let access: Vec<Value> = scope
        .split(' ')
        .filter_map(|one| {
            let mut parts = one.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let claims = json!({
        "iss": ISSUER, "sub": "mcp-host", "aud": state.service, "jti": format!("{}", now()),
        "iat": now(), "nbf": now() - 5, "exp": now() + 300, "access": access,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.x5c = Some(vec![state.chain.clone()]);
    jsonwebtoken::encode(&header, &claims, &state.key).expect("signing works")
}

/// The registry API, passed to the registry behind (the Host header kept, so
/// the locations it answers name this front).
async fn forward(
    state: &State,
    upstream: &Upstream,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let (mut parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    parts.uri = format!("http://{}{path}", state.upstream).parse().expect("a registry URI");
    let Ok(response) = upstream.request(Request::from_parts(parts, Full::new(body))).await else {
        return reply(StatusCode::BAD_GATEWAY, json!({"errors": [{"code": "UNAVAILABLE"}]}));
    };
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Response::from_parts(parts, Full::new(body))
}
