//! `POST /mcp`: reads the body, lets the protocol crate decide each message's
//! answer, and performs what needs the components. A single tool call is
//! handed to `call`, which may stream.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::BodyExt;
use hyper::body::Incoming as IncomingBody;
use mcp_protocol::http::{self as transport, HttpResponse, SESSION_HEADER};
use mcp_protocol::jsonrpc::{self, Incoming, RpcError};
use mcp_protocol::{CallError, Context, JsonObject, Op, Outcome, Pending, ReadError, Step, dispatch};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::app::{self, App, Body, HeaderView, READ_TIMEOUT, full};
use super::call::Call;
use super::listen;
use super::record::{Record, Seen};
use super::relay;
use super::routes::session_not_found;
use super::seal::{finish, unseal};
use super::sessions::Caller;
use super::tasks;
use crate::auth::{self, Identity, Rejected};
use crate::sources::Catalog;

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

pub async fn post(
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
    let Some(catalog) = app::catalog(app).await else {
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
    cx.session_log_level =
        app.sessions.find_level(&app.shared, caller.session.as_deref(), &post.messages).await;
    (cx.session_version, cx.session_capabilities) =
        known.clone().map_or((None, None), |(v, c)| (Some(v), Some(c)));
    let seen = Seen {
        headers: headers.0,
        session: caller.session.as_deref(),
        protocol_version: cx.protocol_version.or(cx.session_version.map(|v| v.as_str())),
    };
    let single = post.messages.len() == 1;
    let mut replies = Vec::new();
    let mut opened = None;
    for incoming in post.messages {
        let record = Record::of(&incoming, &seen, &catalog, &app.recent);
        let mut capabilities = JsonObject::new();
        match &incoming {
            Incoming::Message(message) => {
                // A legacy request naming a session we do not know must start over;
                // `initialize` with a stale id simply opens a new session.
                let stale = session.is_some() && known.is_none();
                if stale && message.method != "initialize" && !dispatch::is_stateless(message, &cx) {
                    let reply = session_not_found(message.id.as_ref().unwrap_or(&Value::Null));
                    if let Some(record) = record {
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
                // Not asked by a call of this instance: perhaps by another one's.
                if let Some(session) = caller.session.as_deref()
                    && !app.waiting.answer(session, id, outcome.clone())
                    && app.shared.shared
                {
                    relay::forward(&app.shared, session, id, outcome).await;
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
            Step::SetLevel { level, body } => match session.filter(|_| known.is_some()) {
                Some(id) => match app.sessions.store_level(&app.shared, id, level).await {
                    Ok(()) => (200, body),
                    Err(why) => (500, jsonrpc::failure(&body["id"], &RpcError::new(-32603, why))),
                },
                None => (200, body),
            },
            Step::Listen(subscription) if single => {
                if let Some(record) = record {
                    record.log(&subscription.acknowledged());
                }
                // The stream holds a stream slot, not a request permit.
                drop(permit);
                let ended = subscription.ended(&catalog.server);
                return listen::subscribe(app, *subscription, ended, tasks::owner(&caller));
            }
            Step::Listen(subscription) => (400, subscription.not_alone()),
            Step::Perform(mut pending) => match unseal(app, &caller, &mut pending)
                .map(|()| auth::pass_on(&mut pending.op, &catalog, identity.as_ref()))
            {
                Err(refused) => refused,
                Ok(()) => match vet(&catalog, &pending, headers) {
                    Some(refused) => refused,
                    None => match tasks::answer(app, &catalog, &pending, &caller).await {
                        Some(reply) => reply,
                        None => match (&pending.op, record) {
                            (Op::CallTool(_), Some(record)) if single => {
                                let call = Call { pending: *pending, caller, stream: post.accept.sse };
                                return call
                                    .run(app.clone(), catalog.clone(), post.accept, record, permit)
                                    .await;
                            }
                            (_, record) => {
                                let outcome = match &record {
                                    Some(record) => record.span().scope(perform(&catalog, &pending)).await,
                                    None => perform(&catalog, &pending).await,
                                };
                                let reply = finish(app, &catalog, &pending, &caller, outcome);
                                if let Some(record) = record {
                                    record.log(&reply.1);
                                }
                                replies.push(reply);
                                continue;
                            }
                        },
                    },
                },
            },
        };
        if let Some(record) = record {
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

/// A tool call its tool's schema refuses (headers, arguments), answered without running it.
fn vet(catalog: &Catalog, pending: &Pending, headers: &HeaderView<'_>) -> Option<(u16, Value)> {
    let Op::CallTool(request) = &pending.op else { return None };
    let schema = catalog.tool_schema(&request.name)?;
    pending.vet_call(schema, headers, &catalog.server)
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
        Op::ListSkills => Outcome::Skills(catalog.skills.clone()),
        Op::GetSkill { uri } => Outcome::Skill(catalog.skill(uri).cloned()),
        Op::Complete(request) => Outcome::Completion(match catalog.completion_owner(&request.reference) {
            Some(component) => component.complete(request).await,
            None => Err(CallError::InvalidParams("nothing to complete by that reference".into())),
        }),
        // Answered by `tasks::answer` before anything is performed.
        Op::GetTask { .. } => Outcome::Task(None),
        Op::UpdateTask { .. } | Op::CancelTask { .. } => Outcome::TaskAck(false),
        Op::CallTool(request) => Outcome::Call(match catalog.tool_owner(&request.name) {
            Some(component) => {
                let (events, _) = mpsc::channel(1);
                component.call(request, events).await
            }
            None => Err(CallError::UnknownTool),
        }),
    }
}
