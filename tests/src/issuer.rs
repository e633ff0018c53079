//! A local OAuth authorization server on loopback, as far as a resource server
//! sees one: OpenID Connect Discovery metadata and a JWK Set with ES256 keys
//! generated at start, and tokens signed with them. It counts key set fetches
//! so tests can tell how often the host asked.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// An ES256 key pair with its key id.
pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    pub fn generate(kid: &str) -> SigningKey {
        let random = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).expect("a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
            .expect("the key just made");
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        SigningKey { kid: kid.into(), encoding: EncodingKey::from_ec_der(pkcs8.as_ref()), jwk }
    }

    /// A JWT of `claims`, signed with this key and naming it by `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing works")
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

struct State {
    url: String,
    published: Mutex<Vec<Value>>,
    jwks_fetches: AtomicUsize,
    /// How long the key set takes to answer, in milliseconds.
    jwks_delay_ms: AtomicU64,
}

/// A running issuer; it stops with the test's runtime.
pub struct Issuer {
    pub addr: SocketAddr,
    /// The key the issuer signs with and publishes from the start.
    pub key: SigningKey,
    state: Arc<State>,
}

impl Issuer {
    pub async fn start() -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let key = SigningKey::generate("key-1");
        let state = Arc::new(State {
            url: format!("http://{addr}"),
            published: Mutex::new(vec![key.jwk.clone()]),
            jwks_fetches: AtomicUsize::new(0),
            jwks_delay_ms: AtomicU64::new(0),
        });
        let shared = state.clone();
        crate::fake::serve(listener, Default::default(), move |request| {
            let answer = answer(&shared, &request);
            let delay = match request.uri().path() {
                "/jwks" => shared.jwks_delay_ms.load(Ordering::SeqCst),
                _ => 0,
            };
            async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                answer
            }
        });
        Issuer { addr, key, state }
    }

    /// The issuer identifier (`iss`).
    pub fn url(&self) -> String {
        self.state.url.clone()
    }

    /// Adds a key to the published set, as an issuer does before rotating to it.
    pub fn publish(&self, key: &SigningKey) {
        self.state.published.lock().expect("no panics while locked").push(key.jwk.clone());
    }

    /// Makes the key set answer only after `delay`, as an issuer under load.
    pub fn delay_jwks(&self, delay: Duration) {
        self.state.jwks_delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many times the key set was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims of a valid token for `audience` with `scope`, valid for an hour.
    pub fn claims(&self, audience: &str, scope: &str) -> Value {
        json!({
            "iss": self.url(),
            "sub": "user-42",
            "aud": audience,
            "scope": scope,
            "client_id": "test-client",
            "email": "someone@example.com",
            "iat": now(),
            "nbf": now(),
            "exp": now() + 3600,
        })
    }
}

fn answer(state: &State, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let body = match request.uri().path() {
        "/.well-known/openid-configuration" => json!({
            "issuer": state.url,
            "authorization_endpoint": format!("{}/authorize", state.url),
            "token_endpoint": format!("{}/token", state.url),
            "registration_endpoint": format!("{}/register", state.url),
            "jwks_uri": format!("{}/jwks", state.url),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }),
        "/jwks" => {
            state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            json!({ "keys": *state.published.lock().expect("no panics while locked") })
        }
        _ => return Response::builder().status(404).body(Full::new(Bytes::new())).expect("valid response"),
    };
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}
