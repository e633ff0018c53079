//! A hostile tool component written against the raw `mcp:tool` WIT with
//! `wit-bindgen` (not the SDK): it makes the host hold as much as it can,
//! sends every output path more than its budget, and breaks the contract's
//! rules where the host must catch it.

#![allow(
    unsafe_code,
    reason = "the exports wit-bindgen generates for a component written against the raw WIT"
)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Instant;

use serde_json::{Value, json};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

wit_bindgen::generate!({ path: "../../wit", world: "mcp:tool/tool-component" });

use exports::mcp::tool::{completion, prompts, resources, tools};
use mcp::tool::types::*;

struct Rogue;

fn tool(name: &str, description: &str) -> Tool {
    Tool {
        name: name.into(),
        title: None,
        description: description.into(),
        input_schema: r#"{"type":"object"}"#.into(),
        output_schema: None,
        annotations: None,
        meta: None,
    }
}

fn text(text: String) -> CallResult {
    CallResult {
        content: vec![ContentBlock::Text(text)],
        structured_content: None,
        is_error: false,
        meta: None,
    }
}

fn log(data: String) -> CallEvent {
    CallEvent::Log(LogMessage { level: LogLevel::Info, logger: None, data })
}

fn progress(progress: f64) -> CallEvent {
    CallEvent::Progress(ProgressUpdate { progress, total: None, message: None })
}

/// Whatever the tool keeps alive until its instance ends.
#[allow(dead_code, reason = "held only so that it lives as long as the instance")]
enum Held {
    Fields(Fields),
    Pollable(wasip2::io::poll::Pollable),
    Body(OutgoingRequest, OutgoingBody, wasip2::io::streams::OutputStream),
}

thread_local! {
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
}

/// `count` fields resources, each filled with headers until the host says no.
fn fields(count: u64) -> String {
    let (mut made, mut headers) = (0, 0);
    for i in 0..count {
        let fields = Fields::new();
        for j in 0..64 {
            if fields.append(&format!("x-rogue-{i}-{j}"), &[b'v'; 200]).is_err() {
                break;
            }
            headers += 1;
        }
        HELD.with(|held| held.borrow_mut().push(Held::Fields(fields)));
        made += 1;
    }
    format!("{made} fields, {headers} headers")
}

/// `count` pollables: handles in the host's table.
fn handles(count: u64) -> String {
    for _ in 0..count {
        let pollable = wasip2::clocks::monotonic_clock::subscribe_duration(u64::MAX);
        HELD.with(|held| held.borrow_mut().push(Held::Pollable(pollable)));
    }
    format!("{count} handles")
}

/// `count` outgoing requests whose bodies are written but never sent.
fn bodies(count: u64) -> String {
    let mut written = 0u64;
    for _ in 0..count {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_method(&Method::Post);
        let body = request.body().expect("a body");
        let stream = body.write().expect("a stream");
        let chunk = vec![b'b'; 1 << 20];
        for _ in 0..4 {
            match stream.check_write() {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let n = (n as usize).min(chunk.len());
                    if stream.write(&chunk[..n]).is_err() {
                        break;
                    }
                    written += n as u64;
                }
            }
        }
        HELD.with(|held| held.borrow_mut().push(Held::Body(request, body, stream)));
    }
    format!("{count} bodies, {written} bytes buffered")
}

/// GETs `url` with no timeouts of its own and reads the body to its end.
fn drip(url: &str) -> String {
    let started = Instant::now();
    let (scheme_and_host, path) = url.split_at(url[7..].find('/').map_or(url.len(), |i| i + 7));
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(&scheme_and_host[7..]));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let response = match outgoing_handler::handle(request, None) {
        Ok(response) => response,
        Err(error) => return format!("refused: {error:?}"),
    };
    response.subscribe().block();
    let response = match response.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return format!("failed: {code:?}"),
        _ => return "failed".into(),
    };
    let body = response.consume().expect("a body");
    let stream = body.stream().expect("a stream");
    let mut read = 0;
    let outcome = loop {
        match stream.blocking_read(65536) {
            Ok(bytes) => read += bytes.len(),
            Err(error) => break format!("{error:?}"),
        }
    };
    format!("read {read} bytes in {} ms, then {outcome}", started.elapsed().as_millis())
}

fn number(arguments: &Value, key: &str, default: u64) -> u64 {
    arguments.get(key).and_then(Value::as_u64).unwrap_or(default)
}

