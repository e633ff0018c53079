//! A loopback stand-in for the Open-Meteo forecast API, answering in its
//! documented format from the fixtures in `tests/fixtures/open-meteo`.
//!
//! The latitude picks the answer, so one fake serves every test:
//! - `-1.0`: 400 with the API's latitude error;  `-2.0`: 429 rate limit;
//! - `-3.0`: 503 overloaded;  `-4.0`: 200 with a body that is not a forecast;
//! - `-5.0`: 502 with an HTML body, as a proxy in front of the API would send;
//! - `-6.0`: never answers within a minute (timeouts);
//! - `-7.0`: 200 with a 3 MiB body (response size limits);
//! - `-8.0`: the Berlin fixture with `Cache-Control: max-age=1`;
//! - `-9.0`: the Berlin fixture with `Cache-Control: no-store`;
//! - `-10.0`: the Berlin fixture in chunks, without `Content-Length`;
//! - anything else: 200 with the Berlin current-conditions fixture.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub const BERLIN: &str = include_str!("../fixtures/open-meteo/01-current-berlin-timezone-auto.json");
const LATITUDE_ERROR: &str = include_str!("../fixtures/open-meteo/90-error-400-latitude.json");
const RATE_LIMITED: &str = include_str!("../fixtures/open-meteo/92-error-429-minutely.json");
const OVERLOADED: &str = include_str!("../fixtures/open-meteo/93-error-503-overloaded.json");

/// A body far larger than any forecast.
static LARGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| " ".repeat(3 << 20));

/// A running fake; it stops when the runtime does.
pub struct FakeApi {
    pub addr: SocketAddr,
    /// The path and query of every request received, in order (none when
    /// started with `spawn_unlogged`).
    pub requests: Arc<Mutex<Vec<String>>>,
    /// The `traceparent` header of each of those requests ("" when absent).
    pub traceparents: Arc<Mutex<Vec<String>>>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

impl FakeApi {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Status, content type, cache control and body; `None` for the request that never gets an answer.
fn answer(path_and_query: &str) -> Option<(u16, &'static str, Option<&'static str>, &'static str)> {
    const JSON: &str = "application/json; charset=utf-8";
    let latitude = path_and_query
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("latitude="))
        .and_then(|v| v.parse::<f64>().ok());
    if !path_and_query.starts_with("/v1/forecast?") {
        return Some((404, JSON, None, r#"{"error":true,"reason":"Not Found"}"#));
    }
    Some(match latitude {
        Some(-1.0) => (400, JSON, None, LATITUDE_ERROR),
        Some(-2.0) => (429, JSON, None, RATE_LIMITED),
        Some(-3.0) => (503, JSON, None, OVERLOADED),
        Some(-4.0) => (200, JSON, None, r#"{"latitude":1.0,"unexpected":true}"#),
        Some(-5.0) => (502, "text/html", None, "<html><body>502 Bad Gateway</body></html>"),
        Some(-6.0) => return None,
        Some(-7.0) => (200, JSON, None, LARGE.as_str()),
        Some(-8.0) => (200, JSON, Some("public, max-age=1"), BERLIN),
        Some(-9.0) | Some(-10.0) => (200, JSON, Some("no-store"), BERLIN),
        _ => (200, JSON, None, BERLIN),
    })
}

/// Where a logging fake records what it receives.
#[derive(Clone)]
struct Log {
    requests: Arc<Mutex<Vec<String>>>,
    traceparents: Arc<Mutex<Vec<String>>>,
}

async fn handle(
    log: Option<Log>,
    request: Request<hyper::body::Incoming>,
) -> Response<BoxBody<Bytes, Infallible>> {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if let Some(log) = log {
        log.requests.lock().expect("no panics while locked").push(target.clone());
        let traceparent =
            request.headers().get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default();
        log.traceparents.lock().expect("no panics while locked").push(traceparent.to_owned());
    }
    let Some((status, content_type, cache_control, body)) = answer(&target) else {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return Response::builder()
            .status(504)
            .body(Full::new(Bytes::new()).boxed())
            .expect("valid response");
    };
    let mut response = Response::builder().status(status).header("content-type", content_type);
    if let Some(cache_control) = cache_control {
        response = response.header("cache-control", cache_control);
    }
    let body = Bytes::from_static(body.as_bytes());
    if target.contains("latitude=-10") {
        // A body of unknown length is sent chunked.
        let half = body.slice(..body.len() / 2);
        let chunks = Chunked([half, body.slice(body.len() / 2..)].into());
        return response.body(chunks.boxed()).expect("valid response");
    }
    response.body(Full::new(body).boxed()).expect("valid response")
}

/// A body in chunks, its length not known up front (so sent chunked).
struct Chunked(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|chunk| Ok(hyper::body::Frame::data(chunk))))
    }
}

/// Starts the fake on `addr` (port 0 picks a free one).
pub async fn spawn(addr: SocketAddr) -> std::io::Result<FakeApi> {
    start(addr, true).await
}

/// Starts the fake without its request log, whose memory would grow without
/// bound under a benchmark's load.
pub async fn spawn_unlogged(addr: SocketAddr) -> std::io::Result<FakeApi> {
    start(addr, false).await
}

async fn start(addr: SocketAddr, log: bool) -> std::io::Result<FakeApi> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let log = log.then(|| Log { requests: Arc::default(), traceparents: Arc::default() });
    let connections = Arc::new(AtomicUsize::new(0));
    let fake = FakeApi {
        addr: listener.local_addr()?,
        requests: log.as_ref().map(|l| l.requests.clone()).unwrap_or_default(),
        traceparents: log.as_ref().map(|l| l.traceparents.clone()).unwrap_or_default(),
        connections: connections.clone(),
    };
    serve(listener, connections, move |request| handle(log.clone(), request));
    Ok(fake)
}

/// Answers every connection on `listener` with `handle`, counting them in
/// `connections`, until the runtime stops.
pub fn serve<F, R, B>(listener: tokio::net::TcpListener, connections: Arc<AtomicUsize>, handle: F)
where
    F: Fn(Request<hyper::body::Incoming>) -> R + Clone + Send + Sync + 'static,
    R: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes, Error = Infallible> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::Relaxed);
            let _ = stream.set_nodelay(true);
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let answer = handle(request);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// One fake for the whole test process, on a runtime of its own so that it
/// outlives every test's runtime.
pub fn shared() -> &'static FakeApi {
    static FAKE: std::sync::OnceLock<FakeApi> = std::sync::OnceLock::new();
    FAKE.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let fake = spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("fake API");
                sender.send(fake).expect("test thread waits");
                std::future::pending::<()>().await;
            });
        });
        receiver.recv().expect("fake API started")
    })
}
