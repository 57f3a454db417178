//! `[code]` and `[tenants.NAME.code]`: whether code mode is offered, in
//! which languages, what submitted code may call and the limits of a run.
//!
//! A tenant's table overrides the top-level one key by key; a key it leaves
//! out keeps the top-level value.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::policy::{Limits, RawAmount, RawLimits, check_memory, validate_grant};

/// The default cap on one submission's source.
pub const DEFAULT_MAX_CODE_BYTES: u64 = 256 << 10;
/// The largest cap a config may set on one submission's source.
pub const MAX_CODE_BYTES_CEILING: u64 = 16 << 20;

/// A language code mode runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    /// Python: `python` or `py`.
    Python,
    /// JavaScript: `javascript` or `js`.
    JavaScript,
}

impl Language {
    /// Both, in the order they are listed.
    pub const ALL: [Language; 2] = [Language::Python, Language::JavaScript];

    /// `python`/`py` or `javascript`/`js`.
    pub fn parse(name: &str) -> Option<Language> {
        match name {
            "python" | "py" => Some(Language::Python),
            "javascript" | "js" => Some(Language::JavaScript),
            _ => None,
        }
    }

    /// Its name in a request and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
        }
    }

    /// The name a code-mode run in this language goes by in reports and
    /// messages: `code (python)`.
    pub fn run_name(self) -> String {
        format!("code ({})", self.name())
    }

    /// Whether `name` is a code-mode run's (see [`Language::run_name`])
    /// rather than a policy's.
    pub fn is_run_name(name: &str) -> bool {
        name.strip_prefix("code (")
            .and_then(|rest| rest.strip_suffix(')'))
            .is_some_and(|lang| Language::parse(lang).is_some())
    }
}

/// Code mode's settings, for everyone or for one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeConfig {
    /// Written `enabled`; `None` (not written) is on for `weft serve` over
    /// stdio and `weft exec`, off for `weft serve --http`.
    pub enabled: Option<bool>,
    /// The languages offered, in order.
    pub languages: Vec<Language>,
    /// `server.tool` globs code may call; `None` is every read-only tool.
    pub grants: Option<Vec<String>>,
    /// The limits of one submission's run.
    pub limits: Limits,
    /// The most bytes of source one submission may have.
    pub max_code_bytes: u64,
}

impl Default for CodeConfig {
    fn default() -> Self {
        CodeConfig {
            enabled: None,
            languages: Language::ALL.to_vec(),
            grants: None,
            limits: Limits::default(),
            max_code_bytes: DEFAULT_MAX_CODE_BYTES,
        }
    }
}

impl CodeConfig {
    /// Whether code mode is on, where `by_default` is the transport's
    /// default (on over stdio, off over HTTP).
    pub fn is_enabled(&self, by_default: bool) -> bool {
        self.enabled.unwrap_or(by_default)
    }

    /// Whether `lang` is offered.
    pub fn offers(&self, lang: Language) -> bool {
        self.languages.contains(&lang)
    }
}

/// Code mode: programs agents submit (`weft_run_code`) and `weft exec`
/// runs. Whether it is offered, in which languages, what the code may call,
/// and the limits of a run. A tenant's own table overrides this one key by
/// key.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCode {
    /// Whether code mode is offered. By default on for `weft exec` and
    /// `weft serve` over stdio, off for `weft serve --http`.
    enabled: Option<bool>,
    /// The languages offered: "python" (or "py") and "javascript" (or
    /// "js"); at least one.
    #[schemars(extend("default" = ["python", "javascript"]))]
    languages: Option<Vec<String>>,
    /// `server.tool` globs of the tools code may call; by default every
    /// read-only tool (annotated `readOnlyHint`).
    grants: Option<Vec<String>>,
    /// The largest source one submission may have: a size from 1 byte to
    /// 16MiB.
    #[schemars(extend("default" = "256KiB"))]
    max_code_bytes: Option<RawAmount>,
    /// The limits of each submission's run: a policy's limit keys;
    /// `memory` at most 1GiB.
    #[schemars(with = "Option<CodeLimitsSchema>")]
    limits: Option<RawLimits>,
}

// The schema's and the reference's view of `[code.limits]`: the file is
// read as `RawLimits`, whose adapter keys `RawCode::over` refuses here.
/// The limits of each code-mode run: a run's limit keys. An adapter's
/// `concurrency`, `max_response` and `request_timeout` are refused here.
#[derive(schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct CodeLimitsSchema {
    /// The CPU budget of each run, in wasmtime fuel units: a number, a
    /// count like "10G", or "unlimited".
    #[schemars(extend("default" = 10_000_000_000_u64))]
    fuel: Option<RawAmount>,
    /// The wall time of each run, host calls included: a duration, seconds
    /// or "30s".
    #[schemars(extend("default" = "30s"))]
    timeout: Option<super::duration::RawDuration>,
    /// The linear memory of each run: a size, bytes or "64MiB", at most
    /// 1GiB.
    #[schemars(extend("default" = "64MiB"))]
    memory: Option<RawAmount>,
    /// The most tool calls in each run (each call of a fan-out counts).
    #[schemars(extend("default" = 1000))]
    max_calls: Option<u32>,
    /// The largest output of each run: a size, bytes or "1MiB".
    #[schemars(extend("default" = "1MiB"))]
    max_output: Option<RawAmount>,
}

