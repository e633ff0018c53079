//! HTTP: the readiness probe at `/` and MCP over Streamable HTTP at `/mcp`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full, LengthLimitError, Limited};
use hyper::body::Incoming as IncomingBody;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use mcp_protocol::http::{self as transport, Guard, HttpResponse, SESSION_HEADER};
use mcp_protocol::jsonrpc::{self, Incoming, RpcError};
use mcp_protocol::{CallError, Context, Op, Outcome, Pending, ReadError, Step, dispatch};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::catalog::Catalog;
use crate::sessions::Sessions;

type Body = BoxBody<Bytes, Infallible>;

/// How long a request may take to arrive, headers and body.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request waits for the components to finish loading at start-up.
const LOAD_WAIT: Duration = Duration::from_secs(30);

pub struct App {
    /// `None` until the components have loaded.
    pub catalog: watch::Receiver<Option<Arc<Catalog>>>,
    pub guard: Guard,
    pub sessions: Sessions,
    pub max_body: usize,
}

/// Accepts connections until the process ends.
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::error!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
}

/// Request headers as the protocol crate reads them.
struct HeaderView<'a>(&'a HeaderMap);

impl transport::Headers for HeaderView<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

fn full(response: HttpResponse) -> Response<Body> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(Bytes::from(response.body)).boxed()).expect("valid status and headers")
}

async fn handle(app: &App, request: Request<IncomingBody>) -> Response<Body> {
    match (request.uri().path(), request.method()) {
        ("/", &Method::GET | &Method::HEAD) => full(HttpResponse::empty(200)),
        ("/", _) => full(HttpResponse::empty(405).with_header("allow", "GET, HEAD")),
        ("/mcp", _) => mcp(app, request).await,
        _ => full(HttpResponse::empty(404)),
    }
}

async fn mcp(app: &App, request: Request<IncomingBody>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let headers = HeaderView(&parts.headers);
    if let Err(refused) = app.guard.check(&headers) {
        tracing::warn!(host = ?parts.headers.get("host"), origin = ?parts.headers.get("origin"), "request refused by the Host/Origin guard");
        return full(refused);
    }
    match parts.method {
        Method::POST => post(app, &headers, body).await,
        Method::DELETE => full(delete(app, &headers)),
        // No server-initiated stream is offered; GET gets 405 as the spec allows.
        _ => full(transport::method_not_allowed()),
    }
}

fn session_not_found(id: &Value) -> (u16, Value) {
    (404, jsonrpc::failure(id, &RpcError::new(-32000, "Session not found")))
}

fn delete(app: &App, headers: &HeaderView) -> HttpResponse {
    let Some(id) = transport::Headers::get(headers, SESSION_HEADER) else {
        return transport::invalid_request("DELETE needs an Mcp-Session-Id header");
    };
    if app.sessions.check(id).is_none() {
        let (status, body) = session_not_found(&Value::Null);
        return HttpResponse::json(status, &body);
    }
    app.sessions.end(id);
    HttpResponse::empty(204)
}

async fn read_body(
    headers: &HeaderView<'_>,
    body: IncomingBody,
    limit: usize,
) -> Result<Bytes, HttpResponse> {
    let declared = transport::Headers::get(headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(transport::payload_too_large(limit));
    }
    match tokio::time::timeout(READ_TIMEOUT, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(transport::payload_too_large(limit))
        }
        Ok(Err(_)) => Err(transport::invalid_request("the request body could not be read")),
        Err(_) => Err(HttpResponse::empty(408)),
    }
}

async fn catalog(app: &App) -> Option<Arc<Catalog>> {
    let mut catalog = app.catalog.clone();
    let ready = tokio::time::timeout(LOAD_WAIT, catalog.wait_for(Option::is_some)).await;
    ready.ok()?.ok()?.clone()
}

/// What one request did, for its log line.
struct Record {
    method: String,
    target: Option<String>,
    started: Instant,
}

impl Record {
    fn of(incoming: &Incoming) -> Option<Record> {
        let Incoming::Message(message) = incoming else { return None };
        let target = ["name", "uri"].iter().find_map(|k| message.params.get(*k)?.as_str().map(String::from));
        Some(Record { method: message.method.clone(), target, started: Instant::now() })
    }

    fn log(&self, reply: &Value) {
        let outcome = match (&reply["error"]["code"], &reply["result"]["isError"]) {
            (Value::Number(code), _) => format!("error {code}"),
            (_, Value::Bool(true)) => "tool error".into(),
            _ => "ok".into(),
        };
        tracing::info!(
            method = %self.method,
            target = self.target.as_deref().unwrap_or("-"),
            ms = self.started.elapsed().as_secs_f64() * 1e3,
            outcome,
            "request"
        );
    }
}

