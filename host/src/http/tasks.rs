//! The tasks extension at the HTTP edge: a call that becomes a task is
//! answered with its handle, and `tasks/*` with what `crate::tasks` says.

use mcp_protocol::jsonrpc;
use mcp_protocol::{Op, Outcome, Pending};
use serde_json::Value;

use super::app::App;
use super::sessions::Caller;
use crate::sources::Catalog;

/// Whom a task belongs to: the token's issuer and subject that created it.
pub fn owner(caller: &Caller) -> Option<String> {
    caller.subject.as_ref().map(|(issuer, subject)| format!("{issuer}\n{subject}"))
}

/// The answer when `pending` is about tasks (a call that becomes one, or one
/// of the `tasks/*` methods); `None` for everything else.
pub async fn answer(
    app: &App,
    catalog: &Catalog,
    pending: &Pending,
    caller: &Caller,
) -> Option<(u16, Value)> {
    let subject = owner(caller);
    let subject = subject.as_deref();
    let server = &catalog.server;
    let failure = |error| (200, jsonrpc::failure(&pending.id, &error));
    Some(match &pending.op {
        Op::CallTool(request) => match pending.as_task(catalog.task_support(&request.name)) {
            Err(refused) => refused,
            Ok(false) => return None,
            Ok(true) => match app.tasks.start(catalog, pending, subject).await {
                Ok(task) => pending.task_created(&task, server),
                Err(error) => failure(error),
            },
        },
        Op::GetTask { task_id } => match app.tasks.get(task_id, subject).await {
            Ok(task) => pending.finish(Outcome::Task(task), server),
            Err(error) => failure(error),
        },
        Op::UpdateTask { task_id, responses } => match app.tasks.update(task_id, subject, responses).await {
            Ok(known) => pending.finish(Outcome::TaskAck(known), server),
            Err(error) => failure(error),
        },
        Op::CancelTask { task_id } => match app.tasks.cancel(task_id, subject).await {
            Ok(known) => pending.finish(Outcome::TaskAck(known), server),
            Err(error) => failure(error),
        },
        _ => return None,
    })
}
