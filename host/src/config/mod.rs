//! The configuration file: which MCP servers weft connects to, and how it
//! names what they offer.
//!
//! Two formats load into the same [`Config`]:
//! - weft's own TOML (`weft.toml`), with `[settings]` and `[servers.NAME]`
//!   tables, and later `[policies.NAME]`;
//! - a Claude-Desktop style JSON file (`{"mcpServers": {...}}`), accepted
//!   unchanged so users can point weft at the file they already have.
//!
//! Loading validates everything it can without starting a process, and every
//! error names the file, the line and column, the key and what to do about
//! it. `${env:NAME}` and `${secret:NAME}` references are resolved here,
//! per server, so a value only ever reaches the server that names it (see
//! [`secrets`]).

pub mod adapter;
pub mod agent_oauth;
pub mod approval;
mod builtin_adapter;
pub mod code;
pub mod credentials;
mod duration;
pub mod egress;
mod error;
pub mod grants;
mod json;
mod locate;
pub mod oauth;
pub mod oci;
pub mod openapi;
mod otel;
pub mod pattern;
pub mod policy;
mod raw;
pub mod reference;
pub mod registries;
pub mod resilience;
pub mod sandbox;
pub mod secrets;
pub mod state;
pub mod tenant;
pub mod tls;
mod toml_errors;
mod toml_file;
pub mod view;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use adapter::AdapterConfig;
pub use approval::{Approvals, ServerApproval};
pub use code::CodeConfig;
pub use duration::{AmountError, parse_duration, parse_size};
pub use egress::EgressConfig;
pub use error::{ConfigError, Position};
pub use grants::Grants;
pub use pattern::{PatternError, ToolPatterns};
pub use policy::{Limits, PolicyConfig};
pub use resilience::{BreakerPolicy, CachePolicy, Resilience, RestartPolicy, RetryPolicy};
pub use sandbox::{Network, SandboxConfig, SandboxMode};
pub use secrets::{ReferenceError, SecretStore, SecretsFileError};
pub use tenant::{KeyEntry, KeyFile, KeyFileError, TenantConfig, TenantLimits};

/// The servers built into weft (`builtin = "..."`).
pub const BUILTINS: &[&str] = &["echo"];

/// The file name looked up in the working directory when neither `--config`
/// nor `WEFT_CONFIG` names one.
pub const DEFAULT_FILE: &str = "weft.toml";

/// How exposed tool names are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameMode {
    /// `server__tool` (the separator is configurable).
    #[default]
    Prefix,
    /// The upstream's own name; collisions go to the server with the highest
    /// priority and are reported.
    None,
}

/// What weft does with a tool definition the scanner flags (`scan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanMode {
    /// Do not scan.
    Off,
    /// Scan; log, audit and report a flagged tool, and serve it.
    #[default]
    Warn,
    /// Scan; keep a flagged tool from agents (quarantined).
    Strict,
}

impl ScanMode {
    /// `off`, `warn` or `strict`; anything else is `None`.
    pub fn parse(text: &str) -> Option<ScanMode> {
        match text {
            "off" => Some(ScanMode::Off),
            "warn" => Some(ScanMode::Warn),
            "strict" => Some(ScanMode::Strict),
            _ => None,
        }
    }
}

/// What weft does when a tool's definition differs from its pin (`pin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinMode {
    /// Do not pin.
    Off,
    /// Pin; log, audit and report a changed tool, and serve it.
    #[default]
    Warn,
    /// Pin; keep a changed tool from agents until it is approved, and pin
    /// a tool new to a known server as it comes.
    NewOk,
    /// Pin; keep a changed tool, and a tool new to a known server, from
    /// agents until it is approved.
    Strict,
}

impl PinMode {
    /// `off`, `warn`, `new-ok` or `strict`; anything else is `None`.
    pub fn parse(text: &str) -> Option<PinMode> {
        match text {
            "off" => Some(PinMode::Off),
            "warn" => Some(PinMode::Warn),
            "new-ok" => Some(PinMode::NewOk),
            "strict" => Some(PinMode::Strict),
            _ => None,
        }
    }
}

