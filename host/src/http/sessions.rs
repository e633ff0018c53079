//! Session ids for the revisions that have sessions (2025-03-26 … 2025-11-25),
//! and sealed request state for input-required rounds.
//!
//! An id is signed, not stored: it carries the negotiated revision, the client
//! capabilities that matter to the host, and when it was issued, plus an
//! HMAC-SHA256 tag, so any instance holding the same key accepts it (a
//! Functions app scales out with no shared memory). Ended ids are remembered
//! per instance, in a bounded map; log levels too, unless the state is shared
//! (`storage::Shared`): then they are stored there (`relay.rs`) so that they
//! follow the session to every instance, and read back at most once a second
//! per session and instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use mcp_protocol::jsonrpc::Incoming;
use mcp_protocol::{JsonObject, LogLevel, Version};
use serde_json::json;
use sha2::Sha256;

use super::relay;
use crate::storage::Shared;
use crate::untrusted::Untrusted;

const NONCE: usize = 16;
const TAG: usize = 16;
const PAYLOAD: usize = 2 + 8 + NONCE;
/// Client capabilities remembered in a session id, one bit each.
const CAPABILITIES: [&str; 3] = ["sampling", "elicitation", "roots"];
/// Sessions older than this are gone; clients then start a new one.
const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long a sealed request state may be echoed back: time for a user to
/// answer an elicitation, not for a state to be kept and replayed later.
const STATE_LIFETIME: Duration = Duration::from_secs(600);
/// The sealed state's format: states of any other format are refused.
const STATE_FORMAT: &str = "v1";
/// Entries kept per map before the oldest are dropped.
const REMEMBERED: usize = 10_000;
/// How long a log level read from the shared state is used before it is
/// read again: a burst of calls reads it once, and a level set through
/// another instance applies here at most this late.
const LEVEL_FRESH: Duration = Duration::from_secs(1);
/// How long a request waits for its session's level from the shared state;
/// past it, the request goes on with the level last read (or none).
const LEVEL_WAIT: Duration = Duration::from_secs(2);

pub struct Sessions {
    key: Vec<u8>,
    ended: Mutex<Bounded<()>>,
    levels: Mutex<Bounded<LogLevel>>,
    /// Levels read from the shared state, and when; only used when it is shared.
    read: moka::sync::Cache<String, (Instant, Option<LogLevel>)>,
}

/// A map that forgets its oldest entries past a fixed size.
struct Bounded<V> {
    entries: HashMap<String, (u64, V)>,
    next: u64,
}

impl<V> Bounded<V> {
    fn new() -> Self {
        Self { entries: HashMap::new(), next: 0 }
    }

    fn insert(&mut self, key: &str, value: V) {
        if self.entries.len() >= REMEMBERED && !self.entries.contains_key(key) {
            let oldest = self.entries.iter().min_by_key(|(_, (n, _))| *n).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.next += 1;
        self.entries.insert(key.to_owned(), (self.next, value));
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }
}

impl Sessions {
    /// `key` signs ids; `None` picks a random one (sessions then live in this process only).
    pub fn new(key: Option<&str>) -> anyhow::Result<Self> {
        let key = match key {
            Some(key) if key.len() >= 32 => key.as_bytes().to_vec(),
            Some(_) => anyhow::bail!("the session key must be at least 32 characters"),
            None => {
                let mut key = vec![0; 32];
                getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                key
            }
        };
        Ok(Self {
            key,
            ended: Mutex::new(Bounded::new()),
            levels: Mutex::new(Bounded::new()),
            read: moka::sync::Cache::new(REMEMBERED as u64),
        })
    }

    fn tag(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(payload);
        mac
    }

