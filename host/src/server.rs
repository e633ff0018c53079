//! HTTP: the readiness probe at `/` and MCP over Streamable HTTP at `/mcp`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::Incoming as IncomingBody;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use mcp_protocol::http::{self as transport, Guard, HttpResponse, SESSION_HEADER};
use mcp_protocol::jsonrpc::{self, Incoming, RpcError};
use mcp_protocol::{
    CallError, Context, Era, InputRequired, Inputs, JsonObject, Op, Outcome, Pending, ReadError, Step,
    dispatch,
};
use serde_json::{Value, json};
use std::sync::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use crate::auth::{self, Auth, Identity, Rejected};
use crate::catalog::Catalog;
use crate::listen;
use crate::sessions::{Caller, Sessions, Unsealed};
use crate::swap::Status;
use crate::untrusted::Untrusted;
use crate::waiting::{self, Waiting};

pub type Body = BoxBody<Bytes, Infallible>;

/// How long a request may take to arrive, headers and body.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request waits for the components to finish loading at start-up.
const LOAD_WAIT: Duration = Duration::from_secs(30);

pub struct App {
    /// `None` until the components have loaded.
    pub catalog: watch::Receiver<Option<Arc<Catalog>>>,
    /// Where the components stand, for the operator.
    pub status: Arc<Mutex<Status>>,
    /// One permit per open GET stream.
    pub streams: Arc<Semaphore>,
    /// One permit per POST to `/mcp` being answered.
    pub requests: Arc<Semaphore>,
    pub guard: Guard,
    pub sessions: Sessions,
    pub max_body: usize,
    /// Requests sent to clients during calls, waiting for the answer.
    pub waiting: Waiting,
    /// The OAuth resource server; `None` when authentication is off.
    pub auth: Option<Arc<Auth>>,
    /// Turns `true` when the host is shutting down: streams end, connections
    /// close once their request is answered.
    pub stopping: watch::Receiver<bool>,
}

/// How the server bounds its connections and shutdown.
pub struct Limits {
    pub max_connections: usize,
    pub grace: Duration,
}

impl App {
    /// Sends a round of input requests on the call's stream and waits for the
    /// client's answers, by request key, until the round's deadline.
    async fn ask(
        &self,
        session: &str,
        needed: &InputRequired,
        frames: &mpsc::Sender<Frame>,
        gone: &mut watch::Receiver<bool>,
    ) -> Result<JsonObject, String> {
        if needed.requests.len() > waiting::MAX_PER_ROUND {
            return Err(format!(
                "The tool asked for {} inputs at once; at most {} are allowed.",
                needed.requests.len(),
                waiting::MAX_PER_ROUND
            ));
        }
        // Tickets forget their requests however this function ends.
        let mut asked = Vec::new();
        for (key, request) in &needed.requests {
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut nonce).map_err(|e| format!("no randomness: {e}"))?;
            let id = format!("mcp-host-{}", nonce.iter().map(|b| format!("{b:02x}")).collect::<String>());
            let (ticket, receiver) =
                self.waiting.register(session, id.clone()).map_err(|full| match full {
                    waiting::Full::Session => {
                        "This session is waiting on too many answers; answer or cancel some first."
                    }
                    waiting::Full::Host => {
                        "The server is waiting on too many clients right now; try again shortly."
                    }
                })?;
            let message =
                json!({ "jsonrpc": "2.0", "id": id, "method": request.method, "params": request.params });
            if frames.send(Frame::Message(message)).await.is_err() {
                return Err("The client went away.".into());
            }
            asked.push((key, request, ticket, receiver));
        }
        let deadline = tokio::time::Instant::now() + INPUT_WAIT;
        let mut responses = JsonObject::new();
        for (key, request, _ticket, receiver) in asked {
            let answer = tokio::select! {
                answer = tokio::time::timeout_at(deadline, receiver) => answer,
                _ = gone.wait_for(|gone| *gone) => return Err("The client went away.".into()),
            };
            match answer {
                Ok(Ok(Ok(result))) => {
                    responses.insert(key.clone(), result);
                }
                Ok(Ok(Err(error))) => return Err(format!("The client declined {}: {error}", request.method)),
                _ => return Err(format!("The client did not answer {} in time.", request.method)),
            }
        }
        Ok(responses)
    }
}

/// Resolves once the host is shutting down (or its signal is gone).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await.
    let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
}

