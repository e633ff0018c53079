//! One POST to `/mcp`, as both `mcp-host` and `wasmtime serve` handle it:
//! the transport guard, body parsing, dispatch under every protocol revision
//! (sessions 2025-03-26 … 2025-11-25 and the stateless 2026-07-28), and the
//! rendering of every kind of outcome and call event.
//!
//! The input is a tiny HTTP request: `name: value` header lines, a blank line,
//! the body. Three pseudo-headers stand for what a session remembers:
//! `x-session-version`, `x-session-level` and `x-session-capabilities` (JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_protocol::http::{self, Guard};
use mcp_protocol::jsonrpc::Incoming;
use mcp_protocol::{
    CallError, CallEvent, CallToolResult, Change, Completion, ContentBlock, Context, GetPromptResult,
    Implementation, InputRequest, InputRequired, LogLevel, Offers, Op, Outcome, Pending, ReadError,
    ResourceContents, ResourceTemplate, ServerInfo, Step, Support, Task, TaskStatus, TaskSupport, Version,
};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let (head, body) = split(data);
    let headers: Vec<(String, String)> = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim_start().to_owned()))
        .collect();
    let _ = Guard::loopback().check(headers.as_slice());
    let _ = http::Accept::parse(header(&headers, "accept"));
    let post = match http::read_post(headers.as_slice(), body) {
        Ok(post) => post,
        Err(response) => return check_response(&response),
    };
    let mut cx = Context::from_headers(headers.as_slice());
    cx.session_version = header(&headers, "x-session-version").and_then(Version::parse);
    cx.session_log_level = header(&headers, "x-session-level").and_then(LogLevel::parse);
    cx.session_capabilities = header(&headers, "x-session-capabilities")
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|value| value.as_object().cloned());
    let server = ServerInfo::new(
        Implementation { name: "fuzz".into(), version: "1".into(), title: None },
        Offers {
            resources: true,
            prompts: true,
            completions: true,
            list_changed: true,
            skills: true,
            tasks: true,
        },
    );
    let mut replies = Vec::new();
    for incoming in post.messages {
        let id = match &incoming {
            Incoming::Message(message) => message.id.clone(),
            _ => None,
        };
        match mcp_protocol::step(incoming, &cx, &server) {
            Step::Reply { status, body } => {
                check_reply(status, &body);
                replies.push((status, body));
            }
            Step::Initialized { body, .. } | Step::SetLevel { body, .. } => {
                check_reply(200, &body);
                replies.push((200, body));
            }
            Step::Accepted => {}
            Step::Listen(subscription) => {
                assert_eq!(Some(&subscription.id), id.as_ref(), "a stream is tagged with its request's id");
                check_reply(200, &subscription.ended(&server));
                for change in
                    [Change::Tools, Change::Resources, Change::Prompts, Change::ResourceUpdated("test://x")]
                {
                    let _ = subscription.notification(change).map(|note| http::sse_event(&note));
                }
                let _ = http::sse_event(&subscription.acknowledged());
                let _ = http::sse_event(&subscription.task_changed(&task("t")));
            }
            Step::Perform(pending) => {
                assert_eq!(Some(&pending.id), id.as_ref(), "a request is answered with its own id");
                for (status, body) in outcomes(&pending).map(|outcome| pending.finish(outcome, &server)) {
                    check_reply(status, &body);
                    replies.push((status, body));
                }
                // Whether a call becomes a task, for each support a tool may declare.
                for support in [Support::Forbidden, Support::Optional, Support::Required] {
                    for after_input in [false, true] {
                        match pending.as_task(TaskSupport { support, after_input }) {
                            Ok(true) => check_reply(200, &pending.task_created(&task("t"), &server).1),
                            Ok(false) => {}
                            Err((status, body)) => check_reply(status, &body),
                        }
                    }
                }
                for event in events() {
                    if let Some(note) = pending.notification(&event) {
                        let _ = http::sse_event(&note);
                    }
                }
                if let Op::ReadResource { uri } = &pending.op {
                    for template in ["test://template/{id}/data", "{a}{b}{c}x", "file:///{path}", uri] {
                        let _ = template_named(template).matches(uri);
                    }
                }
            }
        }
    }
    check_response(&http::replies(post.batch, replies));
});