    pub fn open(&self, version: Version, capabilities: &JsonObject) -> String {
        let mut payload = [0u8; PAYLOAD];
        payload[0] = Version::ALL.iter().position(|v| *v == version).unwrap_or(0) as u8;
        payload[1] = CAPABILITIES
            .iter()
            .enumerate()
            .filter(|(_, name)| capabilities.contains_key(**name))
            .fold(0, |bits, (i, _)| bits | 1 << i);
        payload[2..10].copy_from_slice(&now_secs().to_be_bytes());
        getrandom::fill(&mut payload[10..]).expect("the OS provides randomness");
        let tag = self.tag(&payload).finalize().into_bytes();
        let mut id = payload.to_vec();
        id.extend_from_slice(&tag[..TAG]);
        URL_SAFE_NO_PAD.encode(id)
    }

    /// The session's revision and client capabilities, if `id` is one of ours,
    /// current and not ended.
    pub fn check(&self, id: &str) -> Option<(Version, JsonObject)> {
        let bytes = URL_SAFE_NO_PAD.decode(id).ok().filter(|b| b.len() == PAYLOAD + TAG)?;
        let (payload, tag) = bytes.split_at(PAYLOAD);
        self.tag(payload).verify_truncated_left(tag).ok()?;
        let issued = u64::from_be_bytes(payload[2..10].try_into().ok()?);
        if now_secs().saturating_sub(issued) > LIFETIME.as_secs() {
            return None;
        }
        if self.ended.lock().expect("no panics while locked").get(id).is_some() {
            return None;
        }
        let capabilities = CAPABILITIES
            .iter()
            .enumerate()
            .filter(|(i, _)| payload[1] & 1 << i != 0)
            .map(|(_, name)| (name.to_string(), json!({})))
            .collect();
        Some((*Version::ALL.get(usize::from(payload[0]))?, capabilities))
    }

    /// Signs a component's request state, bound to what it belongs to (a tool
    /// or prompt name) and to whom (`caller`: the token's subject, the
    /// session), with an expiry and a format version, so that only the same
    /// caller can echo it back, unchanged and in time.
    pub fn seal(&self, owner: &str, caller: &Caller, state: &str) -> String {
        let expires = now_secs() + STATE_LIFETIME.as_secs();
        let payload = [&expires.to_be_bytes()[..], state.as_bytes()].concat();
        let tag = self.tag(&sealed_payload(owner, caller, &payload)).finalize().into_bytes();
        format!("{STATE_FORMAT}.{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(&tag[..TAG]))
    }

    /// The state inside `sealed`, if this host sealed it for `owner` and
    /// `caller`, in the current format, and it has not expired.
    pub fn unseal(&self, owner: &str, caller: &Caller, sealed: &str) -> Result<String, Unsealed> {
        let mut parts = sealed.split('.');
        let (Some(version), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Unsealed::Invalid);
        };
        if version != STATE_FORMAT {
            return Err(Unsealed::Invalid);
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Unsealed::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Unsealed::Invalid)?;
        self.tag(&sealed_payload(owner, caller, &payload))
            .verify_truncated_left(&tag)
            .map_err(|_| Unsealed::Invalid)?;
        let (expires, state) = payload.split_at_checked(8).ok_or(Unsealed::Invalid)?;
        if now_secs() > u64::from_be_bytes(expires.try_into().map_err(|_| Unsealed::Invalid)?) {
            return Err(Unsealed::Expired);
        }
        String::from_utf8(state.to_vec()).map_err(|_| Unsealed::Invalid)
    }

    pub fn end(&self, id: &str) {
        self.ended.lock().expect("no panics while locked").insert(id, ());
    }

    fn set_level(&self, id: &str, level: LogLevel) {
        self.levels.lock().expect("no panics while locked").insert(id, level);
    }

    fn level(&self, id: &str) -> Option<LogLevel> {
        self.levels.lock().expect("no panics while locked").get(id).copied()
    }

    /// Remembers `logging/setLevel` for session `id`: in this process, or,
    /// when the state is shared, in the shared state, returning once it is
    /// written there (else the error to answer; the details are logged).
    pub async fn store_level(&self, shared: &Shared, id: &str, level: LogLevel) -> Result<(), String> {
        if !shared.shared {
            self.set_level(id, level);
            return Ok(());
        }
        if let Err(why) = relay::store_level(shared, id, level).await {
            tracing::warn!(error = %Untrusted(&why), "logging/setLevel failed");
            return Err("The log level could not be stored in the shared state; try again.".into());
        }
        self.read.insert(id.to_owned(), (Instant::now(), Some(level)));
        Ok(())
    }

