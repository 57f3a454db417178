//! `[tenants.NAME]` entries: who may use a shared weft, what each one sees,
//! and the limits each one cannot exceed.
//!
//! A tenant's API keys are stored as SHA-256 hashes, either inline
//! (`keys = ["sha256:…"]`) or in the key file that `weft keys add` writes
//! (`settings.keys`, by default `NAME.keys.toml` beside the config file
//! `NAME.toml`; see [`resolve_key_file`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::RawDuration;
use super::pattern::validate_pattern;
use super::policy::{RawAmount, check_memory, parse_count};
use super::{ConfigError, parse_size};

/// The key file's name when `settings.keys` names none and the config has
/// no file name to go by (the built-in example), and the file every config
/// used before key files were named after their config.
pub const DEFAULT_KEY_FILE: &str = "weft.keys.toml";

/// One tenant, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    /// The name from `[tenants.NAME]`.
    pub name: String,
    /// `server.tool` globs the tenant sees; empty means nothing.
    pub include: Vec<String>,
    /// `server.tool` globs taken out of the view again.
    pub exclude: Vec<String>,
    /// Policy-name globs the tenant may list and run.
    pub policies: Vec<String>,
    /// May read `/status` and `/metrics` of `weft serve --http`.
    pub admin: bool,
    /// Tools whose calls by this tenant wait for a person's approval.
    pub approval: super::ToolPatterns,
    /// What the tenant cannot exceed.
    pub limits: TenantLimits,
    /// Key hashes (`sha256:HEX`) with their ids.
    pub keys: Vec<KeyEntry>,
    /// `[tenants.NAME.code]` over `[code]`; `None` keeps `[code]` as it is.
    pub code: Option<super::CodeConfig>,
}

impl TenantConfig {
    /// A tenant with this name that sees nothing and may do nothing.
    pub fn named(name: &str) -> TenantConfig {
        TenantConfig {
            name: name.to_string(),
            include: Vec::new(),
            exclude: Vec::new(),
            policies: Vec::new(),
            admin: false,
            approval: super::ToolPatterns::default(),
            limits: TenantLimits::default(),
            keys: Vec::new(),
            code: None,
        }
    }
}

/// A tenant's policy runs at once when `concurrent_runs` is not set. A run
/// taken as an MCP task goes on after its request is answered, so the
/// request caps do not bound these: without a default, one tenant could
/// start runs until the machine gave out.
pub const DEFAULT_CONCURRENT_RUNS: u32 = 8;

/// What a tenant cannot exceed. `None` is "no tenant limit" (the policy's
/// own limits and weft's defaults still apply), except `concurrent_runs`
/// (see [`TenantLimits::runs_at_once`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantLimits {
    /// Policy runs at the same time; [`DEFAULT_CONCURRENT_RUNS`] unless
    /// set.
    pub concurrent_runs: Option<u32>,
    /// Tool calls per minute (a token bucket refilled continuously).
    pub calls_per_minute: Option<u32>,
    /// How many calls may come at once before the rate applies; defaults
    /// to a tenth of a minute's calls (at least 1).
    pub burst: Option<u32>,
    /// Requests in flight on `serve --http` at the same time; more are
    /// answered 429 at once, before any work is done.
    pub concurrent_requests: Option<u32>,
    /// Caps on each policy run.
    pub fuel: Option<u64>,
    /// The most wall time of each of the tenant's runs.
    pub timeout: Option<Duration>,
    /// The most memory of each of the tenant's runs, in bytes (at most 1GiB).
    pub memory: Option<u64>,
}

impl TenantLimits {
    /// Its policy runs at once: `concurrent_runs`, else
    /// [`DEFAULT_CONCURRENT_RUNS`].
    pub fn runs_at_once(&self) -> u32 {
        self.concurrent_runs.unwrap_or(DEFAULT_CONCURRENT_RUNS)
    }
}

/// One stored API key: its id (shown in the audit log) and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The key's id: as the key file has it, or `TENANT-inline-N` for the
    /// hash at index N of the tenant's inline `keys`.
    pub id: String,
    /// The tenant the key belongs to.
    pub tenant: String,
    /// `sha256:` and 64 hex digits.
    pub hash: String,
    /// When `weft keys add` made it (RFC 3339, UTC), if recorded; inline
    /// keys have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// A tenant: who may use `weft serve`, with which API keys, what it sees
