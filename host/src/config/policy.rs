//! `[policies.NAME]` entries: a policy component, what it may call (grants)
//! and the limits of each run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::duration::AmountError;
use super::duration::RawDuration;
use super::pattern::{PatternError, validate_pattern};
use super::{ConfigError, parse_size};

/// Limits of one run. Every limit hit ends the run with an error that names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// CPU budget in wasmtime fuel units; `None` is unlimited.
    pub fuel: Option<u64>,
    /// Wall time of the whole run, host calls included.
    pub timeout: Duration,
    /// Linear memory, in bytes.
    pub memory: u64,
    /// Most `call-tool` calls per run (each call of a fan-out counts).
    pub max_calls: u32,
    /// Largest output, in bytes.
    pub max_output: u64,
    /// Most bytes of stdout and of stderr kept from the guest.
    pub max_log: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: Some(10_000_000_000),
            timeout: Duration::from_secs(30),
            memory: 64 << 20,
            max_calls: 1000,
            max_output: 1 << 20,
            max_log: 64 << 10,
        }
    }
}

/// One configured policy.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// The name from `[policies.NAME]`.
    pub name: String,
    /// The component file, absolute or relative to the config file.
    pub path: PathBuf,
    /// `path = "oci://…"`: the reference, pulled when the hub starts
    /// (which then sets `path` to the pulled file).
    pub oci: Option<super::oci::OciComponent>,
    /// What the policy does, as agents see it (default: empty).
    pub description: String,
    /// JSON Schema of the input, as JSON.
    pub input_schema: serde_json::Value,
    /// `server.tool` globs: what the policy may call and see.
    pub grants: Vec<String>,
    /// The limits of each run.
    pub limits: Limits,
}

/// A size or a count: a plain number (bytes, or a count) or a string with a
/// unit ("64MiB", "10G"); "unlimited" where a key allows it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawAmount {
    Number(u64),
    Text(String),
}

/// A policy: a Wasm component (world `policy`) that agents and `weft run`
/// can run, the tools it may call, and the limits of each run.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    /// The policy's component file (`.wasm`), relative to the config file's
    /// folder.
    path: PathBuf,
    /// What the policy does, as agents see it in the policy's tool.
    #[serde(default)]
    description: String,
    /// The JSON Schema of the policy's input: a table, or a string of JSON.
    /// It must be an object.
    #[schemars(with = "Option<serde_json::Value>")]
    #[schemars(extend("default" = {"type": "object"}))]
    input_schema: Option<toml::Value>,
    /// `server.tool` globs (`git.*`, `*.read_*`): the tools the policy may
    /// call and see. A call outside them is denied before it reaches a
    /// server.
    #[serde(default)]
    grants: Vec<String>,
    /// The CPU budget of a run, in wasmtime fuel units: a number, a count
    /// like "10G", or "unlimited".
    #[schemars(extend("default" = 10_000_000_000_u64))]
    fuel: Option<RawAmount>,
    /// The wall time of a run, host calls included: a duration, seconds or
    /// "30s".
    #[schemars(extend("default" = "30s"))]
    timeout: Option<RawDuration>,
    /// The linear memory of a run: a size, bytes or "64MiB" (1GiB is the
    /// most weft allows a run).
    #[schemars(extend("default" = "64MiB"))]
    memory: Option<RawAmount>,
    /// The most tool calls in a run (each call of a fan-out counts).
    #[schemars(extend("default" = 1000))]
    max_calls: Option<u32>,
    /// The largest output of a run: a size, bytes or "1MiB".
    #[schemars(extend("default" = "1MiB"))]
    max_output: Option<RawAmount>,
}

impl RawPolicy {
    pub(crate) fn into_config(self, name: &str, file: &Path) -> Result<PolicyConfig, ConfigError> {
        let key = |k: &str| format!("policies.{name}.{k}");
        super::validate_name("policy", name, "")
            .map_err(|m| ConfigError::new(file, format!("policies.{name}"), m.to_string()))?;
        let oci = oci_source(&self.path, file, &key("path"))?;
        let path = match file.parent() {
            _ if oci.is_some() => PathBuf::new(),
            Some(dir) if self.path.is_relative() => dir.join(&self.path),
            _ => self.path.clone(),
        };
        let input_schema = match self.input_schema {
            None => serde_json::json!({"type": "object"}),
            Some(toml::Value::String(s)) => serde_json::from_str(&s).map_err(|e| {
                ConfigError::new(file, key("input_schema"), format!("is not valid JSON: {e}"))
            })?,
            Some(v) => serde_json::to_value(v).map_err(|e| {
                ConfigError::new(
                    file,
                    key("input_schema"),
                    format!("cannot be read as JSON: {e}"),
                )
            })?,
        };
        if !input_schema.is_object() {
            return Err(ConfigError::new(
                file,
                key("input_schema"),
                "must be a JSON Schema object",
            ));
        }
        for g in &self.grants {
            validate_grant(g).map_err(|m| ConfigError::new(file, key("grants"), m.to_string()))?;
        }
        let mut limits = Limits::default();
        RawLimits {
            fuel: self.fuel,
            timeout: self.timeout,
            memory: self.memory,
            max_calls: self.max_calls,
            max_output: self.max_output,
            concurrency: None,
            max_response: None,
            request_timeout: None,
        }
        .apply(&mut limits, file, &format!("policies.{name}"))?;
        Ok(PolicyConfig {
            name: name.to_string(),
            path,
            description: self.description,
            input_schema,
            grants: self.grants,
            limits,
            oci,
        })
    }
}