    /// The log level for a request of `session` (a checked id) made of
    /// `messages`: only a tool call reads it. From this process, or, when the
    /// state is shared, as last read from it, read again if older than
    /// `LEVEL_FRESH`; a failed or slow read keeps the level read before (or none).
    pub async fn find_level(
        &self,
        shared: &Shared,
        session: Option<&str>,
        messages: &[Incoming],
    ) -> Option<LogLevel> {
        let id = session?;
        if !messages.iter().any(|m| matches!(m, Incoming::Message(m) if m.method == "tools/call")) {
            return None;
        }
        if !shared.shared {
            return self.level(id);
        }
        let cached = self.read.get(id);
        if let Some((at, level)) = cached
            && at.elapsed() < LEVEL_FRESH
        {
            return level;
        }
        let level = match tokio::time::timeout(LEVEL_WAIT, relay::read_level(shared, id)).await {
            Ok(Ok(level)) => level,
            failed => {
                let why = match failed {
                    Ok(Err(why)) => why,
                    _ => format!("no answer within {} ms", LEVEL_WAIT.as_millis()),
                };
                tracing::warn!(error = %Untrusted(&why), "the session's log level could not be read; using the last one read");
                cached.and_then(|(_, level)| level)
            }
        };
        self.read.insert(id.to_owned(), (Instant::now(), level));
        level
    }
}

/// Whom a request state belongs to: the token's issuer and subject when
/// there is a token, and the session when there is one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: Option<(String, String)>,
    pub session: Option<String>,
}

/// Why a request state was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsealed {
    /// Not sealed by this host for this tool and caller, or in an older format.
    Invalid,
    /// Sealed, but past its lifetime.
    Expired,
}

