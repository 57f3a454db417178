//! `weft serve`: one MCP endpoint for agents, over stdio or streamable HTTP.

use std::net::SocketAddr;
use std::process::ExitCode;

use crate::Caller;
use crate::config::{Config, Expose};
use crate::serve::{Gateway, HttpOptions, serve_http, serve_stdio};
use tokio_util::sync::CancellationToken;

use super::{FAILED, USAGE, finish, start_hub, warn_failed};

pub struct Options {
    pub http: Option<String>,
    pub expose: Option<String>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub tenant: Option<String>,
    pub allow_open: bool,
    pub advertise: Option<String>,
}

/// Reads `ADDR`, `:PORT` or `PORT`, binding loopback unless a host is given.
fn parse_addr(s: &str) -> anyhow::Result<SocketAddr> {
    let full = if let Some(port) = s.strip_prefix(':') {
        format!("127.0.0.1:{port}")
    } else if s.chars().all(|c| c.is_ascii_digit()) {
        format!("127.0.0.1:{s}")
    } else if s.starts_with("localhost:") {
        s.replacen("localhost", "127.0.0.1", 1)
    } else {
        s.to_string()
    };
    full.parse().map_err(|_| {
        anyhow::anyhow!(
            "--http {s:?} is not an address; use HOST:PORT like 127.0.0.1:8765, or :8765"
        )
    })
}

/// Refuses to serve every tool to anyone who can reach a non-loopback
/// address: without tenants no key is asked for.
fn check_exposure(addr: SocketAddr, no_tenants: bool, allow_open: bool) -> anyhow::Result<()> {
    if addr.ip().is_loopback() || !no_tenants || allow_open {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "--http {addr} listens beyond this machine, and the config defines no tenants, so anyone who reaches it may call every tool; define a tenant ([tenants.NAME], then `weft keys add NAME`) so callers need a key, or pass --allow-open if a proxy in front authenticates them"
    ))
}

