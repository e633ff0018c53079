//! A local folder, watched for file events, and polled as well because events
//! are not delivered everywhere (network shares, some container mounts).

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::Watcher as _;
use tokio::sync::Notify;

use super::{Files, MAX_COMPONENTS, MAX_POLICY_BYTES, MAX_WASM_BYTES, Snapshot, component_name};
use crate::digest::Digest;

/// How long to let a burst of file events settle before scanning.
const SETTLE: Duration = Duration::from_millis(100);

/// What identifies a file's content without reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified_ns: i128,
    inode: u64,
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Self {
        let modified_ns = i128::from(metadata.mtime()) * 1_000_000_000 + i128::from(metadata.mtime_nsec());
        Self { len: metadata.len(), modified_ns, inode: metadata.ino() }
    }
}

pub struct Folder {
    dir: PathBuf,
    /// Files read before, so an unchanged file is not read again.
    wasm: HashMap<String, (Stamp, Arc<[u8]>, Digest)>,
    policies: HashMap<String, (Stamp, Arc<str>)>,
    events: Arc<Notify>,
    /// Kept alive for as long as events are wanted.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Folder {
    /// `watch`: also react to file events at once, not only at each poll.
    pub fn open(dir: &Path, watch: bool) -> anyhow::Result<Self> {
        let metadata =
            std::fs::metadata(dir).with_context(|| format!("components folder {}", dir.display()))?;
        anyhow::ensure!(metadata.is_dir(), "{} is not a folder", dir.display());
        let events = Arc::new(Notify::new());
        let watcher = if watch { start_watcher(dir, events.clone()) } else { None };
        Ok(Self {
            dir: dir.to_owned(),
            wasm: HashMap::new(),
            policies: HashMap::new(),
            events,
            _watcher: watcher,
        })
    }

    pub fn describe(&self) -> String {
        format!("folder {}", self.dir.display())
    }

    pub async fn changed(&mut self, interval: Duration) {
        tokio::select! {
            _ = self.events.notified() => tokio::time::sleep(SETTLE).await,
            _ = tokio::time::sleep(interval) => {}
        }
    }

    pub async fn scan(&mut self) -> anyhow::Result<Snapshot> {
        let dir = self.dir.clone();
        let listing = tokio::task::spawn_blocking(move || list(&dir)).await??;
        let mut snapshot = Snapshot::new();
        for (name, (wasm_stamp, policy_stamp)) in listing.into_iter().take(MAX_COMPONENTS) {
            let files = self.read(&name, wasm_stamp, policy_stamp).await;
            snapshot.insert(name, files.map_err(|e| format!("{e:#}")));
        }
        self.wasm.retain(|name, _| snapshot.contains_key(name));
        self.policies.retain(|name, _| snapshot.contains_key(name));
        Ok(snapshot)
    }

    /// `NAME.toml` alone, for a component that comes from elsewhere (a registry).
    pub async fn policy(&self, name: &str) -> anyhow::Result<Option<Arc<str>>> {
        let path = self.dir.join(format!("{name}.toml"));
        match tokio::fs::metadata(&path).await {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
            Ok(metadata) if metadata.len() > MAX_POLICY_BYTES => {
                anyhow::bail!(
                    "{name}.toml is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
                    metadata.len()
                )
            }
            Ok(_) => {}
        }
        let bytes = read_bounded(&path, MAX_POLICY_BYTES).await?;
        let text = String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))?;
        Ok(Some(text.into()))
    }

    async fn read(&mut self, name: &str, wasm: Stamp, policy: Option<Stamp>) -> anyhow::Result<Files> {
        // Too large by their size alone: refused without reading a byte.
        for (file, stamp, limit) in [("wasm", Some(wasm), MAX_WASM_BYTES), ("toml", policy, MAX_POLICY_BYTES)]
        {
            if let Some(stamp) = stamp.filter(|stamp| stamp.len > limit) {
                anyhow::bail!("{name}.{file} is {} bytes; at most {limit} are accepted", stamp.len);
            }
        }
        let (wasm, digest) = match self.wasm.get(name) {
            Some((stamp, bytes, digest)) if *stamp == wasm => (bytes.clone(), *digest),
            _ => {
                let path = self.dir.join(format!("{name}.wasm"));
                let bytes: Arc<[u8]> = read_bounded(&path, MAX_WASM_BYTES).await?.into();
                let digest = Digest::of(&bytes);
                self.wasm.insert(name.into(), (wasm, bytes.clone(), digest));
                (bytes, digest)
            }
        };
        let policy = match policy {
            None => None,
            Some(stamp) => Some(match self.policies.get(name) {
                Some((seen, text)) if *seen == stamp => text.clone(),
                _ => {
                    let path = self.dir.join(format!("{name}.toml"));
                    let bytes = read_bounded(&path, MAX_POLICY_BYTES).await?;
                    let text: Arc<str> = String::from_utf8(bytes)
                        .with_context(|| format!("{} is not UTF-8", path.display()))?
                        .into();
                    self.policies.insert(name.into(), (stamp, text.clone()));
                    text
                }
            }),
        };
        Ok(Files { wasm, digest, policy })
    }
}

/// Every `NAME.wasm` in `dir`, with the stamps of it and of its `NAME.toml`.
fn list(dir: &Path) -> anyhow::Result<BTreeMap<String, (Stamp, Option<Stamp>)>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().and_then(|f| component_name(f, "wasm")) else {
            continue;
        };
        // Follows symlinks: a folder of links to built components is common in development.
        let Ok(metadata) = std::fs::metadata(entry.path()) else { continue };
        if !metadata.is_file() {
            continue;
        }
        let policy = std::fs::metadata(dir.join(format!("{name}.toml"))).ok().map(|m| Stamp::of(&m));
        found.insert(name, (Stamp::of(&metadata), policy));
    }
    Ok(found)
}

async fn read_bounded(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(bytes.len() as u64 <= limit, "{} is larger than {limit} bytes", path.display());
    Ok(bytes)
}

/// File events for `dir`, or `None` (polling only) where they are not available.
fn start_watcher(dir: &Path, events: Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            events.notify_one();
        }
    };
    let started = notify::recommended_watcher(handler)
        .and_then(|mut watcher| watcher.watch(dir, notify::RecursiveMode::NonRecursive).map(|()| watcher));
    match started {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "no file events here; polling only");
            None
        }
    }
}