/// and calls, and its limits. With tenants, every `weft serve --http`
/// request must carry a tenant's key (or OAuth token).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenant {
    /// Hashes of the tenant's API keys (`sha256:` and 64 hex digits),
    /// besides those `weft keys add` records in the key file. Never the
    /// keys themselves.
    #[serde(default)]
    keys: Vec<String>,
    /// `server.tool` globs of what the tenant sees and may call; empty:
    /// nothing.
    #[serde(default)]
    include: Vec<String>,
    /// `server.tool` globs taken out of the tenant's view again.
    #[serde(default)]
    exclude: Vec<String>,
    /// Globs of the names of the policies the tenant may list and run;
    /// empty: none.
    #[serde(default)]
    policies: Vec<String>,
    /// Whether the tenant may read `/status`, `/metrics` and the `/ui`
    /// console of `weft serve --http`.
    #[serde(default)]
    admin: bool,
    /// `server.tool` globs of the tools whose calls by this tenant (its
    /// agents, policies and code) wait for a person's approval, besides
    /// `settings.approval` and the servers' own `approval`.
    #[serde(default)]
    approval: Vec<String>,
    /// What the tenant cannot exceed.
    limits: Option<RawTenantLimits>,
    /// Code mode for this tenant: overrides `[code]` key by key; a key left
    /// out keeps `[code]`'s value.
    code: Option<super::code::RawCode>,
}

/// What one tenant cannot exceed. A key left out sets no tenant limit (a
/// run's own limits still apply), except `concurrent_runs`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenantLimits {
    /// The tenant's policy and code runs at once, at least 1; a run taken
    /// as an MCP task holds its place until it ends.
    #[schemars(extend("default" = 8))]
    concurrent_runs: Option<u32>,
    /// Tool calls per minute (a token bucket refilled continuously), at
    /// least 1; beyond, 429 at the HTTP edge or a `rate-limited` error. No
    /// rate limit unless set.
    calls_per_minute: Option<u32>,
    /// How many calls may come at once before the rate applies, at least 1;
    /// by default a tenth of `calls_per_minute` (at least 1).
    burst: Option<u32>,
    /// Requests in flight at once on `weft serve --http`, at least 1; more
    /// are answered 429 at once, before any work is done. No limit unless
    /// set.
    concurrent_requests: Option<u32>,
    /// A cap on the fuel of each of the tenant's policy and code runs,
    /// whatever the policy asks: a number or a count like "5G". No cap
    /// unless set.
    fuel: Option<RawAmount>,
    /// A cap on the wall time of each of the tenant's runs: a duration,
    /// seconds or "20s". No cap unless set.
    timeout: Option<RawDuration>,
    /// A cap on the memory of each of the tenant's runs: a size, at most
    /// 1GiB. No cap unless set.
    memory: Option<RawAmount>,
}

impl RawTenant {
    /// The tenant as validated; `code` is the top-level `[code]`, which its
    /// own `code` table overrides.
    pub(crate) fn into_config(
        self,
        name: &str,
        file: &Path,
        code: &super::CodeConfig,
    ) -> Result<TenantConfig, ConfigError> {
        let key = |k: &str| format!("tenants.{name}.{k}");
        super::validate_name("tenant", name, "")
            .map_err(|m| ConfigError::new(file, format!("tenants.{name}"), m.to_string()))?;
        for (field, globs) in [("include", &self.include), ("exclude", &self.exclude)] {
            for g in globs {
                validate_pattern(g, "view entry")
                    .map_err(|m| ConfigError::new(file, key(field), m.to_string()))?;
            }
        }
        for p in &self.policies {
            globset::Glob::new(p)
                .map_err(|e| ConfigError::new(file, key("policies"), format!("{p:?}: {e}")))?;
        }
        let mut keys = Vec::new();
        for (i, h) in self.keys.iter().enumerate() {
            check_hash(h).map_err(|m| {
                ConfigError::new(file, format!("tenants.{name}.keys[{i}]"), m.to_string())
                    .hint("store hashes, never keys: `weft keys add TENANT` makes a key and records its hash")
            })?;
            keys.push(KeyEntry {
                id: format!("{name}-inline-{i}"),
                tenant: name.to_string(),
                hash: h.clone(),
                created: None,
            });
        }
        let raw = self.limits.unwrap_or_default();
        let lkey = |k: &str| format!("tenants.{name}.limits.{k}");
        let mut limits = TenantLimits {
            concurrent_runs: raw.concurrent_runs,
            calls_per_minute: raw.calls_per_minute,
            burst: raw.burst,
            concurrent_requests: raw.concurrent_requests,
            ..TenantLimits::default()
        };
        for (field, v) in [
            ("concurrent_runs", raw.concurrent_runs),
            ("calls_per_minute", raw.calls_per_minute),
            ("burst", raw.burst),
            ("concurrent_requests", raw.concurrent_requests),
        ] {
            if v == Some(0) {
                let hint = if field == "concurrent_runs" {
                    format!("leave the key out for the default of {DEFAULT_CONCURRENT_RUNS}")
                } else {
                    "leave the key out for no tenant limit".to_string()
                };
                return Err(ConfigError::new(file, lkey(field), "must be at least 1").hint(hint));
            }
        }
        if let Some(f) = raw.fuel {
            limits.fuel = Some(match f {
                RawAmount::Number(n) => n,
                RawAmount::Text(t) => parse_count(&t)
                    .map_err(|m| ConfigError::new(file, lkey("fuel"), m.to_string()))?,
            });
        }
        if let Some(t) = &raw.timeout {
            limits.timeout = Some(t.resolve(file, &lkey("timeout"))?);
        }
        if let Some(m) = raw.memory {
            let bytes = match m {
                RawAmount::Number(n) => n,
                RawAmount::Text(t) => parse_size(&t)
                    .map_err(|e| ConfigError::new(file, lkey("memory"), e.to_string()))?,
            };
            check_memory(bytes)
                .map_err(|e| ConfigError::new(file, lkey("memory"), e.to_string()))?;
            limits.memory = Some(bytes);
        }
        let approval = super::approval::patterns(&self.approval, file, &key("approval"))?;
        Ok(TenantConfig {
            name: name.to_string(),
            approval,
            include: self.include,
            exclude: self.exclude,
            policies: self.policies,
            admin: self.admin,
            limits,
            keys,
            code: match &self.code {
                Some(raw) => Some(raw.over(code, file, &key("code"))?),
                None => None,
            },
        })
    }
}

