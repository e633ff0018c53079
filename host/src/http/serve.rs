//! The listener: accepts connections up to a cap, serves HTTP/1.1 on each, and
//! drains the requests being answered when the host shuts down.
//!
//! The drain is written for a load balancer that keeps connections to the host
//! open between requests (nginx, Azure's front end): it may send a request onto
//! an idle connection at any moment, and one sent onto a connection the host is
//! closing fails (a POST is not retried elsewhere). So the host closes an idle
//! connection only after `limits.idle_drain`, longer than a front end keeps one idle,
//! and meanwhile answers every request with `Connection: close`: the front end
//! then closes that connection itself, and sends new requests to other
//! instances, since this one no longer accepts connections.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONNECTION, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use super::app::{App, READ_TIMEOUT, stopped};
use super::routes::handle;

/// How the server bounds its connections and shutdown.
pub struct Limits {
    pub max_connections: usize,
    pub grace: Duration,
    /// How long after the signal idle connections are closed (within
    /// `grace`): the front end must close its idle connections to the host
    /// sooner (see the README's "Many instances").
    pub idle_drain: Duration,
}

/// Accepts connections, at most `limits.max_connections` open at once, until
/// `stopping` turns; then lets the requests being answered finish within
/// `limits.grace`, closing idle connections after `limits.idle_drain`, and returns.
pub async fn serve(listener: TcpListener, app: Arc<App>, limits: Limits) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    // Every connection holds a sender: once all are dropped, all are closed.
    let (open, mut closed) = mpsc::channel::<()>(1);
    let mut stopping = app.stopping.clone();
    let idle_drain = limits.idle_drain.min(limits.grace);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = stopped(&mut stopping) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stopping) => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, open) = (app.clone(), open.clone());
        tokio::spawn(async move {
            let _held = (permit, open);
            let mut stopping = app.stopping.clone();
            let service = service_fn(move |request| {
                let app = app.clone();
                async move {
                    let mut response = handle(&app, request).await;
                    if *app.stopping.borrow() {
                        // Draining: the front end must not send another request on this connection.
                        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopped(&mut stopping) => tokio::select! {
                    // Closed after a `Connection: close` answer, or by the client.
                    result = connection.as_mut() => result,
                    _ = tokio::time::sleep(idle_drain) => {
                        // Close now if idle, else once the request being answered is.
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                },
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
    drop(listener);
    drop(open);
    let draining = limits.max_connections - connections.available_permits();
    tracing::info!(
        connections = draining,
        grace_ms = limits.grace.as_millis() as u64,
        "no longer accepting; draining"
    );
    match tokio::time::timeout(limits.grace, closed.recv()).await {
        Ok(_) => tracing::info!("every request finished"),
        Err(_) => tracing::warn!(
            connections = limits.max_connections - connections.available_permits(),
            "the shutdown grace period ended with requests unfinished"
        ),
    }
}