fn split(data: &[u8]) -> (String, &[u8]) {
    let end = data.windows(2).position(|w| w == b"\n\n").unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    (head, data.get(end + 2..).unwrap_or_default())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn check_reply(status: u16, body: &Value) {
    assert!((200..600).contains(&status), "status {status}");
    assert_eq!(body["jsonrpc"], "2.0", "every reply is JSON-RPC 2.0: {body}");
    assert!(body.get("result").is_some() != body.get("error").is_some(), "result xor error: {body}");
}

fn check_response(response: &http::HttpResponse) {
    assert!((200..600).contains(&response.status));
    if !response.body.is_empty() {
        serde_json::from_slice::<Value>(&response.body).expect("every answer body is JSON");
    }
}

fn template_named(uri_template: &str) -> ResourceTemplate {
    ResourceTemplate::new(uri_template, "t")
}

/// Every outcome an `Op` of this kind can have.
fn outcomes(pending: &Pending) -> impl Iterator<Item = Outcome> {
    let needed = InputRequired {
        requests: vec![
            ("ask".into(), InputRequest { method: "elicitation/create".into(), params: json!({}) }),
            ("llm".into(), InputRequest { method: "sampling/createMessage".into(), params: json!({}) }),
            ("roots".into(), InputRequest { method: "roots/list".into(), params: json!({}) }),
        ],
        state: Some("state".into()),
    };
    let errors = move || {
        [
            CallError::UnknownTool,
            CallError::InvalidParams("bad".into()),
            CallError::Internal("boom".into()),
            CallError::InputRequired(needed.clone()),
        ]
    };
    let result = CallToolResult {
        content: vec![ContentBlock::text("hi")],
        structured_content: Some(json!({ "t": 1 })),
        is_error: false,
        meta: None,
    };
    let outcomes: Vec<Outcome> = match &pending.op {
        Op::ListTools => vec![Outcome::Tools(vec![json!({ "name": "t" })])],
        Op::ListResources => vec![Outcome::Resources(vec![])],
        Op::ListResourceTemplates => vec![Outcome::Templates(vec![])],
        Op::ListPrompts => vec![Outcome::Prompts(vec![])],
        Op::ReadResource { uri } => vec![
            Outcome::Read(Ok(vec![ResourceContents::text(uri.clone(), None, "x".into())])),
            Outcome::Read(Err(ReadError::NotFound)),
            Outcome::Read(Err(ReadError::Internal("boom".into()))),
        ],
        Op::CallTool(_) => std::iter::once(Outcome::Call(Ok(result)))
            .chain(errors().into_iter().map(|e| Outcome::Call(Err(e))))
            .collect(),
        Op::GetPrompt { .. } => std::iter::once(Outcome::Prompt(Ok(GetPromptResult::default())))
            .chain(errors().into_iter().map(|e| Outcome::Prompt(Err(e))))
            .collect(),
        Op::Complete(_) => std::iter::once(Outcome::Completion(Ok(Completion::default())))
            .chain(errors().into_iter().map(|e| Outcome::Completion(Err(e))))
            .collect(),
        Op::ListSkills => vec![Outcome::Skills(vec![json!({ "uri": "skill://s/SKILL.md" })])],
        Op::GetSkill { .. } => vec![Outcome::Skill(Some(json!({}))), Outcome::Skill(None)],
        Op::GetTask { task_id } => vec![Outcome::Task(Some(task(task_id))), Outcome::Task(None)],
        Op::UpdateTask { .. } | Op::CancelTask { .. } => {
            vec![Outcome::TaskAck(true), Outcome::TaskAck(false)]
        }
    };
    outcomes.into_iter()
}

/// A finished task of that id, as `tasks/get` would show it.
fn task(id: &str) -> Task {
    Task {
        task_id: id.to_owned(),
        status: TaskStatus::Completed,
        status_message: None,
        created_at: "2026-12-04T00:00:00.000Z".into(),
        last_updated_at: "2026-12-04T00:00:01.000Z".into(),
        ttl_ms: Some(60_000),
        poll_interval_ms: Some(500),
        input_requests: None,
        result: Some(json!({ "content": [] })),
        error: None,
    }
}

fn events() -> [CallEvent; 3] {
    [
        CallEvent::Log { level: LogLevel::Warning, logger: Some("l".into()), data: json!("d") },
        CallEvent::Progress { progress: 1.0, total: Some(2.0), message: Some("m".into()) },
        CallEvent::Progress { progress: f64::NAN, total: None, message: None },
    ]
}
