//! Keeps the served catalog in step with the component source, without a
//! restart: a new or changed component is compiled and checked off the request
//! path, then the whole catalog is replaced in one step. Calls already running
//! hold the catalog they started with and finish on the old version.
//!
//! Loads run side by side as tasks, each bounded by its component's time
//! limit, and each one that ends publishes at once: a component that is slow,
//! stalls or panics the loader holds up neither the others nor `/status`.
//!
//! Who owns a name (tool, prompt, resource URI, template) is decided afresh at
//! every publish from the loaded components alone: on a clash the component
//! whose name sorts first keeps it and every other claimant is refused. So a
//! fresh host and one that went through any sequence of swaps agree.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use futures::FutureExt as _;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinError, JoinSet};

use super::catalog::Catalog;
use super::status::{ComponentStatus, Refusal, Status, Version, now};
use super::{Files, Snapshot, Source};
use crate::policy::Policy;
use crate::runtime::{self, Loaded, Runtime, Slots};
use crate::telemetry::metrics;
use crate::untrusted::Untrusted;

struct Live {
    files: Files,
    loaded: Arc<Loaded>,
    since: u64,
}

/// A version that was refused when it loaded.
struct Refused {
    files: Files,
    refusal: Refusal,
    /// Refused for want of capacity only: tried again at every scan.
    retry: bool,
}

/// A load in flight.
struct Pending {
    files: Files,
    task: AbortHandle,
}

/// What every catalog goes through before it is published.
pub type Prepare = Box<dyn Fn(&mut Catalog) + Send + Sync>;

/// What a load task ends with.
type Outcome = (String, Files, anyhow::Result<Loaded>);

pub struct Swapper {
    source: Source,
    state: State,
}

struct State {
    runtime: Arc<Runtime>,
    /// Adjusts each catalog before it is published (the OAuth layer lists
    /// tools' security schemes), so that this module need not know it.
    prepare: Prepare,
    /// The latest version of each component that loaded. It serves unless it
    /// claims a name that a component sorting before it offers.
    loaded: BTreeMap<String, Live>,
    /// Loaded components refused for such a clash, as of the last publish.
    clashing: BTreeMap<String, Refusal>,
    /// The last version of each component refused at load; not tried again
    /// until it changes, unless it was refused for capacity.
    refused: BTreeMap<String, Refused>,
    /// Components whose files could not be read, and why.
    unreadable: BTreeMap<String, Refusal>,
    pending: BTreeMap<String, Pending>,
    loads: JoinSet<Outcome>,
    publish: watch::Sender<Option<Arc<Catalog>>>,
    status: Arc<Mutex<Status>>,
    /// Whether the first scan of every source is done, and whether its loads have all ended.
    scanned: bool,
    ready: bool,
}

impl Swapper {
    pub fn new(
        runtime: Arc<Runtime>,
        source: Source,
        prepare: Prepare,
        publish: watch::Sender<Option<Arc<Catalog>>>,
        status: Arc<Mutex<Status>>,
    ) -> Self {
        status.lock().expect("no panics while locked").source = source.describe();
        let state = State {
            runtime,
            prepare,
            loaded: BTreeMap::new(),
            clashing: BTreeMap::new(),
            refused: BTreeMap::new(),
            unreadable: BTreeMap::new(),
            pending: BTreeMap::new(),
            loads: JoinSet::new(),
            publish,
            status,
            scanned: false,
            ready: false,
        };
        Self { source, state }
    }

    /// Scans the source, and again whenever it may have changed, for as long
    /// as the host runs; loads that end meanwhile are published as they end.
    pub async fn run(self, interval: Duration) {
        let Swapper { mut source, mut state } = self;
        tracing::info!(
            source = source.describe(),
            every_ms = interval.as_millis() as u64,
            "watching for components"
        );
        // The folder's components serve at once; the remote ones follow when they answer.
        if source.has_folder_and_remote() {
            scan(&mut source, &mut state, false).await;
        }
        loop {
            scan(&mut source, &mut state, true).await;
            state.scanned = true;
            state.settle();
            let changed = source.changed(interval);
            tokio::pin!(changed);
            loop {
                tokio::select! {
                    () = &mut changed => break,
                    Some(done) = state.loads.join_next() => state.finished(done),
                }
            }
        }
    }
}

/// One scan: whatever changed starts loading; removals publish at once.
/// Loads that end while the source is read (slowly, perhaps) go live meanwhile.
async fn scan(source: &mut Source, state: &mut State, container: bool) {
    let describe = source.describe();
    let scanning = source.scan(container);
    tokio::pin!(scanning);
    let (snapshot, failure) = loop {
        tokio::select! {
            scanned = &mut scanning => break scanned,
            Some(done) = state.loads.join_next() => state.finished(done),
        }
    };
    state.scanned(snapshot, failure, &describe);
}