pub async fn run(config: Config, opts: Options) -> ExitCode {
    let expose = match opts.expose.as_deref().map(|e| (e, Expose::parse(e))) {
        None => None,
        Some((_, Some(e))) => Some(e),
        Some((e, None)) => {
            crate::errln!("weft: --expose {e:?} is not a mode; use all, policies, search or code");
            return ExitCode::from(USAGE);
        }
    };
    let addr = match opts.http.as_deref().map(parse_addr).transpose() {
        Ok(a) => a,
        Err(e) => {
            crate::errln!("weft: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if let Some(a) = addr
        && let Err(e) = check_exposure(a, config.tenants.is_empty(), opts.allow_open)
    {
        crate::errln!("weft: {e}");
        return ExitCode::from(USAGE);
    }
    let advertise = match opts
        .advertise
        .as_deref()
        .map(crate::serve::task_homes::advertised)
        .transpose()
    {
        Ok(a) => a,
        Err(e) => {
            crate::errln!("weft: --advertise: {e}");
            return ExitCode::from(USAGE);
        }
    };
    // Over stdio there is no key to tell tenants apart: name one.
    if addr.is_none() && !config.tenants.is_empty() && opts.tenant.is_none() {
        let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
        crate::errln!(
            "weft: the config defines tenants ({}); serve stdio as one of them with --tenant NAME",
            names.join(", ")
        );
        return ExitCode::from(USAGE);
    }
    if let Some(t) = &opts.tenant
        && let Err(code) = super::known_tenant(&config, t)
    {
        return code;
    }
    let tenant = opts.tenant.clone();
    if advertise.is_some() && config.settings.state.is_none() {
        tracing::warn!(
            "--advertise does nothing without settings.state: replicas share tasks through its PostgreSQL database"
        );
    }
    let hub = start_hub(config, true, true).await;
    warn_failed(&hub);
    let gw = Gateway::new(hub.clone(), expose);
    // Policy runs are journaled as `weft run`'s are; a journal that cannot
    // be opened stops weft serve, naming it.
    let settings = hub.config().settings.clone();
    let resume = settings.resume;
    match tokio::task::spawn_blocking(move || crate::journal::open_configured(&settings)).await {
        Ok(Ok(Some(backend))) => gw.enable_journal(backend),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => {
            crate::errln!("weft: {e}");
            return finish(FAILED).await;
        }
        Err(e) => {
            crate::errln!("weft: the journal's opening task failed: {e}");
            return finish(FAILED).await;
        }
    }
    // Replicas sharing a database share their tenants' rates and their
    // agents' HTTP sessions too.
    if let Some(url) = &hub.config().settings.state
        && (hub.tenants().any_rate() || addr.is_some())
    {
        // The journal has brought the schema up to date unless it is off.
        if hub.config().settings.journal.is_none() {
            let url = url.expose().to_string();
            let prepared =
                tokio::task::spawn_blocking(move || crate::journal::prepare_shared(&url)).await;
            let failure = match prepared {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("the schema's task failed: {e}")),
            };
            if let Some(e) = failure {
                crate::errln!("weft: {e}");
                return finish(FAILED).await;
            }
        }
        if hub.tenants().any_rate() {
            match crate::tenant::SharedRates::connect(url.expose()).await {
                Ok(shared) => hub.tenants().share_rates(&shared),
                Err(e) => {
                    crate::errln!("weft: {e}; check settings.state");
                    return finish(FAILED).await;
                }
            }
        }
        if addr.is_some() {
            if let Err(e) = gw.share_sessions(url.expose()).await {
                crate::errln!("weft: {e}; check settings.state");
                return finish(FAILED).await;
            }
            if let Err(e) = gw.share_tasks(url.expose(), advertise.as_deref()).await {
                crate::errln!("weft: {e:#}");
                return finish(USAGE).await;
            }
        }
    }
    // Code mode is on for a local agent over stdio (its own machine's
    // user); `weft serve --http` offers it only where `[code] enabled =
    // true` is written (for everyone or for a tenant).
    gw.enable_code(
        crate::code::Interpreters::new(None, std::sync::Arc::new(super::build::Toolchain)),
        addr.is_none(),
    );
    // After code mode is set up: a code-mode run resumes on its interpreter.
    if resume {
        crate::serve::durable::resume_owned(gw.clone());
    }
    let servers = hub.status().iter().filter(|s| s.protocol.is_some()).count();
    let tools = hub.catalog().tools().len();
    let tenants = hub.tenants().names().count();
    match addr {
        None => {
            tracing::info!(servers, tools, "serving MCP on stdio");
            let caller = match tenant.and_then(|t| hub.tenants().get(&t)) {
                Some(t) => Caller::tenant(t, "stdio"),
                None => Caller::owner(),
            };
            match serve_stdio(gw, caller).await {
                Ok(()) => finish(0).await,
                Err(e) => {
                    crate::errln!("weft: {e:#}");
                    finish(FAILED).await
                }
            }
        }
        Some(addr) => {
            let options = HttpOptions {
                allowed_hosts: opts.allowed_hosts,
                allowed_origins: opts.allowed_origins,
                // Set by serve_http once it has bound.
                loopback: false,
            };
            let stop = CancellationToken::new();
            let served = serve_http(
                gw,
                addr,
                options,
                stop,
                Box::new(move |bound| {
                    // One line on stdout, so scripts can read the real port.
                    let plural = |n: usize, word: &str| {
                        format!("{n} {word}{}", if n == 1 { "" } else { "s" })
                    };
                    let access = if tenants == 0 {
                        "no tenants: requests need no key".to_string()
                    } else {
                        format!(
                            "{}: requests need a key (Authorization: Bearer KEY)",
                            plural(tenants, "tenant")
                        )
                    };
                    crate::outln!(
                        "weft: serving MCP on http://{bound}/mcp ({} from {}; eras 2025-11-25 with sessions and 2026-07-28 stateless; {access})",
                        plural(tools, "tool"),
                        plural(servers, "server")
                    );
                }),
            )
            .await;
            match served {
                Ok(()) => finish(0).await,
                Err(e) => {
                    crate::errln!("weft: {e:#}");
                    finish(USAGE).await
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_addr;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr(":8765").unwrap().to_string(), "127.0.0.1:8765");
        assert_eq!(parse_addr("8765").unwrap().to_string(), "127.0.0.1:8765");
        assert_eq!(
            parse_addr("localhost:1").unwrap().to_string(),
            "127.0.0.1:1"
        );
        assert_eq!(parse_addr("0.0.0.0:80").unwrap().to_string(), "0.0.0.0:80");
        assert!(parse_addr("nowhere").is_err());
    }

    #[test]
    fn open_binds_need_tenants_or_allow_open() {
        use super::check_exposure;
        let public = parse_addr("0.0.0.0:80").unwrap();
        let local = parse_addr(":80").unwrap();
        assert!(check_exposure(public, true, false).is_err());
        assert!(check_exposure(public, true, true).is_ok());
        assert!(check_exposure(public, false, false).is_ok());
        assert!(check_exposure(local, true, false).is_ok());
    }
}
