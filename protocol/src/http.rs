//! Streamable HTTP transport rules: which requests reach JSON-RPC dispatch, and
//! the exact HTTP answer for every one that does not.

use serde_json::Value;

use crate::jsonrpc::{self, INVALID_REQUEST, Incoming, PARSE_ERROR, RpcError};
use crate::version::Version;

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
pub const METHOD_HEADER: &str = "mcp-method";
pub const NAME_HEADER: &str = "mcp-name";

/// Read access to request headers; `name` is always lowercase.
pub trait Headers {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An HTTP answer, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: serde_json::to_vec(value).expect("JSON values always serialize"),
        }
    }

    /// A call's only message: JSON when the client accepts it (or the status
    /// is not 200), else a one-event SSE stream.
    pub fn answer(status: u16, reply: &Value, json_ok: bool) -> Self {
        if json_ok || status != 200 {
            Self::json(status, reply)
        } else {
            Self { status, headers: sse_headers(), body: sse_event(reply) }
        }
    }

    /// A JSON-RPC error outside any request (`id: null`) with an HTTP status.
    pub fn rpc_error(status: u16, error: &RpcError) -> Self {
        Self::json(status, &jsonrpc::failure(&Value::Null, error))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Headers of an SSE response stream.
pub fn sse_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "text/event-stream".into()),
        ("cache-control", "no-cache".into()),
        ("x-accel-buffering", "no".into()),
    ]
}

/// One SSE event carrying a JSON-RPC message.
pub fn sse_event(message: &Value) -> Vec<u8> {
    let mut event = b"event: message\ndata: ".to_vec();
    serde_json::to_writer(&mut event, message).expect("JSON values always serialize");
    event.extend_from_slice(b"\n\n");
    event
}

/// Host and Origin allow-lists (DNS-rebinding protection).
///
/// Host entries are `name` (any port), `name:port`, or `*`. Origin entries are
/// `scheme://name[:port]`, `scheme://name:*` (any port), or `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    pub hosts: Vec<String>,
    pub origins: Vec<String>,
}

impl Guard {
    /// Loopback only, the safe default for a server on a workstation.
    pub fn loopback() -> Self {
        let names = ["localhost", "127.0.0.1", "[::1]"];
        Self {
            hosts: names.iter().map(|n| n.to_string()).collect(),
            origins: names
                .iter()
                .flat_map(|n| [format!("http://{n}:*"), format!("https://{n}:*"), format!("http://{n}")])
                .collect(),
        }
    }

    /// 403 unless Host is allowed and Origin, when present, is allowed.
    pub fn check(&self, headers: &(impl Headers + ?Sized)) -> Result<(), HttpResponse> {
        let host_ok = match headers.get("host") {
            Some(host) => self.hosts.iter().any(|pattern| host_matches(pattern, host)),
            None => self.hosts.iter().any(|p| p == "*"),
        };
        if !host_ok {
            return Err(forbidden("Host header is not allowed"));
        }
        if let Some(origin) = headers.get("origin")
            && !self.origins.iter().any(|pattern| origin_matches(pattern, origin))
        {
            return Err(forbidden("Origin is not allowed"));
        }
        Ok(())
    }
}

fn forbidden(message: &str) -> HttpResponse {
    HttpResponse::rpc_error(403, &RpcError::new(INVALID_REQUEST, message))
}

/// Splits `name[:port]`, keeping IPv6 brackets on the name.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let name_end = if authority.starts_with('[') { authority.find(']').map_or(0, |i| i + 1) } else { 0 };
    let after_name = authority.get(name_end..).unwrap_or_default();
    match after_name.rfind(':') {
        Some(i) => {
            let (name, port) = authority.split_at(name_end + i);
            (name, port.strip_prefix(':'))
        }
        None => (authority, None),
    }
}

fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (name, port) = split_port(host.trim());
    let (pattern_name, pattern_port) = split_port(pattern);
    name.eq_ignore_ascii_case(pattern_name) && (pattern_port.is_none() || pattern_port == port)
}

fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let origin = origin.trim();
    match pattern.strip_suffix(":*") {
        // The origin is client text: split it only where a character starts.
        Some(prefix) => origin.split_at_checked(prefix.len()).is_some_and(|(head, port)| {
            head.eq_ignore_ascii_case(prefix)
                && (port.is_empty()
                    || port
                        .strip_prefix(':')
                        .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())))
        }),
        None => origin.eq_ignore_ascii_case(pattern),
    }
}

