//! Keeps the served catalog in step with the component source, without a
//! restart: a new or changed component is compiled and checked off the request
//! path, then the whole catalog is replaced in one step. Calls already running
//! hold the catalog they started with and finish on the old version.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::watch;

use crate::auth::Auth;
use crate::catalog::Catalog;
use crate::policy::Policy;
use crate::runtime::{Loaded, Runtime};
use crate::source::{Files, Snapshot, Source};

/// What the operator can query at `/status`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Status {
    pub source: String,
    /// Unix seconds of the last scan that read the source.
    pub last_scan: Option<u64>,
    /// Why the last scan could not read the source, if it could not.
    pub scan_error: Option<String>,
    pub components: BTreeMap<String, ComponentStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    /// The version answering calls, if any.
    pub serving: Option<Version>,
    /// The last version that was refused, and why.
    pub refused: Option<Refusal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub sha256: String,
    pub tools: Vec<String>,
    /// Unix seconds.
    pub since: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub sha256: String,
    pub error: String,
    /// Unix seconds.
    pub at: u64,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

struct Live {
    files: Files,
    loaded: Arc<Loaded>,
    since: u64,
    /// Load order: on a name clash the earlier component keeps the name.
    seq: u64,
}

pub struct Swapper {
    runtime: Arc<Runtime>,
    source: Source,
    /// Reads each catalog's per-tool access rules, when OAuth is on.
    auth: Option<Arc<Auth>>,
    live: BTreeMap<String, Live>,
    /// The last refused version of each component, so it is not retried until it changes.
    refused: BTreeMap<String, (Files, Refusal)>,
    /// Loaded components refused for claiming a name another one offers; each
    /// goes live as soon as the name is free.
    clashing: BTreeMap<String, Live>,
    publish: watch::Sender<Option<Arc<Catalog>>>,
    status: Arc<Mutex<Status>>,
    loads: u64,
}

impl Swapper {
    pub fn new(
        runtime: Arc<Runtime>,
        source: Source,
        auth: Option<Arc<Auth>>,
        publish: watch::Sender<Option<Arc<Catalog>>>,
        status: Arc<Mutex<Status>>,
    ) -> Self {
        status.lock().expect("no panics while locked").source = source.describe();
        Self {
            runtime,
            source,
            auth,
            live: BTreeMap::new(),
            refused: BTreeMap::new(),
            clashing: BTreeMap::new(),
            publish,
            status,
            loads: 0,
        }
    }

    /// Scans the source, and again whenever it may have changed, for as long as the host runs.
    pub async fn run(mut self, interval: Duration) {
        tracing::info!(
            source = self.source.describe(),
            every_ms = interval.as_millis() as u64,
            "watching for components"
        );
        // The folder's components serve at once; the container's follow when it answers.
        if self.source.has_folder_and_container() {
            self.scan_once(false).await;
        }
        loop {
            self.scan_once(true).await;
            self.source.changed(interval).await;
        }
    }

    /// One scan: whatever changed is loaded and, if anything did, a new catalog published.
    async fn scan_once(&mut self, container: bool) {
        let (snapshot, failure) = self.source.scan(container).await;
        if let Some(error) = &failure
            && self.status.lock().expect("no panics while locked").scan_error.as_ref() != Some(error)
        {
            tracing::error!(source = self.source.describe(), %error, "could not read the components; serving what was loaded");
        }
        let (changed, replaced) = self.apply(snapshot).await;
        if changed || self.publish.borrow().is_none() {
            self.publish_catalog(replaced);
        }
        let mut status = self.status.lock().expect("no panics while locked");
        status.last_scan = Some(now());
        status.scan_error = failure;
        status.components = self.component_status();
    }

    /// Loads what is new or changed. Says whether the live components changed,
    /// and gives back the versions that new ones replaced.
    async fn apply(&mut self, snapshot: Snapshot) -> (bool, BTreeMap<String, Live>) {
        let mut changed = false;
        let mut replaced = BTreeMap::new();
        let removed: Vec<String> = self.live.keys().filter(|n| !snapshot.contains_key(*n)).cloned().collect();
        for name in removed {
            self.live.remove(&name);
            tracing::info!(component = name, "component removed; its tools are gone");
            changed = true;
        }
        self.refused.retain(|name, _| snapshot.contains_key(name));
        self.clashing.retain(|name, _| snapshot.contains_key(name));
        for (name, files) in snapshot {
            let files = match files {
                Ok(files) => files,
                Err(error) => {
                    // Unreadable now (half-written, say): keep serving what was loaded.
                    tracing::warn!(component = name, %error, "component could not be read");
                    continue;
                }
            };
            let unchanged = self.live.get(&name).is_some_and(|live| live.files.same_as(&files));
            let known_bad = self.refused.get(&name).is_some_and(|(bad, _)| bad.same_as(&files));
            if self.clashing.get(&name).is_some_and(|waiting| !waiting.files.same_as(&files)) {
                self.clashing.remove(&name);
            }
            if unchanged || known_bad {
                continue;
            }
            let started = Instant::now();
            match self.load(&name, &files).await {
                Ok(loaded) => {
                    tracing::info!(
                        component = name,
                        sha256 = %files.digest,
                        ms = started.elapsed().as_millis() as u64,
                        replaced = self.live.contains_key(&name),
                        "component ready"
                    );
                    self.refused.remove(&name);
                    self.loads += 1;
                    let live = Live { files, loaded: Arc::new(loaded), since: now(), seq: self.loads };
                    if let Some(old) = self.live.insert(name.clone(), live) {
                        replaced.insert(name, old);
                    }
                    changed = true;
                }
                Err(error) => self.refuse(&name, files, format!("{error:#}")),
            }
        }
        (changed, replaced)
    }

