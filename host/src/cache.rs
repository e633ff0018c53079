//! The opt-in cache of a component's outbound GETs (`outbound.cache_ttl_s`):
//! an upstream with a rate limit per client address (Open-Meteo's free API:
//! 600 calls a minute) sees one request per distinct URL and TTL, not one per
//! tool call of every user.
//!
//! A shared cache as HTTP defines it, kept simple: only `200` answers to GETs
//! without credentials, never what `Cache-Control` marks `no-store`,
//! `no-cache` or `private` nor answers with `Set-Cookie` or `Vary: *`; kept for
//! the policy's TTL or less when `s-maxage`/`max-age` (minus `Age`) says so.
//! The key is the URL with every request header, so that no variant is ever
//! served for another. Each component has its own cache, bounded in entries
//! and in the size of each body.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AGE, AUTHORIZATION, CACHE_CONTROL, COOKIE, RANGE, SET_COOKIE, VARY};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error, WasiBody};

use crate::policy::CachePolicy;

/// Larger bodies are passed on, not kept: entries × this bounds the memory.
const MAX_CACHED_BODY: usize = 256 * 1024;

struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    expires: Instant,
}

pub struct Cache {
    policy: CachePolicy,
    entries: Mutex<HashMap<String, Entry>>,
}

/// Every component's cache, by component name.
static CACHES: LazyLock<Mutex<HashMap<Arc<str>, Arc<Cache>>>> = LazyLock::new(Default::default);

/// The cache of `component`, made anew when its policy changed.
pub fn of(component: &Arc<str>, policy: CachePolicy) -> Arc<Cache> {
    let mut caches = CACHES.lock().expect("no panics while locked");
    let cache = caches
        .entry(component.clone())
        .or_insert_with(|| Arc::new(Cache { policy, entries: Default::default() }));
    if cache.policy != policy {
        *cache = Arc::new(Cache { policy, entries: Default::default() });
    }
    cache.clone()
}

/// The cache key of a request, if its answer may come from the cache.
pub fn key(request: &Request<WasiBody>) -> Option<String> {
    let headers = request.headers();
    let refused = [AUTHORIZATION, COOKIE, RANGE].iter().any(|h| headers.contains_key(h))
        || directives(headers).any(|d| d == "no-store" || d == "no-cache");
    if request.method() != Method::GET || refused {
        return None;
    }
    let mut fields: Vec<String> = headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    fields.sort();
    Some(format!("{}\n{}", request.uri(), fields.join("\n")))
}

/// The `Cache-Control` directives, lower-cased.
fn directives(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
}

/// How long an answer may be kept, if at all.
fn lifetime(response: &Response<WasiBody>, ttl: Duration) -> Option<Duration> {
    let headers = response.headers();
    if response.status() != StatusCode::OK
        || headers.contains_key(SET_COOKIE)
        || headers.get_all(VARY).iter().any(|v| v.as_bytes().contains(&b'*'))
    {
        return None;
    }
    let mut max_age = None;
    let mut shared_max_age = None;
    for directive in directives(headers) {
        match directive.split_once('=') {
            None if ["no-store", "no-cache", "private"].contains(&directive.as_str()) => return None,
            Some(("max-age", secs)) => max_age = secs.trim_matches('"').parse::<u64>().ok(),
            Some(("s-maxage", secs)) => shared_max_age = secs.trim_matches('"').parse::<u64>().ok(),
            _ => {}
        }
    }
    let age = headers.get(AGE).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()).unwrap_or(0);
    let fresh = match shared_max_age.or(max_age) {
        Some(secs) => ttl.min(Duration::from_secs(secs.saturating_sub(age))),
        None => ttl,
    };
    (!fresh.is_zero()).then_some(fresh)
}

fn full(body: Bytes) -> WasiBody {
    Full::new(body).map_err(|never| match never {}).boxed_unsync()
}

impl Cache {
    /// A fresh copy of the answer kept for `key`.
    pub fn get(&self, key: &str) -> Option<Response<WasiBody>> {
        let mut entries = self.entries.lock().expect("no panics while locked");
        let entry = entries.get(key)?;
        if entry.expires <= Instant::now() {
            entries.remove(key);
            return None;
        }
        let mut response = Response::new(full(entry.body.clone()));
        *response.status_mut() = entry.status;
        *response.headers_mut() = entry.headers.clone();
        Some(response)
    }