/// Which response types a client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    pub json: bool,
    pub sse: bool,
}

impl Accept {
    /// A missing header accepts anything; `q=0` entries are ignored.
    pub fn parse(header: Option<&str>) -> Accept {
        let Some(header) = header else { return Accept { json: true, sse: true } };
        let mut accept = Accept { json: false, sse: false };
        for item in header.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match media.as_str() {
                "*/*" => accept = Accept { json: true, sse: true },
                "application/json" | "application/*" => accept.json = true,
                "text/event-stream" | "text/*" => accept.sse = true,
                _ => {}
            }
        }
        accept
    }
}

/// A POST body that reached JSON-RPC.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub messages: Vec<Incoming>,
    /// The body was a JSON array (allowed only for 2025-03-26).
    pub batch: bool,
    pub accept: Accept,
}

/// Checks a POST's headers and parses its body (already bounded by the caller).
pub fn read_post(headers: &(impl Headers + ?Sized), body: &[u8]) -> Result<Post, HttpResponse> {
    let content_type = headers.get("content-type").unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(HttpResponse::rpc_error(
            415,
            &RpcError::new(INVALID_REQUEST, "Content-Type must be application/json"),
        ));
    }
    let accept = Accept::parse(headers.get("accept"));
    if !accept.json && !accept.sse {
        return Err(HttpResponse::rpc_error(
            406,
            &RpcError::new(INVALID_REQUEST, "Accept must allow application/json or text/event-stream"),
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        HttpResponse::rpc_error(400, &RpcError::new(PARSE_ERROR, format!("Parse error: {e}")))
    })?;
    let (messages, batch) = match value {
        Value::Array(items) => {
            let legacy_2025_03_26 = headers
                .get(PROTOCOL_VERSION_HEADER)
                .is_none_or(|v| v.trim() == Version::V2025_03_26.as_str());
            if !legacy_2025_03_26 {
                return Err(invalid_request("JSON-RPC batches are only allowed in protocol 2025-03-26"));
            }
            if items.is_empty() {
                return Err(invalid_request("an empty JSON-RPC batch is not a request"));
            }
            (items.into_iter().map(Incoming::parse).collect(), true)
        }
        single => (vec![Incoming::parse(single)], false),
    };
    Ok(Post { messages, batch, accept })
}

/// The answer to a POST once every message in it has been handled: 202 when
/// nothing needs an answer, else the one response, or all of them for a batch.
pub fn replies(batch: bool, mut replies: Vec<(u16, Value)>) -> HttpResponse {
    match replies.len() {
        0 => HttpResponse::empty(202),
        1 if !batch => {
            let (status, body) = replies.remove(0);
            HttpResponse::json(status, &body)
        }
        _ => HttpResponse::json(200, &Value::Array(replies.into_iter().map(|(_, body)| body).collect())),
    }
}

pub fn invalid_request(message: &str) -> HttpResponse {
    HttpResponse::rpc_error(400, &RpcError::new(INVALID_REQUEST, message))
}

/// The allowed methods on the MCP endpoint, for 405 answers.
pub fn method_not_allowed() -> HttpResponse {
    HttpResponse::rpc_error(405, &RpcError::new(INVALID_REQUEST, "Method not allowed"))
        .with_header("allow", "POST, DELETE")
}

/// How much of an oversized body is read and discarded before answering 413,
/// so that an ordinary client sees the answer instead of a reset connection.
/// Bodies declared larger than this are refused without reading them.
pub const DRAIN_LIMIT: usize = 8 << 20;