impl RawCode {
    /// The settings written here over `base`; `table` names where they
    /// are written (`code`, `tenants.NAME.code`), for messages.
    pub(crate) fn over(
        &self,
        base: &CodeConfig,
        file: &Path,
        table: &str,
    ) -> Result<CodeConfig, ConfigError> {
        let key = |k: &str| format!("{table}.{k}");
        let mut out = base.clone();
        if let Some(e) = self.enabled {
            out.enabled = Some(e);
        }
        if let Some(names) = &self.languages {
            let mut languages = Vec::new();
            for n in names {
                let lang = Language::parse(n).ok_or_else(|| {
                    let shown: String = n.chars().take(40).collect();
                    ConfigError::new(
                        file,
                        key("languages"),
                        format!("{shown:?} is not a language code mode runs"),
                    )
                    .hint("list \"python\" and/or \"javascript\"")
                })?;
                if !languages.contains(&lang) {
                    languages.push(lang);
                }
            }
            if languages.is_empty() {
                return Err(
                    ConfigError::new(file, key("languages"), "lists no language")
                        .hint("to turn code mode off, write `enabled = false`"),
                );
            }
            out.languages = languages;
        }
        if let Some(grants) = &self.grants {
            for g in grants {
                validate_grant(g)
                    .map_err(|m| ConfigError::new(file, key("grants"), m.to_string()))?;
            }
            out.grants = Some(grants.clone());
        }
        if let Some(m) = &self.max_code_bytes {
            let bytes = match m {
                RawAmount::Number(n) => *n,
                RawAmount::Text(t) => super::parse_size(t)
                    .map_err(|e| ConfigError::new(file, key("max_code_bytes"), e.to_string()))?,
            };
            if bytes == 0 || bytes > MAX_CODE_BYTES_CEILING {
                return Err(ConfigError::new(
                    file,
                    key("max_code_bytes"),
                    format!("{bytes} bytes is out of range"),
                )
                .hint("use 1 byte to 16MiB; the default is 256KiB"));
            }
            out.max_code_bytes = bytes;
        }
        if let Some(limits) = &self.limits {
            if limits.concurrency.is_some() {
                return Err(ConfigError::new(
                    file,
                    key("limits.concurrency"),
                    "is an adapter's limit, not code mode's",
                )
                .hint("limit a tenant's runs at once with [tenants.NAME.limits] concurrent_runs"));
            }
            for (written, name) in [
                (limits.max_response.is_some(), "max_response"),
                (limits.request_timeout.is_some(), "request_timeout"),
            ] {
                if written {
                    return Err(ConfigError::new(
                        file,
                        key(&format!("limits.{name}")),
                        "is an adapter's limit (its outbound HTTP), not code mode's",
                    )
                    .hint("code reaches servers only through weft's calls, which their own timeouts bound"));
                }
            }
            limits.apply(&mut out.limits, file, &key("limits"))?;
            check_memory(out.limits.memory)
                .map_err(|e| ConfigError::new(file, key("limits.memory"), e.to_string()))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawCode {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_tenant_overrides_key_by_key() {
        let file = Path::new("weft.toml");
        let top = raw("enabled = true\ngrants = [\"time.*\"]\n[limits]\ntimeout = \"5s\"\n")
            .over(&CodeConfig::default(), file, "code")
            .unwrap();
        let tenant = raw("languages = [\"js\"]\n[limits]\nmax_calls = 3\n")
            .over(&top, file, "tenants.a.code")
            .unwrap();
        assert_eq!(tenant.enabled, Some(true));
        assert_eq!(tenant.languages, vec![Language::JavaScript]);
        assert_eq!(tenant.grants, Some(vec!["time.*".to_string()]));
        assert_eq!(tenant.limits.timeout, std::time::Duration::from_secs(5));
        assert_eq!(tenant.limits.max_calls, 3);
    }

    #[test]
    fn bad_values_name_their_key() {
        let file = Path::new("weft.toml");
        let base = CodeConfig::default();
        for (text, key) in [
            ("languages = [\"ruby\"]", "code.languages"),
            ("languages = []", "code.languages"),
            ("grants = [\"nodot\"]", "code.grants"),
            ("max_code_bytes = 0", "code.max_code_bytes"),
            ("[limits]\nconcurrency = 2", "code.limits.concurrency"),
            (
                "[limits]\nmax_response = \"1MiB\"",
                "code.limits.max_response",
            ),
            (
                "[limits]\nrequest_timeout = \"5s\"",
                "code.limits.request_timeout",
            ),
            ("[limits]\nmemory = \"4GiB\"", "code.limits.memory"),
        ] {
            let e = raw(text).over(&base, file, "code").unwrap_err();
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
    }

    /// The schema refuses in `[code.limits]` exactly the keys the loader
    /// refuses there, and takes the run's own.
    #[test]
    fn the_schema_and_the_loader_agree_on_code_limits() {
        let schema = crate::config::reference::schema();
        let validator = jsonschema::validator_for(&schema).expect("a schema");
        let file = Path::new("weft.toml");
        for (key, value, refused) in [
            ("concurrency", "2", true),
            ("max_response", "\"1MiB\"", true),
            ("request_timeout", "\"5s\"", true),
            ("fuel", "\"2G\"", false),
            ("timeout", "\"10s\"", false),
            ("memory", "\"64MiB\"", false),
            ("max_calls", "50", false),
            ("max_output", "\"1MiB\"", false),
        ] {
            let text = format!("[limits]\n{key} = {value}");
            let loader = raw(&text)
                .over(&CodeConfig::default(), file, "code")
                .is_err();
            let table: toml::Table = format!("[code.limits]\n{key} = {value}").parse().unwrap();
            let instance = serde_json::to_value(table).unwrap();
            assert_eq!(loader, refused, "the loader on {key}");
            assert_eq!(
                !validator.is_valid(&instance),
                refused,
                "the schema on {key}"
            );
        }
    }
}