async fn post(app: &App, headers: &HeaderView<'_>, body: IncomingBody) -> Response<Body> {
    let body = match read_body(headers, body, app.max_body).await {
        Ok(body) => body,
        Err(response) => return full(response),
    };
    let post = match transport::read_post(headers, &body) {
        Ok(post) => post,
        Err(response) => return full(response),
    };
    let Some(catalog) = catalog(app).await else {
        return full(HttpResponse::rpc_error(
            503,
            &RpcError::new(-32000, "the tool components are still loading"),
        ));
    };
    let session = transport::Headers::get(headers, SESSION_HEADER);
    let mut cx = Context::from_headers(headers);
    cx.session_version = session.and_then(|id| app.sessions.check(id));
    cx.session_log_level = session.and_then(|id| app.sessions.level(id));
    let single = post.messages.len() == 1;
    let mut replies = Vec::new();
    let mut opened = None;
    for incoming in post.messages {
        let record = Record::of(&incoming);
        if let Incoming::Message(message) = &incoming {
            // A legacy request naming a session we do not know must start over;
            // `initialize` with a stale id simply opens a new session.
            let stale = session.is_some() && cx.session_version.is_none();
            if stale && message.method != "initialize" && !dispatch::is_stateless(message, &cx) {
                let reply = session_not_found(message.id.as_ref().unwrap_or(&Value::Null));
                if let Some(record) = &record {
                    record.log(&reply.1);
                }
                replies.push(reply);
                continue;
            }
        }
        let (status, reply) = match mcp_protocol::step(incoming, &cx, &catalog.server) {
            Step::Reply { status, body } => (status, body),
            Step::Accepted => continue,
            Step::Initialized { body, version } => {
                opened = Some(app.sessions.open(version));
                (200, body)
            }
            Step::SetLevel { level, body } => {
                if let Some(id) = session.filter(|_| cx.session_version.is_some()) {
                    app.sessions.set_level(id, level);
                }
                (200, body)
            }
            Step::Perform(pending) => match (&pending.op, record) {
                (Op::CallTool(_), Some(record)) if single => {
                    return call(catalog.clone(), pending, post.accept, record).await;
                }
                (_, record) => {
                    let reply = pending.finish(perform(&catalog, &pending).await, &catalog.server);
                    if let Some(record) = &record {
                        record.log(&reply);
                    }
                    replies.push((200, reply));
                    continue;
                }
            },
        };
        if let Some(record) = &record {
            record.log(&reply);
        }
        replies.push((status, reply));
    }
    let mut response = transport::replies(post.batch, replies);
    if let Some(id) = opened {
        response = response.with_header(SESSION_HEADER, id);
    }
    full(response)
}

/// Performs an `Op` whose notifications nobody can receive.
async fn perform(catalog: &Catalog, pending: &Pending) -> Outcome {
    match &pending.op {
        Op::ListTools => Outcome::Tools(catalog.tools.clone()),
        Op::ListResources => Outcome::Resources(catalog.resources.clone()),
        Op::ReadResource { uri } => Outcome::Read(match catalog.resource_owner(uri) {
            Some(component) => component.read(uri).await,
            None => Err(ReadError::NotFound),
        }),
        Op::CallTool(request) => Outcome::Call(match catalog.tool_owner(&request.name) {
            Some(component) => {
                let (events, _) = mpsc::channel(1);
                component.call(request, events).await
            }
            None => Err(CallError::UnknownTool),
        }),
    }
}

type CallResult = Result<mcp_protocol::CallToolResult, CallError>;

fn finish(pending: &Pending, catalog: &Catalog, result: Result<CallResult, tokio::task::JoinError>) -> Value {
    let result = result.unwrap_or_else(|e| Err(CallError::Internal(format!("call task failed: {e}"))));
    pending.finish(Outcome::Call(result), &catalog.server)
}

/// Runs a tool call: a JSON answer if it finishes before it has anything to
/// report, else an SSE stream that carries each notification as it happens.
async fn call(
    catalog: Arc<Catalog>,
    pending: Pending,
    accept: transport::Accept,
    record: Record,
) -> Response<Body> {
    let Op::CallTool(request) = &pending.op else { unreachable!("only calls are streamed") };
    let Some(component) = catalog.tool_owner(&request.name).cloned() else {
        let reply = pending.finish(Outcome::Call(Err(CallError::UnknownTool)), &catalog.server);
        record.log(&reply);
        return full(HttpResponse::json(200, &reply));
    };
    let (events, mut received) = mpsc::channel(64);
    let task = {
        let request = request.clone();
        tokio::spawn(async move { component.call(&request, events).await })
    };
    // Wait for the first notification worth sending, or the end of the call.
    let first = loop {
        match received.recv().await {
            None => break None,
            Some(event) if accept.sse => {
                if let Some(note) = pending.notification(&event) {
                    break Some(note);
                }
            }
            Some(_) => {}
        }
    };
    let Some(first) = first else {
        let reply = finish(&pending, &catalog, task.await);
        record.log(&reply);
        let response = if accept.json {
            HttpResponse::json(200, &reply)
        } else {
            HttpResponse {
                status: 200,
                headers: transport::sse_headers(),
                body: transport::sse_event(&reply),
            }
        };
        return full(response);
    };
    let (mut sender, body) = Channel::<Bytes, Infallible>::new(16);
    tokio::spawn(async move {
        // A client that went away ends the sends; the call itself still runs to its end.
        let mut open = sender.send_data(transport::sse_event(&first).into()).await.is_ok();
        while let Some(event) = received.recv().await {
            if let Some(note) = pending.notification(&event).filter(|_| open) {
                open = sender.send_data(transport::sse_event(&note).into()).await.is_ok();
            }
        }
        let reply = finish(&pending, &catalog, task.await);
        record.log(&reply);
        let _ = sender.send_data(transport::sse_event(&reply).into()).await;
    });
    let mut response = Response::builder().status(StatusCode::OK);
    for (name, value) in transport::sse_headers() {
        response = response.header(name, value);
    }
    response.body(body.boxed()).expect("valid status and headers")
}
