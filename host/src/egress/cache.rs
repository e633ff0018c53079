//! The opt-in cache of a component's outbound GETs (`outbound.cache_ttl_s`):
//! an upstream with a rate limit per client address (Open-Meteo's free API:
//! 600 calls a minute) sees one request per distinct URL and TTL, not one per
//! tool call of every user.
//!
//! A shared cache as HTTP defines it (RFC 9111, by `http-cache-semantics`):
//! never what `Cache-Control` marks `no-store`, `no-cache` or `private`;
//! fresh for `s-maxage`/`max-age` (minus `Age`) or until `Expires`, and for
//! the policy's TTL when the answer says nothing; never longer than that TTL.
//! Stricter still: only `200` answers to GETs without credentials or ranges,
//! never answers with `Set-Cookie`. The key is the URL with every request
//! header, so that no variant is ever served for another. Each component has
//! its own cache, bounded in entries (`moka`) and in the size of each body.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE, DATE, EXPIRES, HeaderValue, RANGE, SET_COOKIE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use http_cache_semantics::{BeforeRequest, CachePolicy as Rules};
use moka::policy::EvictionPolicy;
use wasmtime_wasi_http::{Error, WasiBody};

use crate::policy::CachePolicy;

/// Larger bodies are passed on, not kept: entries × this bounds the memory.
const MAX_CACHED_BODY: usize = 256 * 1024;

#[derive(Clone)]
struct Entry {
    rules: Arc<Rules>,
    body: Bytes,
    /// How long it is kept: its freshness, at most the policy's TTL.
    fresh: Duration,
}

pub struct Cache {
    policy: CachePolicy,
    entries: moka::sync::Cache<String, Entry>,
}

/// Entries go when their freshness ends.
struct Freshness;

impl moka::Expiry<String, Entry> for Freshness {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.fresh)
    }
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

/// The request's `Cache-Control` directives, lower-cased: a request that
/// asks for no cache is neither looked up nor kept.
fn directives(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
}

/// The caching rules of an answer and how long it may be kept, if at all.
fn lifetime<B>(request: &Request<()>, response: &Response<B>, ttl: Duration) -> Option<(Rules, Duration)> {
    if response.status() != StatusCode::OK || response.headers().contains_key(SET_COOKIE) {
        return None;
    }
    // The policy's TTL is the freshness of an answer that states none:
    // an `Expires` that any `max-age` or `s-maxage` overrides.
    let mut stated = Response::new(());
    *stated.headers_mut() = response.headers().clone();
    let headers = stated.headers_mut();
    // Directive names are case-insensitive; `http-cache-semantics` matches them as written.
    if let http::header::Entry::Occupied(mut directives) = headers.entry(CACHE_CONTROL) {
        for value in directives.iter_mut() {
            *value = HeaderValue::from_bytes(&value.as_bytes().to_ascii_lowercase()).expect("still valid");
        }
    }
    if !headers.contains_key(EXPIRES) {
        let date = headers.get(DATE).and_then(|d| httpdate::parse_http_date(d.to_str().ok()?).ok());
        // A second more, as the header's whole seconds round down; the TTL caps it.
        let expires = date.unwrap_or_else(SystemTime::now) + ttl + Duration::from_secs(1);
        let expires = httpdate::fmt_http_date(expires);
        headers.insert(EXPIRES, HeaderValue::from_str(&expires).expect("a valid date"));
    }
    let rules = Rules::new(request, &stated);
    let fresh = rules.time_to_live(SystemTime::now()).min(ttl);
    (rules.is_storable() && !fresh.is_zero()).then_some((rules, fresh))
}

fn full(body: Bytes) -> WasiBody {
    Full::new(body).map_err(|never| match never {}).boxed_unsync()
}

