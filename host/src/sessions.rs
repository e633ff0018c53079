//! Session ids for the revisions that have sessions (2025-03-26 … 2025-11-25).
//!
//! An id is signed, not stored: it carries the negotiated revision and when it
//! was issued, plus an HMAC-SHA256 tag, so any instance holding the same key
//! accepts it (a Functions app scales out with no shared memory). Ended ids and
//! log levels are remembered per instance, in bounded maps.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use mcp_protocol::{LogLevel, Version};
use sha2::Sha256;

const NONCE: usize = 16;
const TAG: usize = 16;
const PAYLOAD: usize = 1 + 8 + NONCE;
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

    pub fn open(&self, version: Version) -> String {
        let mut payload = [0u8; PAYLOAD];
        payload[0] = Version::ALL.iter().position(|v| *v == version).unwrap_or(0) as u8;
        payload[1..9].copy_from_slice(&now_secs().to_be_bytes());
        getrandom::fill(&mut payload[9..]).expect("the OS provides randomness");
        let tag = self.tag(&payload).finalize().into_bytes();
        let mut id = payload.to_vec();
        id.extend_from_slice(&tag[..TAG]);
        URL_SAFE_NO_PAD.encode(id)
    }

    /// The session's revision, if `id` is one of ours, current and not ended.
    pub fn check(&self, id: &str) -> Option<Version> {
        let bytes = URL_SAFE_NO_PAD.decode(id).ok().filter(|b| b.len() == PAYLOAD + TAG)?;
        let (payload, tag) = bytes.split_at(PAYLOAD);
        self.tag(payload).verify_truncated_left(tag).ok()?;
        let issued = u64::from_be_bytes(payload[1..9].try_into().ok()?);
        if now_secs().saturating_sub(issued) > LIFETIME.as_secs() {
            return None;
        }
        if self.ended.lock().expect("no panics while locked").get(id).is_some() {
            return None;
        }
        Version::ALL.get(usize::from(payload[0])).copied()
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

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_resist_forgery() {
        let sessions = Sessions::new(None).unwrap();
        let id = sessions.open(Version::V2025_06_18);
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)), "visible ASCII");
        assert_eq!(sessions.check(&id), Some(Version::V2025_06_18));

        let mut forged = URL_SAFE_NO_PAD.decode(&id).unwrap();
        forged[0] ^= 1;
        assert_eq!(sessions.check(&URL_SAFE_NO_PAD.encode(&forged)), None);
        assert_eq!(sessions.check("nonsense"), None);
        assert_eq!(Sessions::new(None).unwrap().check(&id), None, "another key");

        let shared = "k".repeat(32);
        let a = Sessions::new(Some(&shared)).unwrap();
        let b = Sessions::new(Some(&shared)).unwrap();
        assert_eq!(
            b.check(&a.open(Version::V2025_11_25)),
            Some(Version::V2025_11_25),
            "same key, other instance"
        );
        assert!(Sessions::new(Some("short")).is_err());

        sessions.end(&id);
        assert_eq!(sessions.check(&id), None);
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
