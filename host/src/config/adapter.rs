//! A server that is a Wasm component (`[servers.NAME] component = "..."`):
//! the component's path, what it may call (`grants`), its per-call limits
//! (`[servers.NAME.limits]`), its own configuration (`[servers.NAME.config]`)
//! and its outbound HTTP (`egress`, `[servers.NAME.egress_headers]`, and
//! the TLS keys for `https://` requests: see [`super::egress`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ConfigError;
use super::egress::EgressConfig;
use super::openapi::Security;
use super::policy::{Limits, RawLimits, amount_bytes, validate_grant};
use super::tls::TlsConfig;

/// The most calls one adapter runs at once, unless `limits.concurrency`
/// says otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 64;
/// `builtin:openapi`'s memory per call, unless `limits.memory` says
/// otherwise.
pub const OPENAPI_MEMORY: u64 = 256 << 20;
/// `builtin:openapi`'s largest output (its tool list included), unless
/// `limits.max_output` says otherwise.
pub const OPENAPI_MAX_OUTPUT: u64 = 16 << 20;
/// The largest `[servers.NAME.config]` table, as JSON text, in bytes.
pub const MAX_CONFIG: usize = 1 << 20;

/// The settings of one component server. Shared (`Arc`) because the
/// transport is cloned with the server's config.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    /// The component file, absolute or relative to the config file; for
    /// `builtin:NAME`, the one weft found (see `builtin_adapter`).
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
    /// What it may request over HTTP; `None`: nothing.
    pub egress: Option<Arc<EgressConfig>>,
    /// Every call is a durable run: journaled like a policy run, and
    /// resumed after a crash (`durable = true`).
    pub durable: bool,
    /// `builtin:openapi`'s credentials by security scheme
    /// (`[servers.NAME.security]`), kept to ready a `spec_url` document
    /// when the server starts (a document in the config is readied at
    /// load, its credentials already in `egress`).
    pub security: Security,
    /// `NAME` of `component = "builtin:NAME"`.
    pub builtin: Option<String>,
    /// `component = "oci://…"`: the reference, pulled when the hub starts
    /// (which then sets `path` to the pulled file).
    pub oci: Option<super::oci::OciComponent>,
    /// `builtin:openapi`'s `spec_url`: the document weft fetches through
    /// the server's egress when the server starts, then readies.
    pub spec_url: Option<String>,
}

/// The fields of a server entry that only a component server has.
pub(crate) struct RawAdapter {
    pub path: PathBuf,
    pub grants: Vec<String>,
    pub limits: Option<RawLimits>,
    pub config: Option<toml::Value>,
    pub egress: Vec<String>,
    /// `egress_headers`, its references resolved.
    pub egress_headers: BTreeMap<String, BTreeMap<String, String>>,
    /// The entry's TLS keys, for `https://` egress (checked: set only
    /// when an `egress` entry is `https://`).
    pub tls: TlsConfig,
    pub durable: bool,
    /// `[servers.NAME.security]`, its references resolved.
    pub security: Security,
}

/// `durable = true` beside `egress`: a resume replays the adapter's nested
/// tool calls from the journal, but its HTTP requests are not journaled,
/// so one that was sent (and perhaps acted on) before a crash would be
/// sent again.
fn durable_with_egress(builtin: Option<&str>, file: &Path, key: &str) -> ConfigError {
    let hint: String = match builtin {
        Some("openapi") => "builtin:openapi answers every call with an HTTP request, so it cannot be durable: remove `durable = true`".into(),
        _ => "remove `durable = true` (a call cut short is then not resumed), or make the requests in an MCP server that the adapter calls through `grants`: those calls are journaled".into(),
    };
    ConfigError::new(
        file,
        key,
        "cannot be combined with `egress`: weft does not journal an adapter's HTTP requests, so resuming a call cut short would send again a request that may already have been answered",
    )
    .hint(hint)
}

