//! Keep-alive connections for outbound requests, so that a call does not pay
//! for a new TCP connection and TLS handshake to an upstream it used before.
//!
//! Connections are kept per component and destination (scheme, host, port):
//! one component never gets a connection another one opened. A connection is
//! pooled only once its response has been read to the end; it was vetted
//! (allow-list, public address) when it was opened. Bounded: at most
//! `MAX_IDLE` idle connections per component and destination, each dropped
//! after `IDLE_TIMEOUT` unused.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use wasmtime_wasi_http::WasiBody;

/// Idle connections kept per component and destination.
const MAX_IDLE: usize = 16;
/// How long an idle connection is kept. A server may close it sooner; a
/// request it was never sent on is then sent again on a new connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

pub type Sender = SendRequest<WasiBody>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub component: Arc<str>,
    pub https: bool,
    pub host: String,
    pub port: u16,
}

#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Key, Vec<(Sender, Instant)>>>,
}

/// The process's pool.
pub static POOL: LazyLock<Pool> = LazyLock::new(Pool::default);

impl Pool {
    /// The most recently used open idle connection to `key`, if any.
    pub fn take(&self, key: &Key) -> Option<Sender> {
        let mut idle = self.idle.lock().expect("no panics while locked");
        let connections = idle.get_mut(key)?;
        while let Some((sender, since)) = connections.pop() {
            if since.elapsed() < IDLE_TIMEOUT && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Keeps `sender` for the next request to `key`, once its exchange has
    /// ended (the response read to the end) within `limit`; a connection that
    /// closes or whose response is abandoned is dropped instead.
    pub fn keep_when_done(&'static self, key: Key, mut sender: Sender, limit: Duration) {
        tokio::spawn(async move {
            if let Ok(Ok(())) = tokio::time::timeout(limit, sender.ready()).await {
                self.put(key, sender);
            }
        });
    }

    fn put(&self, key: Key, sender: Sender) {
        let mut idle = self.idle.lock().expect("no panics while locked");
        let connections = idle.entry(key).or_default();
        connections.retain(|(sender, since)| since.elapsed() < IDLE_TIMEOUT && !sender.is_closed());
        if connections.len() < MAX_IDLE {
            connections.push((sender, Instant::now()));
        }
    }
}
