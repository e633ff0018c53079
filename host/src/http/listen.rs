//! The streams that tell clients what changed when a component swap changes
//! what the server offers: a session's GET /mcp stream (list changes), and a
//! 2026-07-28 `subscriptions/listen` stream (the list changes and resource
//! updates it asked for, each tagged with its subscription id).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt as _, Channel};
use mcp_protocol::http::{self as transport, HttpResponse};
use mcp_protocol::jsonrpc::RpcError;
use mcp_protocol::{Change, Subscription, TaskStatus};
use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;

use super::app::{App, Body, stopped};
use crate::sources::Catalog;
use crate::tasks::Tasks;

/// Streams that may be open at once, across all sessions and subscriptions.
pub const MAX_STREAMS: usize = 1_000;
/// How often an idle stream sends a comment, so that proxies keep it open and
/// a client that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Opens the stream for a known session, if a slot is free.
pub fn open(app: &Arc<App>, session: String) -> Result<Response<Body>, HttpResponse> {
    let permit = stream_slot(app)?;
    let notify = |before: &Catalog, after: &Catalog| {
        let methods = lists_changed(before, after).map(|change| match change {
            Change::Tools => "notifications/tools/list_changed",
            Change::Resources => "notifications/resources/list_changed",
            _ => "notifications/prompts/list_changed",
        });
        methods.map(|method| json!({ "jsonrpc": "2.0", "method": method })).collect()
    };
    let checked = app.clone();
    // A session ended by DELETE stops its stream too.
    let open = move || checked.sessions.check(&session).is_some();
    Ok(stream(app, permit, Vec::new(), notify, open, None, None))
}

/// Opens a `subscriptions/listen` stream, if a slot is free: its
/// acknowledgement first, then what it subscribed to, and when the host stops,
/// the response that ends it. `subject` is the caller's, whose tasks it may watch.
pub fn subscribe(
    app: &Arc<App>,
    subscription: Subscription,
    ended: Value,
    subject: Option<String>,
) -> Response<Body> {
    let permit = match stream_slot(app) {
        Ok(permit) => permit,
        Err(busy) => return super::app::full(busy),
    };
    let first = vec![subscription.acknowledged()];
    let watched = (!subscription.filter.task_ids.is_empty()).then(|| Watched {
        subscription: subscription.clone(),
        ids: subscription.filter.task_ids.clone(),
        subject,
        seen: HashMap::new(),
    });
    let notify = move |before: &Catalog, after: &Catalog| {
        // A watched resource served by another component version may read differently.
        let updated = subscription.filter.resource_uris.iter().filter(|uri| {
            match (before.resource_owner(uri), after.resource_owner(uri)) {
                (Some(old), Some(new)) => !Arc::ptr_eq(old, new),
                (old, new) => old.is_some() || new.is_some(),
            }
        });
        let changes = lists_changed(before, after).chain(updated.map(|uri| Change::ResourceUpdated(uri)));
        changes.filter_map(|change| subscription.notification(change)).collect()
    };
    stream(app, permit, first, notify, || true, Some(ended), watched)
}

/// How often a stream reads the tasks it watches.
const TASK_POLL: Duration = Duration::from_secs(1);

/// The tasks a `subscriptions/listen` stream watches, and what it last sent of each.
struct Watched {
    subscription: Subscription,
    ids: Vec<String>,
    subject: Option<String>,
    seen: HashMap<String, (TaskStatus, String)>,
}

impl Watched {
    /// A `notifications/tasks` for each watched task that changed since the
    /// last look (the first look included); a task is watched until it ends
    /// or is gone (unknown ids, another caller's tasks: never a word).
    async fn look(&mut self, tasks: &Tasks) -> Vec<Value> {
        let mut notes = Vec::new();
        let mut ended = Vec::new();
        for id in &self.ids {
            let task = match tasks.get(id, self.subject.as_deref()).await {
                Ok(Some(task)) => task,
                Ok(None) => {
                    ended.push(id.clone());
                    continue;
                }
                Err(_) => continue,
            };
            let now = (task.status, task.last_updated_at.clone());
            if self.seen.get(id) != Some(&now) {
                notes.push(self.subscription.task_changed(&task));
                self.seen.insert(id.clone(), now);
            }
            if task.status.is_terminal() {
                ended.push(id.clone());
            }
        }
        self.ids.retain(|id| !ended.contains(id));
        notes
    }
}

fn stream_slot(app: &App) -> Result<OwnedSemaphorePermit, HttpResponse> {
    app.streams.clone().try_acquire_owned().map_err(|_| {
        HttpResponse::rpc_error(503, &RpcError::new(-32000, "Too many open streams; try again later"))
    })
}

/// An SSE stream that sends `first`, then what `notify` makes of each
/// published catalog and the one before, for as long as `open` holds, and
/// `last` when the host stops.
fn stream(
    app: &Arc<App>,
    permit: OwnedSemaphorePermit,
    first: Vec<Value>,
    notify: impl Fn(&Catalog, &Catalog) -> Vec<Value> + Send + 'static,
    open: impl Fn() -> bool + Send + 'static,
    last: Option<Value>,
    mut watched: Option<Watched>,
) -> Response<Body> {
    let (mut sender, body) = Channel::<Bytes, Infallible>::new(8);
    let app = app.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut catalog = app.catalog.clone();
        let mut stopping = app.stopping.clone();
        let mut seen = catalog.borrow_and_update().clone();
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.tick().await;
        let mut task_poll = tokio::time::interval(TASK_POLL);
        let mut frames: Vec<Vec<u8>> = first.iter().map(transport::sse_event).collect();
        loop {
            for frame in frames {
                if sender.send_data(frame.into()).await.is_err() {
                    return;
                }
            }
            frames = tokio::select! {
                changed = catalog.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now = catalog.borrow_and_update().clone();
                    let notes = match (seen.as_deref(), now.as_deref()) {
                        (Some(before), Some(after)) => notify(before, after),
                        _ => Vec::new(),
                    };
                    seen = now;
                    notes.iter().map(transport::sse_event).collect()
                }
                _ = keep_alive.tick() => vec![b": keep-alive\n\n".to_vec()],
                _ = task_poll.tick(), if watched.as_ref().is_some_and(|w| !w.ids.is_empty()) => {
                    let watched = watched.as_mut().expect("polled only when watching");
                    watched.look(&app.tasks).await.iter().map(transport::sse_event).collect()
                }
                // Shutting down: end the stream, so its connection can close.
                _ = stopped(&mut stopping) => {
                    if let Some(last) = &last {
                        let _ = sender.send_data(transport::sse_event(last).into()).await;
                    }
                    return;
                }
            };
            if !open() {
                return;
            }
        }
    });
    let mut response = Response::builder().status(StatusCode::OK);
    for (name, value) in transport::sse_headers() {
        response = response.header(name, value);
    }
    response.body(body.boxed()).expect("valid status and headers")
}

/// The lists that differ between two catalogs.
fn lists_changed<'a>(before: &Catalog, after: &Catalog) -> impl Iterator<Item = Change<'a>> {
    let lists = [
        (Change::Tools, before.tools != after.tools),
        (Change::Resources, before.resources != after.resources || before.templates != after.templates),
        (Change::Prompts, before.prompts != after.prompts),
    ];
    lists.into_iter().filter(|(_, changed)| *changed).map(|(change, _)| change)
}
