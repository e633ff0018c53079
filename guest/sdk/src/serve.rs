//! `wasi:http/incoming-handler`: the component answering MCP over HTTP alone
//! (under `wasmtime serve`), through the same protocol crate as `mcp-host`.
//!
//! This path is stateless: it mints no session ids, so every request stands on
//! its own. Configuration comes from the environment (`wasmtime serve --env`):
//! `MCP_ALLOWED_HOSTS` and `MCP_ALLOWED_ORIGINS` (comma-separated, default
//! loopback only) and `MCP_MAX_BODY_BYTES` (default 1 MiB).

use mcp_protocol::http::{self, Guard, HttpResponse};
use mcp_protocol::{Context, Op, Outcome, Pending, ServerInfo, Step, TaskSupport, Tool, ToolSchema};
use serde_json::Value;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::{OutputStream, StreamError};

use crate::Server;
use crate::call::{self, Running};

const DEFAULT_MAX_BODY: usize = 1 << 20;

pub fn handle<S: Server>(request: IncomingRequest, out: ResponseOutparam) {
    let mut headers: Vec<(String, String)> = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    // wasi:http hands the Host header over as the request's authority.
    if http::Headers::get(headers.as_slice(), "host").is_none()
        && let Some(authority) = request.authority()
    {
        headers.push(("host".into(), authority));
    }
    let path = request.path_with_query().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let response = match (request.method(), path) {
        (_, "/mcp") => match guard().check(headers.as_slice()) {
            Err(forbidden) => forbidden,
            Ok(()) => match request.method() {
                Method::Post => match read_body(&request, &headers) {
                    Ok(body) => return post::<S>(&headers, &body, out),
                    Err(response) => response,
                },
                _ => http::method_not_allowed(),
            },
        },
        (Method::Get, "/") => HttpResponse::empty(200),
        _ => HttpResponse::empty(404),
    };
    send(out, &response);
}

fn guard() -> Guard {
    let list = |name: &str| {
        std::env::var(name).ok().map(|value| {
            value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>()
        })
    };
    let default = Guard::loopback();
    Guard {
        hosts: list("MCP_ALLOWED_HOSTS").unwrap_or(default.hosts),
        origins: list("MCP_ALLOWED_ORIGINS").unwrap_or(default.origins),
    }
}

fn max_body() -> usize {
    std::env::var("MCP_MAX_BODY_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_BODY)
}

fn read_body(request: &IncomingRequest, headers: &[(String, String)]) -> Result<Vec<u8>, HttpResponse> {
    let limit = max_body();
    let declared = http::Headers::get(headers, "content-length").and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.max(http::DRAIN_LIMIT)) {
        return Err(http::payload_too_large(limit));
    }
    let unreadable = || http::invalid_request("the request body could not be read");
    let body = request.consume().map_err(|()| unreadable())?;
    let stream = body.stream().map_err(|()| unreadable())?;
    let (mut bytes, mut seen) = (Vec::new(), 0);
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                seen += chunk.len();
                if seen > limit.max(http::DRAIN_LIMIT) {
                    return Err(http::payload_too_large(limit));
                }
                if seen <= limit {
                    bytes.extend_from_slice(&chunk);
                }
            }
            Err(StreamError::Closed) if seen > limit => return Err(http::payload_too_large(limit)),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(_)) => return Err(unreadable()),
        }
    }
}

fn post<S: Server>(headers: &[(String, String)], body: &[u8], out: ResponseOutparam) {
    let post = match http::read_post(headers, body) {
        Ok(post) => post,
        Err(response) => return send(out, &response),
    };
    let server = ServerInfo::new(S::implementation(), S::offers());
    let cx = Context::from_headers(headers);
    let mut replies = Vec::new();
    let single = post.messages.len() == 1;
    for incoming in post.messages {
        match mcp_protocol::step(incoming, &cx, &server) {
            Step::Reply { status, body } => replies.push((status, body)),
            Step::Accepted => {}
            Step::Initialized { body, .. } | Step::SetLevel { body, .. } => replies.push((200, body)),
            // Alone, the component's lists never change: the stream is
            // acknowledged and ended at once.
            Step::Listen(subscription) if single => {
                let (body, stream) = open(out, 200, &http::sse_headers());
                write_all(&stream, &http::sse_event(&subscription.acknowledged()));
                write_all(&stream, &http::sse_event(&subscription.ended(&server)));
                drop(stream);
                let _ = OutgoingBody::finish(body, None);
                return;
            }
            Step::Listen(subscription) => replies.push((400, subscription.not_alone())),
            Step::Perform(pending) => {
                let (schema, tasks) = called_tool::<S>(&pending.op);
                if let Some(refused) = schema.as_ref().and_then(|s| pending.vet_call(s, headers, &server)) {
                    replies.push(refused);
                    continue;
                }
                // Alone, nothing outlives a request: a task tool runs at once,
                // and one that runs only as a task is refused as mcp-host would.
                if let Err(refused) = pending.as_task(tasks) {
                    replies.push(refused);
                    continue;
                }
                match &pending.op {
                    Op::CallTool(request) if single && post.accept.sse => {
                        let running = Running::start::<S>(request.clone());
                        return stream_call(*pending, running, &server, post.accept.json, out);
                    }
                    _ => replies.push(pending.finish(perform::<S>(&pending), &server)),
                }
            }
        }
    }
    send(out, &http::replies(post.batch, replies));
}

