//! An issuer's signing keys: discovered from its metadata (OpenID Connect
//! Discovery, else RFC 8414), fetched with bounded time and size, cached, and
//! fetched again when a token names a key id the cache lacks, at most once per
//! `REFRESH_INTERVAL`, so a flood of made-up key ids cannot hammer the issuer.
//! Keys past their time are refreshed in the background, one fetch at a time,
//! while tokens are still checked with them: a slow issuer delays no request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::egress;

/// Shortest time between two fetches caused by unknown key ids.
const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Longest a metadata or key set fetch may take, connect to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest metadata document or key set accepted.
const MAX_DOCUMENT_BYTES: usize = 256 << 10;
/// Most keys kept from one key set.
const MAX_KEYS: usize = 64;

/// A key that verifies tokens signed with exactly one algorithm.
pub struct Key {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Why no key was found.
#[derive(Debug)]
pub enum Lookup {
    /// The issuer has no such key, even after a refresh.
    Unknown,
    /// The issuer's keys could not be fetched.
    Unavailable(anyhow::Error),
}

#[derive(Default)]
struct Keys {
    by_id: HashMap<String, Arc<Key>>,
    /// Keys published without a `kid`.
    anonymous: Vec<Arc<Key>>,
    fetched: Option<Instant>,
}

impl Keys {
    fn find(&self, kid: Option<&str>) -> Option<Arc<Key>> {
        match kid {
            Some(kid) => self.by_id.get(kid).cloned(),
            // Without a key id only an unambiguous key set will do.
            None => match (self.by_id.len(), self.anonymous.as_slice()) {
                (0, [only]) => Some(only.clone()),
                (1, []) => self.by_id.values().next().cloned(),
                _ => None,
            },
        }
    }

    fn fresh(&self, ttl: Duration) -> bool {
        self.fetched.is_some_and(|at| at.elapsed() < ttl)
    }
}

#[derive(Default)]
struct Fetching {
    /// Where the keys are, once known.
    jwks_url: Option<String>,
    /// When unknown key ids last caused a fetch.
    last_refresh: Option<Instant>,
    /// When a fetch last failed: the next waits `REFRESH_INTERVAL`.
    last_failure: Option<Instant>,
}

/// One issuer's key set.
pub struct Jwks(Arc<Inner>);

struct Inner {
    issuer: String,
    /// How long fetched keys are used before they are fetched again.
    ttl: Duration,
    keys: RwLock<Arc<Keys>>,
    /// Held while fetching, so concurrent misses make one fetch.
    fetching: Arc<tokio::sync::Mutex<Fetching>>,
}

impl Jwks {
    pub fn new(issuer: String, jwks_url: Option<String>, ttl: Duration) -> Self {
        Jwks(Arc::new(Inner {
            issuer,
            ttl,
            keys: RwLock::default(),
            fetching: Arc::new(tokio::sync::Mutex::new(Fetching { jwks_url, ..Fetching::default() })),
        }))
    }

    /// The key a token names by `kid`.
    pub async fn key(&self, kid: Option<&str>) -> Result<Arc<Key>, Lookup> {
        let keys = self.0.current();
        if let Some(key) = keys.find(kid) {
            if !keys.fresh(self.0.ttl) {
                self.refresh_in_background();
            }
            return Ok(key);
        }
        let mut fetching = self.0.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let keys = self.0.current();
        if let Some(key) = keys.find(kid) {
            return Ok(key);
        }
        if keys.fresh(self.0.ttl) {
            if fetching.last_refresh.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
                return Err(Lookup::Unknown);
            }
            fetching.last_refresh = Some(Instant::now());
        } else if fetching.last_failure.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
            return Err(Lookup::Unavailable(anyhow!(
                "the last fetch of the issuer's keys failed moments ago"
            )));
        }
        match self.0.fetch(&mut fetching).await {
            Ok(fetched) => fetched.find(kid).ok_or(Lookup::Unknown),
            Err(error) => Err(Lookup::Unavailable(error)),
        }
    }

    /// Fetches the keys again unless a fetch is under way or failed moments ago.
    fn refresh_in_background(&self) {
        let Ok(mut fetching) = self.0.fetching.clone().try_lock_owned() else { return };
        if fetching.last_failure.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
            return;
        }
        let inner = self.0.clone();
        tokio::spawn(async move {
            // Errors are logged, and the keys at hand stay in use meanwhile.
            let _ = inner.fetch(&mut fetching).await;
        });
    }
}

