//! `weft.lock`: the digest each `oci://` tag resolved to, kept beside the
//! config so that every later start runs exactly what was first pulled.
//! `weft pull` refreshes it and says what changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::OciError;

/// The lock file's name, beside the config file.
pub const LOCK_FILE: &str = "weft.lock";

/// The largest lock file read.
const MAX_LOCK: u64 = 1 << 20;

/// What the file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default)]
    components: BTreeMap<String, String>,
}

/// The lock file's entries: canonical reference to manifest digest.
#[derive(Debug, Default)]
pub struct Lock {
    path: Option<PathBuf>,
    entries: BTreeMap<String, String>,
    changed: bool,
}

impl Lock {
    /// The lock beside `config` (none yet is an empty lock), or an empty
    /// lock that is never written when there is no config file.
    pub fn beside(config: Option<&Path>) -> Result<Lock, OciError> {
        let Some(dir) = config.map(|c| c.parent().unwrap_or(Path::new("."))) else {
            return Ok(Lock::default());
        };
        let path = dir.join(LOCK_FILE);
        let entries = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(OciError::Lock {
                    path,
                    why: e.to_string(),
                });
            }
            Ok(m) if m.len() > MAX_LOCK => {
                return Err(OciError::Lock {
                    path,
                    why: "is over 1 MiB".into(),
                });
            }
            Ok(_) => {
                let text = std::fs::read_to_string(&path).map_err(|e| OciError::Lock {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
                let file: LockFile = toml::from_str(&text).map_err(|e| OciError::Lock {
                    path: path.clone(),
                    why: crate::config::oci::cut(e.message(), 300),
                })?;
                for digest in file.components.values() {
                    crate::config::oci::check_digest(digest).map_err(|why| OciError::Lock {
                        path: path.clone(),
                        why,
                    })?;
                }
                file.components
            }
        };
        Ok(Lock {
            path: Some(path),
            entries,
            changed: false,
        })
    }

    /// The digest `reference` (canonical) is locked to.
    pub fn get(&self, reference: &str) -> Option<&str> {
        self.entries.get(reference).map(String::as_str)
    }

    /// Locks `reference` to `digest`; returns the digest it had.
    pub fn set(&mut self, reference: &str, digest: &str) -> Option<String> {
        let old = self
            .entries
            .insert(reference.to_string(), digest.to_string());
        if old.as_deref() != Some(digest) {
            self.changed = true;
        }
        old
    }

    /// Where the lock is kept, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes the lock if an entry changed (atomically: a temporary file
    /// beside it, then a rename).
    pub fn save(&mut self) -> Result<(), OciError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.changed {
            return Ok(());
        }
        let body = toml::to_string(&LockFile {
            components: self.entries.clone(),
        })
        .map_err(|e| OciError::Lock {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let text = format!(
            "# weft.lock: the digest each oci:// component resolved to. weft runs these\n# digests; `weft pull` resolves the tags again and updates this file.\n{body}"
        );
        let tmp = path.with_extension("lock.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| OciError::Lock {
                path: path.clone(),
                why: e.to_string(),
            })?;
        self.changed = false;
        Ok(())
    }
}
