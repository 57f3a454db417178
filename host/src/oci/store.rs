//! Pulled manifests and components, kept on disk by digest in weft's cache
//! directory (`oci/sha256/HEX`), so a pinned component starts with no
//! registry at all.
//!
//! The cache is hostile storage, as the compile cache is: the directory is
//! the compile cache's own (created `0700`, refused if others may write
//! it), files are written privately and renamed into place, opened without
//! following symlinks, and every read hashes the bytes again. A file whose
//! SHA-256 is not its name is removed and never used.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::sandbox::cache::{Store, open_nofollow, write_temp};

/// The subdirectory of the cache directory that holds OCI content.
const OCI_DIR: &str = "oci/sha256";

/// Content by digest, on disk.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

/// `sha256:HEX` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Blobs {
    /// The store under the component cache directory `dir` (checked as
    /// the compile cache checks it), or `None` when there is none to use.
    pub fn open(dir: Option<PathBuf>) -> Option<Blobs> {
        let store = Store::open(dir)?;
        let dir = store.dir.join(OCI_DIR);
        if let Err(e) = create_private(&dir) {
            tracing::warn!(dir = %dir.display(), "cannot keep pulled components: {e}");
            return None;
        }
        Some(Blobs { dir })
    }

    /// Where the content of `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join(hex)
    }

    /// The bytes of `digest`, if they are here and hash to it; a file
    /// that does not is removed. `max` bounds what is read.
    pub fn get(&self, digest: &str, max: u64) -> Option<Vec<u8>> {
        let path = self.path(digest);
        let file = open_nofollow(&path).ok()?;
        let mut bytes = Vec::new();
        if file.take(max + 1).read_to_end(&mut bytes).is_err() || bytes.len() as u64 > max {
            return None;
        }
        if sha256(&bytes) != digest {
            tracing::warn!(path = %path.display(), "a cached OCI blob does not match its digest; removed");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(bytes)
    }

    /// Stores `bytes` as `digest` (which the caller has checked) and
    /// returns the file's path.
    pub fn put(&self, digest: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let tmp = write_temp(&self.dir, &[bytes])?;
        let path = self.path(digest);
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(path)
    }
}

impl Blobs {
    /// Notes that `digest`'s signatures are in the artifact `signatures`
    /// (itself cached): a hint only, everything it leads to is checked.
    pub fn note(&self, digest: &str, signatures: &str) -> std::io::Result<()> {
        let tmp = write_temp(&self.dir, &[signatures.as_bytes()])?;
        let path = self.path(digest).with_extension("sig");
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// The signature artifact noted for `digest`.
    pub fn noted(&self, digest: &str) -> Option<String> {
        let mut text = String::new();
        open_nofollow(&self.path(digest).with_extension("sig"))
            .ok()?
            .take(100)
            .read_to_string(&mut text)
            .ok()?;
        crate::config::oci::check_digest(&text).ok()?;
        Some(text)
    }
}

/// Creates `dir` and its parents `0700`.
fn create_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
