//! Session ids for the revisions that have sessions (2025-03-26 … 2025-11-25),
//! and sealed request state for input-required rounds.
//!
//! An id is signed, not stored: it carries the negotiated revision, the client
//! capabilities that matter to the host, and when it was issued, plus an
//! HMAC-SHA256 tag, so any instance holding the same key accepts it (a
//! Functions app scales out with no shared memory). Ended ids and log levels
//! are remembered per instance, in bounded maps.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use mcp_protocol::{JsonObject, LogLevel, Version};
use serde_json::json;
use sha2::Sha256;

const NONCE: usize = 16;
const TAG: usize = 16;
const PAYLOAD: usize = 2 + 8 + NONCE;
/// Client capabilities remembered in a session id, one bit each.
const CAPABILITIES: [&str; 3] = ["sampling", "elicitation", "roots"];
/// Sessions older than this are gone; clients then start a new one.
const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Entries kept per map before the oldest are dropped.
const REMEMBERED: usize = 10_000;

pub struct Sessions {
    key: Vec<u8>,
    ended: Mutex<Bounded<()>>,
    levels: Mutex<Bounded<LogLevel>>,
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
        Ok(Self { key, ended: Mutex::new(Bounded::new()), levels: Mutex::new(Bounded::new()) })
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
    /// or prompt name), so the client can only echo it back unchanged.
    pub fn seal(&self, owner: &str, state: &str) -> String {
        let tag = self.tag(&sealed_payload(owner, state)).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(state), URL_SAFE_NO_PAD.encode(&tag[..TAG]))
    }

    /// The state inside `sealed`, if this host sealed it for `owner`.
    pub fn unseal(&self, owner: &str, sealed: &str) -> Option<String> {
        let (state, tag) = sealed.split_once('.')?;
        let state = String::from_utf8(URL_SAFE_NO_PAD.decode(state).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.tag(&sealed_payload(owner, &state)).verify_truncated_left(&tag).ok()?;
        Some(state)
    }

    pub fn end(&self, id: &str) {
        self.ended.lock().expect("no panics while locked").insert(id, ());
    }

    pub fn set_level(&self, id: &str, level: LogLevel) {
        self.levels.lock().expect("no panics while locked").insert(id, level);
    }

    pub fn level(&self, id: &str) -> Option<LogLevel> {
        self.levels.lock().expect("no panics while locked").get(id).copied()
    }
}

fn sealed_payload(owner: &str, state: &str) -> Vec<u8> {
    [b"request-state\0", owner.as_bytes(), b"\0", state.as_bytes()].concat()
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
    fn sealed_state_resists_tampering() {
        let sessions = Sessions::new(None).unwrap();
        let sealed = sessions.seal("tool_a", "round=2");
        assert_eq!(sessions.unseal("tool_a", &sealed).as_deref(), Some("round=2"));
        assert_eq!(sessions.unseal("tool_b", &sealed), None, "bound to its owner");
        let (_, tag) = sealed.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("round=9"));
        assert_eq!(sessions.unseal("tool_a", &forged), None);
        assert_eq!(sessions.unseal("tool_a", "round=2"), None);
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