impl Inner {
    fn current(&self) -> Arc<Keys> {
        self.keys.read().expect("no panics while locked").clone()
    }

    /// Fetches the key set and installs it; a failure is recorded and logged.
    async fn fetch(&self, fetching: &mut Fetching) -> anyhow::Result<Arc<Keys>> {
        match self.download(fetching).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.keys.write().expect("no panics while locked") = keys.clone();
                Ok(keys)
            }
            Err(error) => {
                fetching.last_failure = Some(Instant::now());
                tracing::warn!(issuer = %self.issuer, error = %format!("{error:#}"), "fetching the issuer's keys failed");
                Err(error)
            }
        }
    }

    async fn download(&self, fetching: &mut Fetching) -> anyhow::Result<Keys> {
        let url = match &fetching.jwks_url {
            Some(url) => url.clone(),
            None => {
                let url = discover(&self.issuer).await?;
                fetching.jwks_url = Some(url.clone());
                url
            }
        };
        let set = get_json(&url).await.with_context(|| format!("key set {url}"))?;
        let keys = parse_key_set(&set).with_context(|| format!("key set {url}"))?;
        tracing::info!(issuer = %self.issuer, keys = keys.by_id.len() + keys.anonymous.len(), "fetched the issuer's keys");
        Ok(keys)
    }
}

