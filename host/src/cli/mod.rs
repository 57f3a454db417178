//! The commands of the `weft` binary, one entry point each, over the
//! library. Shared here: finding and loading the config, starting the hub
//! with progress on a terminal, and stopping it on SIGINT or SIGTERM.

pub mod args;
mod audit;
mod auth;
mod bindings;
mod build;
mod call;
mod check;
mod exec;
mod keys;
pub mod logging;
mod new;
mod oci;
mod pins;
mod resume;
mod run;
mod run_journal;
mod runs;
mod secrets;
mod serve;
mod status;
mod table;
mod takeover;
mod tools;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::{Hub, StartEvent};

use args::{Args, AuditCommand, Command, ConfigCommand};

/// The work failed: a tool error, a server down, a limit hit.
pub const FAILED: u8 = 1;
/// Bad usage or a bad config.
pub const USAGE: u8 = 2;

/// The built-in example configuration, used when no config file is found.
const DEFAULT_CONFIG: &str = include_str!("../../examples/weft.toml");

/// Reports a command line clap refused: a limit flag's own error as one
/// line (`weft: --timeout must be more than zero (got 0s)`), anything else
/// as clap words it (help and version go to stdout with exit code 0).
pub fn args_error(e: clap::Error) -> ExitCode {
    let flag = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<args::limits::FlagError>())
        .filter(|_| e.kind() == clap::error::ErrorKind::ValueValidation);
    if let Some(flag) = flag {
        eprintln!("weft: {flag}");
        return ExitCode::from(USAGE);
    }
    let _ = e.print();
    ExitCode::from(if e.use_stderr() { USAGE } else { 0 })
}

/// Runs one command to completion, stopping every server on the way out,
/// also when SIGINT or SIGTERM arrives first.
pub async fn run(args: Args) -> ExitCode {
    // Asking a running weft needs no config of our own.
    if let Command::Status {
        json,
        url: Some(url),
        watch,
        interval,
    } = &args.command
    {
        let watch = watch.then_some(*interval);
        return status::remote(url, *json, watch).await;
    }
    // Building and starting policies needs no config either.
    match args.command {
        Command::Build {
            dir,
            out,
            lang,
            adapter,
        } => {
            return build::run(build::Options {
                dir,
                out,
                lang,
                adapter,
            })
            .await;
        }
        Command::New {
            lang,
            adapter,
            name,
        } => return new::run(lang, adapter, &name),
        Command::Config(what) => {
            let text = match what {
                ConfigCommand::Schema => {
                    serde_json::to_string_pretty(&crate::config::reference::schema())
                        .unwrap_or_default()
                }
                ConfigCommand::Reference => crate::config::reference::markdown(),
            };
            crate::outln!("{}", text.trim_end());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let admin = matches!(
        args.command,
        Command::Keys(_) | Command::Secrets(_) | Command::Auth(_)
    );
    let config = match load_config(args.config.as_deref(), admin) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("weft: {message}");
            return ExitCode::from(USAGE);
        }
    };
    if let Some(endpoint) = &config.settings.otel_endpoint
        && let Err(e) = crate::telemetry::start(endpoint)
    {
        crate::errln!("weft: traces will not be exported: {e}");
    }
    let work = async {
        match args.command {
            Command::Tools {
                server,
                read_only,
                tenant,
                json,
                format,
            } => {
                let opts = tools::Options {
                    server,
                    tenant,
                    read_only,
                    json,
                    format: format.as_deref().and_then(crate::formats::Format::parse),
                };
                tools::run(config, opts).await
            }
            Command::Bindings {
                lang,
                servers,
                policy,
                out,
            } => {
                let opts = bindings::Options {
                    lang,
                    servers,
                    policy,
                    out,
                };
                bindings::run(config, opts).await
            }
            Command::Call {
                server,
                tool,
                args,
                json,
                tenant,
            } => call::run(config, &server, &tool, args, json, tenant.as_deref()).await,
            Command::Run {
                policy,
                no_journal,
                tenant,
                run,
            } => run::run(config, policy, run, !no_journal, tenant).await,
            Command::Runs(cmd) => runs::run(config, cmd).await,
            Command::Push { file, reference } => oci::push(&config, file, reference).await,
            Command::Pull { reference } => oci::pull(config, reference).await,
            Command::Sign { reference, key } => oci::sign(&config, reference, key).await,
            Command::Exec {
                file,
                lang,
                no_journal,
                run,
            } => exec::run(config, file, lang.map(Into::into), run, !no_journal).await,
            Command::Serve {
                stdio: _,
                http,
                expose,
                allowed_hosts,
                allowed_origins,
                tenant,
                allow_open,
                advertise,
            } => {
                serve::run(
                    config,
                    serve::Options {
                        http,
                        expose,
                        allowed_hosts,
                        allowed_origins,
                        tenant,
                        allow_open,
                        advertise,
                    },
                )
                .await
            }
            Command::Keys(cmd) => keys::run(&config, cmd),
            Command::Secrets(cmd) => secrets::run(&config, cmd),
            Command::Auth(cmd) => auth::run(&config, cmd).await,
            Command::Pins(cmd) => pins::run(&config, cmd).await,
            Command::Audit(AuditCommand::Tail {
                lines,
                follow,
                json,
            }) => audit::tail(&config, lines, follow, json).await,
            Command::Check { json } => check::run(config, json).await,
            Command::Status {
                json,
                url: _,
                watch,
                interval,
            } => status::local(config, json, watch.then_some(interval)).await,
            // Handled above, before the config is read.
            Command::Build { .. } | Command::New { .. } | Command::Config(_) => {
                ExitCode::from(USAGE)
            }
        }
    };
    let code = tokio::select! {
        code = work => code,
        signal = shutdown_signal() => {
            hubs::drain_all().await;
            eprintln!("weft: {signal}; stopping servers");
            hubs::stop_all().await;
            ExitCode::from(if signal == "interrupted" { 130 } else { 143 })
        }
    };
    // The spans still queued go out before the process ends.
    crate::telemetry::shutdown().await;
    code
}