impl RawAdapter {
    pub(crate) fn resolve(
        mut self,
        entry: &str,
        file: &Path,
    ) -> Result<AdapterConfig, ConfigError> {
        let key = |k: &str| format!("{entry}.{k}");
        if self.path.as_os_str().is_empty() {
            return Err(ConfigError::new(file, key("component"), "is empty")
                .hint("name the adapter's .wasm file, relative to this config file"));
        }
        let builtin = self
            .path
            .to_str()
            .and_then(|p| p.strip_prefix("builtin:"))
            .map(str::to_string);
        if self.durable && !self.egress.is_empty() {
            return Err(durable_with_egress(
                builtin.as_deref(),
                file,
                &key("durable"),
            ));
        }
        let oci = super::policy::oci_source(&self.path, file, &key("component"))?;
        let path = match (&builtin, file.parent()) {
            _ if oci.is_some() => PathBuf::new(),
            (Some(name), _) => super::builtin_adapter::locate(name, file, &key("component"))?,
            (None, Some(dir)) if self.path.is_relative() => dir.join(&self.path),
            _ => self.path.clone(),
        };
        for g in &self.grants {
            validate_grant(g).map_err(|m| ConfigError::new(file, key("grants"), m.to_string()))?;
        }
        let raw = self.limits.take().unwrap_or_default();
        let mut egress = self.egress_config(&raw, entry, file)?;
        // The document at `spec_url` comes through egress too: let it be as
        // large as a document may be.
        if let Some(e) = egress.as_mut()
            && builtin.as_deref() == Some("openapi")
            && raw.max_response.is_none()
        {
            e.max_response = crate::openapi::MAX_SPEC;
        }
        let mut limits = Limits::default();
        if builtin.as_deref() == Some("openapi") {
            // Each instance reads the whole document (GitHub's is 5.7 MB,
            // about 70 MiB once read), and a large API's tool list is
            // megabytes of schemas.
            limits.memory = OPENAPI_MEMORY;
            limits.max_output = OPENAPI_MAX_OUTPUT;
        }
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
        let mut config = config;
        let mut spec_url = None;
        if builtin.as_deref() == Some("openapi") {
            spec_url =
                super::openapi::prepare(&mut config, &self.security, egress.as_mut(), file, entry)?;
        } else if !self.security.0.is_empty() {
            return Err(ConfigError::new(
                file,
                key("security"),
                "applies only to component = \"builtin:openapi\"",
            )
            .hint(
                "another adapter gets its credentials from [servers.NAME.egress_headers.\"HOST\"]",
            ));
        }
        Ok(AdapterConfig {
            path,
            grants: self.grants,
            limits,
            concurrency,
            config: Arc::new(config),
            egress: egress.map(Arc::new),
            durable: self.durable,
            security: self.security,
            spec_url,
            builtin,
            oci,
        })
    }

    /// `egress`, `egress_headers` and the limits of outbound requests;
    /// `None` without `egress` (and then none of the others may be set).
    fn egress_config(
        &self,
        raw: &RawLimits,
        entry: &str,
        file: &Path,
    ) -> Result<Option<EgressConfig>, ConfigError> {
        let key = |k: &str| format!("{entry}.{k}");
        if self.egress.is_empty() {
            let set = [
                ("egress_headers", !self.egress_headers.is_empty()),
                ("limits.max_response", raw.max_response.is_some()),
                ("limits.request_timeout", raw.request_timeout.is_some()),
            ];
            if let Some((field, _)) = set.iter().find(|(_, s)| *s) {
                return Err(ConfigError::new(
                    file,
                    key(field),
                    "applies only to an adapter with an `egress` list",
                )
                .hint(format!(
                    "add `egress = [\"http://HOST:PORT/*\"]` to [{entry}], or remove it"
                )));
            }
            return Ok(None);
        }
        let mut egress = EgressConfig::parse(&self.egress, &self.egress_headers)
            .map_err(|(field, m)| ConfigError::new(file, key(field), m))?;
        if let Some(m) = &raw.max_response {
            egress.max_response = amount_bytes(m.clone())
                .map_err(|e| ConfigError::new(file, key("limits.max_response"), e.to_string()))?;
        }
        if let Some(t) = &raw.request_timeout {
            egress.request_timeout = t.resolve(file, &key("limits.request_timeout"))?;
        }
        egress.tls = self.tls.clone();
        if egress.request_timeout.is_zero() {
            return Err(ConfigError::new(
                file,
                key("limits.request_timeout"),
                "must be more than zero",
            ));
        }
        Ok(Some(egress))
    }
}