impl State {
    fn scanned(&mut self, snapshot: Snapshot, failure: Option<String>, source: &str) {
        if let Some(error) = &failure
            && self.status.lock().expect("no panics while locked").scan_error.as_ref() != Some(error)
        {
            tracing::error!(source, error = %Untrusted(error), "could not read the components; serving what was loaded");
        }
        if self.apply(snapshot) {
            self.publish_catalog();
        }
        let mut status = self.status.lock().expect("no panics while locked");
        status.last_scan = Some(now());
        status.scan_error = failure;
        status.components = self.component_status();
    }

    /// Starts loading what is new or changed, and drops what is gone. Says
    /// whether the live components changed.
    fn apply(&mut self, snapshot: Snapshot) -> bool {
        let removed: Vec<String> =
            self.loaded.keys().filter(|n| !snapshot.contains_key(*n)).cloned().collect();
        for name in &removed {
            self.loaded.remove(name);
            tracing::info!(component = name, "component removed; its tools are gone");
            self.status.lock().expect("no panics while locked").event(name, "removed", None, None);
        }
        self.pending.retain(|name, pending| {
            let keep = snapshot.contains_key(name);
            if !keep {
                pending.task.abort();
            }
            keep
        });
        self.refused.retain(|name, _| snapshot.contains_key(name));
        self.unreadable.retain(|name, _| snapshot.contains_key(name));
        for (name, files) in snapshot {
            let files = match files {
                Ok(files) => {
                    self.unreadable.remove(&name);
                    files
                }
                Err(error) => {
                    // Unreadable now (half-written, too large, ...): keep serving what was loaded.
                    if self.unreadable.get(&name).is_none_or(|seen| seen.error != error) {
                        tracing::warn!(component = name, error = %Untrusted(&error), "component could not be read");
                        self.unreadable.insert(name, Refusal { sha256: None, error, at: now() });
                    }
                    continue;
                }
            };
            if self.loaded.get(&name).is_some_and(|live| live.files.same_as(&files)) {
                // Back to the version that serves: whatever else was tried is moot.
                self.refused.remove(&name);
                if let Some(pending) = self.pending.remove(&name) {
                    pending.task.abort();
                }
                continue;
            }
            let known_bad =
                self.refused.get(&name).is_some_and(|bad| !bad.retry && bad.files.same_as(&files));
            let loading = self.pending.get(&name).is_some_and(|pending| pending.files.same_as(&files));
            if known_bad || loading {
                continue;
            }
            if let Some(superseded) = self.pending.remove(&name) {
                superseded.task.abort();
            }
            self.start_load(name, files);
        }
        !removed.is_empty()
    }

    fn start_load(&mut self, name: String, files: Files) {
        let runtime = self.runtime.clone();
        let slots = self.loaded.get(&name).map(|live| live.loaded.slots());
        let (task_name, task_files) = (name.clone(), files.clone());
        let task = self.loads.spawn(async move {
            // The last line of defence: whatever a component or policy makes
            // the loader do, a panic refuses that one component only.
            let load = AssertUnwindSafe(load(&runtime, &task_name, &task_files, slots)).catch_unwind().await;
            let result = load.unwrap_or_else(|panic| {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(anyhow!("loading the component failed unexpectedly: {text}"))
            });
            (task_name, task_files, result)
        });
        self.pending.insert(name, Pending { files, task });
    }

    /// A load ended: it and any others that ended meanwhile are published.
    fn finished(&mut self, first: Result<Outcome, JoinError>) {
        let mut changed = self.record(first);
        while let Some(done) = self.loads.try_join_next() {
            changed |= self.record(done);
        }
        if changed || self.publish.borrow().is_none() && self.pending.is_empty() {
            self.publish_catalog();
        }
        self.settle();
        self.status.lock().expect("no panics while locked").components = self.component_status();
    }

    /// Takes in one ended load; says whether the live components changed.
    fn record(&mut self, done: Result<Outcome, JoinError>) -> bool {
        let (name, files, result) = match done {
            Ok(outcome) => outcome,
            // Superseded or removed: already dealt with.
            Err(error) if error.is_cancelled() => return false,
            Err(error) => {
                // Panics are caught inside the task; this is what is left.
                let Some(name) =
                    self.pending.iter().find(|(_, p)| p.task.id() == error.id()).map(|(n, _)| n.clone())
                else {
                    return false;
                };
                let pending = self.pending.remove(&name).expect("just found");
                self.refuse(&name, pending.files, format!("loading the component failed: {error}"), false);
                return false;
            }
        };
        if !self.pending.get(&name).is_some_and(|pending| pending.files.same_as(&files)) {
            return false;
        }
        self.pending.remove(&name);
        match result {
            Ok(loaded) => {
                tracing::info!(
                    component = name,
                    sha256 = %files.digest,
                    replaced = self.loaded.contains_key(&name),
                    "component accepted"
                );
                self.refused.remove(&name);
                metrics::swapped(&name);
                let what = if self.loaded.contains_key(&name) { "replaced" } else { "live" };
                let sha256 = Some(files.digest.to_string());
                self.status.lock().expect("no panics while locked").event(&name, what, sha256, None);
                let live = Live { files, loaded: Arc::new(loaded), since: now() };
                self.loaded.insert(name, live);
                true
            }
            Err(error) => {
                let retry = error.downcast_ref::<runtime::Full>().is_some();
                self.refuse(&name, files, format!("{error:#}"), retry);
                false
            }
        }
    }