/// Loads the config named on the command line, by `WEFT_CONFIG`, or
/// `./weft.toml`; without any, the built-in example.
/// `admin` (for `weft keys` and `weft secrets`) reads only what those need.
fn load_config(explicit: Option<&std::path::Path>, admin: bool) -> anyhow::Result<Config> {
    let config = find_config(explicit, admin)?;
    if let Some(notice) = &config.settings.keys_notice {
        eprintln!("weft: {notice}");
    }
    Ok(config)
}

/// [`load_config`] without the key file's notice.
fn find_config(explicit: Option<&std::path::Path>, admin: bool) -> anyhow::Result<Config> {
    match Config::locate(explicit) {
        Some(path) if admin => Config::load_admin(&path).map_err(|e| anyhow::anyhow!("{e}")),
        Some(path) => Config::load(&path).map_err(|e| anyhow::anyhow!("{e}")),
        None => {
            // Said on every stream, not only a terminal: a script that
            // meant to use its own config must be able to see that it did not.
            eprintln!(
                "weft: no --config, no $WEFT_CONFIG and no weft.toml here: using the built-in demo config"
            );
            let path = PathBuf::from("(built-in example config)");
            Config::from_str(DEFAULT_CONFIG, &path).map_err(|e| anyhow::anyhow!("{e}"))
        }
    }
}

/// Starts the hub; on a terminal, shows each server as it comes up.
/// `supervise` restarts servers that crash (for `serve`); one-shot
/// commands leave them down.
async fn start_hub(config: Config, progress: bool, supervise: bool) -> Hub {
    let show = progress && std::io::stderr().is_terminal();
    let hub = Hub::start_with_options(config, supervise, &move |event| {
        if !show {
            return;
        }
        match event {
            StartEvent::Starting { count } => eprintln!(
                "starting {count} server{}…",
                if count == 1 { "" } else { "s" }
            ),
            StartEvent::Finished {
                status,
                error: None,
            } => eprintln!(
                "  ✓ {} ({}, {} tools, {} ms)",
                status.name,
                status.protocol.as_deref().unwrap_or("?"),
                status.tools,
                status.start_ms.unwrap_or(0)
            ),
            StartEvent::Finished {
                status,
                error: Some(e),
            } => crate::errln!("  ✗ {}: {}", status.name, e.reason),
        }
    })
    .await;
    hubs::register(&hub, supervise);
    hub
}

/// Prints a warning line per server that failed to start.
fn warn_failed(hub: &Hub) {
    for s in hub.status() {
        let reason = match &s.state {
            crate::upstream::State::Failed { error } => &error.reason,
            crate::upstream::State::BackingOff { reason, .. } => reason,
            _ => continue,
        };
        crate::errln!("weft: warning: server {} is unavailable: {reason}", s.name);
    }
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "interrupted",
            _ = term.recv() => "terminated",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}