/// Settings that apply to the whole hub.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How exposed tool names are formed (default: prefixed).
    pub names: NameMode,
    /// `scan`: what a tool definition the scanner flags gets (see
    /// `host/src/scan/`), unless its server says otherwise.
    pub scan: ScanMode,
    /// `pin`: what a tool whose definition differs from its pin gets
    /// (see `host/src/pins/`), unless its server says otherwise.
    pub pin: PinMode,
    /// `approval` and `approval_timeout`: which calls wait for a person's
    /// approval, whoever makes them, and for how long.
    pub approval: Approvals,
    /// What joins a server's name and a tool's in prefixed names (default
    /// `__`).
    pub separator: String,
    /// How long a server may take to start and answer its handshake.
    pub startup_timeout: Duration,
    /// The default per-call timeout for servers that set none.
    pub call_timeout: Duration,
    /// What `weft serve` lists for agents.
    pub expose: Expose,
    /// How many items one page of a list holds in `weft serve`.
    pub page_size: usize,
    /// How many bytes of serialised items one page holds at most (a page
    /// always holds one item, however large).
    pub page_bytes: usize,
    /// How long `weft serve` waits for calls in flight when it is stopped.
    pub shutdown_timeout: Duration,
    /// The key file `weft keys` writes (hashes only).
    pub keys_file: PathBuf,
    /// Said once on stderr by the command line when `keys_file` is the old
    /// shared `weft.keys.toml` (see [`tenant::resolve_key_file`]).
    pub keys_notice: Option<String>,
    /// The secrets file, if one is configured or exists by default.
    pub secrets_file: Option<PathBuf>,
    /// Where every call is recorded, if anywhere.
    pub audit: Option<PathBuf>,
    /// The largest request body `serve --http` accepts.
    pub max_body: u64,
    /// How long `serve --http` waits for a request body to arrive.
    pub body_timeout: Duration,
    /// Variables of weft's own environment that stdio servers also get,
    /// beside [`BASE_ENV`] and their own `env`.
    pub pass_env: Vec<String>,
    /// The HTTP edge of `serve --http` (connections, heads, sessions).
    pub edge: EdgeLimits,
    /// The journal of durable runs (`journal`: a path, or `false` for
    /// none); by default one of the config's own under the user's data
    /// folder (see `own_journal`).
    pub journal: Option<PathBuf>,
    /// Said by `weft runs` when this config's own journal does not exist
    /// yet and the old shared one does: earlier runs may be there.
    pub journal_notice: Option<String>,
    /// `state`: the PostgreSQL database that holds the journal instead of
    /// the `journal` file, the audit log instead of the `audit` file, and
    /// the tenants' rate buckets, shared by several weft processes.
    pub state: Option<state::StateUrl>,
    /// `lease`: how long a run in a shared journal stays owned by its
    /// process without a heartbeat.
    pub lease: Duration,
    /// `resume`: `weft serve` resumes, when it starts, the unfinished runs
    /// it started (and with `state`, takes over those whose lease expired).
    pub resume: bool,
    /// `otel_endpoint`: where traces go, as OTLP over HTTP (the full
    /// `/v1/traces` URL); none without it.
    pub otel_endpoint: Option<String>,
    /// `[settings.registries]`: how `oci://` components are fetched.
    pub registries: registries::Registries,
    /// `[settings.trust]`: whose signatures on `oci://` components count.
    pub trust: registries::Trust,
    /// `sandbox`: how stdio servers' OS sandboxes are applied.
    pub sandbox: SandboxMode,
}

/// What one client may hold of `serve --http`: the defences against slow
/// and greedy clients.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeLimits {
    /// How long a request's head (request line and headers) may take to
    /// arrive, counted from when weft starts waiting for it: on a new
    /// connection, and on a kept-alive one between requests.
    pub header_timeout: Duration,
    /// How long an answer may wait on a client that takes none of it
    /// before the connection is closed.
    pub idle_timeout: Duration,
    /// Connections open at once, from everyone.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_connections_per_client: usize,
    /// The largest request head, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// The most header fields one request may have (431 beyond).
    pub max_headers: usize,
    /// Sessions one tenant may hold open at once.
    pub max_sessions_per_tenant: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_connections_per_client: 512,
            max_header_bytes: 32 << 10,
            max_headers: 64,
            max_sessions_per_tenant: 1000,
        }
    }
}

/// The variables of weft's environment every stdio server gets (when set):
/// what a program needs to find its tools and write temporary files. Any
/// other variable reaches a server only through its `env` or
/// `settings.pass_env`, so a server never sees weft's credentials, API keys
/// or cloud variables.
pub const BASE_ENV: &[&str] = &["PATH", "HOME", "LANG", "TMPDIR"];