/// A stored key hash that is not `sha256:` and 64 hex digits. Its text
/// follows what it is about: "the hash is not a key hash …".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a key hash (`sha256:` and 64 hex digits)")]
pub struct NotAKeyHash;

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file is there but cannot be read.
    #[error("cannot read the key file {}: {source}", .path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not TOML, or not `[[key]]` tables; `message` is the TOML reader's.
    #[error("the key file {} is not a list of [[key]] tables: {message}", .path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// The TOML reader's message.
        message: String,
    },
    /// The key `id` holds a hash that is not one.
    #[error("the key file {}: key {id:?}: the hash {source}", .path.display())]
    BadHash {
        /// The key file.
        path: PathBuf,
        /// The id of the key with the bad hash.
        id: String,
        /// What is wrong with the hash.
        source: NotAKeyHash,
    },
}

/// Checks the shape of a stored key hash.
pub fn check_hash(h: &str) -> Result<(), NotAKeyHash> {
    match h.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(NotAKeyHash),
    }
}

/// The key file: `settings.keys` (relative to the config file), else
/// `NAME.keys.toml` beside the config file `NAME.toml` (or in the working
/// directory): `weft.toml` has `weft.keys.toml`, `staging.toml` has
/// `staging.keys.toml`, so two configs side by side keep their keys apart.
pub fn key_file_path(configured: Option<&str>, config_file: &Path) -> PathBuf {
    let default = config_file
        .extension()
        .and(config_file.file_stem())
        .map(|stem| format!("{}.keys.toml", stem.to_string_lossy()))
        .unwrap_or_else(|| DEFAULT_KEY_FILE.to_string());
    beside(config_file, configured.unwrap_or(&default))
}

/// `name` relative to the config file's folder, unless absolute.
fn beside(config_file: &Path, name: &str) -> PathBuf {
    let p = PathBuf::from(name);
    match config_file.parent() {
        Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
        _ => p,
    }
}

/// The key file to use, and a notice to print when it is the old shared
/// `weft.keys.toml` rather than the config's own file.
///
/// Before key files were named after their config, every config in a
/// folder used `weft.keys.toml`. When the config's own file does not exist
/// yet and that old file holds a key of one of `tenants`, the old file is
/// read (and written) still, with a notice saying how to move it.
pub fn resolve_key_file<'a>(
    configured: Option<&str>,
    config_file: &Path,
    tenants: impl IntoIterator<Item = &'a str>,
) -> (PathBuf, Option<String>) {
    let own = key_file_path(configured, config_file);
    if configured.is_some() || own.exists() {
        return (own, None);
    }
    let old = beside(config_file, DEFAULT_KEY_FILE);
    if old == own || !old.exists() {
        return (own, None);
    }
    let names: Vec<&str> = tenants.into_iter().collect();
    let theirs = KeyFile::load(&old)
        .is_ok_and(|f| f.keys.iter().any(|k| names.contains(&k.tenant.as_str())));
    if !theirs {
        return (own, None);
    }
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (old_name, own_name) = (file_name(&old), file_name(&own));
    // Another config still reading the old file needs a copy, not a move.
    let shared = beside(config_file, super::DEFAULT_FILE).exists();
    let how = if shared {
        format!(
            "cp {old_name} {own_name} ({} reads {old_name} too)",
            super::DEFAULT_FILE
        )
    } else {
        format!("mv {old_name} {own_name}")
    };
    let notice = format!(
        "reading the keys of {} from {old_name}, the key file configs used to share; its own is {own_name}: {how}",
        file_name(config_file)
    );
    (old, Some(notice))
}

/// The key file as stored: a list of `[[key]]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// The `[[key]]` tables, in file order.
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyEntry>,
}

impl KeyFile {
    /// Reads the key file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<KeyFile, KeyFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeyFile::default()),
            Err(source) => {
                return Err(KeyFileError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let file: KeyFile = toml::from_str(&text).map_err(|e| KeyFileError::Malformed {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        for k in &file.keys {
            check_hash(&k.hash).map_err(|source| KeyFileError::BadHash {
                path: path.to_path_buf(),
                id: k.id.clone(),
                source,
            })?;
        }
        Ok(file)
    }
}
