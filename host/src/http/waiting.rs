//! Requests the host sends a client during a call of the session revisions
//! (elicitation, sampling, roots), by id, waiting for the client's answer.
//!
//! Bounded so that no call, session or client can crowd out the others: a
//! round asks at most `MAX_PER_ROUND`, a session has at most
//! `MAX_PER_SESSION` outstanding, all sessions together `MAX_WAITING`. An
//! entry lives exactly as long as its call waits for it: its `Ticket` removes
//! it when dropped, whether the answer came, the round's deadline passed, the
//! client went away or the call ended in any other way.
//!
//! When instances share state, an answer may reach another instance than the
//! one waiting: `relay.rs` carries it over.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::oneshot;

/// Requests one round of one call may send.
pub const MAX_PER_ROUND: usize = 16;
/// Requests that may wait for an answer at once, per session.
pub const MAX_PER_SESSION: usize = 64;
/// Requests that may wait for an answer at once, across all sessions.
pub const MAX_WAITING: usize = 10_000;

pub type Answer = Result<Value, Value>;

#[derive(Default)]
pub struct Waiting {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Entry>,
    per_session: HashMap<String, usize>,
}

struct Entry {
    session: String,
    answer: oneshot::Sender<Answer>,
}

/// Why a request could not be registered.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    Session,
    Host,
}

/// One registered request; dropping it forgets the request.
pub struct Ticket<'a> {
    waiting: &'a Waiting,
    id: String,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.waiting.lock().remove(&self.id);
    }
}

impl Inner {
    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.by_id.remove(id)?;
        if let Some(count) = self.per_session.get_mut(&entry.session) {
            *count -= 1;
            if *count == 0 {
                self.per_session.remove(&entry.session);
            }
        }
        Some(entry)
    }
}

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("no panics while locked")
    }

    /// Registers request `id`, sent to `session`'s client.
    pub fn register(
        &self,
        session: &str,
        id: String,
    ) -> Result<(Ticket<'_>, oneshot::Receiver<Answer>), Full> {
        let mut inner = self.lock();
        if inner.by_id.len() >= MAX_WAITING {
            return Err(Full::Host);
        }
        let count = inner.per_session.entry(session.to_owned()).or_default();
        if *count >= MAX_PER_SESSION {
            return Err(Full::Session);
        }
        *count += 1;
        let (answer, receiver) = oneshot::channel();
        inner.by_id.insert(id.clone(), Entry { session: session.to_owned(), answer });
        Ok((Ticket { waiting: self, id }, receiver))
    }

    /// Hands a client's answer to the call that asked, if `session` is the
    /// one it was asked in; whether a call of this process asked it.
    pub fn answer(&self, session: &str, id: &Value, outcome: Answer) -> bool {
        let Some(id) = id.as_str() else { return false };
        let mut inner = self.lock();
        if inner.by_id.get(id).is_some_and(|entry| entry.session == session)
            && let Some(entry) = inner.remove(id)
        {
            let _ = entry.answer.send(outcome);
            return true;
        }
        false
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.by_id.len(), inner.per_session.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tickets_forget_their_request_and_sessions_are_bounded() {
        let waiting = Waiting::default();
        let tickets: Vec<_> =
            (0..MAX_PER_SESSION).map(|i| waiting.register("a", format!("a{i}")).unwrap()).collect();
        assert_eq!(waiting.register("a", "more".into()).err(), Some(Full::Session));
        let (_b, mut answer) = waiting.register("b", "b0".into()).unwrap();
        assert!(!waiting.answer("a", &json!("b0"), Ok(json!(1))));
        assert!(answer.try_recv().is_err(), "only the session asked may answer");
        assert!(waiting.answer("b", &json!("b0"), Ok(json!(1))));
        assert_eq!(answer.try_recv().unwrap(), Ok(json!(1)));
        drop(tickets);
        drop(_b);
        assert_eq!(waiting.len(), (0, 0));
    }
}