/// What `weft serve` lists as tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expose {
    /// Every catalog tool, every policy and the meta tools.
    #[default]
    All,
    /// Policies and the meta tools (search, run a policy, call a tool).
    Policies,
    /// Only the meta tools, to keep an agent's context small.
    Search,
    /// The orchestrator mode: `weft_search_tools` and `weft_run_code`
    /// only, every server reached through code. Where code mode is off for
    /// a caller, as `Search`.
    Code,
}

impl Expose {
    /// Reads the config or command-line spelling.
    pub fn parse(s: &str) -> Option<Expose> {
        match s {
            "all" => Some(Expose::All),
            "policies" => Some(Expose::Policies),
            "search" => Some(Expose::Search),
            "code" => Some(Expose::Code),
            _ => None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            names: NameMode::Prefix,
            scan: ScanMode::Warn,
            pin: PinMode::Warn,
            approval: Approvals::default(),
            separator: "__".into(),
            startup_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
            expose: Expose::All,
            page_size: 1000,
            page_bytes: 64 << 10,
            shutdown_timeout: Duration::from_secs(10),
            keys_file: PathBuf::from(tenant::DEFAULT_KEY_FILE),
            keys_notice: None,
            secrets_file: None,
            audit: None,
            max_body: 4 << 20,
            body_timeout: Duration::from_secs(10),
            pass_env: Vec::new(),
            edge: EdgeLimits::default(),
            journal: default_journal_path(),
            journal_notice: None,
            state: None,
            lease: state::DEFAULT_LEASE,
            resume: false,
            otel_endpoint: None,
            registries: registries::Registries::default(),
            trust: registries::Trust::default(),
            sandbox: SandboxMode::Auto,
        }
    }
}

/// The journal of a config without a file of its own (the built-in
/// example): `journal.db` in [`data_dir`].
pub fn default_journal_path() -> Option<PathBuf> {
    data_dir().map(|d| d.join("journal.db"))
}

/// A config file's own journal, when `settings.journal` is not written:
/// `journals/NAME-HASH.db` in [`data_dir`], NAME the file's stem and HASH
/// twelve hex digits of the SHA-256 of its absolute path, so that two
/// configs never list each other's runs. Not beside the config: its folder
/// is often the project a server is granted, and no sandbox grant may hold
/// weft's files. `None` for a config with no file name to go by (the
/// built-in example), which keeps [`default_journal_path`]; the notice says
/// where older runs are, when the shared journal exists and this one does
/// not yet.
pub(crate) fn own_journal(config_file: &Path) -> Option<(PathBuf, Option<String>)> {
    use sha2::Digest;
    config_file.extension()?;
    let stem = config_file.file_stem()?.to_string_lossy();
    let absolute = std::fs::canonicalize(config_file)
        .or_else(|_| std::path::absolute(config_file))
        .ok()?;
    let digest = sha2::Sha256::digest(absolute.as_os_str().as_encoded_bytes());
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let own = data_dir()?
        .join("journals")
        .join(format!("{stem}-{hash}.db"));
    let notice = default_journal_path()
        .filter(|old| !own.exists() && old.exists())
        .map(|old| {
            format!(
                "this config's runs are journaled in {}, its own; runs from before are in the shared {} (journal = {:?} under [settings] lists and resumes them)",
                own.display(),
                old.display(),
                old.display().to_string()
            )
        });
    Some((own, notice))
}

/// weft's folder under the user's data directory: `$XDG_DATA_HOME/weft`,
/// else `~/.local/share/weft` (none without a home).
pub fn data_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(data.join("weft"))
}

/// How weft reaches one server.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// A child process speaking MCP over its stdin and stdout.
    Stdio {
        /// The program to start, found on PATH or by its path.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Resolved environment (references already substituted).
        env: BTreeMap<String, String>,
        /// Names of weft's own variables passed on (`settings.pass_env`).
        pass_env: Vec<String>,
        /// Its working folder (default: weft's own).
        cwd: Option<PathBuf>,
        /// What the operating system lets the process reach.
        sandbox: Box<SandboxConfig>,
    },
    /// A remote server at a URL.
    Http {
        /// The server's `http://` or `https://` URL.
        url: String,
        /// Resolved headers (references already substituted).
        headers: BTreeMap<String, String>,
        /// Streamable HTTP (the default) or the legacy HTTP+SSE transport.
        legacy_sse: bool,
        /// How weft checks the server's certificate, and its own.
        tls: Box<tls::TlsConfig>,
        /// How weft gets OAuth tokens for it, if it wants them.
        oauth: Option<Box<oauth::OAuthConfig>>,
    },
    /// A server built into weft (`echo`), reached over an in-memory pipe.
    Builtin {
        /// Which built-in server (`echo`).
        name: String,
    },
    /// A Wasm component of the `adapter` world, run in weft's sandbox.
    Component(Box<adapter::AdapterConfig>),
}

