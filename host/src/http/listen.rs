//! The stream a session's client opens with GET /mcp: it carries
//! `notifications/*/list_changed` whenever a component swap changes what the
//! server offers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt as _, Channel};
use mcp_protocol::http::{self as transport, HttpResponse};
use serde_json::json;

use super::app::{App, Body, stopped};
use crate::sources::Catalog;

/// Streams that may be open at once, across all sessions.
pub const MAX_STREAMS: usize = 1_000;
/// How often an idle stream sends a comment, so that proxies keep it open and
/// a client that went away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Opens the stream for a known session, if a slot is free.
pub fn open(app: &Arc<App>, session: String) -> Result<Response<Body>, HttpResponse> {
    let Ok(permit) = app.streams.clone().try_acquire_owned() else {
        return Err(HttpResponse::rpc_error(
            503,
            &mcp_protocol::jsonrpc::RpcError::new(-32000, "Too many open streams; try again later"),
        ));
    };
    let (mut sender, body) = Channel::<Bytes, Infallible>::new(8);
    let app = app.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let mut catalog = app.catalog.clone();
        let mut stopping = app.stopping.clone();
        let mut seen = catalog.borrow_and_update().clone();
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.tick().await;
        loop {
            let frames = tokio::select! {
                changed = catalog.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now = catalog.borrow_and_update().clone();
                    let frames = changes(seen.as_deref(), now.as_deref());
                    seen = now;
                    frames
                }
                _ = keep_alive.tick() => vec![b": keep-alive\n\n".to_vec()],
                // Shutting down: end the stream, so its connection can close.
                _ = stopped(&mut stopping) => return,
            };
            // A session ended by DELETE stops its stream too.
            if app.sessions.check(&session).is_none() {
                return;
            }
            for frame in frames {
                if sender.send_data(frame.into()).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut response = Response::builder().status(StatusCode::OK);
    for (name, value) in transport::sse_headers() {
        response = response.header(name, value);
    }
    Ok(response.body(body.boxed()).expect("valid status and headers"))
}

/// One SSE event per list that differs between two catalogs.
fn changes(before: Option<&Catalog>, after: Option<&Catalog>) -> Vec<Vec<u8>> {
    let (Some(before), Some(after)) = (before, after) else { return Vec::new() };
    let lists = [
        ("notifications/tools/list_changed", before.tools != after.tools),
        (
            "notifications/resources/list_changed",
            before.resources != after.resources || before.templates != after.templates,
        ),
        ("notifications/prompts/list_changed", before.prompts != after.prompts),
    ];
    lists
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(method, _)| transport::sse_event(&json!({ "jsonrpc": "2.0", "method": method })))
        .collect()
}
