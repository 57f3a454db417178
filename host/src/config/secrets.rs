//! Secrets and references: `${env:NAME}` and `${secret:NAME}` inside a
//! server's `env` and `headers`.
//!
//! Secrets live in their own TOML file of `NAME = "value"` lines, which must
//! not be readable by group or others (mode 0600), so that the main config
//! can be shared and committed. The store is opened only when some reference
//! needs it, and a value is substituted only into the server that names it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why the secrets file cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretsFileError {
    /// A `${secret:..}` reference, and no secrets file to look in.
    #[error(
        "a ${{secret:..}} reference needs a secrets file; set `secrets = \"FILE\"` under [settings] or the WEFT_SECRETS variable"
    )]
    NotConfigured,
    /// The file's metadata cannot be read: most often, it is not there.
    #[error("cannot open the secrets file {}: {source}{}", .path.display(), open_hint(.source))]
    Open {
        /// The secrets file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Group or others may read it (`mode` is its permission bits).
    #[error(
        "the secrets file {} has mode {mode:04o}, so others can read it; run `chmod 600 {}`",
        .path.display(),
        .path.display()
    )]
    Readable {
        /// The secrets file.
        path: PathBuf,
        /// Its permission bits (`0o644`).
        mode: u32,
    },
    /// The file is there but its text cannot be read.
    #[error("cannot read the secrets file {}: {source}", .path.display())]
    Read {
        /// The secrets file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not a table of strings (and tenants' tables); `why` says what is not.
    #[error(
        "the secrets file {} is not a TOML table of NAME = \"value\" lines (and [tenants.NAME] tables): {why}",
        .path.display()
    )]
    Malformed {
        /// The secrets file.
        path: PathBuf,
        /// What is wrong, in the TOML reader's or weft's words.
        why: String,
    },
    /// A store made from values, saved.
    #[error("this secret store has no file")]
    NoFile,
    /// The store cannot be turned into TOML to be saved.
    #[error("{0}")]
    Serialize(toml::ser::Error),
    /// The file cannot be written.
    #[error("cannot write the secrets file {}: {source}", .path.display())]
    Write {
        /// The secrets file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// What to do about a secrets file that is not there.
fn open_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::NotFound {
        "; add a secret with `weft secrets set NAME`, or name the file with `secrets = \"FILE\"` under [settings] or WEFT_SECRETS"
    } else {
        ""
    }
}

/// Why a `${...}` reference cannot be resolved. No variant holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// `shape` is the reference's start, never the value around it.
    #[error("unclosed reference in {shape:?}: add the closing '}}'")]
    Unclosed {
        /// `…` and at most 24 characters from the text's first `${` on.
        shape: String,
    },
    /// `${env:NAME}` names a variable that is not set, and gives no
    /// `:-DEFAULT`.
    #[error(
        "${{env:{name}}} refers to the environment variable {name}, which is not set; set it, or write ${{env:{name}:-DEFAULT}}"
    )]
    EnvUnset {
        /// The variable's name.
        name: String,
    },
    /// `${secret:NAME}` with no secrets file configured.
    #[error(
        "${{secret:{name}}} needs a secrets file; set `secrets = \"FILE\"` under [settings] or WEFT_SECRETS"
    )]
    NoSecretsFile {
        /// The secret's name.
        name: String,
    },
    /// `file` is the secrets file the secret is not in.
    #[error("${{secret:{name}}}: no secret named {name} in {file}")]
    NoSuchSecret {
        /// The secret's name.
        name: String,
        /// The secrets file's path, or "the secret store" when it has none.
        file: String,
    },
    /// A `${...}` that is neither `${env:NAME}` nor `${secret:NAME}`.
    #[error(
        "${{{reference}}} is not a reference weft knows; use ${{env:NAME}} or ${{secret:NAME}}"
    )]
    Unknown {
        /// The text between `${` and `}`.
        reference: String,
    },
}

