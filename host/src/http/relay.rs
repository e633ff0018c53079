//! What follows a session from instance to instance through the shared state
//! (`storage::Shared`) when several instances serve it without affinity: its
//! log level, and the client's answers to the input requests a call sent on
//! its stream. Nothing here touches the store unless the state is shared.
//!
//! Blobs, under a session's directory (the sha256 of its id, never the id):
//!
//! - `sessions/<session>/level`: the level `logging/setLevel` picked, as JSON.
//! - `waiting/<session>/<id>`: written by the instance holding a call's stream
//!   before it sends request `id`; it says that request is outstanding.
//! - `answers/<session>/<id>`: the client's answer, written by an instance the
//!   answer reached when the other one waits, and only if the marker exists.
//!   The waiting instance polls for it, and deletes both when the wait ends.
//!
//! So a client cannot make the host store blobs of its choosing: only ids of
//! the host's own format, of requests outstanding in the client's own
//! session, bounded in size by the body limit and in number by `waiting`.

use std::sync::Arc;
use std::time::Duration;

use mcp_protocol::LogLevel;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use serde_json::{Value, json};

use super::waiting::Answer;
use crate::digest::Digest;
use crate::storage::Shared;
use crate::untrusted::Untrusted;

/// How often a waiting call looks for an answer another instance received.
pub const POLL: Duration = Duration::from_millis(150);
/// The prefix of the ids of the requests the host sends clients.
pub const ID_PREFIX: &str = "mcp-host-";
/// Hex digits after the prefix (12 random bytes).
const ID_HEX: usize = 24;

/// A new id for a request to a client.
pub fn new_id() -> Result<String, String> {
    let mut nonce = [0u8; ID_HEX / 2];
    getrandom::fill(&mut nonce).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("{ID_PREFIX}{}", hex::encode(nonce)))
}

/// Whether `id` has the form of the host's own request ids.
fn ours(id: &str) -> bool {
    id.strip_prefix(ID_PREFIX)
        .is_some_and(|hex| hex.len() == ID_HEX && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A session's name in the store: its id's sha256, so the store never holds ids.
fn directory(session: &str) -> String {
    Digest::of(session.as_bytes()).to_string()
}

fn level_path(session: &str) -> Path {
    Path::from(format!("sessions/{}/level", directory(session)))
}

fn marker_path(session: &str, id: &str) -> Path {
    Path::from(format!("waiting/{}/{id}", directory(session)))
}

fn answer_path(session: &str, id: &str) -> Path {
    Path::from(format!("answers/{}/{id}", directory(session)))
}

/// Stores `session`'s log level for every instance.
pub async fn store_level(shared: &Shared, session: &str, level: LogLevel) -> Result<(), String> {
    let body = json!({ "level": level }).to_string();
    shared
        .store
        .put(&level_path(session), PutPayload::from(body))
        .await
        .map(|_| ())
        .map_err(|e| format!("the log level could not be stored in the {}: {e}", shared.description))
}

/// `session`'s log level as stored, `None` if none was set.
pub async fn read_level(shared: &Shared, session: &str) -> Result<Option<LogLevel>, String> {
    let bytes = match shared.store.get(&level_path(session)).await {
        Ok(found) => found.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    };
    let bytes = bytes.map_err(|e| format!("reading the log level: {e}"))?;
    let stored: Value = serde_json::from_slice(&bytes).map_err(|e| format!("a stored log level: {e}"))?;
    serde_json::from_value(stored["level"].clone()).map(Some).map_err(|e| format!("a stored log level: {e}"))
}

/// The markers of one round's outstanding requests, written before the
/// requests are sent; dropping it deletes them and any answers left.
pub struct Markers {
    store: Arc<dyn ObjectStore>,
    session: String,
    ids: Vec<String>,
}

impl Markers {
    pub fn new(shared: &Shared, session: &str) -> Self {
        Self { store: shared.store.clone(), session: session.to_owned(), ids: Vec::new() }
    }

    /// Marks request `id` as outstanding; it may be sent once this succeeded.
    pub async fn mark(&mut self, shared: &Shared, id: &str) -> Result<(), String> {
        // Deleted on drop even if the write fails half-way.
        self.ids.push(id.to_owned());
        let marker = json!({ "instance": shared.instance }).to_string();
        self.store.put(&marker_path(&self.session, id), PutPayload::from(marker)).await.map(|_| ()).map_err(
            |e| {
                tracing::warn!(error = %e, "an input request could not be marked in the shared state");
                "The input request could not be recorded in the shared state; try again shortly.".to_owned()
            },
        )
    }

    /// Resolves with the answer to `id` once another instance stored it;
    /// looks every `POLL`, and never resolves if it does not come.
    pub async fn arrival(&self, id: &str) -> Answer {
        let path = answer_path(&self.session, id);
        let mut warned = false;
        loop {
            tokio::time::sleep(POLL).await;
            let bytes = match self.store.get(&path).await {
                Ok(found) => found.bytes().await,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => Err(e),
            };
            let why = match bytes.map(|b| serde_json::from_slice::<Value>(&b)) {
                Ok(Ok(stored)) => return decode(stored),
                Ok(Err(e)) => format!("an unreadable answer: {e}"),
                Err(e) => e.to_string(),
            };
            // Once per wait, not at every poll.
            if !std::mem::replace(&mut warned, true) {
                tracing::warn!(error = %Untrusted(&why), "looking for a client's answer in the shared state");
            }
        }
    }
}

impl Drop for Markers {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        let (store, session, ids) =
            (self.store.clone(), std::mem::take(&mut self.session), std::mem::take(&mut self.ids));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            for id in ids {
                // The marker first: an answer written after it is gone is deleted by its writer.
                for path in [marker_path(&session, &id), answer_path(&session, &id)] {
                    match store.delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => tracing::warn!(error = %e, %path, "deleting an input request's state"),
                    }
                }
            }
        });
    }
}