/// The OCI reference a component's `path` or `component` names, if it
/// names one (`oci://…`), checked.
pub(crate) fn oci_source(
    path: &Path,
    file: &Path,
    key: &str,
) -> Result<Option<super::oci::OciComponent>, ConfigError> {
    match path.to_str() {
        Some(text) if super::oci::is_oci(text) => super::oci::OciRef::parse(text)
            .map(|r| Some(super::oci::OciComponent::new(r)))
            .map_err(|e| ConfigError::new(file, key, e)),
        _ => Ok(None),
    }
}

/// The limits of a run: of each call of a component server
/// (`[servers.NAME.limits]`), or of each code-mode submission
/// (`[code.limits]`). A policy writes the same keys in its own entry.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    /// The CPU budget of each run (a component server: each call), in
    /// wasmtime fuel units: a number, a count like "10G", or "unlimited".
    #[schemars(extend("default" = 10_000_000_000_u64))]
    fuel: Option<RawAmount>,
    /// The wall time of each run or call, host calls included: a duration,
    /// seconds or "30s".
    #[schemars(extend("default" = "30s"))]
    timeout: Option<RawDuration>,
    /// The linear memory of each run or call: a size, bytes or "64MiB", at
    /// most 1GiB (`builtin:openapi`: 256MiB by default).
    #[schemars(extend("default" = "64MiB"))]
    memory: Option<RawAmount>,
    /// The most tool calls in each run or call (each call of a fan-out
    /// counts).
    #[schemars(extend("default" = 1000))]
    max_calls: Option<u32>,
    /// The largest output of each run or call: a size, bytes or "1MiB"
    /// (`builtin:openapi`: 16MiB by default, for a large API's tool list).
    #[schemars(extend("default" = "1MiB"))]
    max_output: Option<RawAmount>,
    /// Calls of an adapter run at once (adapters only).
    #[schemars(extend("default" = 64))]
    pub(crate) concurrency: Option<u32>,
    /// The largest response body of one outbound HTTP request (adapters
    /// with `egress` only; `builtin:openapi`: 16MiB by default, the
    /// largest document it reads).
    #[schemars(extend("default" = "4MiB"))]
    pub(crate) max_response: Option<RawAmount>,
    /// How long one outbound HTTP request may take (adapters with
    /// `egress` only).
    #[schemars(extend("default" = "10s"))]
    pub(crate) request_timeout: Option<RawDuration>,
}

impl RawLimits {
    /// Sets the limits written here on `limits`; `table` is where they are
    /// written (`policies.NAME`, `servers.NAME.limits`), for messages.
    pub(crate) fn apply(
        &self,
        limits: &mut Limits,
        file: &Path,
        table: &str,
    ) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{table}.{k}");
        if let Some(f) = &self.fuel {
            limits.fuel = match f {
                RawAmount::Number(n) => Some(*n),
                RawAmount::Text(t) if t == "unlimited" => None,
                RawAmount::Text(t) => Some(parse_count(t).map_err(|m| {
                    ConfigError::new(file, key("fuel"), m.to_string())
                        .hint("write a number, or \"unlimited\"")
                })?),
            };
        }
        if let Some(t) = &self.timeout {
            limits.timeout = t.resolve(file, &key("timeout"))?;
        }
        if let Some(m) = &self.memory {
            limits.memory = amount_bytes(m.clone())
                .map_err(|e| ConfigError::new(file, key("memory"), e.to_string()))?;
        }
        if let Some(c) = self.max_calls {
            limits.max_calls = c;
        }
        if let Some(o) = &self.max_output {
            limits.max_output = amount_bytes(o.clone())
                .map_err(|e| ConfigError::new(file, key("max_output"), e.to_string()))?;
        }
        Ok(())
    }
}

pub(crate) fn amount_bytes(a: RawAmount) -> Result<u64, AmountError> {
    match a {
        RawAmount::Number(n) => Ok(n),
        RawAmount::Text(t) => parse_size(&t),
    }
}

/// `10_000_000`, `10M`, `2G`: a plain count with an optional SI suffix.
pub(crate) fn parse_count(text: &str) -> Result<u64, AmountError> {
    let t = text.trim().replace('_', "");
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000),
        Some('M') => (&t[..t.len() - 1], 1_000_000),
        Some('G') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (t.as_str(), 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| AmountError::NotACount { text: text.into() })
}

/// The most linear memory a policy may have (each pool slot reserves this
/// much address space).
pub const MAX_MEMORY: u64 = 1 << 30;

/// Checks a memory limit against [`MAX_MEMORY`].
pub fn check_memory(bytes: u64) -> Result<(), AmountError> {
    if bytes == 0 || bytes > MAX_MEMORY {
        return Err(AmountError::MemoryOutOfRange { bytes });
    }
    Ok(())
}

/// A grant is `server.tool` with globs in either part: `git.*`,
/// `time.get_current_time`, `*.read_*`.
pub fn validate_grant(grant: &str) -> Result<(), PatternError> {
    validate_pattern(grant, "grant")
}
