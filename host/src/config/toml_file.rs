//! weft's own TOML format: `[settings]` and `[servers.NAME]` tables.
//!
//! The file is first parsed as a plain table, then each section is read on
//! its own, so an error can name the exact key it is about.

use std::path::Path;

use serde::Deserialize;

use super::duration::RawDuration;
use super::error::WHOLE_FILE;
use super::otel::otel_endpoint;
use super::policy::{RawAmount, RawPolicy};
use super::raw::RawServer;
use super::secrets::{LazySecrets, secrets_path};
use super::tenant::{KeyFile, RawTenant, resolve_key_file};
use super::toml_errors::{check_subtables, section, syntax_error};
use super::{Config, ConfigError, Expose, NameMode, PinMode, ScanMode, Settings};

/// Settings of the whole process: how exposed tools are named, timeouts,
/// what `weft serve` lists and what its HTTP edge accepts, and where weft
/// keeps its files (secrets, keys, audit log, journal).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    /// How exposed tool names are formed: `"prefix"` (`server__tool`,
    /// joined by `separator`) or `"none"` (the upstream's own names; a
    /// collision goes to the server with the higher `priority`).
    #[schemars(extend("default" = "prefix"))]
    names: Option<String>,
    /// What a tool definition weft's scanner flags (invisible characters,
    /// text aimed at the model, credential paths, an oversized
    /// description) gets: `"warn"` (logged, audited and reported by
    /// `weft check`; still served), `"strict"` (kept from agents, and a
    /// call refused) or `"off"` (not scanned). Invisible characters are
    /// stripped from what agents see unless it is `"off"`.
    #[schemars(extend("default" = "warn"))]
    scan: Option<String>,
    /// What a tool whose definition differs from the one weft pinned when
    /// it first listed it gets: `"warn"` (logged, audited and shown by
    /// `weft pins`; still served), `"new-ok"` (kept from agents until
    /// `weft pins approve`; a tool new to the server is pinned as it
    /// comes), `"strict"` (changed and new tools both kept until
    /// approved) or `"off"` (not pinned).
    #[schemars(extend("default" = "warn"))]
    pin: Option<String>,
    /// `server.tool` globs of the tools whose calls wait for a person's
    /// approval, whoever makes them (policies and code mode included):
    /// weft asks the agent's user through elicitation, and a decline or
    /// no answer fails the call as `declined`. Tenants add their own with
    /// `approval` on the tenant, servers with `approval = true`.
    #[schemars(extend("default" = []))]
    approval: Option<Vec<String>>,
    /// How long weft waits for a person's answer to an approval before it
    /// declines the call: a duration, seconds or "5m".
    #[schemars(extend("default" = "5m"))]
    approval_timeout: Option<RawDuration>,
    /// What joins the server's name and the tool's in prefixed names: 1 to
    /// 4 letters, digits, `_` or `-`.
    #[schemars(extend("default" = "__"))]
    separator: Option<String>,
    /// How long a server may take to start (spawn or connect), answer its
    /// handshake and list what it offers: a duration, seconds or "30s".
    #[schemars(extend("default" = "30s"))]
    startup_timeout: Option<RawDuration>,
    /// The per-call timeout of every server that sets no `timeout` of its
    /// own: a duration, seconds or "60s".
    #[schemars(extend("default" = "60s"))]
    call_timeout: Option<RawDuration>,
    /// The secrets file `weft secrets` writes (mode 0600), relative to the
    /// config file's folder; the `WEFT_SECRETS` variable wins over it.
    #[schemars(extend("default" = "weft.secrets.toml"))]
    secrets: Option<String>,
    /// What `weft serve` lists to agents: `"all"` (every tool, the policies
    /// and the meta tools), `"policies"` (policies and meta tools),
    /// `"search"` (meta tools only) or `"code"` (`weft_search_tools` and
    /// `weft_run_code` only).
    #[schemars(extend("default" = "all"))]
    expose: Option<String>,
    /// How many items one page of `weft serve`'s lists holds: 1 to 100000.
    #[schemars(extend("default" = 1000))]
    page_size: Option<usize>,
    /// How many bytes of serialised items one page of `weft serve`'s lists
    /// holds at most: bytes, or a size such as "256KiB", from 1KiB to
    /// 64MiB. A page ends before the item that would pass it (it always
    /// holds one), so a client parses a large catalog a page at a time.
    #[schemars(extend("default" = "64KiB"))]
    page_bytes: Option<RawAmount>,
    /// How long `weft serve`, when stopped (SIGTERM), lets calls in flight
    /// finish before it stops every server: a duration, seconds or "10s".
    #[schemars(extend("default" = "10s"))]
    shutdown_timeout: Option<RawDuration>,
    /// The key file `weft keys add` writes (key hashes only), relative to
    /// the config file's folder. By default `NAME.keys.toml` beside the
    /// config file `NAME.toml` (`weft.keys.toml` for `weft.toml`).
    keys: Option<String>,
    /// A file where every request is recorded as one JSON line (mode 0600),
    /// relative to the config file's folder. No audit log unless set.
    audit: Option<String>,
    /// The largest request body `weft serve --http` accepts (413 beyond): a
    /// size, bytes or "4MiB", at least 1KiB.
    #[schemars(extend("default" = "4MiB"))]
    max_body: Option<RawAmount>,
    /// How long `weft serve --http` waits for a request body to arrive (408
    /// beyond): a duration, seconds or "10s".
    #[schemars(extend("default" = "10s"))]
    body_timeout: Option<RawDuration>,
    /// Names of variables of weft's own environment that stdio servers also
    /// get, beside PATH, HOME, LANG, TMPDIR and their own `env` (letters,
    /// digits and `_`, like "HTTPS_PROXY").
    #[schemars(extend("default" = []))]
    pass_env: Option<Vec<String>>,
    /// How long a request's head (request line and headers) may take to
    /// arrive on `weft serve --http`, on a new connection or on a kept-alive
    /// one between requests: a duration, seconds or "30s".
    #[schemars(extend("default" = "30s"))]
    header_timeout: Option<RawDuration>,
    /// How long an answer of `weft serve --http` may wait on a client that
    /// reads none of it before the connection is closed: a duration,
    /// seconds or "60s".
    #[schemars(extend("default" = "60s"))]
    idle_timeout: Option<RawDuration>,
    /// Connections `weft serve --http` holds open at once, from all clients
    /// (503 beyond): 1 to 1000000.
    #[schemars(extend("default" = 4096))]
    max_connections: Option<u64>,
    /// Connections `weft serve --http` holds open at once from one client
    /// address (503 beyond): 1 to 1000000.
    #[schemars(extend("default" = 512))]
    max_connections_per_client: Option<u64>,
    /// The largest request head (request line and headers) that
    /// `weft serve --http` accepts (431 beyond): a size from 1KiB to 1MiB.
    #[schemars(extend("default" = "32KiB"))]
    max_header_bytes: Option<RawAmount>,
    /// The most header fields one request to `weft serve --http` may have
    /// (431 beyond): 1 to 1000.
    #[schemars(extend("default" = 64))]
    max_headers: Option<u64>,
    /// HTTP sessions one tenant may hold open at once on
    /// `weft serve --http` (429 beyond; another tenant's are never
    /// evicted): 1 to 1000000.
    #[schemars(extend("default" = 1000))]
    max_sessions_per_tenant: Option<u64>,
    /// The journal of durable runs: a file path (relative to the config
    /// file's folder), or `false` for none. By default this config's own,
    /// `journals/NAME-HASH.db` in weft's data folder (`$XDG_DATA_HOME/weft`,
    /// else `~/.local/share/weft`).
    #[schemars(with = "Option<JournalSetting>")]
    journal: Option<toml::Value>,
    /// A PostgreSQL URL (`postgres://` or `postgresql://`; `${secret:..}`
    /// and `${env:..}` work) that holds the journal, the audit log and the
    /// tenants' rate buckets, shared by several weft processes. Off unless
    /// set.
    state: Option<String>,
    /// How long a run in the journal stays owned by its process without a
    /// heartbeat, before another process may take it over: a duration from
    /// 1s to 1h.
    #[schemars(extend("default" = "30s"))]
    lease: Option<RawDuration>,
    /// Whether `weft serve`, when it starts, resumes the unfinished runs
    /// that `weft serve` started (and takes over those whose lease
    /// expired).
    #[schemars(extend("default" = false))]
    resume: Option<bool>,
    /// A collector's OTLP/HTTP address (`http://` or `https://`, like
    /// "http://127.0.0.1:4318") that traces are exported to; `/v1/traces`
    /// is added. No traces are sent unless set.
    otel_endpoint: Option<String>,
    /// How stdio servers' OS sandboxes are applied: `"auto"` (every layer
    /// the kernel has; missing ones are reported), `"require"` (a server
    /// whose sandbox lacks a layer is not started) or `"off"`.
    #[schemars(extend("default" = "auto"))]
    sandbox: Option<String>,
    /// How weft reaches OCI registries for `oci://` components.
    #[serde(default)]
    registries: super::registries::RawRegistries,
    /// Whose signatures on `oci://` components count.
    #[serde(default)]
    trust: super::registries::RawTrust,
}