/// The `jwks_uri` of `issuer`, from its OpenID Connect Discovery document,
/// else its RFC 8414 metadata; the document must name `issuer` exactly.
async fn discover(issuer: &str) -> anyhow::Result<String> {
    let trimmed = issuer.trim_end_matches('/');
    let uri: http::Uri = issuer.parse()?;
    let origin =
        format!("{}://{}", uri.scheme_str().unwrap_or("https"), uri.authority().map_or("", |a| a.as_str()));
    let path = uri.path().trim_end_matches('/');
    let candidates = [
        format!("{trimmed}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
    ];
    let mut failures = Vec::new();
    for url in candidates {
        match get_json(&url).await {
            Ok(metadata) => {
                if metadata.get("issuer").and_then(Value::as_str) != Some(issuer) {
                    bail!(
                        "{url} names issuer {}, not {issuer}",
                        metadata.get("issuer").unwrap_or(&Value::Null)
                    );
                }
                let jwks = metadata.get("jwks_uri").and_then(Value::as_str);
                let jwks = jwks.ok_or_else(|| anyhow!("{url} has no jwks_uri"))?;
                check_url(jwks).with_context(|| format!("jwks_uri in {url}"))?;
                return Ok(jwks.to_owned());
            }
            Err(error) => failures.push(format!("{url}: {error:#}")),
        }
    }
    bail!("no metadata for issuer {issuer}: {}", failures.join("; "))
}

/// HTTPS, or plain HTTP to a loopback address (local test issuers).
pub fn check_url(url: &str) -> anyhow::Result<http::Uri> {
    let uri: http::Uri = url.parse().with_context(|| format!("{url:?} is not a URL"))?;
    let host = uri.host().ok_or_else(|| anyhow!("{url:?} has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        _ => bail!("{url:?} must be an https URL (plain http only to a loopback address)"),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// GETs a JSON object: no redirects, bounded in time and size.
async fn get_json(url: &str) -> anyhow::Result<Value> {
    let uri = check_url(url)?;
    // The issuer is the operator's choice, so any address it resolves to is
    // fine. A fetch is rare (see `REFRESH_INTERVAL`): a connection each time.
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(FETCH_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(egress::tls_config())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(https);
    let exchange = async {
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())?;
        let response = client.request(request).await.map_err(|e| anyhow!("{e:#}"))?;
        if response.status() != http::StatusCode::OK {
            bail!("HTTP {}", response.status());
        }
        let body = egress::Bounded::new(response.into_body(), MAX_DOCUMENT_BYTES, FETCH_TIMEOUT);
        let body = body.collect().await.map_err(|e| anyhow!("reading the body: {e}"))?.to_bytes();
        match serde_json::from_slice(&body)? {
            Value::Object(object) => Ok(Value::Object(object)),
            _ => bail!("not a JSON object"),
        }
    };
    tokio::time::timeout(FETCH_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("no answer within {FETCH_TIMEOUT:?}"))?
}

/// The signing keys of a JWK Set; keys this host cannot or must not use
/// (encryption keys, symmetric keys, unknown types) are left out.
fn parse_key_set(set: &Value) -> anyhow::Result<Keys> {
    let entries = set.get("keys").and_then(Value::as_array).ok_or_else(|| anyhow!("no \"keys\" array"))?;
    let mut keys = Keys { fetched: Some(Instant::now()), ..Keys::default() };
    for entry in entries.iter().take(MAX_KEYS) {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else { continue };
        let Some(key) = signing_key(&jwk) else { continue };
        match jwk.common.key_id {
            Some(kid) => {
                keys.by_id.insert(kid, Arc::new(key));
            }
            None => keys.anonymous.push(Arc::new(key)),
        }
    }
    Ok(keys)
}

/// The one asymmetric algorithm a JWK verifies: its `alg` when it names one
/// that fits the key, else the usual one for its type (RS256 for RSA, the
/// curve's ECDSA, EdDSA).
fn signing_key(jwk: &Jwk) -> Option<Key> {
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return None;
    }
    let declared = jwk.common.key_algorithm;
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match declared {
            None => Algorithm::RS256,
            Some(KeyAlgorithm::RS256) => Algorithm::RS256,
            Some(KeyAlgorithm::RS384) => Algorithm::RS384,
            Some(KeyAlgorithm::RS512) => Algorithm::RS512,
            Some(KeyAlgorithm::PS256) => Algorithm::PS256,
            Some(KeyAlgorithm::PS384) => Algorithm::PS384,
            Some(KeyAlgorithm::PS512) => Algorithm::PS512,
            Some(_) => return None,
        },
        AlgorithmParameters::EllipticCurve(ec) => match (&ec.curve, declared) {
            (EllipticCurve::P256, None | Some(KeyAlgorithm::ES256)) => Algorithm::ES256,
            (EllipticCurve::P384, None | Some(KeyAlgorithm::ES384)) => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => match (&okp.curve, declared) {
            (EllipticCurve::Ed25519, None | Some(KeyAlgorithm::EdDSA)) => Algorithm::EdDSA,
            _ => return None,
        },
        // Symmetric keys would let anyone holding the secret mint tokens.
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { algorithm, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_asymmetric_signing_keys() {
        let ec = json!({"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let set = json!({"keys": [
            ec,
            {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
            {"kty":"EC","crv":"P-256","kid":"enc","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"EC","crv":"P-256","kid":"mismatch","alg":"ES384","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"RSA","kid":"rsa","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"},
            {"kty":"OKP","crv":"X25519","kid":"x","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"},
            "not a key"
        ]});
        let keys = parse_key_set(&set).unwrap();
        let mut ids: Vec<_> = keys.by_id.keys().map(String::as_str).collect();
        ids.sort();
        assert_eq!(ids, ["ec", "rsa"]);
        assert_eq!(keys.by_id["ec"].algorithm, Algorithm::ES256);
        assert_eq!(keys.by_id["rsa"].algorithm, Algorithm::RS256);
        assert!(keys.find(None).is_none(), "two keys: a token must name one");
        assert!(parse_key_set(&json!({"keys": "no"})).is_err());
    }

    #[test]
    fn issuer_urls_need_https_except_on_loopback() {
        assert!(check_url("https://login.example.com/tenant/v2.0").is_ok());
        assert!(check_url("http://127.0.0.1:9000").is_ok());
        assert!(check_url("http://[::1]:9000/jwks").is_ok());
        assert!(check_url("http://localhost:9000").is_ok());
        assert!(check_url("http://login.example.com").is_err());
        assert!(check_url("ftp://127.0.0.1").is_err());
        assert!(check_url("not a url").is_err());
    }
}