    /// Keeps `response` for `key` if it may be kept, reading its body (within
    /// the limits its body already enforces); returns it to be read as usual.
    pub async fn keep(&self, key: String, response: Response<WasiBody>) -> Result<Response<WasiBody>, Error> {
        let Some(fresh) = lifetime(&response, self.policy.ttl) else { return Ok(response) };
        let declared = response.headers().get(http::header::CONTENT_LENGTH);
        if declared.and_then(|v| v.to_str().ok()?.parse::<usize>().ok()).is_some_and(|n| n > MAX_CACHED_BODY)
        {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        if body.len() <= MAX_CACHED_BODY {
            let entry = Entry {
                status: parts.status,
                headers: parts.headers.clone(),
                body: body.clone(),
                expires: Instant::now() + fresh,
            };
            self.insert(key, entry);
        }
        Ok(Response::from_parts(parts, full(body)))
    }

    /// Adds an entry; when full, expired entries go first, then the one
    /// closest to expiring.
    fn insert(&self, key: String, entry: Entry) {
        let mut entries = self.entries.lock().expect("no panics while locked");
        if entries.len() >= self.policy.max_entries && !entries.contains_key(&key) {
            let now = Instant::now();
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= self.policy.max_entries {
                let soonest = entries.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> Response<WasiBody> {
        let mut response = Response::new(full(Bytes::from_static(b"{}")));
        for (name, value) in headers {
            response
                .headers_mut()
                .append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        response
    }

    #[test]
    fn cache_control_bounds_the_lifetime() {
        let ttl = Duration::from_secs(60);
        assert_eq!(lifetime(&response(&[]), ttl), Some(ttl));
        assert_eq!(
            lifetime(&response(&[("cache-control", "public, max-age=10")]), ttl),
            Some(Duration::from_secs(10))
        );
        assert_eq!(lifetime(&response(&[("cache-control", "max-age=600")]), ttl), Some(ttl));
        let aged = [("cache-control", "max-age=10, s-maxage=30"), ("age", "5")];
        assert_eq!(lifetime(&response(&aged), ttl), Some(Duration::from_secs(25)));
        for never in [
            [("cache-control", "no-store")],
            [("cache-control", "No-Cache")],
            [("cache-control", "private, max-age=60")],
            [("cache-control", "max-age=0")],
            [("set-cookie", "a=b")],
            [("vary", "*")],
        ] {
            assert_eq!(lifetime(&response(&never), ttl), None, "{never:?}");
        }
        let mut failed = response(&[]);
        *failed.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(lifetime(&failed, ttl), None);
    }

    #[test]
    fn only_plain_gets_are_looked_up() {
        let request = |method: Method, headers: &[(&str, &str)]| {
            let mut builder = Request::builder().method(method).uri("http://api.test/v1?x=1");
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(full(Bytes::new())).unwrap()
        };
        let plain = key(&request(Method::GET, &[("accept", "application/json")])).unwrap();
        assert!(plain.starts_with("http://api.test/v1?x=1\n"));
        assert_ne!(Some(plain), key(&request(Method::GET, &[("accept", "text/html")])), "variants differ");
        assert!(key(&request(Method::POST, &[])).is_none());
        for refused in [
            ("authorization", "Bearer x"),
            ("cookie", "a=b"),
            ("range", "bytes=0-1"),
            ("cache-control", "no-cache"),
        ] {
            assert!(key(&request(Method::GET, &[refused])).is_none(), "{refused:?}");
        }
    }

    #[test]
    fn entries_are_bounded_and_expire() {
        let cache = Cache {
            policy: CachePolicy { ttl: Duration::from_secs(60), max_entries: 2 },
            entries: Default::default(),
        };
        let entry = |secs| Entry {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"x"),
            expires: Instant::now() + Duration::from_secs(secs),
        };
        cache.insert("a".into(), entry(10));
        cache.insert("b".into(), entry(20));
        cache.insert("c".into(), entry(30));
        assert!(cache.get("a").is_none(), "the entry closest to expiring made room");
        assert!(cache.get("b").is_some() && cache.get("c").is_some());
        cache.insert("d".into(), entry(0));
        assert!(cache.get("d").is_none(), "expired");
    }
}
