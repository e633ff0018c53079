//! A tool call being answered: a JSON answer when it finishes before it has
//! anything to report, else an SSE stream of its notifications; for clients
//! of the session revisions, rounds of input requests (elicitation, sampling,
//! roots) sent on that stream and answered through `waiting`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Channel};
use mcp_protocol::http::{self as transport, HttpResponse};
use mcp_protocol::jsonrpc::{self, RpcError};
use mcp_protocol::{CallError, Era, InputRequired, Inputs, JsonObject, Op, Outcome, Pending};
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use super::app::{App, Body, full};
use super::record::Record;
use super::relay;
use super::seal::finish;
use super::sessions::Caller;
use super::waiting;
use crate::sources::Catalog;
use crate::telemetry;

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
pub struct Call {
    pub pending: Pending,
    pub caller: Caller,
    /// Whether the client takes an SSE stream (and so can be asked for input).
    pub stream: bool,
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
                        tokio::spawn(telemetry::carry(async move { component.call(&request, events).await }))
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
                    match ask(&app, session, &needed, &frames, &mut gone).await {
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
    pub async fn run(
        self,
        app: Arc<App>,
        catalog: Arc<Catalog>,
        accept: transport::Accept,
        record: Record,
        permit: OwnedSemaphorePermit,
    ) -> Response<Body> {
        let (frames, mut received) = mpsc::channel(64);
        let (left, gone) = watch::channel(false);
        tokio::spawn(record.span().scope(self.drive(app, catalog, frames, gone)));
        let first = received.recv().await.unwrap_or_else(|| {
            Frame::Done(500, jsonrpc::failure(&Value::Null, &RpcError::new(-32603, "Internal error")))
        });
        let first = match first {
            Frame::Done(status, reply) => {
                record.log(&reply);
                return full(HttpResponse::answer(status, &reply, accept.json));
            }
            Frame::Message(message) => message,
        };
        let (mut sender, body) = Channel::<Bytes, Infallible>::new(16);
        tokio::spawn(async move {
            // A client that went away ends the sends and any wait for its input;
            // the tool's own call runs to its end.
            let mut open = sender.send_data(transport::sse_event(&first).into()).await.is_ok();
            let mut record = Some(record);
            while let Some(frame) = received.recv().await {
                let message = match frame {
                    Frame::Message(message) => message,
                    Frame::Done(_, reply) => {
                        if let Some(record) = record.take() {
                            record.log(&reply);
                        }
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

/// Sends a round of input requests on the call's stream and waits for the
/// client's answers, by request key, until the round's deadline.
async fn ask(
    app: &App,
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
    // Tickets forget their requests however this function ends; so do the
    // markers in the shared state (when it is shared), and any answers left.
    let mut markers = app.shared.shared.then(|| relay::Markers::new(&app.shared, session));
    let mut asked = Vec::new();
    for (key, request) in &needed.requests {
        let id = relay::new_id()?;
        let (ticket, receiver) = app.waiting.register(session, id.clone()).map_err(|full| match full {
            waiting::Full::Session => {
                "This session is waiting on too many answers; answer or cancel some first."
            }
            waiting::Full::Host => "The server is waiting on too many clients right now; try again shortly.",
        })?;
        // The answer may reach another instance: it hands it on only for a marked request.
        if let Some(markers) = markers.as_mut() {
            markers.mark(&app.shared, &id).await?;
        }
        let message =
            json!({ "jsonrpc": "2.0", "id": id, "method": request.method, "params": request.params });
        if frames.send(Frame::Message(message)).await.is_err() {
            return Err("The client went away.".into());
        }
        asked.push((key, request, id, ticket, receiver));
    }
    let deadline = tokio::time::Instant::now() + INPUT_WAIT;
    let mut responses = JsonObject::new();
    for (key, request, id, _ticket, receiver) in asked {
        // Answered here, or (polled only while waiting, and only when shared) through another instance.
        let elsewhere = async {
            match &markers {
                Some(markers) => Ok::<_, tokio::sync::oneshot::error::RecvError>(markers.arrival(&id).await),
                None => std::future::pending().await,
            }
        };
        let answer = tokio::select! {
            answer = tokio::time::timeout_at(deadline, receiver) => answer,
            answer = tokio::time::timeout_at(deadline, elsewhere) => answer,
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