/// The hubs this process started, so a signal can stop their servers.
mod hubs {
    use parking_lot::Mutex;

    use crate::Hub;

    /// Each hub, and whether a signal lets its calls finish first (the
    /// long-running `serve`) or stops it at once (one-shot commands).
    static HUBS: Mutex<Vec<(Hub, bool)>> = Mutex::new(Vec::new());

    pub fn register(hub: &Hub, graceful: bool) {
        HUBS.lock().push((hub.clone(), graceful));
    }

    /// Lets calls in flight finish, up to each hub's shutdown timeout; a
    /// second signal stops waiting.
    pub async fn drain_all() {
        let hubs: Vec<Hub> = HUBS
            .lock()
            .iter()
            .filter(|(_, graceful)| *graceful)
            .map(|(h, _)| h.clone())
            .collect();
        for hub in hubs {
            let n = hub.in_flight();
            if n == 0 {
                continue;
            }
            let deadline = hub.config().settings.shutdown_timeout;
            eprintln!(
                "weft: waiting up to {} for {n} call{} in flight (signal again to stop now)",
                crate::util::fmt_duration(deadline),
                if n == 1 { "" } else { "s" }
            );
            tokio::select! {
                left = hub.drain(deadline) => {
                    if left > 0 {
                        eprintln!("weft: cancelling {left} unfinished call{}", if left == 1 { "" } else { "s" });
                    }
                }
                _ = super::shutdown_signal() => {}
            }
        }
    }

    pub async fn stop_all() {
        let hubs = std::mem::take(&mut *HUBS.lock());
        let any = !hubs.is_empty();
        for (hub, _) in hubs {
            hub.shutdown().await;
        }
        if any {
            // The answers of calls that ended as their servers stopped are
            // written by their own tasks: give those a moment to reach the
            // agents' sockets before the runtime is torn down.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Stops the servers of every hub and returns `code`.
async fn finish(code: u8) -> ExitCode {
    hubs::stop_all().await;
    ExitCode::from(code)
}

/// Keeps only the named server (or, for `@domain`, the servers of that
/// domain) in the config, so one-server commands start only what they need.
/// Unknown names get a suggestion.
fn only_server(mut config: Config, server: &str) -> anyhow::Result<Config> {
    if let Some(domain) = server.strip_prefix('@') {
        // A domain call needs every server in the domain, for failover.
        config
            .servers
            .retain(|s| s.domains.iter().any(|d| d == domain));
        if config.servers.is_empty() {
            return Err(anyhow::anyhow!(
                "no server declares the domain {domain:?} (servers.NAME.domains)"
            ));
        }
        return Ok(config);
    }
    if config.server(server).is_none() {
        let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
        let hint = crate::util::closest(server, names.iter().copied())
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_else(|| format!("; configured servers: {}", names.join(", ")));
        return Err(anyhow::anyhow!(
            "no server named {server:?} in the config{hint}"
        ));
    }
    let mut keep = std::collections::HashSet::from([server.to_string()]);
    with_component_reach(&config, &mut keep);
    config.servers.retain(|s| keep.contains(&s.name));
    Ok(config)
}

/// Adds to `keep` the servers that the component servers in it may call
/// (their grants), and theirs in turn: a component's nested calls need
/// them started.
fn with_component_reach(config: &Config, keep: &mut std::collections::HashSet<String>) {
    let mut todo: Vec<String> = keep.iter().cloned().collect();
    while let Some(name) = todo.pop() {
        let Some(crate::config::Transport::Component(adapter)) =
            config.server(&name).map(|s| &s.transport)
        else {
            continue;
        };
        let grants = crate::config::Grants::new(&adapter.grants).unwrap_or_default();
        for s in &config.servers {
            if grants.allows_server(&s.name) && keep.insert(s.name.clone()) {
                todo.push(s.name.clone());
            }
        }
    }
}

/// Checks that `name` is a tenant of the config; on error, says so,
/// suggests the closest name and lists the tenants there are.
pub(crate) fn known_tenant(config: &Config, name: &str) -> Result<(), ExitCode> {
    if config.tenant(name).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
    let hint = match crate::util::closest(name, names.iter().copied()) {
        _ if names.is_empty() => "; it defines no tenants ([tenants.NAME])".to_string(),
        Some(c) => format!("; did you mean {c:?}? (tenants: {})", names.join(", ")),
        None => format!("; tenants: {}", names.join(", ")),
    };
    crate::errln!("weft: no tenant named {name:?} in the config{hint}");
    Err(ExitCode::from(USAGE))
}