/// The secrets of one secrets file. Its `Debug` never shows values.
///
/// The file holds `NAME = "value"` lines (shared secrets) and, for servers
/// run once per tenant, `[tenants.TENANT]` tables whose values win over the
/// shared ones for that tenant's process.
#[derive(Default, Clone)]
pub struct SecretStore {
    path: Option<PathBuf>,
    values: BTreeMap<String, String>,
    tenants: BTreeMap<String, BTreeMap<String, String>>,
    /// The tenant whose values [`SecretStore::get`] prefers.
    scope: Option<String>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("path", &self.path)
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .field("tenants", &self.tenants.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretStore {
    /// Opens a secrets file, refusing one that others can read.
    pub fn open(path: &Path) -> Result<SecretStore, SecretsFileError> {
        let meta = std::fs::metadata(path).map_err(|source| SecretsFileError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretsFileError::Readable {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let text = std::fs::read_to_string(path).map_err(|source| SecretsFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |why: String| SecretsFileError::Malformed {
            path: path.to_path_buf(),
            why,
        };
        let table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
        let mut store = SecretStore {
            path: Some(path.to_path_buf()),
            ..SecretStore::default()
        };
        for (name, value) in table {
            match (name.as_str(), value) {
                (_, toml::Value::String(v)) => {
                    store.values.insert(name, v);
                }
                ("tenants", toml::Value::Table(t)) => {
                    for (tenant, entries) in t {
                        let entries: BTreeMap<String, String> =
                            entries.try_into().map_err(|e: toml::de::Error| {
                                bad(format!("tenants.{tenant}: {}", e.message()))
                            })?;
                        store.tenants.insert(tenant, entries);
                    }
                }
                (_, _) => return Err(bad(format!("{name} is not a string"))),
            }
        }
        Ok(store)
    }

    /// Opens the file if it exists, or starts an empty store for it.
    pub fn open_or_new(path: &Path) -> Result<SecretStore, SecretsFileError> {
        if path.exists() {
            Self::open(path)
        } else {
            Ok(SecretStore {
                path: Some(path.to_path_buf()),
                ..SecretStore::default()
            })
        }
    }

    /// A store holding the given values (for embedding and tests).
    pub fn from_values(values: BTreeMap<String, String>) -> SecretStore {
        SecretStore {
            values,
            ..SecretStore::default()
        }
    }

    /// The same store, resolving a tenant's own values first.
    pub fn scoped(&self, tenant: Option<&str>) -> SecretStore {
        SecretStore {
            scope: tenant.map(str::to_owned),
            ..self.clone()
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.scope
            .as_ref()
            .and_then(|t| self.tenants.get(t))
            .and_then(|m| m.get(name))
            .or_else(|| self.values.get(name))
            .map(String::as_str)
    }

    /// Every value in the store, for redaction.
    pub fn all_values(&self) -> Vec<String> {
        self.values
            .values()
            .chain(self.tenants.values().flat_map(|m| m.values()))
            .cloned()
            .collect()
    }

    /// The shared values (masked in every output) and the tenants' own
    /// values, `(tenant, value)`, for redaction.
    pub fn values_by_owner(&self) -> (Vec<String>, Vec<(String, String)>) {
        let shared = self.values.values().cloned().collect();
        let owned = self
            .tenants
            .iter()
            .flat_map(|(t, m)| m.values().map(move |v| (t.clone(), v.clone())))
            .collect();
        (shared, owned)
    }

    /// Names, with the tenant for tenant-scoped ones: `(tenant, name)`.
    pub fn names(&self) -> Vec<(Option<String>, String)> {
        let shared = self.values.keys().map(|n| (None, n.clone()));
        let scoped = self
            .tenants
            .iter()
            .flat_map(|(t, m)| m.keys().map(move |n| (Some(t.clone()), n.clone())));
        shared.chain(scoped).collect()
    }

    /// Sets a value, shared or for one tenant.
    pub fn set(&mut self, tenant: Option<&str>, name: &str, value: String) {
        match tenant {
            Some(t) => {
                self.tenants
                    .entry(t.to_string())
                    .or_default()
                    .insert(name.to_string(), value);
            }
            None => {
                self.values.insert(name.to_string(), value);
            }
        }
    }

    /// The value stored under exactly this tenant (or the shared values for
    /// `None`), with no fallback from a tenant to the shared values.
    pub fn get_exact(&self, tenant: Option<&str>, name: &str) -> Option<&str> {
        match tenant {
            Some(t) => self.tenants.get(t).and_then(|m| m.get(name)),
            None => self.values.get(name),
        }
        .map(String::as_str)
    }

    /// Removes a value; false if there was none.
    pub fn remove(&mut self, tenant: Option<&str>, name: &str) -> bool {
        match tenant {
            Some(t) => {
                let removed = self
                    .tenants
                    .get_mut(t)
                    .is_some_and(|m| m.remove(name).is_some());
                if self.tenants.get(t).is_some_and(BTreeMap::is_empty) {
                    self.tenants.remove(t);
                }
                removed
            }
            None => self.values.remove(name).is_some(),
        }
    }

    /// Writes the store back to its file, created with mode 0600 and
    /// replaced atomically, so no reader sees a half-written file.
    pub fn save(&self) -> Result<(), SecretsFileError> {
        let path = self.path.as_ref().ok_or(SecretsFileError::NoFile)?;
        let mut table = toml::Table::new();
        for (k, v) in &self.values {
            table.insert(k.clone(), toml::Value::String(v.clone()));
        }
        if !self.tenants.is_empty() {
            let mut tenants = toml::Table::new();
            for (t, m) in &self.tenants {
                let inner: toml::Table = m
                    .iter()
                    .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                    .collect();
                tenants.insert(t.clone(), toml::Value::Table(inner));
            }
            table.insert("tenants".into(), toml::Value::Table(tenants));
        }
        let text = format!(
            "# weft secrets: managed by `weft secrets`; keep this file at mode 0600.\n{}",
            toml::to_string(&table).map_err(SecretsFileError::Serialize)?
        );
        crate::util::write_private(path, text.as_bytes()).map_err(|source| {
            SecretsFileError::Write {
                path: path.clone(),
                source,
            }
        })
    }
}

/// True if the text contains a `${secret:...}` reference.
pub(crate) fn mentions_secret(text: &str) -> bool {
    text.contains("${secret:")
}

/// Substitutes every `${env:NAME}` and `${secret:NAME}` in `text`.
/// `secrets` is `None` when no secrets file is configured.
/// Each reference it substitutes is noted in `noted` as `(REFERENCE,
/// value)` (`env:NAME` or `secret:NAME`), so the values can be redacted.
pub(crate) fn resolve_noting(
    text: &str,
    secrets: Option<&SecretStore>,
    noted: &mut Vec<(String, String)>,
) -> Result<String, ReferenceError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| ReferenceError::Unclosed {
            shape: redact_hint(text),
        })?;
        let reference = &after[..end];
        let value = match reference.split_once(':') {
            Some(("env", spec)) if !spec.is_empty() => {
                // `${env:NAME:-fallback}` gives a value for an unset variable.
                let (name, fallback) = match spec.split_once(":-") {
                    Some((n, f)) => (n, Some(f)),
                    None => (spec, None),
                };
                match (std::env::var(name), fallback) {
                    (Ok(v), None) => v,
                    (Ok(v), Some(_)) if !v.is_empty() => v,
                    (_, Some(f)) => f.to_string(),
                    (Err(_), None) => {
                        return Err(ReferenceError::EnvUnset { name: name.into() });
                    }
                }
            }
            Some(("secret", name)) if !name.is_empty() => {
                let store =
                    secrets.ok_or_else(|| ReferenceError::NoSecretsFile { name: name.into() })?;
                store.get(name).map(str::to_owned).ok_or_else(|| {
                    let file = store
                        .path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the secret store".into());
                    ReferenceError::NoSuchSecret {
                        name: name.into(),
                        file,
                    }
                })?
            }
            _ => {
                return Err(ReferenceError::Unknown {
                    reference: reference.into(),
                });
            }
        };
        out.push_str(&value);
        noted.push((reference.to_string(), value));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Shows only the shape of a value in an error, never the value itself.
fn redact_hint(text: &str) -> String {
    match text.find("${") {
        Some(i) => format!("…{}", &text[i..].chars().take(24).collect::<String>()),
        None => "…".into(),
    }
}

/// Opens the secrets file lazily: the first server that references a secret
/// opens it, later ones reuse it.
pub(crate) struct LazySecrets {
    path: Option<PathBuf>,
    store: Option<SecretStore>,
}

impl LazySecrets {
    /// What output must never show: every value of the store (if it was
    /// opened) and every server's credentials; shared values first, then
    /// those of one tenant.
    pub(crate) fn redacted_values(&self, servers: &[super::ServerConfig]) -> super::SecretValues {
        let (mut shared, mut owned) = self
            .store
            .as_ref()
            .map(SecretStore::values_by_owner)
            .unwrap_or_default();
        for s in servers {
            shared.extend(s.credentials.shared.iter().cloned());
            owned.extend(s.credentials.owned.iter().cloned());
        }
        shared.sort();
        shared.dedup();
        owned.sort();
        owned.dedup();
        super::SecretValues(shared, owned)
    }

    /// The path the store is (or would be) read from.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl LazySecrets {
    pub(crate) fn new(path: Option<PathBuf>) -> Self {
        LazySecrets { path, store: None }
    }

    pub(crate) fn get(&mut self) -> Result<SecretStore, SecretsFileError> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        let path = self.path.clone().ok_or(SecretsFileError::NotConfigured)?;
        let store = SecretStore::open(&path)?;
        self.store = Some(store.clone());
        Ok(store)
    }
}

/// The file name of the secrets file when neither the config nor
/// `WEFT_SECRETS` names one.
pub const DEFAULT_SECRETS_FILE: &str = "weft.secrets.toml";

/// The secrets file: `WEFT_SECRETS` wins over the config's own setting,
/// else `weft.secrets.toml` beside the config file; relative paths are
/// relative to the config file.
pub(crate) fn secrets_path(configured: Option<&str>, file: &Path) -> Option<PathBuf> {
    let chosen = std::env::var("WEFT_SECRETS")
        .ok()
        .filter(|s| !s.is_empty())
        .or(configured.map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_SECRETS_FILE.to_string());
    let p = PathBuf::from(chosen);
    Some(match file.parent() {
        Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
        _ => p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str, secrets: Option<&SecretStore>) -> Result<String, ReferenceError> {
        resolve_noting(text, secrets, &mut Vec::new())
    }

    #[test]
    fn notes_every_value_it_substitutes() {
        let store = SecretStore::from_values(BTreeMap::from([("K".into(), "v4lue".into())]));
        let mut noted = Vec::new();
        let r = resolve_noting(
            "a ${secret:K} ${env:WEFT_SURELY_UNSET:-fb} b",
            Some(&store),
            &mut noted,
        );
        assert_eq!(r.unwrap(), "a v4lue fb b");
        assert_eq!(
            noted,
            [
                ("secret:K".to_string(), "v4lue".to_string()),
                ("env:WEFT_SURELY_UNSET:-fb".to_string(), "fb".to_string())
            ]
        );
    }

    #[test]
    #[allow(unsafe_code)] // set_var: no other thread reads this variable
    fn resolves_env_and_secret() {
        let store = SecretStore::from_values(BTreeMap::from([("TOKEN".into(), "s3cret".into())]));
        // SAFETY: tests in this module are the only users of this variable.
        unsafe { std::env::set_var("WEFT_TEST_REF_VAR", "x") };
        let v = resolve(
            "Bearer ${secret:TOKEN}/${env:WEFT_TEST_REF_VAR}",
            Some(&store),
        )
        .unwrap();
        assert_eq!(v, "Bearer s3cret/x");
        assert_eq!(
            resolve("${secret:NOPE}", Some(&store))
                .unwrap_err()
                .to_string(),
            "${secret:NOPE}: no secret named NOPE in the secret store"
        );
        assert_eq!(
            resolve("${secret:A}", None).unwrap_err().to_string(),
            "${secret:A} needs a secrets file; set `secrets = \"FILE\"` under [settings] or WEFT_SECRETS"
        );
        assert_eq!(
            resolve("${vault:A}", None).unwrap_err().to_string(),
            "${vault:A} is not a reference weft knows; use ${env:NAME} or ${secret:NAME}"
        );
        assert_eq!(
            resolve("x ${env:A", None).unwrap_err(),
            ReferenceError::Unclosed {
                shape: "…${env:A".into()
            }
        );
        assert_eq!(
            resolve("${env:A", None).unwrap_err().to_string(),
            "unclosed reference in \"…${env:A\": add the closing '}'"
        );
        assert_eq!(
            resolve("${env:WEFT_SURELY_UNSET}", None)
                .unwrap_err()
                .to_string(),
            "${env:WEFT_SURELY_UNSET} refers to the environment variable WEFT_SURELY_UNSET, which is not set; set it, or write ${env:WEFT_SURELY_UNSET:-DEFAULT}"
        );
        assert_eq!(
            resolve("${env:WEFT_SURELY_UNSET:-/tmp/x}", None).unwrap(),
            "/tmp/x"
        );
    }
}