/// Accepts connections, at most `limits.max_connections` open at once, until
/// `stopping` turns; then lets the requests being answered finish within
/// `limits.grace`, and returns.
pub async fn serve(listener: TcpListener, app: Arc<App>, limits: Limits) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    // Every connection holds a sender: once all are dropped, all are closed.
    let (open, mut closed) = mpsc::channel::<()>(1);
    let mut stopping = app.stopping.clone();
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = stopped(&mut stopping) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stopping) => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, open) = (app.clone(), open.clone());
        tokio::spawn(async move {
            let _held = (permit, open);
            let mut stopping = app.stopping.clone();
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopped(&mut stopping) => {
                    // Finish the request being answered, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
    drop(listener);
    drop(open);
    let draining = limits.max_connections - connections.available_permits();
    tracing::info!(
        connections = draining,
        grace_ms = limits.grace.as_millis() as u64,
        "no longer accepting; draining"
    );
    match tokio::time::timeout(limits.grace, closed.recv()).await {
        Ok(_) => tracing::info!("every request finished"),
        Err(_) => tracing::warn!(
            connections = limits.max_connections - connections.available_permits(),
            "the shutdown grace period ended with requests unfinished"
        ),
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

async fn handle(app: &Arc<App>, request: Request<IncomingBody>) -> Response<Body> {
    match (request.uri().path(), request.method()) {
        ("/", &Method::GET | &Method::HEAD) => full(HttpResponse::empty(200)),
        ("/", _) => full(HttpResponse::empty(405).with_header("allow", "GET, HEAD")),
        ("/status", &Method::GET) => status(app, &request),
        ("/status", _) => full(HttpResponse::empty(405).with_header("allow", "GET")),
        ("/mcp", _) => mcp(app, request).await,
        (path, method) if path.starts_with("/.well-known/") => {
            full(auth::metadata(app.auth.as_deref(), path, method))
        }
        _ => full(HttpResponse::empty(404)),
    }
}

async fn mcp(app: &Arc<App>, request: Request<IncomingBody>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let headers = HeaderView(&parts.headers);
    if let Err(refused) = app.guard.check(&headers) {
        tracing::warn!(host = ?parts.headers.get("host"), origin = ?parts.headers.get("origin"), "request refused by the Host/Origin guard");
        return full(refused);
    }
    // Counted from here, token check included, to the answer's last byte.
    let permit = match parts.method {
        Method::POST => match app.requests.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                tracing::warn!("request refused: too many requests in flight");
                let busy = RpcError::new(-32000, "The server is busy; try again shortly.");
                return full(HttpResponse::rpc_error(503, &busy).with_header("retry-after", "1"));
            }
        },
        _ => None,
    };
    let identity = auth::authenticate(app.auth.as_deref(), &parts.headers).await;
    match (parts.method, permit, identity) {
        (Method::POST, Some(permit), identity) => post(app, &headers, body, identity, permit).await,
        (_, _, Err(refusal)) => full(refusal.response(&[])),
        (Method::DELETE, _, _) => full(delete(app, &headers)),
        (Method::GET, _, _) => get(app, &headers),
        _ => full(transport::method_not_allowed()),
    }
}

/// A session's stream of list changes. Without a session (2026-07-28 clients
/// have none) there is no stream to offer: 405, as the spec allows.
fn get(app: &Arc<App>, headers: &HeaderView) -> Response<Body> {
    let Some(id) = transport::Headers::get(headers, SESSION_HEADER) else {
        return full(transport::method_not_allowed());
    };
    if !transport::Accept::parse(transport::Headers::get(headers, "accept")).sse {
        return full(HttpResponse::rpc_error(
            406,
            &RpcError::new(-32000, "Not Acceptable: the stream needs Accept: text/event-stream"),
        ));
    }
    if app.sessions.check(id).is_none() {
        let (status, body) = session_not_found(&Value::Null);
        return full(HttpResponse::json(status, &body));
    }
    listen::open(app, id.to_owned()).unwrap_or_else(full)
}

/// What is serving and what was refused, for the operator; behind the same
/// Host and Origin checks as MCP.
fn status(app: &App, request: &Request<IncomingBody>) -> Response<Body> {
    if let Err(refused) = app.guard.check(&HeaderView(request.headers())) {
        return full(refused);
    }
    let status = app.status.lock().expect("no panics while locked").clone();
    full(HttpResponse::json(200, &serde_json::to_value(status).expect("status serializes")))
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
    mut body: IncomingBody,
    limit: usize,
) -> Result<Bytes, HttpResponse> {
    let declared = transport::Headers::get(headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.max(transport::DRAIN_LIMIT)) {
        return Err(transport::payload_too_large(limit));
    }
    let read = async {
        let mut bytes = Vec::new();
        let mut seen = 0;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map(|f| f.into_data().unwrap_or_default()) else {
                return Err(transport::invalid_request("the request body could not be read"));
            };
            seen += data.len();
            if seen > limit.max(transport::DRAIN_LIMIT) {
                break;
            }
            if seen <= limit {
                bytes.extend_from_slice(&data);
            }
        }
        if seen > limit { Err(transport::payload_too_large(limit)) } else { Ok(Bytes::from(bytes)) }
    };
    tokio::time::timeout(READ_TIMEOUT, read).await.unwrap_or_else(|_| Err(HttpResponse::empty(408)))
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
            method = %Untrusted(&self.method),
            target = ?Untrusted(self.target.as_deref().unwrap_or("-")),
            ms = self.started.elapsed().as_secs_f64() * 1e3,
            outcome,
            "request"
        );
    }
}