/// What one call yields, in order.
fn run(request: &CallRequest) -> VecDeque<CallEvent> {
    let arguments: Value = serde_json::from_str(&request.arguments).unwrap_or_default();
    let done = |result| CallEvent::Done(Ok(result));
    match request.name.as_str() {
        "fields" => [done(text(fields(number(&arguments, "count", 8000))))].into(),
        "handles" => [done(text(handles(number(&arguments, "count", 100_000))))].into(),
        "bodies" => [done(text(bodies(number(&arguments, "count", 1000))))].into(),
        "drip" => [done(text(drip(arguments["url"].as_str().unwrap_or_default())))].into(),
        "not_object" => {
            [done(CallResult { structured_content: Some("[1,2,3]".into()), ..text("an array".into()) })]
                .into()
        }
        "progress" => {
            let events = [1.0, 0.5, f64::NAN, f64::INFINITY, 1.0, 2.0].map(progress);
            events.into_iter().chain([done(text("progressed".into()))]).collect()
        }
        "log_flood" => {
            let chunk = json!("l".repeat(64 << 10)).to_string();
            let count = number(&arguments, "bytes", 8 << 20) / (64 << 10);
            (0..count).map(|_| log(chunk.clone())).chain([done(text("logged".into()))]).collect()
        }
        "escapes" => {
            // Control characters take six bytes each once JSON-escaped.
            let n = number(&arguments, "chars", 300_000) as usize;
            [done(text("\u{1}".repeat(n)))].into()
        }
        "input_flood" => {
            let state = "s".repeat(number(&arguments, "bytes", 2 << 20) as usize);
            let needed = InputRequired {
                requests: vec![InputRequest {
                    key: "k".into(),
                    method: "roots/list".into(),
                    params: "{}".into(),
                }],
                state: Some(state),
            };
            [CallEvent::Done(Err(CallError::InputRequired(needed)))].into()
        }
        "lift" => {
            // Many tiny blocks: what lifting costs the host per guest byte.
            let count = number(&arguments, "count", 100_000) as usize;
            let blocks = (0..count).map(|_| ContentBlock::Text("x".into())).collect();
            [done(CallResult { content: blocks, structured_content: None, is_error: false, meta: None })]
                .into()
        }
        _ => [CallEvent::Done(Err(CallError::UnknownTool))].into(),
    }
}

struct Call(RefCell<VecDeque<CallEvent>>);

impl tools::Guest for Rogue {
    type ToolCall = Call;

    fn list_tools() -> Vec<Tool> {
        [
            ("fields", "Allocates `count` wasi:http fields, each full of headers, and keeps them."),
            ("handles", "Allocates `count` pollables and keeps them."),
            ("bodies", "Writes `count` outgoing request bodies and never sends them."),
            ("drip", "GETs `url` and reads it to the end, however slowly it comes."),
            ("not_object", "Returns structured content that is an array."),
            ("progress", "Reports progress that goes back, is NaN and infinite."),
            ("log_flood", "Logs `bytes` bytes in 64 KiB events."),
            ("escapes", "Returns `chars` control characters."),
            ("input_flood", "Asks for input with `bytes` bytes of state."),
            ("lift", "Returns `count` one-byte text blocks."),
        ]
        .into_iter()
        .map(|(name, description)| tool(name, description))
        .collect()
    }
}

impl tools::GuestToolCall for Call {
    fn new(request: CallRequest) -> Self {
        Call(RefCell::new(run(&request)))
    }

    fn next(&self) -> CallEvent {
        self.0.borrow_mut().pop_front().unwrap_or(CallEvent::Done(Err(CallError::Internal("no more".into()))))
    }
}

impl resources::Guest for Rogue {
    fn list_resources() -> Vec<Resource> {
        ["rogue://trap", "rogue://big"]
            .map(|uri| Resource {
                uri: uri.into(),
                name: uri.into(),
                title: None,
                description: None,
                mime_type: None,
                size: None,
                meta: None,
            })
            .into()
    }

    fn list_resource_templates() -> Vec<ResourceTemplate> {
        Vec::new()
    }

    fn read_resource(uri: String) -> Result<Vec<ResourceContents>, ReadError> {
        match uri.as_str() {
            "rogue://trap" => trap(),
            // Many small contents: per-item overhead that raw bytes miss.
            "rogue://big" => Ok((0..20_000)
                .map(|i| ResourceContents {
                    uri: format!("rogue://big/{i}"),
                    mime_type: Some("application/x-rogue".into()),
                    body: ResourceBody::Text(String::new()),
                    meta: None,
                })
                .collect()),
            _ => Err(ReadError::NotFound),
        }
    }
}

/// Traps; the test renames this function (and every other) in the binary.
#[inline(never)]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

impl prompts::Guest for Rogue {
    fn list_prompts() -> Vec<Prompt> {
        Vec::new()
    }

    fn get_prompt(_: String, _: String, _: Option<Inputs>) -> Result<PromptResult, CallError> {
        Err(CallError::UnknownTool)
    }
}

impl completion::Guest for Rogue {
    fn complete(_: CompletionRequest) -> Result<Completion, CallError> {
        Err(CallError::UnknownTool)
    }
}

export!(Rogue);
