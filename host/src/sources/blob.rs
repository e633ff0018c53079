//! An Azure Blob Storage container, polled: one listing per poll, and a
//! conditional download (`If-None-Match`) only for blobs whose ETag changed.
//!
//! Credentials, in order: a SAS in the container URL or connection string, an
//! account key in the connection string, else whatever `AZURE_*` variables and
//! the Functions identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`,
//! `AZURE_CLIENT_ID` for a user-assigned identity) provide.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::TryStreamExt as _;
use object_store::azure::{AzureConfigKey, MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::path::Path as BlobPath;
use object_store::{ClientOptions, GetOptions, ObjectStore as _, RetryConfig};

use super::{Files, MAX_COMPONENTS, MAX_POLICY_BYTES, MAX_WASM_BYTES, Snapshot, component_name};
use crate::digest::Digest;

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

impl Container {
    /// `https://ACCOUNT.blob.core.windows.net/CONTAINER`, optionally with a SAS
    /// as its query string.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let (base, sas) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
        let mut builder = MicrosoftAzureBuilder::from_env().with_url(base);
        if let Some(sas) = sas {
            builder = builder.with_config(AzureConfigKey::SasKey, sas);
        }
        // The description never carries the SAS: it is logged.
        Self::build(builder, false, format!("blob container {base}"))
    }

    /// A storage connection string (for development: Azurite, or an account key
    /// or SAS), and the container's name.
    pub fn from_connection_string(text: &str, container: &str) -> anyhow::Result<Self> {
        let mut fields = HashMap::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                bail!("the connection string has a part without '=' (expected Key=Value;...)");
            };
            fields.insert(key.to_ascii_lowercase(), value.to_owned());
        }
        let mut builder = MicrosoftAzureBuilder::new().with_container_name(container);
        if fields.get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            builder = builder.with_use_emulator(true);
        } else {
            let Some(account) = fields.get("accountname") else {
                bail!("the connection string has no AccountName");
            };
            builder = builder.with_account(account);
        }
        if let Some(endpoint) = fields.get("blobendpoint") {
            builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_owned());
        }
        let plain_http = fields.get("blobendpoint").is_some_and(|e| e.starts_with("http://"));
        if let Some(key) = fields.get("accountkey") {
            builder = builder.with_access_key(key);
        }
        if let Some(sas) = fields.get("sharedaccesssignature") {
            builder = builder.with_config(AzureConfigKey::SasKey, sas.trim_start_matches('?'));
        }
        let endpoint = fields.get("blobendpoint").map_or("the account's endpoint", String::as_str);
        Self::build(builder, plain_http, format!("blob container {container} at {endpoint}"))
    }

    /// `plain_http`: allow an `http://` endpoint (Azurite on loopback).
    fn build(builder: MicrosoftAzureBuilder, plain_http: bool, description: String) -> anyhow::Result<Self> {
        let retry =
            RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(20), ..Default::default() };
        let options = ClientOptions::new()
            .with_allow_http(plain_http)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        let store = builder
            .with_retry(retry)
            .with_client_options(options)
            .build()
            .context("configuring the components container")?;
        Ok(Self { store, description, seen: HashMap::new(), listed: HashMap::new() })
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