    async fn load(&self, name: &str, files: &Files) -> anyhow::Result<Loaded> {
        let policy = match &files.policy {
            Some(text) => Policy::parse(text, |var| std::env::var(var).ok())
                .map_err(|e| anyhow::anyhow!("policy {name}.toml: {e:#}"))?,
            None => {
                tracing::warn!(
                    component = name,
                    "no policy: the component gets no outbound access and no environment"
                );
                Policy::deny_all()
            }
        };
        if let Some(pinned) = policy.sha256
            && pinned != files.digest
        {
            anyhow::bail!("{name}.toml pins sha256 {pinned} but {name}.wasm has sha256 {}", files.digest);
        }
        self.runtime.load(name, files.wasm.clone(), files.digest, policy).await
    }

    fn refuse(&mut self, name: &str, files: Files, error: String) {
        let serving = self.live.get(name).map(|live| live.files.digest);
        tracing::error!(
            component = name,
            sha256 = %files.digest,
            %error,
            still_serving = serving.map(|d| d.to_string()).as_deref().unwrap_or("nothing"),
            "component refused"
        );
        let refusal = Refusal { sha256: files.digest.to_string(), error, at: now() };
        self.refused.insert(name.to_owned(), (files, refusal));
    }

    /// Builds the catalog from the live components and publishes it. Components
    /// go in oldest first, so a newcomer claiming a name another one already
    /// offers is the one refused (a new version falls back to the one it
    /// replaced), and one waiting on a name goes live once the name is free.
    fn publish_catalog(&mut self, mut replaced: BTreeMap<String, Live>) {
        let mut live = std::mem::take(&mut self.live);
        let mut clashing = std::mem::take(&mut self.clashing);
        let names: BTreeSet<String> = live.keys().chain(clashing.keys()).cloned().collect();
        // Per name: the version to try, and the one to keep if it clashes.
        let mut choices: Vec<(String, Live, Option<Live>)> = names
            .into_iter()
            .map(|name| {
                let current = live.remove(&name);
                match clashing.remove(&name) {
                    Some(waiting) => (name, waiting, current),
                    None => {
                        let old = replaced.remove(&name);
                        (name, current.expect("every name is live or waiting"), old)
                    }
                }
            })
            .collect();
        choices.sort_by_key(|(_, preferred, _)| preferred.seq);
        let mut catalog = Catalog::empty();
        for (name, preferred, fallback) in choices {
            match catalog.add(preferred.loaded.clone()) {
                Ok(()) => {
                    self.refused.retain(|n, (files, _)| n != &name || !files.same_as(&preferred.files));
                    self.live.insert(name, preferred);
                }
                Err(error) => {
                    if let Some(old) = fallback
                        && catalog.add(old.loaded.clone()).is_ok()
                    {
                        self.live.insert(name.clone(), old);
                    }
                    if !self.refused.get(&name).is_some_and(|(files, _)| files.same_as(&preferred.files)) {
                        self.refuse(&name, preferred.files.clone(), format!("{error:#}"));
                    }
                    self.clashing.insert(name, preferred);
                }
            }
        }
        let mut catalog = catalog.finish();
        if let Some(auth) = &self.auth {
            auth.apply(&mut catalog);
        }
        let (components, tools) = (catalog.components().len(), catalog.tools.len());
        if self.publish.send_replace(Some(Arc::new(catalog))).is_none() {
            tracing::info!(components, tools, "ready");
        } else {
            tracing::info!(components, tools, "serving a new set of components");
        }
    }

    fn component_status(&self) -> BTreeMap<String, ComponentStatus> {
        let names = self.live.keys().chain(self.refused.keys());
        names
            .map(|name| {
                let serving = self.live.get(name).map(|live| Version {
                    sha256: live.files.digest.to_string(),
                    tools: live.loaded.tools.iter().map(|t| t.name.clone()).collect(),
                    since: live.since,
                });
                let refused = self.refused.get(name).map(|(_, refusal)| refusal.clone());
                (name.clone(), ComponentStatus { serving, refused })
            })
            .collect()
    }
}
