//! Compiled components on local disk, so a restart or a new instance skips
//! Cranelift: the package's precompiled folder (read-only, shipped beside the
//! binary by `make package`) and this host's own cache (each file named after
//! the wasm's sha256 and the engine's compatibility hash).

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
        only_owner_writes("code cache", dir, &metadata)?;
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
    pub fn get(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        match load(engine, &path) {
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

/// The package's precompiled components: `DIGEST.cwasm`, compiled by
/// `mcp-precompile` for a CPU baseline. Shipped with the binary and trusted as
/// it is; a file this host's CPU or engine cannot run is skipped (wasmtime
/// checks the version, settings and CPU features) and the wasm compiled.
pub struct Precompiled {
    dir: PathBuf,
}

impl Precompiled {
    /// Opens the folder `dir`, which no one but its owner (this user or root)
    /// may write to: whatever is in it runs as native code. Refused otherwise.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let metadata =
            std::fs::metadata(dir).with_context(|| format!("the precompiled folder {}", dir.display()))?;
        if !metadata.is_dir() {
            bail!("the precompiled folder {} is not a folder", dir.display());
        }
        only_owner_writes("precompiled folder", dir, &metadata)?;
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
        if metadata.uid() != uid && metadata.uid() != 0 {
            bail!("the precompiled folder {} belongs to another user", dir.display());
        }
        Ok(Self { dir: dir.to_owned() })
    }

    /// The package's compiled form of the wasm with `digest`, if it has one
    /// this host can run.
    pub fn get(&self, engine: &Engine, digest: &Digest) -> Option<Component> {
        let path = self.dir.join(format!("{digest}.cwasm"));
        let metadata = std::fs::symlink_metadata(&path).ok()?;
        if !metadata.is_file() || metadata.permissions().mode() & 0o022 != 0 {
            tracing::warn!(path = %path.display(), "precompiled code skipped: not a file only its owner may write");
            return None;
        }
        match load(engine, &path) {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "precompiled code does not fit this host; compiling");
                None
            }
        }
    }
}

/// Refuses a folder others may write to: what is in it runs as native code.
fn only_owner_writes(what: &str, dir: &Path, metadata: &std::fs::Metadata) -> anyhow::Result<()> {
    let mode = metadata.permissions().mode();
    if mode & 0o022 != 0 {
        bail!(
            "the {what} {} is writable by other users (mode {:o}); use a private folder",
            dir.display(),
            mode & 0o777
        );
    }
    Ok(())
}

/// Loads compiled code; wasmtime refuses code of another version, engine
/// settings or CPU features the host lacks.
#[expect(unsafe_code, reason = "loading compiled code (SAFETY below)")]
fn load(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: the two folders read here hold only native code this host or
    // its package's `mcp-precompile` wrote from the wasm the file name gives
    // the digest of, and no other user may write to them (`open` of each).
    Ok(unsafe { Component::deserialize_file(engine, path) }?)
}
