//! Where tool components come from: a local folder, an Azure Blob Storage
//! container, OCI registries. The first two hold `NAME.wasm` and, beside it,
//! its policy `NAME.toml`; a registry holds the wasm only, and its policy
//! comes from the folder or the container. A source only reads; `swap`
//! decides what goes live.

mod acr;
mod blob;
mod catalog;
pub mod cosign;
mod folder;
pub mod oci;
mod page;
pub mod publish;
mod status;
mod swap;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use blob::Container;
pub use catalog::Catalog;
pub use folder::Folder;
pub use oci::Registries;
pub use page::{Pool, content_security_policy, render as status_page};
pub use status::{Status, now};
pub use swap::{Prepare, Swapper};

use crate::digest::Digest;

/// Largest component accepted.
pub const MAX_WASM_BYTES: u64 = 64 << 20;
/// Largest policy file accepted.
pub const MAX_POLICY_BYTES: u64 = 64 << 10;
/// Most components one source may hold; more are left out and reported.
pub const MAX_COMPONENTS: usize = 256;

/// One component as its source holds it now.
#[derive(Clone)]
pub struct Files {
    pub wasm: Arc<[u8]>,
    pub digest: Digest,
    /// The text of `NAME.toml`, if there is one.
    pub policy: Option<Arc<str>>,
}

impl Files {
    /// Equal when both the wasm and the policy are the same.
    pub fn same_as(&self, other: &Files) -> bool {
        self.digest == other.digest && self.policy == other.policy
    }
}

/// Every component in a source by name; one that could not be read carries why.
pub type Snapshot = BTreeMap<String, Result<Files, String>>;

/// A component name, from a file or blob name: letters, digits, `-` and `_`.
fn component_name(file: &str, extension: &str) -> Option<String> {
    let name = file.strip_suffix(extension)?.strip_suffix('.')?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| name.to_owned())
}

/// The components to serve: those of a folder (for example the ones shipped
/// with the app), overlaid by those of a blob container (those published
/// since), overlaid by those of OCI references: where several have a
/// component of the same name, the later wins.
pub struct Source {
    folder: Option<Folder>,
    container: Option<Container>,
    registries: Option<Registries>,
    /// What each source held when it was last read.
    folder_seen: Snapshot,
    container_seen: Snapshot,
    /// How often the registries are polled (their back-off starts there).
    interval: Duration,
}

impl Source {
    pub fn new(
        folder: Option<Folder>,
        container: Option<Container>,
        registries: Option<Registries>,
        interval: Duration,
    ) -> Self {
        Self {
            folder,
            container,
            registries,
            folder_seen: Snapshot::new(),
            container_seen: Snapshot::new(),
            interval,
        }
    }

    /// Whether there is a folder, to serve at once, and a remote source to wait for.
    pub fn has_folder_and_remote(&self) -> bool {
        self.folder.is_some() && (self.container.is_some() || self.registries.is_some())
    }

    /// What every component is now, as far as the sources could be read (the
    /// remote ones, container and registries, only if `remote`); a source that
    /// could not be read counts as unchanged, and why is returned beside.
    pub async fn scan(&mut self, remote: bool) -> (Snapshot, Option<String>) {
        // The client's errors embed their sources already: context and root cause say it all.
        let describe = |error: anyhow::Error| format!("{error}: {}", error.root_cause());
        let mut failure = None;
        if let Some(folder) = &mut self.folder {
            match folder.scan().await {
                Ok(snapshot) => self.folder_seen = snapshot,
                Err(error) => failure = Some(describe(error)),
            }
        }
        if let Some(source) = self.container.as_mut().filter(|_| remote) {
            match source.scan().await {
                Ok(snapshot) => self.container_seen = snapshot,
                Err(error) => failure = Some(describe(error)),
            }
        }
        let mut snapshot = self.folder_seen.clone();
        snapshot.extend(self.container_seen.clone());
        if let Some(registries) = self.registries.as_mut().filter(|_| remote) {
            let (found, outage) = registries.scan(self.interval).await;
            failure = [failure, outage].into_iter().flatten().reduce(|a, b| format!("{a}; {b}"));
            for (name, pulled) in found {
                let files = match pulled {
                    Ok(pulled) => self.policy(&name).await.map(|policy| Files {
                        wasm: pulled.wasm,
                        digest: pulled.digest,
                        policy,
                    }),
                    Err(why) => Err(why),
                };
                snapshot.insert(name, files);
            }
        }
        (snapshot, failure)
    }

    /// The operator's policy for a registry's component: `NAME.toml` from the
    /// container, else from the folder, never from the registry.
    async fn policy(&mut self, name: &str) -> Result<Option<Arc<str>>, String> {
        let describe = |error: anyhow::Error| format!("{error:#}");
        if let Some(container) = &mut self.container
            && let Some(policy) = container.policy(name).await.map_err(describe)?
        {
            return Ok(Some(policy));
        }
        match &self.folder {
            Some(folder) => folder.policy(name).await.map_err(describe),
            None => Ok(None),
        }
    }

    /// Waits until a source may have changed: a file event, or the poll interval.
    pub async fn changed(&mut self, interval: Duration) {
        match &mut self.folder {
            Some(folder) => folder.changed(interval).await,
            None => tokio::time::sleep(interval).await,
        }
    }

    pub fn describe(&self) -> String {
        let folder = self.folder.as_ref().map(Folder::describe);
        let container = self.container.as_ref().map(Container::describe);
        let registries = self.registries.as_ref().map(Registries::describe);
        folder.into_iter().chain(container).chain(registries).collect::<Vec<_>>().join(", overlaid by ")
    }
}

#[cfg(test)]
mod tests {
    use super::component_name;

    #[test]
    fn names() {
        assert_eq!(component_name("weather.wasm", "wasm").as_deref(), Some("weather"));
        assert_eq!(component_name("my_tool-2.toml", "toml").as_deref(), Some("my_tool-2"));
        for bad in [".wasm", "a b.wasm", "../x.wasm", "dir/x.wasm", "x.wasm.tmp", "x.toml"] {
            assert_eq!(component_name(bad, "wasm"), None, "{bad}");
        }
    }
}
