//! Task records in the shared state (`tasks/ID.json`), changed only by
//! conditional writes: two instances changing one task at once never lose
//! either change, the second re-reads and tries again.

use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::TryStreamExt as _;
use object_store::path::Path;
use object_store::{PutMode, PutOptions, PutPayload, UpdateVersion};

use super::record::Record;
use crate::storage::Shared;

/// Largest record read back: a result is bounded by its component's
/// `max_result_bytes` (at most 256 MiB), the arguments by the body limit.
const MAX_RECORD_BYTES: u64 = 300 << 20;
/// Conflicting writers a change gives way to before it fails.
const MAX_CONFLICTS: u32 = 16;

pub struct Store {
    shared: Shared,
}

/// What a change to a record decided.
pub enum Change<T> {
    /// Write the record and return this.
    Write(T),
    /// Leave it as it is and return this.
    Keep(T),
}

fn path(id: &str) -> Path {
    Path::from(format!("tasks/{id}.json"))
}

impl Store {
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }

    /// Writes a new record; it is readable from every instance once this returns.
    pub async fn create(&self, record: &Record) -> anyhow::Result<()> {
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        let bytes = serde_json::to_vec(record)?;
        self.shared.store.put_opts(&path(&record.id), PutPayload::from(bytes), options).await?;
        Ok(())
    }

    pub async fn read(&self, id: &str) -> anyhow::Result<Option<(Record, UpdateVersion)>> {
        let got = match self.shared.store.get(&path(id)).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            got => got.context("reading a task")?,
        };
        if got.meta.size > MAX_RECORD_BYTES {
            bail!("task record {id} is {} bytes", got.meta.size);
        }
        let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
        let bytes = got.bytes().await.context("reading a task")?;
        let record = serde_json::from_slice(&bytes).context("a task record that does not parse")?;
        Ok(Some((record, version)))
    }

    /// Reads the record, lets `change` decide, and writes it back if asked to,
    /// unless another writer came first: then it starts over. `None` when
    /// there is no such record.
    pub async fn change<T>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Record) -> Change<T>,
    ) -> anyhow::Result<Option<(Record, T)>> {
        for attempt in 0..MAX_CONFLICTS {
            let Some((mut record, version)) = self.read(id).await? else { return Ok(None) };
            let decided = match change(&mut record) {
                Change::Keep(value) => return Ok(Some((record, value))),
                Change::Write(value) => value,
            };
            let options = PutOptions { mode: PutMode::Update(version), ..Default::default() };
            let bytes = serde_json::to_vec(&record)?;
            match self.shared.store.put_opts(&path(id), PutPayload::from(bytes), options).await {
                Ok(_) => return Ok(Some((record, decided))),
                Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                    // Another instance wrote first: give it a moment, then re-read.
                    tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
                }
                Err(error) => return Err(error).context("writing a task"),
            }
        }
        bail!("task {id} kept changing under {MAX_CONFLICTS} attempts to update it")
    }

    pub async fn delete(&self, id: &str) {
        if let Err(error) = self.shared.store.delete(&path(id)).await
            && !matches!(error, object_store::Error::NotFound { .. })
        {
            tracing::warn!(task = id, %error, "could not delete an expired task");
        }
    }

    /// The ids of records last written before `before` (epoch ms), at most `limit`.
    pub async fn older_than(&self, before: u64, limit: usize) -> anyhow::Result<Vec<String>> {
        let mut old = Vec::new();
        let mut listing = self.shared.store.list(Some(&Path::from("tasks")));
        while let Some(meta) = listing.try_next().await.context("listing tasks")? {
            let written = u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0);
            let id = meta.location.filename().and_then(|name| name.strip_suffix(".json"));
            if let Some(id) = id.filter(|_| written < before) {
                old.push(id.to_owned());
                if old.len() == limit {
                    break;
                }
            }
        }
        Ok(old)
    }
}