/// The protocol era weft speaks to a server (`era` in its entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamEra {
    /// 2026-07-28 if the server speaks it, else the handshake.
    #[default]
    Auto,
    /// The `initialize` handshake only: for a server that speaks both eras
    /// but asks agents for input (sampling, elicitation, roots) only in
    /// the handshake era, on one connection (a stdio process speaks one
    /// era for its life). 2026-07-28 agents are then asked through weft.
    Handshake,
    /// 2026-07-28 only.
    Stateless,
}

/// One `[servers.NAME]` entry, validated and resolved.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The name from `[servers.NAME]`, which prefixes its tools' names.
    pub name: String,
    /// How weft reaches the server.
    pub transport: Transport,
    /// Whether weft starts and uses the server (`enabled`, default true).
    pub enabled: bool,
    /// The timeout of each call (default: `settings.call_timeout`).
    pub timeout: Duration,
    /// Which server wins a name collision or a `@DOMAIN` call, the higher
    /// first (default 0).
    pub priority: i64,
    /// `scan` for this server's tools; `None`: `settings.scan`.
    pub scan: Option<ScanMode>,
    /// `pin` for this server's tools; `None`: `settings.pin`.
    pub pin: Option<PinMode>,
    /// `approval`: which calls of this server's tools wait for a person.
    pub approval: ServerApproval,
    /// The domains a call to `@DOMAIN` may send to this server.
    pub domains: Vec<String>,
    /// Tool-name globs; empty means every tool.
    pub include: Vec<String>,
    /// Tool-name globs to hide, even when `include` matches them.
    pub exclude: Vec<String>,
    /// Restarts, retries, the circuit breaker and the cache.
    pub resilience: Resilience,
    /// Run once per tenant (`per_tenant = true` with tenants configured):
    /// `transport` is then never started, and each tenant whose view
    /// reaches the server gets its own instance from `tenant_transports`.
    pub per_tenant: bool,
    /// Each tenant's instance is told the roots its agents declare (and
    /// their changes); weft declares the `roots` capability to it.
    pub forward_roots: bool,
    /// The protocol era weft speaks to the server (`era`).
    pub era: UpstreamEra,
    /// Check a call's arguments against the tool's `inputSchema` before it
    /// goes out (`validate_args`, on by default).
    pub validate_args: bool,
    /// Tools safe to send twice although not annotated so: a durable run
    /// sends one again when its fate is in doubt.
    pub idempotent_tools: Vec<String>,
    /// Per tenant, the transport with that tenant's secrets resolved.
    /// Its `Debug` shows only the tenant names.
    pub tenant_transports: TenantTransports,
    /// The credentials among its resolved values, for redaction.
    pub credentials: credentials::Credentials,
}

/// The per-tenant transports of a server run once per tenant.
#[derive(Clone, Default)]
pub struct TenantTransports(pub Vec<(String, Transport)>);

impl std::fmt::Debug for TenantTransports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(t, _)| t))
            .finish()
    }
}

/// A loaded, validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from, if any (for messages).
    pub source: Option<PathBuf>,
    /// `[settings]`: what applies to the whole hub.
    pub settings: Settings,
    /// Servers in name order.
    pub servers: Vec<ServerConfig>,
    /// Policies in name order.
    pub policies: Vec<PolicyConfig>,
    /// Tenants in name order; none means one trusted user (no keys).
    pub tenants: Vec<TenantConfig>,
    /// Code mode (`[code]`); a tenant's own table is in its config.
    pub code: CodeConfig,
    /// OAuth for agents on `serve --http` (`[oauth]`).
    pub agent_oauth: Option<agent_oauth::AgentOAuthConfig>,
    /// Every secret value the loaded store holds and every server
    /// credential, so output can be redacted. Never printed.
    pub secret_values: SecretValues,
}

