//! Compiled components on local disk, so a restart or a new instance skips
//! Cranelift: each file is a component precompiled by this host, named after
//! the wasm's sha256 and the engine's compatibility hash.

use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::digest::Digest;

pub struct CodeCache {
    dir: PathBuf,
    /// The engine's compatibility hash: wasmtime version, settings and CPU features.
    engine_key: String,
}

impl CodeCache {
    /// Opens (creating it, private to this user) the folder `dir`. A folder others
    /// may write to is refused: whatever is in it runs as native code.
    pub fn open(dir: &Path, engine: &Engine) -> anyhow::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the code cache {}", dir.display()))?;
        let metadata = std::fs::metadata(dir)?;
        let mode = metadata.permissions().mode();
        if mode & 0o022 != 0 {
            bail!(
                "the code cache {} is writable by other users (mode {:o}); use a private folder",
                dir.display(),
                mode & 0o777
            );
        }
        // A file this process creates is owned by it: the folder must be too.
        let probe = tempfile::tempfile_in(dir)
            .with_context(|| format!("the code cache {} is not writable", dir.display()))?;
        if probe.metadata()?.uid() != metadata.uid() {
            bail!("the code cache {} belongs to another user; use a private folder", dir.display());
        }
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self { dir: dir.to_owned(), engine_key: format!("{:016x}", hasher.finish()) })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The compiled form of the wasm with `digest`, if this host stored one.
    #[expect(unsafe_code, reason = "the workspace's one unsafe call: loading compiled code (SAFETY below)")]
    pub fn get(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: only this host writes the cache folder, which no other user may
        // write to (checked in `open`); each file holds what `Component::serialize`
        // produced for the wasm its name carries the digest of.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "unusable cached code; compiling again");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `component`, compiled from the wasm with `digest`. Written to a
    /// temporary file and renamed, so a reader never sees half a file.
    pub fn put(&self, digest: &Digest, component: &Component) -> anyhow::Result<()> {
        let bytes = component.serialize()?;
        let mut temporary = tempfile::NamedTempFile::new_in(&self.dir)?;
        temporary.write_all(&bytes)?;
        temporary.as_file().sync_all()?;
        temporary.persist(self.path(digest))?;
        Ok(())
    }
}
