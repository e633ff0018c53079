//! One tool call inside its instance: the call resource's events relayed as
//! they come (bounded in count and bytes, progress only forward), and the
//! final outcome checked against the budget.

use mcp_protocol as p;
use tokio::sync::mpsc;
use wasmtime::Store;

use super::bindings::{ToolComponent, wit};
use super::budget::{self, Oversized, error_size, result_size};
use super::convert;
use super::instance::CallState;

/// Log and progress events one call may send; more are dropped.
const MAX_EVENTS_PER_CALL: usize = 1_000;

/// A finished call's outcome, within the budget: on its raw size first, then
/// on what the client would receive.
fn finish(
    done: Result<wit::CallResult, wit::CallError>,
    limit: usize,
) -> Result<Result<p::CallToolResult, p::CallError>, Oversized> {
    match done {
        Ok(result) => {
            budget::check(result_size(&result), limit)?;
            let result = match convert::call_result(result) {
                Ok(result) => result,
                Err(invalid) => return Ok(Err(p::CallError::Internal(invalid))),
            };
            budget::check(budget::json_size(&result), limit)?;
            Ok(Ok(result))
        }
        Err(error) => {
            budget::check(error_size(&error), limit)?;
            let error = convert::call_error(error);
            if let p::CallError::InputRequired(needed) = &error {
                budget::check(budget::input_required_size(needed), limit)?;
            }
            Ok(Err(error))
        }
    }
}

/// A log event for the client, or `None` when it is dropped: invalid JSON, or
/// past the budget of the call's events.
fn log_event(message: wit::LogMessage, budget: &mut budget::Events) -> Option<p::CallEvent> {
    let raw = message.data.len() + message.logger.as_ref().map_or(0, String::len);
    if !budget.may_fit(raw) {
        return None;
    }
    convert::call_event(message).filter(|event| budget.take(event))
}

/// A progress event for the client, or `None` when it is dropped: not
/// finite, not above the last one sent, or past the budget of the call's events.
fn progress_event(
    update: wit::ProgressUpdate,
    last: &mut f64,
    budget: &mut budget::Events,
) -> Option<p::CallEvent> {
    let finite = update.progress.is_finite() && update.total.is_none_or(f64::is_finite);
    if !finite || update.progress <= *last {
        return None;
    }
    let event =
        p::CallEvent::Progress { progress: update.progress, total: update.total, message: update.message };
    budget.take(&event).then(|| {
        *last = update.progress;
        event
    })
}

pub async fn step_call(
    store: &mut Store<CallState>,
    instance: &ToolComponent,
    request: &p::CallRequest,
    events: mpsc::Sender<p::CallEvent>,
    max_result_bytes: usize,
) -> anyhow::Result<(Result<Result<p::CallToolResult, p::CallError>, Oversized>, usize)> {
    let calls = instance.mcp_tool_tools().tool_call();
    let handle = calls.call_constructor(&mut *store, &convert::call_request(request)).await?;
    let mut sent = 0;
    let mut last_progress = f64::NEG_INFINITY;
    let mut budget = budget::Events::new(max_result_bytes);
    loop {
        let event = match calls.call_next(&mut *store, handle).await? {
            wit::CallEvent::Done(done) => {
                handle.resource_drop_async(&mut *store).await?;
                return Ok((finish(done, max_result_bytes), budget.dropped()));
            }
            _ if sent >= MAX_EVENTS_PER_CALL => None,
            wit::CallEvent::Log(message) => log_event(message, &mut budget),
            wit::CallEvent::Progress(update) => progress_event(update, &mut last_progress, &mut budget),
        };
        sent += 1;
        if let Some(event) = event {
            // A client that went away stops listening; the call still finishes.
            let _ = events.send(event).await;
        }
    }
}