/// What `settings.journal` takes, for the config's schema only (the key is
/// read as a `toml::Value` and checked in [`parse`]).
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum JournalSetting {
    Path(String),
    Off(bool),
}

const TOP_LEVEL: &[&str] = &[
    "settings", "servers", "policies", "tenants", "code", "oauth",
];

pub(super) fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, file, &e))?;
    for key in table.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            return Err(ConfigError::unknown_key(file, WHOLE_FILE, key, TOP_LEVEL));
        }
    }
    let raw_settings: RawSettings = match table.get("settings") {
        Some(v) => section(v, file, "settings")?,
        None => RawSettings::default(),
    };
    let mut settings = Settings::default();
    edge_settings(&raw_settings, &mut settings.edge, file)?;
    if let Some(names) = &raw_settings.names {
        settings.names = match names.as_str() {
            "prefix" => NameMode::Prefix,
            "none" => NameMode::None,
            other => {
                return Err(ConfigError::new(file, "settings.names", format!("{other:?} is not a naming mode"))
                    .hint("use \"prefix\" (server__tool) or \"none\" (the upstream names, collisions by priority)"));
            }
        };
    }
    if let Some(mode) = &raw_settings.scan {
        settings.scan = ScanMode::parse(mode).ok_or_else(|| {
            ConfigError::new(
                file,
                "settings.scan",
                format!("{mode:?} is not a scan mode"),
            )
            .hint("use \"warn\", \"strict\" or \"off\"")
        })?;
    }
    if let Some(mode) = &raw_settings.pin {
        settings.pin = PinMode::parse(mode).ok_or_else(|| {
            ConfigError::new(file, "settings.pin", format!("{mode:?} is not a pin mode"))
                .hint("use \"warn\", \"new-ok\", \"strict\" or \"off\"")
        })?;
    }
    if let Some(list) = &raw_settings.approval {
        settings.approval.tools = super::approval::patterns(list, file, "settings.approval")?;
    }
    if let Some(t) = &raw_settings.approval_timeout {
        settings.approval.timeout = t.resolve(file, "settings.approval_timeout")?;
    }
    if let Some(sep) = raw_settings.separator {
        if sep.is_empty()
            || sep.len() > 4
            || !sep
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::new(file, "settings.separator", format!("{sep:?} is not a usable separator"))
                .hint("use 1 to 4 of the characters MCP clients accept in tool names: letters, digits, '_' and '-'"));
        }
        settings.separator = sep;
    }
    if let Some(t) = &raw_settings.startup_timeout {
        settings.startup_timeout = t.resolve(file, "settings.startup_timeout")?;
    }
    if let Some(t) = &raw_settings.call_timeout {
        settings.call_timeout = t.resolve(file, "settings.call_timeout")?;
    }
    if let Some(t) = &raw_settings.shutdown_timeout {
        settings.shutdown_timeout = t.resolve(file, "settings.shutdown_timeout")?;
    }
    if let Some(e) = &raw_settings.expose {
        settings.expose = Expose::parse(e).ok_or_else(|| {
            ConfigError::new(file, "settings.expose", format!("{e:?} is not an expose mode")).hint(
                "use \"all\" (every tool), \"policies\" (policies and search), \"search\" (search only) or \"code\" (search and weft_run_code only)",
            )
        })?;
    }
    if let Some(n) = raw_settings.page_size {
        if n == 0 || n > 100_000 {
            return Err(ConfigError::new(
                file,
                "settings.page_size",
                format!("{n} is out of range"),
            )
            .hint("use a page size from 1 to 100000"));
        }
        settings.page_size = n;
    }
    if let Some(m) = raw_settings.page_bytes.clone() {
        let bytes = super::policy::amount_bytes(m)
            .map_err(|e| ConfigError::new(file, "settings.page_bytes", e.to_string()))?;
        if !(1024..=64 << 20).contains(&bytes) {
            return Err(ConfigError::new(
                file,
                "settings.page_bytes",
                format!("{bytes} bytes is out of range"),
            )
            .hint("use a page size from 1KiB to 64MiB; the default is 64KiB"));
        }
        settings.page_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    if let Some(t) = &raw_settings.body_timeout {
        settings.body_timeout = t.resolve(file, "settings.body_timeout")?;
    }
    if let Some(m) = raw_settings.max_body.clone() {
        let bytes = super::policy::amount_bytes(m)
            .map_err(|e| ConfigError::new(file, "settings.max_body", e.to_string()))?;
        if bytes < 1024 {
            return Err(ConfigError::new(
                file,
                "settings.max_body",
                format!("{bytes} bytes is too small for an MCP request"),
            )
            .hint("use at least 1KiB; the default is 4MiB"));
        }
        settings.max_body = bytes;
    }
    if let Some(names) = raw_settings.pass_env {
        for name in &names {
            let valid = !name.is_empty()
                && name.len() <= 256
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                let shown: String = name.chars().take(64).collect();
                return Err(ConfigError::new(
                    file,
                    "settings.pass_env",
                    format!("{shown:?} is not an environment variable name"),
                )
                .hint("list names such as \"HTTPS_PROXY\" (letters, digits and _)"));
            }
        }
        settings.pass_env = names;
    }
    settings.trust = raw_settings.trust.resolve(file)?;
    if let Some(url) = &raw_settings.otel_endpoint {
        settings.otel_endpoint = Some(otel_endpoint(url).map_err(|why| {
            ConfigError::new(file, "settings.otel_endpoint", format!("{why:#}"))
                .hint("give the collector's OTLP/HTTP address, like \"http://127.0.0.1:4318\" (traces go to /v1/traces under it)")
        })?);
    }
    settings.audit = raw_settings.audit.as_deref().map(|a| {
        let p = std::path::PathBuf::from(a);
        match file.parent() {
            Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
            _ => p,
        }
    });
    match &raw_settings.journal {
        None | Some(toml::Value::Boolean(true)) => {
            if let Some((own, notice)) = super::own_journal(file) {
                settings.journal = Some(own);
                settings.journal_notice = notice;
            }
        }
        Some(toml::Value::Boolean(false)) => settings.journal = None,
        Some(toml::Value::String(path)) if !path.is_empty() => {
            let p = std::path::PathBuf::from(path);
            settings.journal = Some(match file.parent() {
                Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
                _ => p,
            });
        }
        Some(_) => {
            return Err(ConfigError::new(
                file,
                "settings.journal",
                "must be a file path, or false",
            )
            .hint("write journal = \"runs.db\" (relative to the config), or journal = false to run without a journal"));
        }
    }
    let mut secrets = LazySecrets::new(secrets_path(raw_settings.secrets.as_deref(), file));
    settings.secrets_file = secrets.path().map(Path::to_path_buf);
    let mut masked = Vec::new();
    settings.registries = raw_settings
        .registries
        .resolve(file, &mut secrets, &mut masked)?;
    if let Some(raw) = &raw_settings.state {
        settings.state = Some(super::state::parse_state(
            raw,
            file,
            &mut secrets,
            &mut masked,
        )?);
    }
    if let Some(lease) = &raw_settings.lease {
        settings.lease = super::state::parse_lease(lease, file)?;
    }
    settings.resume = raw_settings.resume.unwrap_or(false);
    if let Some(mode) = &raw_settings.sandbox {
        settings.sandbox = super::SandboxMode::parse(mode).ok_or_else(|| {
            ConfigError::new(
                file,
                "settings.sandbox",
                format!(
                    "{:?} is not \"auto\", \"require\" or \"off\"",
                    mode.chars().take(64).collect::<String>()
                ),
            )
        })?;
    }

    let code = match table.get("code") {
        Some(v) => section::<super::code::RawCode>(v, file, "code")?.over(
            &super::CodeConfig::default(),
            file,
            "code",
        )?,
        None => super::CodeConfig::default(),
    };
    let mut tenants = Vec::new();
    if let Some(v) = table.get("tenants") {
        let Some(entries) = v.as_table() else {
            return Err(ConfigError::new(
                file,
                "tenants",
                "must be a table of [tenants.NAME] entries",
            ));
        };
        for (name, entry) in entries {
            let key = format!("tenants.{name}");
            if let Some(limits) = entry.as_table().and_then(|t| t.get("limits")) {
                section::<super::tenant::RawTenantLimits>(limits, file, &format!("{key}.limits"))?;
            }
            let raw: RawTenant = section(entry, file, &key)?;
            tenants.push(raw.into_config(name, file, &code)?);
        }
    }
    // Named after the config, or the old shared file when that holds
    // these tenants' keys still.
    (settings.keys_file, settings.keys_notice) = resolve_key_file(
        raw_settings.keys.as_deref(),
        file,
        tenants
            .iter()
            .map(|t: &super::TenantConfig| t.name.as_str()),
    );
    let mut servers = Vec::new();
    if let Some(v) = table.get("servers") {
        let Some(entries) = v.as_table() else {
            return Err(ConfigError::new(
                file,
                "servers",
                "must be a table of [servers.NAME] entries",
            ));
        };
        for (name, entry) in entries {
            let key = format!("servers.{name}");
            check_subtables(entry, file, &key)?;
            let raw: RawServer = section(entry, file, &key)?;
            servers.push(raw.into_config(
                &key,
                name,
                file,
                &settings,
                &mut || secrets.get(),
                &tenants,
            )?);
        }
    }
    let mut policies = Vec::new();
    if let Some(v) = table.get("policies") {
        let Some(entries) = v.as_table() else {
            return Err(ConfigError::new(
                file,
                "policies",
                "must be a table of [policies.NAME] entries",
            ));
        };
        for (name, entry) in entries {
            let key = format!("policies.{name}");
            let raw: RawPolicy = section(entry, file, &key)?;
            policies.push(raw.into_config(name, file)?);
        }
    }
    add_stored_keys(&mut tenants, &settings.keys_file, file)?;
    let agent_oauth = match table.get("oauth") {
        Some(v) => Some(
            section::<super::agent_oauth::RawAgentOAuth>(v, file, "oauth")?
                .into_config(file, tenants.len())?,
        ),
        None => None,
    };
    let mut secret_values = secrets.redacted_values(&servers);
    secret_values.0.extend(masked);
    secret_values.0.sort();
    secret_values.0.dedup();
    Ok(Config {
        source: None,
        settings,
        servers,
        policies,
        tenants,
        code,
        agent_oauth,
        secret_values,
    })
}

