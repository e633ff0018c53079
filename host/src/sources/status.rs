//! What `/status` tells the operator: the source, each component's serving
//! version, the version being loaded, and the last refusal with its reason;
//! and, for the HTML page, the latest swaps and refusals.

use std::collections::{BTreeMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What the operator can query at `/status`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Status {
    pub source: String,
    /// Whether the first scan of every source and its loads have ended.
    pub ready: bool,
    /// Unix seconds of the last scan that read the source.
    pub last_scan: Option<u64>,
    /// Why the last scan could not read the source, if it could not.
    pub scan_error: Option<String>,
    pub components: BTreeMap<String, ComponentStatus>,
    /// The latest versions that went live or were refused, newest last
    /// (the HTML page's; the JSON stays as it was).
    #[serde(skip)]
    pub events: VecDeque<Event>,
}

/// Versions kept in `Status::events`.
const MAX_EVENTS: usize = 20;

/// A version that went live, was refused, or a component that went away.
#[derive(Debug, Clone)]
pub struct Event {
    /// Unix seconds.
    pub at: u64,
    pub component: String,
    pub what: &'static str,
    pub sha256: Option<String>,
    pub detail: Option<String>,
}

impl Status {
    pub fn event(
        &mut self,
        component: &str,
        what: &'static str,
        sha256: Option<String>,
        detail: Option<String>,
    ) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event { at: now(), component: component.to_owned(), what, sha256, detail });
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    /// The version answering calls, if any.
    pub serving: Option<Version>,
    /// The last version that was refused, and why.
    pub refused: Option<Refusal>,
    /// The sha256 of the version being loaded, if one is.
    pub loading: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub sha256: String,
    pub tools: Vec<String>,
    /// Unix seconds.
    pub since: u64,
    /// Where its native code came from: `precompiled` (the package),
    /// `cached` (this instance's code cache) or `compiled` (at load).
    pub code: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// None when the files could not even be read.
    pub sha256: Option<String>,
    pub error: String,
    /// Unix seconds.
    pub at: u64,
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
