//! A server that is a Wasm component (`[servers.NAME] component = "..."`):
//! the component's path, what it may call (`grants`), its per-call limits
//! (`[servers.NAME.limits]`) and its own configuration (`[servers.NAME.config]`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ConfigError;
use super::policy::{Limits, RawLimits, validate_grant};

/// The most calls one adapter runs at once, unless `limits.concurrency`
/// says otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 64;
/// The largest `[servers.NAME.config]` table, as JSON text, in bytes.
pub const MAX_CONFIG: usize = 1 << 20;

/// The settings of one component server. Shared (`Arc`) because the
/// transport is cloned with the server's config.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    /// The component file, absolute or relative to the config file.
    pub path: PathBuf,
    /// `server.tool` globs: what the adapter may call through its `tools`
    /// import.
    pub grants: Vec<String>,
    /// Limits of each call: fuel, timeout, memory, nested calls, output.
    pub limits: Limits,
    /// Calls run at once; one more is refused as rate-limited.
    pub concurrency: u32,
    /// `[servers.NAME.config]` as a JSON object (`{}` when absent).
    pub config: Arc<serde_json::Value>,
}

/// The fields of a server entry that only a component server has.
pub(crate) struct RawAdapter {
    pub path: PathBuf,
    pub grants: Vec<String>,
    pub limits: Option<RawLimits>,
    pub config: Option<toml::Value>,
}

impl RawAdapter {
    pub(crate) fn resolve(self, entry: &str, file: &Path) -> Result<AdapterConfig, ConfigError> {
        let key = |k: &str| format!("{entry}.{k}");
        if self.path.as_os_str().is_empty() {
            return Err(ConfigError::new(file, key("component"), "is empty")
                .hint("name the adapter's .wasm file, relative to this config file"));
        }
        let path = match file.parent() {
            Some(dir) if self.path.is_relative() => dir.join(&self.path),
            _ => self.path,
        };
        for g in &self.grants {
            validate_grant(g).map_err(|m| ConfigError::new(file, key("grants"), m.to_string()))?;
        }
        let raw = self.limits.unwrap_or_default();
        let mut limits = Limits::default();
        raw.apply(&mut limits, file, &key("limits"))?;
        let concurrency = raw.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 {
            return Err(ConfigError::new(
                file,
                key("limits.concurrency"),
                "must be at least 1",
            ));
        }
        let config = match self.config {
            None => serde_json::Value::Object(Default::default()),
            Some(v @ toml::Value::Table(_)) => serde_json::to_value(v).map_err(|e| {
                ConfigError::new(file, key("config"), format!("cannot be read as JSON: {e}"))
            })?,
            Some(_) => {
                return Err(ConfigError::new(file, key("config"), "must be a table")
                    .hint(format!("write it as [{entry}.config] with keys below it")));
            }
        };
        let size = config.to_string().len();
        if size > MAX_CONFIG {
            return Err(ConfigError::new(
                file,
                key("config"),
                format!("is {size} bytes as JSON, over the cap of {MAX_CONFIG}"),
            ));
        }
        Ok(AdapterConfig {
            path,
            grants: self.grants,
            limits,
            concurrency,
            config: Arc::new(config),
        })
    }
}