/// What the tag covers; every field length-prefixed, so no two bindings
/// share an encoding.
fn sealed_payload(owner: &str, caller: &Caller, payload: &[u8]) -> Vec<u8> {
    let (issuer, subject) = caller.subject.as_ref().map_or(("", ""), |(i, s)| (i.as_str(), s.as_str()));
    let fields: [&[u8]; 7] = [
        STATE_FORMAT.as_bytes(),
        owner.as_bytes(),
        &[u8::from(caller.subject.is_some())],
        issuer.as_bytes(),
        subject.as_bytes(),
        caller.session.as_deref().unwrap_or_default().as_bytes(),
        payload,
    ];
    let mut bytes = b"request-state\0".to_vec();
    for field in fields {
        bytes.extend_from_slice(&(field.len() as u64).to_be_bytes());
        bytes.extend_from_slice(field);
    }
    bytes
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_resist_forgery() {
        let sessions = Sessions::new(None).unwrap();
        let caps = json!({"sampling": {}, "experimental": {}}).as_object().unwrap().clone();
        let id = sessions.open(Version::V2025_06_18, &caps);
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)), "visible ASCII");
        let (version, remembered) = sessions.check(&id).unwrap();
        assert_eq!(version, Version::V2025_06_18);
        assert_eq!(remembered.keys().collect::<Vec<_>>(), ["sampling"]);

        let mut forged = URL_SAFE_NO_PAD.decode(&id).unwrap();
        forged[0] ^= 1;
        assert_eq!(sessions.check(&URL_SAFE_NO_PAD.encode(&forged)), None);
        assert_eq!(sessions.check("nonsense"), None);
        assert_eq!(Sessions::new(None).unwrap().check(&id), None, "another key");

        let shared = "k".repeat(32);
        let a = Sessions::new(Some(&shared)).unwrap();
        let b = Sessions::new(Some(&shared)).unwrap();
        let opened = a.open(Version::V2025_11_25, &JsonObject::new());
        assert_eq!(b.check(&opened).map(|(v, _)| v), Some(Version::V2025_11_25), "same key, other instance");
        assert!(Sessions::new(Some("short")).is_err());

        sessions.end(&id);
        assert_eq!(sessions.check(&id), None);
    }

    #[test]
    fn sealed_state_resists_tampering_and_replay() {
        let sessions = Sessions::new(None).unwrap();
        let alice = Caller { subject: Some(("iss".into(), "alice".into())), session: None };
        let sealed = sessions.seal("tool_a", &alice, "round=2");
        assert_eq!(sessions.unseal("tool_a", &alice, &sealed).as_deref(), Ok("round=2"));
        assert_eq!(sessions.unseal("tool_b", &alice, &sealed), Err(Unsealed::Invalid), "bound to its owner");
        let bob = Caller { subject: Some(("iss".into(), "bob".into())), ..alice.clone() };
        assert_eq!(sessions.unseal("tool_a", &bob, &sealed), Err(Unsealed::Invalid), "bound to its caller");
        let in_session = Caller { session: Some("s".into()), ..alice.clone() };
        assert_eq!(sessions.unseal("tool_a", &in_session, &sealed), Err(Unsealed::Invalid));
        assert_eq!(sessions.unseal("tool_a", &Caller::default(), &sealed), Err(Unsealed::Invalid));
        let parts: Vec<_> = sealed.split('.').collect();
        let mut payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        payload[8] ^= 1;
        let forged = format!("v1.{}.{}", URL_SAFE_NO_PAD.encode(&payload), parts[2]);
        assert_eq!(sessions.unseal("tool_a", &alice, &forged), Err(Unsealed::Invalid));
        assert_eq!(sessions.unseal("tool_a", &alice, "round=2"), Err(Unsealed::Invalid));
        let older = format!("v0.{}.{}", parts[1], parts[2]);
        assert_eq!(sessions.unseal("tool_a", &alice, &older), Err(Unsealed::Invalid));
    }

    #[tokio::test]
    async fn shared_levels_are_read_back_at_most_once_a_second() {
        let shared = Shared { shared: true, ..Shared::local() };
        let call = [Incoming::parse(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}))];
        let (a, b) = (Sessions::new(None).unwrap(), Sessions::new(None).unwrap());
        assert_eq!(b.find_level(&shared, Some("s"), &call).await, None);
        a.store_level(&shared, "s", LogLevel::Error).await.unwrap();
        assert_eq!(
            a.find_level(&shared, Some("s"), &call).await,
            Some(LogLevel::Error),
            "its own, from its cache"
        );
        assert_eq!(b.find_level(&shared, Some("s"), &call).await, None, "read less than a second ago");
        tokio::time::sleep(LEVEL_FRESH).await;
        assert_eq!(b.find_level(&shared, Some("s"), &call).await, Some(LogLevel::Error), "read again");
        assert_eq!(a.level("s"), None, "not kept in the process");
        let list = [Incoming::parse(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))];
        assert_eq!(a.find_level(&shared, Some("s"), &list).await, None, "only calls need it");
        let local = Shared::local();
        a.store_level(&local, "s", LogLevel::Debug).await.unwrap();
        assert_eq!(a.find_level(&local, Some("s"), &call).await, Some(LogLevel::Debug));
        assert_eq!(b.find_level(&local, Some("s"), &call).await, None, "per instance when not shared");
    }

    #[test]
    fn levels_are_remembered_and_bounded() {
        let sessions = Sessions::new(None).unwrap();
        sessions.set_level("a", LogLevel::Warning);
        assert_eq!(sessions.level("a"), Some(LogLevel::Warning));
        for i in 0..REMEMBERED + 5 {
            sessions.set_level(&i.to_string(), LogLevel::Info);
        }
        assert_eq!(sessions.levels.lock().unwrap().entries.len(), REMEMBERED);
        assert_eq!(sessions.level("a"), None, "the oldest entry went first");
    }
}