/// A body larger than the configured bound.
pub fn payload_too_large(limit: usize) -> HttpResponse {
    HttpResponse::rpc_error(
        413,
        &RpcError::new(INVALID_REQUEST, format!("request body exceeds {limit} bytes")),
    )
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index the JSON they check")]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn guard_allows_loopback_and_refuses_rebinding() {
        let guard = Guard::loopback();
        assert!(guard.check(headers(&[("Host", "127.0.0.1:8080")]).as_slice()).is_ok());
        assert!(guard.check(headers(&[("host", "localhost")]).as_slice()).is_ok());
        assert!(guard.check(headers(&[("host", "[::1]:9")]).as_slice()).is_ok());
        assert!(
            guard
                .check(headers(&[("host", "127.0.0.1:8080"), ("origin", "http://localhost:6274")]).as_slice())
                .is_ok()
        );
        for bad in [
            headers(&[("host", "evil.example.com")]),
            headers(&[("host", "127.0.0.1.evil.com:80")]),
            headers(&[("host", "127.0.0.1:80"), ("origin", "http://evil.example.com")]),
            headers(&[("host", "127.0.0.1:80"), ("origin", "http://localhost.evil.com")]),
            headers(&[("host", "127.0.0.1:80"), ("origin", "http://localhost:80x")]),
            headers(&[("host", "127.0.0.1:80"), ("origin", "null")]),
            headers(&[]),
        ] {
            let err = guard.check(bad.as_slice()).unwrap_err();
            assert_eq!(err.status, 403, "{bad:?}");
        }
    }

    /// Found by the `protocol_request` fuzz target: a multi-byte character
    /// where a loopback origin's port separator would be panicked the guard.
    #[test]
    fn guard_refuses_non_ascii_origins_without_panicking() {
        let guard = Guard::loopback();
        for origin in ["http://localh\u{fffd}\u{fffd}st:3000", "http://localhost\u{e9}", "http://\u{e9}"] {
            let err =
                guard.check(headers(&[("host", "[::1]:8080"), ("origin", origin)]).as_slice()).unwrap_err();
            assert_eq!(err.status, 403, "{origin}");
        }
        assert!(!host_matches("localhost", "localh\u{e9}st:80"));
    }

    #[test]
    fn guard_patterns() {
        assert!(host_matches("example.com", "EXAMPLE.com:443"));
        assert!(host_matches("example.com:443", "example.com:443"));
        assert!(!host_matches("example.com:443", "example.com:8443"));
        assert!(!host_matches("example.com:443", "example.com"));
        assert!(host_matches("*", "anything"));
        assert!(origin_matches("https://chatgpt.com", "https://chatgpt.com"));
        assert!(!origin_matches("https://chatgpt.com", "https://chatgpt.com.evil"));
        assert!(origin_matches("http://localhost:*", "http://localhost:3000"));
        assert!(origin_matches("http://localhost:*", "http://localhost"));
    }

    #[test]
    fn accept_parsing() {
        assert_eq!(Accept::parse(None), Accept { json: true, sse: true });
        assert_eq!(
            Accept::parse(Some("application/json, text/event-stream")),
            Accept { json: true, sse: true }
        );
        assert_eq!(Accept::parse(Some("application/json")), Accept { json: true, sse: false });
        assert_eq!(Accept::parse(Some("text/event-stream")), Accept { json: false, sse: true });
        assert_eq!(Accept::parse(Some("*/*")), Accept { json: true, sse: true });
        assert_eq!(
            Accept::parse(Some("text/event-stream;q=0, application/json")),
            Accept { json: true, sse: false }
        );
        assert_eq!(Accept::parse(Some("text/html")), Accept { json: false, sse: false });
    }

    #[test]
    fn post_checks() {
        let ok = headers(&[("content-type", "application/json; charset=utf-8")]);
        let post = read_post(ok.as_slice(), br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert!(!post.batch);
        assert_eq!(post.messages.len(), 1);

        let err = read_post(headers(&[("content-type", "text/plain")]).as_slice(), b"{}").unwrap_err();
        assert_eq!(err.status, 415);
        let err = read_post(
            headers(&[("content-type", "application/json"), ("accept", "text/html")]).as_slice(),
            b"{}",
        )
        .unwrap_err();
        assert_eq!(err.status, 406);

        let err = read_post(ok.as_slice(), b"{not json").unwrap_err();
        assert_eq!(err.status, 400);
        let body: Value = serde_json::from_slice(&err.body).unwrap();
        assert_eq!(body["error"]["code"], -32700);
        assert_eq!(body["id"], Value::Null);
    }

    #[test]
    fn batches_only_for_2025_03_26() {
        let body = br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"}]"#;
        let plain = headers(&[("content-type", "application/json")]);
        assert_eq!(read_post(plain.as_slice(), body).unwrap().messages.len(), 2);
        let old = headers(&[("content-type", "application/json"), ("mcp-protocol-version", "2025-03-26")]);
        assert!(read_post(old.as_slice(), body).unwrap().batch);
        let new = headers(&[("content-type", "application/json"), ("mcp-protocol-version", "2025-06-18")]);
        assert_eq!(read_post(new.as_slice(), body).unwrap_err().status, 400);
        assert_eq!(read_post(plain.as_slice(), b"[]").unwrap_err().status, 400);
    }

    #[test]
    fn sse_framing() {
        assert_eq!(sse_event(&json!({"a":1})), b"event: message\ndata: {\"a\":1}\n\n".to_vec());
    }
}