/// Values kept for redaction: `.0` masked in every output, `.1` as
/// `(tenant, value)`, masked in every output but that tenant's own (see
/// `crate::redact::for_tenant`). `Debug` shows only how many.
#[derive(Clone, Default)]
pub struct SecretValues(pub Vec<String>, pub Vec<(String, String)>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretValues({} values, {} per tenant)",
            self.0.len(),
            self.1.len()
        )
    }
}

impl Config {
    /// Loads and validates a config file, choosing the format by content:
    /// a JSON object is read as Claude-Desktop `mcpServers`, anything else
    /// as weft TOML.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path, "(file)", format!("cannot read the config file: {e}"))
                .hint("pass --config FILE, set WEFT_CONFIG, or create weft.toml in this directory")
        })?;
        Self::from_str(&text, path)
    }

    /// Parses config text; `path` is used for messages and to resolve
    /// relative paths (secrets file, `cwd`).
    pub fn from_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let json = text.trim_start().starts_with('{');
        let parsed = if json {
            json::parse(text, path)
        } else {
            toml_file::parse(text, path)
        };
        let mut config = parsed.map_err(|e| e.locate(text, json))?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Reads only what `weft keys` and `weft secrets` need (where the key
    /// and secrets files are, and the tenants' names), so they work while
    /// the rest of the config cannot load yet: a config that names a
    /// secret nobody has set is the reason to run `weft secrets set`.
    pub fn load_admin(path: &Path) -> Result<Config, ConfigError> {
        if let Ok(c) = Self::load(path) {
            return Ok(c);
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path, "(file)", format!("cannot read the config file: {e}"))
        })?;
        let mut config = Config {
            source: Some(path.to_path_buf()),
            ..Config::default()
        };
        let table: toml::Table = if text.trim_start().starts_with('{') {
            toml::Table::new()
        } else {
            toml::from_str(&text).map_err(|e| toml_errors::syntax_error(&text, path, &e))?
        };
        let setting = |k: &str| {
            table
                .get("settings")
                .and_then(|s| s.get(k))
                .and_then(|v| v.as_str())
        };
        config.settings.secrets_file = secrets::secrets_path(setting("secrets"), path);
        if let Some(tenants) = table.get("tenants").and_then(|t| t.as_table()) {
            config.tenants = tenants
                .keys()
                .map(|name| TenantConfig::named(name))
                .collect();
        }
        let names = config.tenants.iter().map(|t| t.name.as_str());
        (config.settings.keys_file, config.settings.keys_notice) =
            tenant::resolve_key_file(setting("keys"), path, names);
        Ok(config)
    }

    /// Finds the config file: an explicit path, then `WEFT_CONFIG`, then
    /// `weft.toml` in the working directory.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("WEFT_CONFIG").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let default = PathBuf::from(DEFAULT_FILE);
        default.exists().then_some(default)
    }

    /// The policy with this name, if configured.
    pub fn policy(&self, name: &str) -> Option<&PolicyConfig> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The tenant with this name, if configured.
    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.name == name)
    }

    /// The server with this name, if configured.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }
}

/// Why a server, policy or tenant name cannot be used; `what` is which
/// of the three it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty or longer than 32 characters.
    #[error("a {what} name must be 1 to 32 characters long")]
    Length {
        /// The kind of name: "server", "policy" or "tenant".
        what: &'static str,
    },
    /// The name has a character other than an ASCII letter or digit, `-` or `_`.
    #[error("a {what} name may use only letters, digits, '-' and '_'")]
    Characters {
        /// The kind of name: "server", "policy" or "tenant".
        what: &'static str,
    },
    /// The name contains `settings.separator`.
    #[error("a {what} name must not contain the name separator {separator:?}")]
    Separator {
        /// The kind of name: "server", "policy" or "tenant".
        what: &'static str,
        /// The separator it contains.
        separator: String,
    },
}

/// Checks a server (policy, tenant) name: it becomes part of exposed tool
/// names, so it must be short and use only characters MCP clients accept.
/// `what` says which kind of name it is ("server").
pub(crate) fn validate_name(
    what: &'static str,
    name: &str,
    separator: &str,
) -> Result<(), NameError> {
    if name.is_empty() || name.len() > 32 {
        return Err(NameError::Length { what });
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(NameError::Characters { what });
    }
    if !separator.is_empty() && name.contains(separator) {
        return Err(NameError::Separator {
            what,
            separator: separator.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