/// The `x-mcp-header` annotations and the task support of the tool a call
/// names. Guests do not link the JSON Schema validator (it would grow every
/// component sixfold), so under `wasmtime serve` arguments and results go
/// unchecked; `mcp-host` checks them.
fn called_tool<S: Server>(op: &Op) -> (Option<ToolSchema>, TaskSupport) {
    let Op::CallTool(request) = op else { return (None, TaskSupport::default()) };
    let Some(mut tool) = S::tools().into_iter().find(|tool| tool.name == request.name) else {
        return (None, TaskSupport::default());
    };
    let tasks = TaskSupport::take(&mut tool).unwrap_or_default();
    (ToolSchema::compile(&tool).ok(), tasks)
}

/// A tool as it is listed: without the host's task declaration.
fn listed(mut tool: Tool) -> Value {
    let _ = TaskSupport::take(&mut tool);
    to_value(&tool)
}

/// Performs an `Op`, dropping any notifications (the client cannot receive them).
fn perform<S: Server>(pending: &Pending) -> Outcome {
    match &pending.op {
        Op::ListTools => Outcome::Tools(S::tools().into_iter().map(listed).collect()),
        Op::ListResources => Outcome::Resources(S::resources().iter().map(to_value).collect()),
        Op::ListResourceTemplates => {
            Outcome::Templates(S::resource_templates().iter().map(to_value).collect())
        }
        Op::ReadResource { uri } => Outcome::Read(S::read(uri)),
        Op::ListPrompts => Outcome::Prompts(S::prompts().iter().map(to_value).collect()),
        Op::GetPrompt { name, arguments, inputs } => {
            Outcome::Prompt(S::get_prompt(name, arguments, inputs.as_ref()))
        }
        Op::Complete(request) => Outcome::Completion(S::complete(request)),
        // Skill entries (digests, frontmatter) are built by `mcp-host`, which
        // advertises the extension; alone, a component serves its `skill://`
        // files as plain resources and lists no skills.
        Op::ListSkills => Outcome::Skills(Vec::new()),
        Op::GetSkill { .. } => Outcome::Skill(None),
        // No task outlives the request that would create it.
        Op::GetTask { .. } => Outcome::Task(None),
        Op::UpdateTask { .. } | Op::CancelTask { .. } => Outcome::TaskAck(false),
        Op::CallTool(request) => {
            let mut running = Running::start::<S>(request.clone());
            loop {
                if let call::Step::Done(result) = running.next() {
                    break Outcome::Call(result);
                }
            }
        }
    }
}

fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("protocol types serialize")
}

/// Answers a call with JSON if it finishes before reporting anything, else
/// with an SSE stream that carries each notification as it happens.
fn stream_call(
    pending: Pending,
    mut running: Running,
    server: &ServerInfo,
    json_ok: bool,
    out: ResponseOutparam,
) {
    let mut out = Some(out);
    let mut stream: Option<(OutgoingBody, OutputStream)> = None;
    loop {
        match running.next() {
            call::Step::Event(event) => {
                let Some(note) = pending.notification(&event) else { continue };
                let (_, body) = stream.get_or_insert_with(|| {
                    open(out.take().expect("the response is sent once"), 200, &http::sse_headers())
                });
                write_all(body, &http::sse_event(&note));
            }
            call::Step::Done(result) => {
                let (status, reply) = pending.finish(Outcome::Call(result), server);
                match stream {
                    Some((outgoing, body)) => {
                        write_all(&body, &http::sse_event(&reply));
                        drop(body);
                        let _ = OutgoingBody::finish(outgoing, None);
                    }
                    None => {
                        let response = HttpResponse::answer(status, &reply, json_ok);
                        send(out.take().expect("the response is sent once"), &response);
                    }
                }
                return;
            }
        }
    }
}

/// Starts a response; the body is written to the returned stream.
fn open(out: ResponseOutparam, status: u16, headers: &[(&str, String)]) -> (OutgoingBody, OutputStream) {
    let entries: Vec<(String, Vec<u8>)> =
        headers.iter().map(|(name, value)| (name.to_string(), value.as_bytes().to_vec())).collect();
    let fields = Fields::from_list(&entries).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(status);
    let body = response.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("a new body has a stream");
    (body, stream)
}

fn send(out: ResponseOutparam, response: &HttpResponse) {
    let (body, stream) = open(out, response.status, &response.headers);
    write_all(&stream, &response.body);
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Writes everything; a client that went away just ends the write.
fn write_all(stream: &OutputStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // blocking-write-and-flush takes at most 4096 bytes per call.
        let (chunk, rest) = bytes.split_at(bytes.len().min(4096));
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
        bytes = rest;
    }
}