    /// Once the first scan's loads have all ended, says the host is ready.
    fn settle(&mut self) {
        if self.ready || !self.scanned || !self.pending.is_empty() {
            return;
        }
        if self.publish.borrow().is_none() {
            self.publish_catalog();
        }
        self.ready = true;
        self.status.lock().expect("no panics while locked").ready = true;
        let catalog = self.publish.borrow().clone().expect("published");
        tracing::info!(components = catalog.components().len(), tools = catalog.tools.len(), "ready");
    }

    fn refuse(&mut self, name: &str, files: Files, error: String, retry: bool) {
        let sha256 = Some(files.digest.to_string());
        if let Some(seen) = self.refused.get(name)
            && seen.refusal.sha256 == sha256
            && seen.refusal.error == error
        {
            return;
        }
        let serving = self.loaded.get(name).map(|live| live.files.digest);
        tracing::error!(
            component = name,
            sha256 = %files.digest,
            error = %Untrusted(&error),
            still_serving = serving.map(|d| d.to_string()).as_deref().unwrap_or("nothing"),
            "component refused"
        );
        metrics::version_refused(name);
        let mut status = self.status.lock().expect("no panics while locked");
        status.event(name, "refused", sha256.clone(), Some(error.clone()));
        drop(status);
        let refusal = Refusal { sha256, error, at: now() };
        self.refused.insert(name.to_owned(), Refused { files, refusal, retry });
    }

    /// Builds the catalog from the loaded components, in the order of their
    /// names (so a name clash always goes the same way), and publishes it.
    fn publish_catalog(&mut self) {
        let mut catalog = Catalog::empty();
        let mut clashing = BTreeMap::new();
        for (name, live) in &self.loaded {
            let Err(error) = catalog.add(live.loaded.clone()) else { continue };
            let refusal = Refusal {
                sha256: Some(live.files.digest.to_string()),
                error: format!("{error:#}"),
                at: now(),
            };
            let refusal = match self.clashing.remove(name) {
                Some(seen) if seen.sha256 == refusal.sha256 && seen.error == refusal.error => seen,
                _ => {
                    tracing::error!(component = name, sha256 = %live.files.digest, error = %Untrusted(&refusal.error), "component refused");
                    refusal
                }
            };
            clashing.insert(name.clone(), refusal);
        }
        self.clashing = clashing;
        let mut catalog = catalog.finish();
        (self.prepare)(&mut catalog);
        let (components, tools) = (catalog.components().len(), catalog.tools.len());
        self.publish.send_replace(Some(Arc::new(catalog)));
        tracing::info!(components, tools, "serving a new set of components");
    }

    fn component_status(&self) -> BTreeMap<String, ComponentStatus> {
        let names = self
            .loaded
            .keys()
            .chain(self.refused.keys())
            .chain(self.unreadable.keys())
            .chain(self.pending.keys());
        let names: std::collections::BTreeSet<&String> = names.collect();
        names
            .into_iter()
            .map(|name| {
                let serving =
                    self.loaded.get(name).filter(|_| !self.clashing.contains_key(name)).map(|live| Version {
                        sha256: live.files.digest.to_string(),
                        tools: live.loaded.tools.iter().map(|t| t.name.clone()).collect(),
                        since: live.since,
                        code: live.loaded.code,
                    });
                let refused = self
                    .unreadable
                    .get(name)
                    .or(self.refused.get(name).map(|refused| &refused.refusal))
                    .or(self.clashing.get(name))
                    .cloned();
                let loading = self.pending.get(name).map(|pending| pending.files.digest.to_string());
                (name.clone(), ComponentStatus { serving, refused, loading })
            })
            .collect()
    }
}

/// Reads the component's policy, checks its pin, and loads it.
async fn load(
    runtime: &Arc<Runtime>,
    name: &str,
    files: &Files,
    slots: Option<Arc<Slots>>,
) -> anyhow::Result<Loaded> {
    let policy = match &files.policy {
        Some(text) => Policy::parse(text, |var| std::env::var(var).ok())
            .map_err(|e| anyhow!("policy {name}.toml: {e:#}"))?,
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
    runtime.load(name, files.wasm.clone(), files.digest, policy, slots).await
}
