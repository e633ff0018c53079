//! An Azure Blob Storage container, polled: one listing per poll, and a
//! conditional download (`If-None-Match`) only for blobs whose ETag changed.
//! The client and its credentials come from `storage.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::TryStreamExt as _;
use object_store::azure::MicrosoftAzure;
use object_store::path::Path as BlobPath;
use object_store::{GetOptions, ObjectStore as _};

use super::{Files, MAX_COMPONENTS, MAX_POLICY_BYTES, MAX_WASM_BYTES, Snapshot, component_name};
use crate::digest::Digest;
use crate::storage;

/// Blobs one listing may return before the rest are ignored.
const MAX_LISTED: usize = 4 * MAX_COMPONENTS;

/// A downloaded blob, hashed once.
#[derive(Clone)]
struct Blob {
    etag: String,
    bytes: Arc<[u8]>,
    digest: Digest,
}

pub struct Container {
    store: MicrosoftAzure,
    description: String,
    /// Blobs downloaded before, by name, with the ETag they had.
    seen: HashMap<String, Blob>,
    /// Every blob's ETag and size, as the last listing gave them.
    listed: HashMap<String, (String, u64)>,
}

/// How long one request to the container may take.
const TIMEOUT: Duration = Duration::from_secs(60);

impl Container {
    /// `https://ACCOUNT.blob.core.windows.net/CONTAINER`, optionally with a SAS
    /// as its query string.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        Ok(Self::new(storage::from_url(url, TIMEOUT)?))
    }

    /// A storage connection string (for development: Azurite, or an account key
    /// or SAS), and the container's name.
    pub fn from_connection_string(text: &str, container: &str) -> anyhow::Result<Self> {
        Ok(Self::new(storage::from_connection_string(text, container, TIMEOUT)?))
    }

    fn new(client: storage::Client) -> Self {
        let storage::Client { store, description } = client;
        Self { store, description, seen: HashMap::new(), listed: HashMap::new() }
    }

    pub fn describe(&self) -> String {
        self.description.clone()
    }

    pub async fn scan(&mut self) -> anyhow::Result<Snapshot> {
        let mut listed = HashMap::new();
        let mut listing = self.store.list(None);
        while let Some(meta) = listing.try_next().await.context("listing the components container")? {
            if listed.len() == MAX_LISTED {
                tracing::warn!(
                    limit = MAX_LISTED,
                    "the components container holds too many blobs; ignoring the rest"
                );
                break;
            }
            listed.insert(meta.location.to_string(), (meta.e_tag.unwrap_or_default(), meta.size));
        }
        let mut names: Vec<String> = listed.keys().filter_map(|blob| component_name(blob, "wasm")).collect();
        names.sort();
        let mut snapshot = Snapshot::new();
        for name in names.into_iter().take(MAX_COMPONENTS) {
            let files = self.files(&name, &listed).await.map_err(|e| format!("{e:#}"));
            snapshot.insert(name, files);
        }
        self.seen.retain(|blob, _| listed.contains_key(blob));
        self.listed = listed;
        Ok(snapshot)
    }

    /// `NAME.toml` as of the last listing, for a component that comes from
    /// elsewhere (a registry).
    pub async fn policy(&mut self, name: &str) -> anyhow::Result<Option<Arc<str>>> {
        let policy_blob = format!("{name}.toml");
        let Some(listing) = self.listed.get(&policy_blob).cloned() else { return Ok(None) };
        let policy = self.blob(&policy_blob, &listing, MAX_POLICY_BYTES).await?;
        let text =
            std::str::from_utf8(&policy.bytes).with_context(|| format!("{policy_blob} is not UTF-8"))?;
        Ok(Some(Arc::from(text)))
    }

    /// `listed`: every blob's ETag and size, as the listing gave them.
    async fn files(&mut self, name: &str, listed: &HashMap<String, (String, u64)>) -> anyhow::Result<Files> {
        let wasm_blob = format!("{name}.wasm");
        let wasm = self.blob(&wasm_blob, &listed[&wasm_blob], MAX_WASM_BYTES).await?;
        let policy_blob = format!("{name}.toml");
        let policy = match listed.get(&policy_blob) {
            None => None,
            Some(listing) => {
                let policy = self.blob(&policy_blob, listing, MAX_POLICY_BYTES).await?;
                let text = std::str::from_utf8(&policy.bytes)
                    .with_context(|| format!("{policy_blob} is not UTF-8"))?;
                Some(Arc::from(text))
            }
        };
        Ok(Files { wasm: wasm.bytes, digest: wasm.digest, policy })
    }

    /// A blob's content: the copy from before if its ETag is unchanged, else
    /// downloaded (conditionally, in case it changed back meanwhile).
    /// A blob listed larger than `limit` is refused without downloading it.
    async fn blob(
        &mut self,
        blob: &str,
        (listed_etag, size): &(String, u64),
        limit: u64,
    ) -> anyhow::Result<Blob> {
        if *size > limit {
            bail!("{blob} is {size} bytes; at most {limit} are accepted");
        }
        let previous = self.seen.get(blob).cloned();
        if let Some(seen) = previous.as_ref().filter(|seen| &seen.etag == listed_etag) {
            return Ok(seen.clone());
        }
        let options = GetOptions {
            if_none_match: previous.as_ref().map(|seen| seen.etag.clone()),
            ..Default::default()
        };
        let got = match self.store.get_opts(&BlobPath::from(blob), options).await {
            Err(object_store::Error::NotModified { .. }) => {
                return Ok(previous.expect("only a conditional request is answered 304"));
            }
            result => result.with_context(|| format!("downloading {blob}"))?,
        };
        if got.meta.size > limit {
            bail!("{blob} is {} bytes; at most {limit} are accepted", got.meta.size);
        }
        let etag = got.meta.e_tag.clone().unwrap_or_default();
        let bytes: Arc<[u8]> =
            got.bytes().await.with_context(|| format!("downloading {blob}"))?.to_vec().into();
        let downloaded = Blob { etag, digest: Digest::of(&bytes), bytes };
        self.seen.insert(blob.to_owned(), downloaded.clone());
        Ok(downloaded)
    }
}
