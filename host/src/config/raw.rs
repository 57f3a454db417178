//! The on-disk shape of a server entry, shared by the TOML and JSON formats,
//! and its conversion into a validated [`ServerConfig`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::credentials::{Credentials, credential_values, looks_like_credential};
use super::duration::RawDuration;
use super::resilience::{RawBreaker, RawCache, RawResilience, RawRestart, RawRetry};
use super::secrets::{self, SecretStore, SecretsFileError};
use super::{ConfigError, ServerConfig, Settings, Transport};

/// One MCP server weft connects to: a process it starts (`command`, over
/// stdio), a remote server (`url`, over HTTP), a server built into weft
/// (`builtin`) or a Wasm component it hosts (`component`).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// A stdio server: the program weft starts, found on PATH or by its
    /// path. `${env:..}` works here, `${secret:..}` does not (use `env`).
    pub command: Option<String>,
    /// A stdio server's arguments. `${env:..}` works here, `${secret:..}`
    /// does not (arguments show in process listings); relative paths are
    /// from weft's working folder, or `cwd`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Variables set for a stdio server: besides PATH, HOME, LANG, TMPDIR
    /// and `settings.pass_env`, the only ones it gets. Values may use
    /// `${env:..}` and `${secret:..}`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A stdio server's working folder, relative to the config file's
    /// folder; by default weft's own working folder.
    pub cwd: Option<PathBuf>,
    /// A remote server: its `http://` or `https://` URL. `${env:..}` works
    /// here, `${secret:..}` does not (use `headers`).
    pub url: Option<String>,
    /// A server built into weft: `echo`.
    pub builtin: Option<String>,
    /// A Wasm component of the `adapter` world, hosted in weft's sandbox:
    /// its `.wasm` file, relative to the config file's folder, or
    /// `builtin:openapi`.
    pub component: Option<PathBuf>,
    /// What a component server may call (`server.tool` globs).
    #[serde(default)]
    pub grants: Vec<String>,
    /// A component server's per-call limits.
    pub limits: Option<super::policy::RawLimits>,
    /// A component server's own settings, handed to it as JSON.
    #[schemars(with = "Option<serde_json::Value>")]
    #[schemars(extend("default" = {}))]
    pub config: Option<toml::Value>,
    /// The URLs a component server may request (`http://HOST:PORT/PATH`).
    #[serde(default)]
    pub egress: Vec<String>,
    /// Headers the host adds to a component server's requests, per host.
    #[serde(default)]
    pub egress_headers: BTreeMap<String, BTreeMap<String, String>>,
    /// `builtin:openapi` only: a credential for each of the document's
    /// security schemes, by the scheme's name (`[servers.NAME.security.SCHEME]`):
    /// `value` for an API key (header, query or cookie) or a bearer token,
    /// `username` and `password` for HTTP basic. weft adds it to every
    /// request for the API's host; the component never holds it. Values
    /// may use `${env:..}` and `${secret:..}`.
    #[serde(default)]
    pub security: BTreeMap<String, BTreeMap<String, String>>,
    /// Headers sent with every request to an HTTP server. Values may use
    /// `${env:..}` and `${secret:..}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// PEM certificates trusted for this HTTPS server (a private CA)
    /// besides the system's roots, relative to the config file's folder. On
    /// a component server, for its `https://` egress.
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) for HTTPS servers that ask for one
    /// (mutual TLS); on a component server, for its `https://` egress.
    pub client_cert: Option<PathBuf>,
    /// Its key: a PEM file, or a `${secret:..}` holding the PEM text.
    pub client_key: Option<String>,
    /// Accept any server certificate (with a warning on every connection):
    /// HTTPS servers, and a component server's `https://` egress. Prefer
    /// `ca_file`.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// HTTP servers: weft gets OAuth tokens for the server. `oauth = true`
    /// (log in once with `weft auth login`), or an `[servers.NAME.oauth]`
    /// table.
    #[schemars(extend("default" = false))]
    pub oauth: Option<super::oauth::RawOAuth>,
    /// `stdio`, `http` (streamable HTTP) or `sse` (legacy HTTP+SSE); also
    /// spelled `type`. By default `stdio` with `command`, `http` with
    /// `url`.
    #[serde(alias = "type")]
    pub transport: Option<String>,
    /// Whether weft starts and uses the server; `false` keeps the entry
    /// without using it.
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    /// Claude-Desktop style switch; the opposite of `enabled`.
    #[schemars(extend("default" = false))]
    pub disabled: Option<bool>,
    /// The timeout of each call to this server: a duration, seconds or
    /// "30s", more than zero. By default `settings.call_timeout`.
    pub timeout: Option<RawDuration>,
    /// Which server wins, the higher first: a tool name two servers offer
    /// when `names = "none"`, and a call to `@DOMAIN`.
    #[serde(default)]
    pub priority: i64,
    /// `"warn"`, `"strict"` or `"off"`: what a tool of this server that
    /// weft's scanner flags gets, instead of `settings.scan`.
    pub scan: Option<String>,
    /// `"warn"`, `"new-ok"`, `"strict"` or `"off"`: what a tool of this
    /// server whose definition differs from its pin gets, instead of
    /// `settings.pin`.
    pub pin: Option<String>,
    /// `true`, `false` or `"destructive"`: whether calls of this server's
    /// tools wait for a person's approval, asked of the agent's user
    /// through elicitation. `"destructive"` covers the tools that may
    /// destroy, as MCP reads annotations: all but those annotated
    /// `readOnlyHint: true` or `destructiveHint: false`.
    #[schemars(extend("default" = false))]
    pub approval: Option<super::approval::RawServerApproval>,
    /// Domains the server serves: a call to `@DOMAIN` goes to the healthy
    /// server of highest `priority` among those tagged so that have the
    /// tool, and fails over to the next.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Globs of the server's tool names to offer; empty offers every tool.
    /// A tool left out cannot be called.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of the server's tool names to hide, even when `include`
    /// matches them. A hidden tool cannot be called.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// How the server is started again after a crash or a lost connection.
    pub restart: Option<RawRestart>,
    /// Which failed calls to the server are tried again, and how.
    pub retry: Option<RawRetry>,
    /// The server's circuit breaker: when calls fail fast instead of
    /// reaching it.
    pub breaker: Option<RawBreaker>,
    /// How long the server's results may be served from weft's cache.
    pub cache: Option<RawCache>,
    /// One process (or connection) per tenant, each with that tenant's
    /// secrets, instead of one shared by all.
    #[serde(default)]
    pub per_tenant: bool,
    /// Pass the roots of the tenant's agents to this server (only with
    /// `per_tenant`).
    #[serde(default)]
    pub forward_roots: bool,
    /// A stdio server's OS sandbox: `false`, or what it may reach.
    #[schemars(extend("default" = true))]
    pub sandbox: Option<super::sandbox::RawSandbox>,
    /// The protocol era weft speaks to the server: `auto` (the default),
    /// `handshake` or `2026-07-28`.
    #[schemars(extend("default" = "auto"))]
    pub era: Option<String>,
    /// Check a call's arguments against the tool's `inputSchema` before
    /// it goes out (default); `false` for a server whose schemas are wrong.
    #[serde(alias = "validateArgs")]
    #[schemars(extend("default" = true))]
    pub validate_args: Option<bool>,
    /// Tools a durable run may send again when in doubt.
    #[serde(default)]
    pub idempotent_tools: Vec<String>,
    /// A component server whose every call is a durable run (journaled,
    /// resumable).
    #[serde(default)]
    pub durable: bool,
}

