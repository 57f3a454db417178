//! Cranelift's incremental compilation cache, kept on disk: compiled
//! functions, shared by every component the sandbox compiles.
//!
//! Every Python policy carries the same CPython functions and every
//! JavaScript policy the same StarlingMonkey engine; only their data (the
//! snapshot holding the user's code) differs. With this cache, compiling a
//! second Python or JS component looks most of its functions up instead of
//! compiling them again, so a new policy's first run costs seconds, not
//! tens of seconds.
//!
//! The entries are native code, so they are handled like the component
//! artifacts in [`super::cache`]: in the same private directory, under the
//! same key, each file named by the SHA-256 of cranelift's cache key and
//! tagged with an HMAC over that name and the bytes. A file that fails the
//! check is removed and the function compiled again; a write that fails
//! only costs a compile next time. Nothing here ever fails a compile.

use std::borrow::Cow;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::CacheStore;

use super::cache::{KEY_LEN, Store, TAG_LEN, open_nofollow, write_temp};

/// The subdirectory of the cache directory that holds compiled functions.
pub const FUNCTIONS_DIR: &str = "functions";

/// The largest entry read back: a compiled function is kilobytes; anything
/// this large is not one of ours.
const MAX_ENTRY: u64 = 64 << 20;

/// Compiled functions on disk, looked up by cranelift during compiles.
pub struct FunctionCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for FunctionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("FunctionCache")
            .field("dir", &self.dir)
            .field("hits", &self.hits.load(Ordering::Relaxed))
            .field("misses", &self.misses.load(Ordering::Relaxed))
            .finish()
    }
}

impl FunctionCache {
    /// A cache in `cache_dir`/[`FUNCTIONS_DIR`] (created `0700`), or `None`
    /// when that cannot be made (then every function is compiled).
    pub fn open(cache_dir: &std::path::Path, key: [u8; KEY_LEN]) -> Option<FunctionCache> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = cache_dir.join(FUNCTIONS_DIR);
        let made = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .and_then(|()| std::fs::symlink_metadata(&dir));
        match made {
            Ok(meta) if meta.is_dir() => Some(FunctionCache {
                dir,
                key,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
            Ok(_) => {
                tracing::warn!(dir = %dir.display(), "not a directory; compiled functions are not cached");
                None
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "compiled functions are not cached");
                None
            }
        }
    }

    /// Lookups answered from disk and lookups that compiled, so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn name(key: &[u8]) -> [u8; 32] {
        Sha256::digest(key).into()
    }

    fn mac(&self, name: &[u8; 32], bytes: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"weft function\0");
        mac.update(name);
        mac.update(bytes);
        mac
    }

    fn read(&self, name: &[u8; 32]) -> Option<Vec<u8>> {
        let path = self.dir.join(hex::encode(name));
        let file = open_nofollow(&path).ok()?;
        let mut data = Vec::new();
        if file.take(MAX_ENTRY).read_to_end(&mut data).is_err() {
            return None;
        }
        let authentic = data.len() > TAG_LEN && {
            let (tag, bytes) = data.split_at(TAG_LEN);
            self.mac(name, bytes).verify_slice(tag).is_ok()
        };
        if !authentic {
            tracing::warn!(file = %path.display(), "a cached compiled function failed its integrity check; compiling it again");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        data.drain(..TAG_LEN);
        Some(data)
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.read(&Self::name(key));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let name = Self::name(key);
        let tag: [u8; TAG_LEN] = self.mac(&name, &value).finalize().into_bytes().into();
        match write_temp(&self.dir, &[&tag, &value]) {
            Ok(tmp) => match std::fs::rename(&tmp, self.dir.join(hex::encode(name))) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot store a compiled function");
                    let _ = std::fs::remove_file(&tmp);
                    false
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "cannot store a compiled function");
                false
            }
        }
    }
}

impl Store {
    /// The cache of compiled functions kept in this directory.
    pub fn functions(&self) -> Option<FunctionCache> {
        FunctionCache::open(&self.dir, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &std::path::Path) -> FunctionCache {
        FunctionCache::open(dir, [9u8; KEY_LEN]).expect("cache")
    }

    #[test]
    fn an_entry_comes_back_and_a_missing_one_is_a_miss() {
        let root = tempfile::tempdir().expect("temp dir");
        let c = cache(root.path());
        assert!(c.get(b"k1").is_none());
        assert!(c.insert(b"k1", b"compiled".to_vec()));
        assert_eq!(c.get(b"k1").as_deref(), Some(&b"compiled"[..]));
        assert_eq!(c.counts(), (1, 1));
        // Another process with the same key reads it too.
        assert_eq!(
            cache(root.path()).get(b"k1").as_deref(),
            Some(&b"compiled"[..])
        );
    }

    #[test]
    fn a_changed_entry_or_another_key_is_not_used_and_is_removed() {
        let root = tempfile::tempdir().expect("temp dir");
        let c = cache(root.path());
        assert!(c.insert(b"k", b"native code".to_vec()));
        let path = root
            .path()
            .join(FUNCTIONS_DIR)
            .join(hex::encode(FunctionCache::name(b"k")));
        let mut bytes = std::fs::read(&path).expect("entry");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        assert!(c.get(b"k").is_none(), "a flipped byte is refused");
        assert!(!path.exists(), "and the entry removed");

        assert!(c.insert(b"k", b"native code".to_vec()));
        let other = FunctionCache::open(root.path(), [1u8; KEY_LEN]).expect("cache");
        assert!(
            other.get(b"k").is_none(),
            "an entry under another key is refused"
        );
    }
}