/// The `serve --http` edge settings: durations, and counts within range.
fn edge_settings(
    raw: &RawSettings,
    edge: &mut super::EdgeLimits,
    file: &Path,
) -> Result<(), ConfigError> {
    if let Some(t) = &raw.header_timeout {
        edge.header_timeout = t.resolve(file, "settings.header_timeout")?;
    }
    if let Some(t) = &raw.idle_timeout {
        edge.idle_timeout = t.resolve(file, "settings.idle_timeout")?;
    }
    let count = |v: Option<u64>, key: &str, max: u64, default: usize| match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(ConfigError::new(
            file,
            format!("settings.{key}"),
            format!("{n} is out of range"),
        )
        .hint(format!("use 1 to {max}; the default is {default}"))),
    };
    edge.max_connections = count(
        raw.max_connections,
        "max_connections",
        1_000_000,
        edge.max_connections,
    )?;
    edge.max_connections_per_client = count(
        raw.max_connections_per_client,
        "max_connections_per_client",
        1_000_000,
        edge.max_connections_per_client,
    )?;
    edge.max_headers = count(raw.max_headers, "max_headers", 1000, edge.max_headers)?;
    edge.max_sessions_per_tenant = count(
        raw.max_sessions_per_tenant,
        "max_sessions_per_tenant",
        1_000_000,
        edge.max_sessions_per_tenant,
    )?;
    if let Some(m) = raw.max_header_bytes.clone() {
        let key = "settings.max_header_bytes";
        let bytes = match m {
            RawAmount::Number(n) => n,
            RawAmount::Text(t) => {
                super::parse_size(&t).map_err(|e| ConfigError::new(file, key, e.to_string()))?
            }
        };
        if !(1024..=(1 << 20)).contains(&bytes) {
            return Err(
                ConfigError::new(file, key, format!("{bytes} bytes is out of range"))
                    .hint("use 1KiB to 1MiB; the default is 32KiB"),
            );
        }
        edge.max_header_bytes = bytes as usize;
    }
    Ok(())
}

/// Adds the keys `weft keys add` recorded to their tenants.
fn add_stored_keys(
    tenants: &mut [super::TenantConfig],
    key_file: &Path,
    file: &Path,
) -> Result<(), ConfigError> {
    if tenants.is_empty() && !key_file.exists() {
        return Ok(());
    }
    let stored = KeyFile::load(key_file)
        .map_err(|m| ConfigError::new(file, "settings.keys", m.to_string()))?;
    for key in stored.keys {
        match tenants.iter_mut().find(|t| t.name == key.tenant) {
            Some(t) => t.keys.push(key),
            None => tracing::warn!(
                key = %key.id,
                tenant = %key.tenant,
                "the key file has a key for a tenant the config does not define; it is ignored"
            ),
        }
    }
    Ok(())
}