impl Cache {
    pub fn new(policy: CachePolicy) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(policy.max_entries as u64)
            // The newest answer is always kept, the least recently used one makes room.
            .eviction_policy(EvictionPolicy::lru())
            .expire_after(Freshness)
            .build();
        Self { policy, entries }
    }

    pub fn policy(&self) -> CachePolicy {
        self.policy
    }

    /// A fresh copy of the answer kept for `request` under `key`.
    pub fn get<B>(&self, key: &str, request: &Request<B>) -> Option<Response<WasiBody>> {
        let entry = self.entries.get(key)?;
        match entry.rules.before_request(request, SystemTime::now()) {
            BeforeRequest::Fresh(parts) => Some(Response::from_parts(parts, full(entry.body))),
            BeforeRequest::Stale { .. } => None,
        }
    }

    /// Keeps `response` to `request` under `key` if it may be kept, reading
    /// its body (within the limits its body already enforces); returns it to
    /// be read as usual.
    pub async fn keep(
        &self,
        key: String,
        request: &Request<()>,
        response: Response<WasiBody>,
    ) -> Result<Response<WasiBody>, Error> {
        let Some((rules, fresh)) = lifetime(request, &response, self.policy.ttl) else { return Ok(response) };
        let declared = response.headers().get(http::header::CONTENT_LENGTH);
        if declared.and_then(|v| v.to_str().ok()?.parse::<usize>().ok()).is_some_and(|n| n > MAX_CACHED_BODY)
        {
            return Ok(response);
        }
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        if body.len() <= MAX_CACHED_BODY {
            self.insert(key, Entry { rules: Arc::new(rules), body: body.clone(), fresh });
        }
        Ok(Response::from_parts(parts, full(body)))
    }

    fn insert(&self, key: String, entry: Entry) {
        self.entries.insert(key, entry);
        // Evict now, so that the bound holds at once.
        self.entries.run_pending_tasks();
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

    fn get(url: &str) -> Request<()> {
        Request::get(url).body(()).unwrap()
    }

    fn kept_for(response: &Response<WasiBody>, ttl: Duration) -> Option<Duration> {
        let fresh = lifetime(&get("http://api.test/"), response, ttl).map(|(_, fresh)| fresh)?;
        // Whole seconds: the clock moves on while the rules are worked out.
        Some(Duration::from_secs(fresh.as_secs_f64().round() as u64))
    }

    #[test]
    fn cache_control_bounds_the_lifetime() {
        let ttl = Duration::from_secs(60);
        assert_eq!(kept_for(&response(&[]), ttl), Some(ttl));
        assert_eq!(
            kept_for(&response(&[("cache-control", "public, max-age=10")]), ttl),
            Some(Duration::from_secs(10))
        );
        assert_eq!(kept_for(&response(&[("cache-control", "max-age=600")]), ttl), Some(ttl));
        let aged = [("cache-control", "max-age=10, s-maxage=30"), ("age", "5")];
        assert_eq!(kept_for(&response(&aged), ttl), Some(Duration::from_secs(25)));
        let expires = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(20));
        let until = kept_for(&response(&[("expires", &expires)]), ttl).unwrap();
        assert!((19..=20).contains(&until.as_secs()), "until Expires (whole seconds): {until:?}");
        for never in [
            [("cache-control", "no-store")],
            [("cache-control", "No-Cache")],
            [("cache-control", "private, max-age=60")],
            [("cache-control", "max-age=0")],
            [("set-cookie", "a=b")],
            [("vary", "*")],
            [("expires", "0")],
        ] {
            assert_eq!(kept_for(&response(&never), ttl), None, "{never:?}");
        }
        let mut failed = response(&[]);
        *failed.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(kept_for(&failed, ttl), None);
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
            ("cache-control", "no-store"),
        ] {
            assert!(key(&request(Method::GET, &[refused])).is_none(), "{refused:?}");
        }
    }

    #[tokio::test]
    async fn answers_are_kept_while_fresh_and_entries_are_bounded() {
        let cache = Cache::new(CachePolicy { ttl: Duration::from_secs(60), max_entries: 2 });
        let keep = async |url: &str, headers: &[(&str, &str)]| {
            let body = cache.keep(url.into(), &get(url), response(headers)).await.unwrap();
            assert_eq!(body.into_body().collect().await.unwrap().to_bytes(), "{}", "passed on whole");
        };
        keep("http://a/", &[]).await;
        keep("http://no-store/", &[("cache-control", "no-store")]).await;
        keep("http://brief/", &[("cache-control", "max-age=1")]).await;
        assert!(cache.get("http://a/", &get("http://a/")).is_some());
        assert!(cache.get("http://no-store/", &get("http://no-store/")).is_none(), "no-store is never kept");
        assert!(cache.get("http://brief/", &get("http://brief/")).is_some(), "fresh for max-age=1");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(cache.get("http://brief/", &get("http://brief/")).is_none(), "stale after max-age=1");
        // A request that asks for a fresh answer is not served from the cache.
        let mut refresh = get("http://a/");
        refresh.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert!(cache.get("http://a/", &refresh).is_none());
        // Two entries at most: the least recently used one makes room.
        keep("http://b/", &[]).await;
        assert!(cache.get("http://b/", &get("http://b/")).is_some());
        keep("http://c/", &[]).await;
        assert!(cache.get("http://a/", &get("http://a/")).is_none(), "the least recently used made room");
        assert!(
            cache.get("http://b/", &get("http://b/")).is_some()
                && cache.get("http://c/", &get("http://c/")).is_some()
        );
    }
}