fn encode(outcome: &Answer) -> Value {
    match outcome {
        Ok(result) => json!({ "result": result }),
        Err(error) => json!({ "error": error }),
    }
}

fn decode(mut stored: Value) -> Answer {
    match stored.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(stored.get_mut("error").map(Value::take).unwrap_or(Value::Null)),
    }
}

/// What became of a client's answer no call of this instance waits for.
#[derive(Debug, PartialEq, Eq)]
pub enum Forwarded {
    /// Stored for the instance that waits for it.
    Stored,
    /// Not a request of ours outstanding in this session: nothing stored.
    Unknown,
    /// The shared state failed.
    Failed,
}

/// Hands a client's answer to whichever instance waits for it, if a request
/// of that id is outstanding in `session`.
pub async fn forward(shared: &Shared, session: &str, id: &Value, outcome: &Answer) -> Forwarded {
    let Some(id) = id.as_str().filter(|id| ours(id)) else {
        tracing::debug!(id = %Untrusted(&id.to_string()), "a response to no request of this host");
        return Forwarded::Unknown;
    };
    let (marker, answer) = (marker_path(session, id), answer_path(session, id));
    let outstanding = async {
        match shared.store.head(&marker).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    };
    let stored = async {
        if !outstanding.await? {
            return Ok(Forwarded::Unknown);
        }
        shared.store.put(&answer, PutPayload::from(encode(outcome).to_string())).await?;
        // The wait may have ended meanwhile: then its cleanup may have run
        // already, and this answer is deleted here instead.
        let still = match shared.store.head(&marker).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        if !still {
            let _ = shared.store.delete(&answer).await;
            return Ok(Forwarded::Unknown);
        }
        Ok(Forwarded::Stored)
    };
    match stored.await {
        Ok(Forwarded::Unknown) => {
            tracing::debug!(id = %Untrusted(id), "a response to no outstanding request");
            Forwarded::Unknown
        }
        Ok(forwarded) => forwarded,
        Err(e) => {
            tracing::warn!(id = %Untrusted(id), error = %e, "a client's answer could not be handed on");
            Forwarded::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt as _;

    fn shared() -> Shared {
        Shared { shared: true, ..Shared::local() }
    }

    async fn blobs(shared: &Shared) -> Vec<String> {
        let listed: Vec<_> = shared.store.list(None).try_collect().await.unwrap();
        listed.into_iter().map(|meta| meta.location.to_string()).collect()
    }

    #[tokio::test]
    async fn answers_without_an_outstanding_request_store_nothing() {
        let shared = shared();
        let id = new_id().unwrap();
        assert!(ours(&id), "{id}");
        for id in
            [json!(id), json!("mcp-host-../../x"), json!("elsewhere"), json!(7), json!(id.to_uppercase())]
        {
            assert_eq!(forward(&shared, "s", &id, &Ok(json!({"a": 1}))).await, Forwarded::Unknown);
        }
        assert_eq!(blobs(&shared).await, Vec::<String>::new());
    }

    #[tokio::test]
    async fn an_answer_reaches_the_waiting_instance_and_is_cleaned_up() {
        let shared = shared();
        let id = new_id().unwrap();
        let mut markers = Markers::new(&shared, "s");
        markers.mark(&shared, &id).await.unwrap();
        // Another session cannot answer it.
        assert_eq!(forward(&shared, "t", &json!(id), &Ok(json!(1))).await, Forwarded::Unknown);
        assert_eq!(forward(&shared, "s", &json!(id), &Err(json!({"code": -1}))).await, Forwarded::Stored);
        let answer = tokio::time::timeout(Duration::from_secs(5), markers.arrival(&id)).await.unwrap();
        assert_eq!(answer, Err(json!({"code": -1})));
        assert_eq!(blobs(&shared).await.len(), 2, "a marker and an answer");
        drop(markers);
        for _ in 0..100 {
            if blobs(&shared).await.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(blobs(&shared).await, Vec::<String>::new());
        // Too late: the request is no longer outstanding.
        assert_eq!(forward(&shared, "s", &json!(id), &Ok(json!(1))).await, Forwarded::Unknown);
        assert_eq!(blobs(&shared).await, Vec::<String>::new());
    }

    #[tokio::test]
    async fn levels_round_trip() {
        let shared = shared();
        assert_eq!(read_level(&shared, "s").await, Ok(None));
        store_level(&shared, "s", LogLevel::Warning).await.unwrap();
        assert_eq!(read_level(&shared, "s").await, Ok(Some(LogLevel::Warning)));
        assert_eq!(read_level(&shared, "t").await, Ok(None));
        assert!(blobs(&shared).await[0].starts_with("sessions/"), "no session id in the store");
    }
}