impl RawServer {
    /// Validates the entry and resolves its references. `entry` is its key
    /// path in the file (`servers.NAME`, `mcpServers.NAME`); `secrets` opens
    /// the secrets file on first use; `tenants` are the configured tenants,
    /// for a server run once per tenant.
    pub(crate) fn into_config(
        mut self,
        entry: &str,
        name: &str,
        file: &Path,
        settings: &Settings,
        secrets: &mut dyn FnMut() -> Result<SecretStore, SecretsFileError>,
        tenants: &[super::TenantConfig],
    ) -> Result<ServerConfig, ConfigError> {
        let key = |k: &str| format!("{entry}.{k}");
        super::validate_name("server", name, &settings.separator)
            .map_err(|m| ConfigError::new(file, entry, m.to_string()))?;
        if self.sandbox.is_some() && self.command.is_none() {
            return Err(ConfigError::new(file, key("sandbox"), "applies only to servers weft starts (`command`)")
                .hint("remove it: a remote server, a built-in one or a component runs outside this sandbox"));
        }

        let needs_secrets = self
            .env
            .values()
            .chain(self.headers.values())
            .chain(self.client_key.iter())
            .chain(self.oauth.iter().flat_map(|o| o.secret_values()))
            .chain(self.egress_headers.values().flat_map(|t| t.values()))
            .chain(self.security.values().flat_map(|t| t.values()))
            .any(|v| secrets::mentions_secret(v));
        let store = if needs_secrets {
            Some(secrets().map_err(|m| ConfigError::new(file, entry, m.to_string()))?)
        } else {
            None
        };
        // With tenants, a per-tenant server's shared entry is never started:
        // its values are resolved per tenant below, and a secret may exist
        // only in the tenants' scopes.
        let per_tenant = self.per_tenant && !tenants.is_empty();
        // Every credential resolved below, for the redaction pass.
        let credentials = std::cell::RefCell::new(Credentials::default());
        let resolve_with = |map: &BTreeMap<String, String>,
                            field: &str,
                            store: Option<&SecretStore>,
                            tenant: Option<&str>| {
            map.iter()
                .map(|(k, v)| {
                    let mut refs = Vec::new();
                    let resolved = secrets::resolve_noting(v, store, &mut refs);
                    if let Ok(r) = &resolved {
                        let mut found: Vec<String> = refs.into_iter().map(|(_, v)| v).collect();
                        if looks_like_credential(k) {
                            found.extend(credential_values(r));
                        }
                        credentials.borrow_mut().note(tenant, found);
                    }
                    resolved.map(|r| (k.clone(), r)).map_err(|m| {
                        let m = match tenant {
                            Some(t) => format!("for tenant {t:?}: {m}"),
                            None => m.to_string(),
                        };
                        let e = ConfigError::new(file, format!("{entry}.{field}.{k}"), m);
                        match tenant {
                            Some(t) => e.hint(format!(
                                "set it for this tenant with `weft secrets set --tenant {t} NAME`, or shared without --tenant"
                            )),
                            None => e,
                        }
                    })
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        let resolve_map = |map: &BTreeMap<String, String>, field: &str| {
            if per_tenant {
                return Ok(BTreeMap::new());
            }
            resolve_with(map, field, store.as_ref(), None)
        };
        // Secrets go only where they do not show up in a process listing
        // or a log line: a stdio server's environment, an HTTP server's
        // headers. `${env:..}` is fine anywhere.
        for (field, value) in self
            .args
            .iter()
            .map(|a| ("args", a))
            .chain(self.command.iter().map(|c| ("command", c)))
            .chain(self.url.iter().map(|u| ("url", u)))
        {
            if secrets::mentions_secret(value) {
                return Err(ConfigError::new(file, key(field), "${secret:..} references are resolved only in `env` and `headers`")
                    .hint("pass the secret to the server through `env` (stdio) or `headers` (HTTP), where it stays out of process listings"));
            }
        }
        // `${env:..}` in a URL is always a credential (a key in a query);
        // in a command, its arguments or `cwd`, when its name says so.
        let plain = |v: String, field: &str| {
            let mut refs = Vec::new();
            let r = secrets::resolve_noting(&v, None, &mut refs)
                .map_err(|m| ConfigError::new(file, key(field), m.to_string()))?;
            let found = refs
                .into_iter()
                .filter(|(name, _)| field == "url" || looks_like_credential(name))
                .map(|(_, v)| v);
            credentials.borrow_mut().note(None, found);
            Ok::<_, ConfigError>(r)
        };
        let command = self.command.map(|c| plain(c, "command")).transpose()?;
        let url = self.url.map(|u| plain(u, "url")).transpose()?;
        let args = self
            .args
            .into_iter()
            .map(|a| plain(a, "args"))
            .collect::<Result<Vec<_>, _>>()?;
        let cwd = self
            .cwd
            .map(|c| plain(c.to_string_lossy().into_owned(), "cwd").map(PathBuf::from))
            .transpose()?;

        if let Some(name) = &self.builtin {
            if command.is_some() || url.is_some() {
                return Err(ConfigError::new(
                    file,
                    key("builtin"),
                    "cannot be combined with `command` or `url`",
                ));
            }
            if !super::BUILTINS.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    file,
                    key("builtin"),
                    format!("there is no built-in server {name:?}"),
                )
                .hint(format!("built-in servers: {}", super::BUILTINS.join(", "))));
            }
        }
        let component = self.component.take();
        if component.is_some() && (command.is_some() || url.is_some() || self.builtin.is_some()) {
            return Err(ConfigError::new(
                file,
                key("component"),
                "cannot be combined with `command`, `url` or `builtin`",
            ));
        }
        if component.is_none() {
            let only = [
                ("grants", !self.grants.is_empty()),
                ("limits", self.limits.is_some()),
                ("config", self.config.is_some()),
                ("egress", !self.egress.is_empty()),
                ("egress_headers", !self.egress_headers.is_empty()),
                ("security", !self.security.is_empty()),
                ("durable", self.durable),
            ];
            if let Some((field, _)) = only.iter().find(|(_, set)| *set) {
                return Err(ConfigError::new(
                    file,
                    key(field),
                    "applies only to component servers",
                )
                .hint("add `component = \"PATH.wasm\"`, or remove it"));
            }
        }
        // The TLS keys (an HTTPS server's, or a component's for its
        // https:// egress). A client key given as a reference is resolved
        // from the shared secrets (per-tenant servers included) and noted
        // for redaction like a header's value.
        let raw_tls = || {
            let key_was_reference = self.client_key.as_deref().is_some_and(|k| k.contains("${"));
            let client_key = match &self.client_key {
                Some(k) if key_was_reference => {
                    let one = BTreeMap::from([("client_key".to_string(), k.clone())]);
                    resolve_with(&one, "tls", store.as_ref(), None)?.remove("client_key")
                }
                other => other.clone(),
            };
            Ok::<_, ConfigError>(super::tls::RawTls {
                ca_file: self.ca_file.as_deref(),
                client_cert: self.client_cert.as_deref(),
                client_key,
                key_was_reference,
                insecure_skip_verify: self.insecure_skip_verify,
            })
        };
        let kind = self.transport.as_deref().map(str::to_ascii_lowercase);
        let transport = match (command, url, kind.as_deref()) {
            (None, None, None) if component.is_some() => {
                if !args.is_empty()
                    || !self.env.is_empty()
                    || cwd.is_some()
                    || !self.headers.is_empty()
                {
                    return Err(ConfigError::new(
                        file,
                        entry,
                        "`args`, `env`, `cwd` and `headers` do not apply to component servers",
                    )
                    .hint("pass settings to the component in [servers.NAME.config]"));
                }
                // The injected headers are resolved like an HTTP server's
                // `headers`: their secrets are noted for redaction.
                let mut egress_headers = BTreeMap::new();
                for (host, table) in &self.egress_headers {
                    let field = format!("egress_headers.{host}");
                    egress_headers.insert(host.clone(), resolve_map(table, &field)?);
                }
                // A security scheme's secrets (not a user name, a client
                // id or scopes, which are no secret and may be short
                // words found everywhere).
                let mut security = BTreeMap::new();
                for (scheme, table) in &self.security {
                    let field = format!("security.{scheme}");
                    let resolved = resolve_map(table, &field)?;
                    credentials.borrow_mut().note(
                        None,
                        resolved
                            .iter()
                            .filter(|(k, _)| {
                                matches!(k.as_str(), "value" | "password" | "client_secret")
                            })
                            .flat_map(|(_, v)| credential_values(v))
                            .collect::<Vec<String>>(),
                    );
                    security.insert(scheme.clone(), resolved);
                }
                let https_egress = self.egress.iter().any(|e| e.starts_with("https://"));
                let tls = raw_tls()?.into_egress_config(file, entry, https_egress)?;
                let adapter = super::adapter::RawAdapter {
                    path: component.unwrap_or_default(),
                    tls,
                    grants: std::mem::take(&mut self.grants),
                    limits: self.limits.take(),
                    config: self.config.take(),
                    egress: std::mem::take(&mut self.egress),
                    egress_headers,
                    durable: self.durable,
                    security: super::openapi::Security(security),
                };
                Transport::Component(Box::new(adapter.resolve(entry, file)?))
            }
            (None, None, _) if self.builtin.is_some() => Transport::Builtin {
                name: self.builtin.clone().unwrap_or_default(),
            },
            (Some(_), Some(_), _) => {
                return Err(ConfigError::new(file, entry, "has both `command` and `url`")
                    .hint("a server is either a local process (`command`) or a remote URL (`url`), not both"));
            }
            (Some(command), None, None | Some("stdio")) => {
                if command.trim().is_empty() {
                    return Err(ConfigError::new(file, key("command"), "is empty"));
                }
                if !self.headers.is_empty() {
                    return Err(ConfigError::new(
                        file,
                        key("headers"),
                        "applies only to HTTP servers",
                    )
                    .hint("use `env` to pass values to a stdio server"));
                }
                if self.ca_file.is_some()
                    || self.client_cert.is_some()
                    || self.client_key.is_some()
                    || self.insecure_skip_verify
                {
                    return Err(ConfigError::new(
                        file,
                        entry,
                        "`ca_file`, `client_cert`, `client_key` and `insecure_skip_verify` apply only to https:// servers",
                    )
                    .hint("remove them from this stdio server"));
                }
                let cwd = cwd.map(|c| match file.parent() {
                    Some(dir) if c.is_relative() => dir.join(c),
                    _ => c,
                });
                let sandbox = super::sandbox::RawSandbox::resolve(
                    self.sandbox.as_ref(),
                    entry,
                    file,
                    settings,
                )?;
                Transport::Stdio {
                    command,
                    args,
                    env: resolve_map(&self.env, "env")?,
                    pass_env: settings.pass_env.clone(),
                    cwd,
                    sandbox: Box::new(sandbox),
                }
            }
            (
                None,
                Some(url),
                None
                | Some("http")
                | Some("streamable-http")
                | Some("streamablehttp")
                | Some("sse"),
            ) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::new(
                        file,
                        key("url"),
                        format!("{url:?} is not an http:// or https:// URL"),
                    ));
                }
                if !args.is_empty() || !self.env.is_empty() || cwd.is_some() {
                    return Err(ConfigError::new(
                        file,
                        entry,
                        "`args`, `env` and `cwd` apply only to stdio servers",
                    )
                    .hint("remove them, or use `command` for a local server"));
                }
                let tls = raw_tls()?.into_config(file, entry, &url)?;
                let oauth = match self.oauth.take() {
                    Some(raw) => {
                        // Every value resolved here is a credential
                        // (a secret, a key, a token), masked wherever seen.
                        let mut resolve = |field: &str, v: &str| {
                            let one = BTreeMap::from([(field.to_string(), v.to_string())]);
                            let mut r = resolve_with(&one, "oauth", store.as_ref(), None)?;
                            let value = r.remove(field).unwrap_or_default();
                            credentials
                                .borrow_mut()
                                .note(None, credential_values(&value));
                            Ok(value)
                        };
                        raw.into_config(file, entry, settings.secrets_file.clone(), &mut resolve)?
                    }
                    None => None,
                };
                Transport::Http {
                    oauth: oauth.map(Box::new),
                    headers: resolve_map(&self.headers, "headers")?,
                    legacy_sse: kind.as_deref() == Some("sse"),
                    tls: Box::new(tls),
                    url,
                }
            }
            (None, None, _) => {
                return Err(ConfigError::new(file, entry, "has neither `command` nor `url` (nor `builtin`)")
                    .hint("add `command = \"...\"` for a local stdio server or `url = \"https://...\"` for a remote one"));
            }
            (_, _, Some(other)) => {
                return Err(ConfigError::new(
                    file,
                    key("transport"),
                    format!("{other:?} does not fit this server"),
                )
                .hint("use \"stdio\" with `command`, or \"http\" / \"sse\" with `url`"));
            }
        };
        let enabled = match (self.enabled, self.disabled) {
            (Some(e), Some(d)) if e == d => {
                return Err(ConfigError::new(
                    file,
                    entry,
                    "`enabled` and `disabled` contradict each other",
                ));
            }
            (Some(e), _) => e,
            (None, Some(d)) => !d,
            (None, None) => true,
        };
        let timeout = match &self.timeout {
            Some(t) => t.resolve(file, &key("timeout"))?,
            None => settings.call_timeout,
        };
        if timeout.is_zero() {
            return Err(ConfigError::new(
                file,
                key("timeout"),
                "must be more than zero",
            ));
        }
        for (field, globs) in [("include", &self.include), ("exclude", &self.exclude)] {
            for g in globs {
                globset::Glob::new(g).map_err(|e| {
                    ConfigError::new(file, key(field), format!("{g:?} is not a valid glob: {e}"))
                })?;
            }
        }
        let resilience = RawResilience {
            restart: self.restart,
            retry: self.retry,
            breaker: self.breaker,
            cache: self.cache,
        }
        .resolve(file, entry)?;
        let mut tenant_transports = Vec::new();
        if self.per_tenant
            && matches!(
                transport,
                Transport::Builtin { .. } | Transport::Component(_)
            )
        {
            return Err(ConfigError::new(
                file,
                key("per_tenant"),
                "a built-in or component server cannot run once per tenant",
            )
            .hint("remove `per_tenant`; these servers hold no credentials, and the caller's tenant travels with each call"));
        }
        let era = match self.era.as_deref() {
            None | Some("auto") => super::UpstreamEra::Auto,
            Some("handshake") => super::UpstreamEra::Handshake,
            Some("2026-07-28") => super::UpstreamEra::Stateless,
            Some(other) => {
                let mut shown = other.to_string();
                crate::util::truncate(&mut shown, 64);
                return Err(ConfigError::new(
                    file,
                    key("era"),
                    format!("{shown:?} is not a protocol era weft knows"),
                )
                .hint("use \"auto\" (the default), \"handshake\" or \"2026-07-28\""));
            }
        };
        if era == super::UpstreamEra::Stateless
            && matches!(
                &transport,
                Transport::Http {
                    legacy_sse: true,
                    ..
                }
            )
        {
            return Err(ConfigError::new(
                file,
                key("era"),
                "the legacy HTTP+SSE transport predates the 2026-07-28 era",
            )
            .hint("remove `era`, or `transport = \"sse\"`"));
        }
        if self.forward_roots && !self.per_tenant {
            return Err(ConfigError::new(
                file,
                key("forward_roots"),
                "roots go only to a server run once per tenant: a shared server would take whichever agent's roots came last",
            )
            .hint("add per_tenant = true, or remove forward_roots"));
        }
        if per_tenant {
            for tenant in tenants {
                let view =
                    super::view::View::new(&tenant.include, &tenant.exclude).unwrap_or_default();
                if !view.reaches(name) {
                    continue;
                }
                let scoped = store.as_ref().map(|s| s.scoped(Some(&tenant.name)));
                let mut t = transport.clone();
                match &mut t {
                    Transport::Stdio { env, .. } => {
                        *env = resolve_with(&self.env, "env", scoped.as_ref(), Some(&tenant.name))?;
                    }
                    Transport::Http { headers, .. } => {
                        *headers = resolve_with(
                            &self.headers,
                            "headers",
                            scoped.as_ref(),
                            Some(&tenant.name),
                        )?;
                    }
                    Transport::Builtin { .. } | Transport::Component(_) => {}
                }
                tenant_transports.push((tenant.name.clone(), t));
            }
        }
        Ok(ServerConfig {
            name: name.to_string(),
            resilience,
            transport,
            enabled,
            timeout,
            priority: self.priority,
            scan: match &self.scan {
                None => None,
                Some(mode) => Some(super::ScanMode::parse(mode).ok_or_else(|| {
                    ConfigError::new(file, key("scan"), format!("{mode:?} is not a scan mode"))
                        .hint("use \"warn\", \"strict\" or \"off\"")
                })?),
            },
            pin: match &self.pin {
                None => None,
                Some(mode) => Some(super::PinMode::parse(mode).ok_or_else(|| {
                    ConfigError::new(file, key("pin"), format!("{mode:?} is not a pin mode"))
                        .hint("use \"warn\", \"new-ok\", \"strict\" or \"off\"")
                })?),
            },
            approval: match &self.approval {
                None => super::ServerApproval::Off,
                Some(a) => a.resolve(file, &key("approval"))?,
            },
            domains: self.domains,
            include: self.include,
            exclude: self.exclude,
            per_tenant,
            forward_roots: self.forward_roots && per_tenant,
            era,
            validate_args: self.validate_args.unwrap_or(true),
            idempotent_tools: self.idempotent_tools,
            tenant_transports: super::TenantTransports(tenant_transports),
            credentials: credentials.into_inner(),
        })
    }
}
