//! Compiled components, cached on disk and in memory.
//!
//! A component is compiled once; the native artifact is written under the
//! cache directory, keyed by the SHA-256 of the component and the engine's
//! compatibility hash (wasmtime version and engine settings), so a second
//! `weft run` compiles nothing and a changed engine never loads a stale
//! artifact.
//!
//! A precompiled artifact is native code that wasmtime maps and runs as it
//! is, so the cache is treated as hostile storage:
//! - the directory is created `0700`, and one that is not a directory of
//!   this user's, or that others may write, is not used at all (weft then
//!   compiles in memory and says why once);
//! - every artifact carries an HMAC-SHA-256 tag under a key kept in the
//!   directory's `0600` key file, over the engine key, the component's
//!   digest and the bytes, so a flipped byte, a truncated file or an
//!   artifact moved to another name fails the check and is recompiled,
//!   never loaded;
//! - files are opened without following symlinks, and written to a fresh
//!   randomly named temporary file (`O_EXCL`, `0600`) that is then renamed.
// Unsafe here: loading a precompiled artifact (wasmtime marks it unsafe; the
// artifact is authenticated first) and geteuid, which has no preconditions.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Length of an artifact's tag, stored before its bytes.
pub(super) const TAG_LEN: usize = 32;
/// Length of the cache key.
pub(super) const KEY_LEN: usize = 32;
/// The key file's name inside the cache directory.
const KEY_FILE: &str = "artifacts.key";

/// Where compiled artifacts go: `$WEFT_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/weft/components`, else `~/.cache/weft/components`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WEFT_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("weft").join("components"))
}

/// How a component was obtained, for reports and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Already loaded in this process.
    Memory,
    /// Loaded from a precompiled artifact on disk.
    Disk,
    /// Compiled now.
    Compiled,
    /// Not loaded: the run was refused before it started.
    NotRun,
}

/// Why the cache directory is not used.
#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    #[error("cannot create or open it: {0}")]
    Io(#[from] std::io::Error),
    #[error("it is not a directory (a symlink or a file is not used)")]
    NotADirectory,
    #[error("it belongs to uid {owner}, not to this user (uid {me})")]
    NotOwned { owner: u32, me: u32 },
    #[error("others may write to it (mode {mode:o}): run `chmod 700` on it")]
    Writable { mode: u32 },
    #[error("its key file {KEY_FILE} is not a private {KEY_LEN}-byte file of this user's")]
    BadKey,
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// Why a component cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "this is a core WebAssembly module, not a component; build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// wasmtime refused to compile it.
    #[error("not a valid component: {0:#}")]
    Invalid(wasmtime::Error),
    /// wasmtime compiled it but could not load the result.
    #[error("cannot load the compiled component: {0:#}")]
    Unloadable(wasmtime::Error),
}

/// A usable cache directory and its artifact key.
pub struct Store {
    pub(crate) dir: PathBuf,
    pub(super) key: [u8; KEY_LEN],
}

impl Store {
    /// The directory, checked and with its key, or `None` (said once in
    /// the log) when it cannot be used; then nothing is cached on disk.
    pub fn open(dir: Option<PathBuf>) -> Option<Store> {
        let dir = dir?;
        match open_store(&dir) {
            Ok(key) => Some(Store { dir, key }),
            Err(e) => {
                tracing::warn!(
                    dir = %dir.display(),
                    "not using the component cache directory: {e}; components are compiled on every start"
                );
                None
            }
        }
    }
}

/// The on-disk half of the cache; the sandbox keeps loaded components.
pub struct ComponentCache {
    store: Option<Store>,
    engine_key: String,
}

impl ComponentCache {
    pub fn new(engine: &Engine, store: Option<Store>) -> ComponentCache {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        ComponentCache {
            store,
            engine_key: format!("{:016x}", h.finish()),
        }
    }

    /// Loads a component whose SHA-256 is `digest`: from disk, or by
    /// compiling it (and saving the artifact).
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &[u8; 32],
    ) -> Result<(Component, Origin), LoadError> {
        let hex = hex::encode(digest);
        let name = format!("{}-{hex}.cwasm", self.engine_key);
        if let Some(store) = &self.store
            && let Some(c) = self.read_artifact(engine, store, &name, digest)
        {
            return Ok((c, Origin::Disk));
        }
        if is_core_module(wasm) {
            return Err(LoadError::CoreModule);
        }
        let bytes = engine
            .precompile_component(wasm)
            .map_err(LoadError::Invalid)?;
        if let Some(store) = &self.store {
            let tag = self.tag(store, digest, &bytes);
            save(&store.dir, &name, &tag, &bytes);
        }
        // SAFETY: the bytes were produced just now by this engine.
        let c = unsafe { Component::deserialize(engine, &bytes) }.map_err(LoadError::Unloadable)?;
        Ok((c, Origin::Compiled))
    }

    /// The artifact named `name`, if it exists and its tag is right.
    fn read_artifact(
        &self,
        engine: &Engine,
        store: &Store,
        name: &str,
        digest: &[u8; 32],
    ) -> Option<Component> {
        let path = store.dir.join(name);
        let mut file = match open_nofollow(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read a cached artifact; recompiling");
                return None;
            }
        };
        let mut data = Vec::new();
        if let Err(e) = file.read_to_end(&mut data) {
            tracing::warn!(file = %path.display(), error = %e, "cannot read a cached artifact; recompiling");
            return None;
        }
        let authentic = data.len() > TAG_LEN && {
            let (tag, bytes) = data.split_at(TAG_LEN);
            self.mac(store, digest, bytes).verify_slice(tag).is_ok()
        };
        if !authentic {
            tracing::warn!(file = %path.display(), "a cached artifact failed its integrity check (changed, truncated or not written by weft); recompiling");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // SAFETY: the bytes carry a valid HMAC under a key that only this
        // user can read, over this engine's key and this component's digest:
        // they are an artifact this cache wrote with `precompile_component`
        // for an engine with the same compatibility hash, and wasmtime checks
        // the header again.
        match unsafe { Component::deserialize(engine, &data[TAG_LEN..]) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "ignoring an unusable cached artifact");
                None
            }
        }
    }

    fn mac(&self, store: &Store, digest: &[u8; 32], bytes: &[u8]) -> Hmac<Sha256> {
        // `new_from_slice` accepts keys of any length; ours is fixed.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&store.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(self.engine_key.as_bytes());
        mac.update(b"\0");
        mac.update(digest);
        mac.update(bytes);
        mac
    }

    fn tag(&self, store: &Store, digest: &[u8; 32], bytes: &[u8]) -> [u8; TAG_LEN] {
        self.mac(store, digest, bytes)
            .finalize()
            .into_bytes()
            .into()
    }
}

