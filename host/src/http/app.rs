//! What every HTTP handler shares: the application state, the response body
//! type, and the helpers that turn the protocol crate's answers into hyper's.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use mcp_protocol::http::{self as transport, Guard, HttpResponse};
use tokio::sync::{Semaphore, watch};

use super::sessions::Sessions;
use super::waiting::Waiting;
use crate::auth::Auth;
use crate::sources::{Catalog, Status};
use crate::storage::Shared;
use crate::tasks::Tasks;
use crate::telemetry::recent::Recent;

pub type Body = BoxBody<Bytes, Infallible>;

/// How long a request may take to arrive, headers and body.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
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
    /// The status page's per-tool figures of the last minutes.
    pub recent: Arc<Recent>,
    /// `/.well-known/openai-apps-challenge`'s body; `None` answers 404.
    pub apps_challenge: Option<String>,
    /// The OAuth resource server; `None` when authentication is off.
    pub auth: Option<Arc<Auth>>,
    /// What every instance behind the same front end sees.
    pub shared: Shared,
    /// Tool calls that outlive their request (the tasks extension).
    pub tasks: Arc<Tasks>,
    /// Turns `true` when the host is shutting down: streams end, connections
    /// close once their request is answered.
    pub stopping: watch::Receiver<bool>,
}

/// Resolves once the host is shutting down (or its signal is gone).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await.
    let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
}

/// The served catalog, waiting for the components to load at start-up;
/// `None` if they take longer than `LOAD_WAIT`.
pub async fn catalog(app: &App) -> Option<Arc<Catalog>> {
    let mut catalog = app.catalog.clone();
    let ready = tokio::time::timeout(LOAD_WAIT, catalog.wait_for(Option::is_some)).await;
    ready.ok()?.ok()?.clone()
}

/// Request headers as the protocol crate reads them.
pub struct HeaderView<'a>(pub &'a HeaderMap);

impl transport::Headers for HeaderView<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn full(response: HttpResponse) -> Response<Body> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(Bytes::from(response.body)).boxed()).expect("valid status and headers")
}