async fn post(
    app: &Arc<App>,
    headers: &HeaderView<'_>,
    body: IncomingBody,
    identity: Result<Option<Identity>, Rejected>,
    permit: OwnedSemaphorePermit,
) -> Response<Body> {
    let body = read_body(headers, body, app.max_body).await;
    let post = body.and_then(|body| transport::read_post(headers, &body));
    // A refused token is answered once the body is read, so that the answer
    // carries the request's id.
    let identity = match identity {
        Ok(identity) => identity,
        Err(rejected) => {
            let messages = post.as_ref().map_or(&[][..], |p| if p.batch { &[][..] } else { &p.messages[..] });
            return full(rejected.response(messages));
        }
    };
    let post = match post {
        Ok(post) => post,
        Err(response) => return full(response),
    };
    let Some(catalog) = catalog(app).await else {
        return full(HttpResponse::rpc_error(
            503,
            &RpcError::new(-32000, "the tool components are still loading"),
        ));
    };
    if let Err(refused) = auth::authorize(app.auth.as_deref(), identity.as_ref(), &post.messages, &catalog) {
        return full(refused);
    }
    let session = transport::Headers::get(headers, SESSION_HEADER);
    let known = session.and_then(|id| app.sessions.check(id));
    let caller = Caller {
        subject: identity.as_ref().and_then(Identity::subject),
        session: session.filter(|_| known.is_some()).map(str::to_owned),
    };
    let mut cx = Context::from_headers(headers);
    cx.session_log_level = session.and_then(|id| app.sessions.level(id));
    (cx.session_version, cx.session_capabilities) =
        known.clone().map_or((None, None), |(v, c)| (Some(v), Some(c)));
    let single = post.messages.len() == 1;
    let mut replies = Vec::new();
    let mut opened = None;
    for incoming in post.messages {
        let record = Record::of(&incoming);
        let mut capabilities = JsonObject::new();
        match &incoming {
            Incoming::Message(message) => {
                // A legacy request naming a session we do not know must start over;
                // `initialize` with a stale id simply opens a new session.
                let stale = session.is_some() && known.is_none();
                if stale && message.method != "initialize" && !dispatch::is_stateless(message, &cx) {
                    let reply = session_not_found(message.id.as_ref().unwrap_or(&Value::Null));
                    if let Some(record) = &record {
                        record.log(&reply.1);
                    }
                    replies.push(reply);
                    continue;
                }
                if message.method == "initialize" {
                    capabilities = message
                        .params
                        .get("capabilities")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                }
            }
            Incoming::Response { id, outcome } => {
                if let Some(session) = caller.session.as_deref() {
                    app.waiting.answer(session, id, outcome.clone());
                }
            }
            Incoming::Invalid { .. } => {}
        }
        let (status, reply) = match mcp_protocol::step(incoming, &cx, &catalog.server) {
            Step::Reply { status, body } => (status, body),
            Step::Accepted => continue,
            Step::Initialized { body, version } => {
                opened = Some(app.sessions.open(version, &capabilities));
                (200, body)
            }
            Step::SetLevel { level, body } => {
                if let Some(id) = session.filter(|_| known.is_some()) {
                    app.sessions.set_level(id, level);
                }
                (200, body)
            }
            Step::Perform(mut pending) => match unseal(app, &caller, &mut pending)
                .map(|()| auth::pass_on(&mut pending.op, &catalog, identity.as_ref()))
            {
                Err(refused) => refused,
                Ok(()) => match (&pending.op, record) {
                    (Op::CallTool(_), Some(record)) if single => {
                        let call = Call { pending: *pending, caller, stream: post.accept.sse };
                        return call.run(app.clone(), catalog.clone(), post.accept, record, permit).await;
                    }
                    (_, record) => {
                        let outcome = perform(&catalog, &pending).await;
                        let reply = finish(app, &catalog, &pending, &caller, outcome);
                        if let Some(record) = &record {
                            record.log(&reply.1);
                        }
                        replies.push(reply);
                        continue;
                    }
                },
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

/// Opens the request state a 2026-07-28 client echoes; a state this host did
/// not seal for this tool or prompt and this caller, or sealed in an older
/// format, or expired, is refused (-32602).
fn unseal(app: &App, caller: &Caller, pending: &mut Pending) -> Result<(), (u16, Value)> {
    let (owner, inputs) = match &mut pending.op {
        Op::CallTool(request) => (request.name.clone(), &mut request.inputs),
        Op::GetPrompt { name, inputs, .. } => (name.clone(), inputs),
        _ => return Ok(()),
    };
    let Some(inputs) = inputs else { return Ok(()) };
    let Some(sealed) = inputs.state.take() else { return Ok(()) };
    let message = match app.sessions.unseal(&owner, caller, &sealed) {
        Ok(state) => {
            inputs.state = Some(state);
            return Ok(());
        }
        Err(Unsealed::Invalid) => "requestState failed its integrity check",
        Err(Unsealed::Expired) => "requestState has expired; send the request again without it",
    };
    tracing::info!(owner = %Untrusted(&owner), why = message, "requestState refused");
    Err((200, jsonrpc::failure(&pending.id, &RpcError::invalid_params(message))))
}

/// Renders an outcome, sealing any request state a component hands out for
/// this caller.
fn finish(
    app: &App,
    catalog: &Catalog,
    pending: &Pending,
    caller: &Caller,
    mut outcome: Outcome,
) -> (u16, Value) {
    let owner = match &pending.op {
        Op::CallTool(request) => request.name.as_str(),
        Op::GetPrompt { name, .. } => name.as_str(),
        _ => "",
    };
    if let Outcome::Call(Err(CallError::InputRequired(needed)))
    | Outcome::Prompt(Err(CallError::InputRequired(needed))) = &mut outcome
    {
        needed.state = needed.state.take().map(|state| app.sessions.seal(owner, caller, &state));
    }
    pending.finish(outcome, &catalog.server)
}

/// Performs an `Op` whose notifications nobody can receive.
async fn perform(catalog: &Catalog, pending: &Pending) -> Outcome {
    match &pending.op {
        Op::ListTools => Outcome::Tools(catalog.tools.clone()),
        Op::ListResources => Outcome::Resources(catalog.resources.clone()),
        Op::ListResourceTemplates => Outcome::Templates(catalog.templates.clone()),
        Op::ListPrompts => Outcome::Prompts(catalog.prompts.clone()),
        Op::ReadResource { uri } => Outcome::Read(match catalog.resource_owner(uri) {
            Some(component) => component.read(uri).await,
            None => Err(ReadError::NotFound),
        }),
        Op::GetPrompt { name, arguments, inputs } => Outcome::Prompt(match catalog.prompt_owner(name) {
            Some(component) => component.get_prompt(name, arguments, inputs.as_ref()).await,
            None => Err(CallError::UnknownTool),
        }),
        Op::Complete(request) => Outcome::Completion(match catalog.completion_owner(&request.reference) {
            Some(component) => component.complete(request).await,
            None => Err(CallError::InvalidParams("nothing to complete by that reference".into())),
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

/// What a running call sends its client.
enum Frame {
    /// A notification or a request for the client, on the call's stream.
    Message(Value),
    /// The final answer and its HTTP status.
    Done(u16, Value),
}

/// How many times a legacy call may ask its client for input.
const MAX_INPUT_ROUNDS: usize = 8;
/// How long a call waits for the client to answer one round of requests.
const INPUT_WAIT: Duration = Duration::from_secs(120);

/// A tool call being answered.
struct Call {
    pending: Pending,
    caller: Caller,
    /// Whether the client takes an SSE stream (and so can be asked for input).
    stream: bool,
}

impl Call {
    /// Runs the call to its end, sending its notifications as frames; for
    /// clients of the session revisions it also asks for any input the tool
    /// needs and calls again with the answers. `gone` turns when the client
    /// stopped reading.
    async fn drive(
        self,
        app: Arc<App>,
        catalog: Arc<Catalog>,
        frames: mpsc::Sender<Frame>,
        mut gone: watch::Receiver<bool>,
    ) {
        let Call { pending, caller, stream } = self;
        let Op::CallTool(request) = &pending.op else { unreachable!("only calls are driven") };
        let mut request = request.clone();
        let legacy = matches!(pending.era, Era::Legacy(_));
        let result = match catalog.tool_owner(&request.name).cloned() {
            None => Err(CallError::UnknownTool),
            Some(component) => {
                let mut round = 0;
                loop {
                    let (events, mut received) = mpsc::channel(64);
                    let task = {
                        let (component, request) = (component.clone(), request.clone());
                        tokio::spawn(async move { component.call(&request, events).await })
                    };
                    while let Some(event) = received.recv().await {
                        if let Some(note) = pending.notification(&event).filter(|_| stream) {
                            let _ = frames.send(Frame::Message(note)).await;
                        }
                    }
                    let result = task
                        .await
                        .unwrap_or_else(|e| Err(CallError::Internal(format!("call task failed: {e}"))));
                    let (needed, session) = match (result, caller.session.as_deref()) {
                        (Err(CallError::InputRequired(needed)), Some(session))
                            if legacy
                                && stream
                                && round < MAX_INPUT_ROUNDS
                                && pending.missing_capabilities(&needed).is_empty() =>
                        {
                            (needed, session)
                        }
                        (result, _) => break result,
                    };
                    round += 1;
                    match app.ask(session, &needed, &frames, &mut gone).await {
                        Ok(responses) => request.inputs = Some(Inputs { responses, state: needed.state }),
                        Err(message) => break Ok(mcp_protocol::CallToolResult::error(message)),
                    }
                }
            }
        };
        let (status, reply) = finish(&app, &catalog, &pending, &caller, Outcome::Call(result));
        let _ = frames.send(Frame::Done(status, reply)).await;
    }

    /// Runs the call: a JSON answer if it finishes before it has anything to
    /// report, else an SSE stream that carries each message as it happens.
    /// `permit` counts the request in flight until its last byte is handed on.
    async fn run(
        self,
        app: Arc<App>,
        catalog: Arc<Catalog>,
        accept: transport::Accept,
        record: Record,
        permit: OwnedSemaphorePermit,
    ) -> Response<Body> {
        let (frames, mut received) = mpsc::channel(64);
        let (left, gone) = watch::channel(false);
        tokio::spawn(self.drive(app, catalog, frames, gone));
        let first = received.recv().await.unwrap_or_else(|| {
            Frame::Done(500, jsonrpc::failure(&Value::Null, &RpcError::new(-32603, "Internal error")))
        });
        let first = match first {
            Frame::Done(status, reply) => {
                record.log(&reply);
                let response = if accept.json || status != 200 {
                    HttpResponse::json(status, &reply)
                } else {
                    HttpResponse {
                        status,
                        headers: transport::sse_headers(),
                        body: transport::sse_event(&reply),
                    }
                };
                return full(response);
            }
            Frame::Message(message) => message,
        };
        let (mut sender, body) = Channel::<Bytes, Infallible>::new(16);
        tokio::spawn(async move {
            // A client that went away ends the sends and any wait for its input;
            // the tool's own call runs to its end.
            let mut open = sender.send_data(transport::sse_event(&first).into()).await.is_ok();
            while let Some(frame) = received.recv().await {
                let message = match frame {
                    Frame::Message(message) => message,
                    Frame::Done(_, reply) => {
                        record.log(&reply);
                        reply
                    }
                };
                if open {
                    open = sender.send_data(transport::sse_event(&message).into()).await.is_ok();
                }
                if !open {
                    left.send_replace(true);
                }
            }
            // Counted in flight until the body ends, not one moment past it.
            drop(permit);
        });
        let mut response = Response::builder().status(StatusCode::OK);
        for (name, value) in transport::sse_headers() {
            response = response.header(name, value);
        }
        response.body(body.boxed()).expect("valid status and headers")
    }
}