/// Creates (`0700`) or checks the directory, and reads or makes its key.
fn open_store(dir: &Path) -> Result<[u8; KEY_LEN], CacheDirError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(CacheDirError::NotADirectory);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(CacheDirError::NotOwned {
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(CacheDirError::Writable {
            mode: meta.mode() & 0o7777,
        });
    }
    let key_path = dir.join(KEY_FILE);
    if let Some(key) = read_key(&key_path, me)? {
        return Ok(key);
    }
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| CacheDirError::Random(e.to_string()))?;
    // Written whole to a private temporary file, then linked into place: a
    // concurrent weft either wins or reads the winner's complete key.
    let tmp = write_temp(dir, &[&key])?;
    let linked = std::fs::hard_link(&tmp, &key_path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(&key_path, me)?.ok_or(CacheDirError::BadKey)
        }
        Err(e) => Err(e.into()),
    }
}

/// The key, if the file exists; an error if it exists but is not a private
/// key file of this user's.
fn read_key(path: &Path, me: u32) -> Result<Option<[u8; KEY_LEN]>, CacheDirError> {
    let mut file = match open_nofollow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(CacheDirError::BadKey),
    };
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(CacheDirError::BadKey);
    }
    let mut key = [0u8; KEY_LEN];
    let mut rest = Vec::new();
    file.read_exact(&mut key)
        .map_err(|_| CacheDirError::BadKey)?;
    file.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        return Err(CacheDirError::BadKey);
    }
    Ok(Some(key))
}

pub(crate) fn open_nofollow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// A new `0600` file with a random name in `dir`, holding `parts`.
pub(crate) fn write_temp(dir: &Path, parts: &[&[u8]]) -> std::io::Result<PathBuf> {
    let mut suffix = [0u8; 12];
    getrandom::fill(&mut suffix).map_err(|e| std::io::Error::other(e.to_string()))?;
    let name = hex::encode(suffix);
    let path = dir.join(format!(".tmp-{name}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    let written = parts.iter().try_for_each(|p| file.write_all(p));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// Writes atomically (private temporary file + rename) so a crash never
/// leaves a torn artifact; failures only cost a recompile next time.
fn save(dir: &Path, name: &str, tag: &[u8; TAG_LEN], bytes: &[u8]) {
    match write_temp(dir, &[tag, bytes]) {
        Ok(tmp) => {
            if let Err(e) = std::fs::rename(&tmp, dir.join(name)) {
                tracing::debug!(error = %e, "cannot store a compiled component");
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot store a compiled component"),
    }
}

/// A core module starts with the version word 1; a component with a
/// different layer/version word.
fn is_core_module(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && &wasm[0..4] == b"\0asm" && wasm[4..8] == [1, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_directory_is_private_and_gets_one_key() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("a/b");
        let key = open_store(&dir).expect("store");
        let meta = std::fs::metadata(&dir).expect("dir");
        assert_eq!(meta.mode() & 0o777, 0o700);
        let key_meta = std::fs::metadata(dir.join(KEY_FILE)).expect("key");
        assert_eq!(key_meta.mode() & 0o777, 0o600);
        assert_eq!(open_store(&dir).expect("again"), key, "the key is kept");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE)]);
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("c");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = open_store(&dir).unwrap_err();
        assert!(matches!(e, CacheDirError::Writable { mode: 0o777 }), "{e}");
    }

    #[test]
    fn a_symlinked_directory_or_key_is_refused() {
        let root = tempfile::tempdir().expect("temp dir");
        let real = root.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert!(matches!(
            open_store(&link).unwrap_err(),
            CacheDirError::NotADirectory
        ));

        let dir = root.path().join("d");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("mkdir");
        let elsewhere = root.path().join("elsewhere.key");
        std::fs::write(&elsewhere, [7u8; KEY_LEN]).expect("write");
        std::os::unix::fs::symlink(&elsewhere, dir.join(KEY_FILE)).expect("symlink");
        assert!(matches!(
            open_store(&dir).unwrap_err(),
            CacheDirError::BadKey
        ));
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("e");
        open_store(&dir).expect("store");
        let key = dir.join(KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            open_store(&dir).unwrap_err(),
            CacheDirError::BadKey
        ));
    }
}
