//! `weft pins list|diff|approve|reset`: the tool definitions weft pinned,
//! read and changed in their store (the SQLite file beside the journal,
//! or `settings.state`'s database). A running weft reads the store again
//! within seconds, so an approval here serves the tool there.

use std::process::ExitCode;

use crate::config::Config;
use crate::pins::{Def, Filter, PinKey, PinRow, Store};

use super::args::PinsCommand;
use super::{FAILED, USAGE};

/// The top-level entry point for `weft pins`.
pub async fn run(config: &Config, cmd: PinsCommand) -> ExitCode {
    let settings = config.settings.clone();
    let tenants: Vec<String> = config.tenants.iter().map(|t| t.name.clone()).collect();
    let servers: Vec<String> = config.servers.iter().map(|s| s.name.clone()).collect();
    let done = tokio::task::spawn_blocking(move || {
        let store = match crate::pins::open(&settings) {
            Ok(Some(store)) => store,
            Ok(None) => {
                return Err((
                    USAGE,
                    "this config keeps no pins: they are kept beside the journal, or in settings.state's database; set `journal` or `state` under [settings]".to_string(),
                ));
            }
            Err(e) => return Err((FAILED, e.to_string())),
        };
        let known = Known { tenants, servers };
        command(&*store, &known, cmd)
    })
    .await;
    match done {
        Ok(Ok(text)) => {
            crate::out!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Err((code, message))) => {
            eprintln!("weft: {message}");
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("weft: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// The config's names, to check what the command names.
struct Known {
    tenants: Vec<String>,
    servers: Vec<String>,
}

impl Known {
    fn tenant(&self, tenant: Option<String>) -> Result<Option<String>, (u8, String)> {
        match tenant {
            Some(t) if !self.tenants.contains(&t) => {
                Err((USAGE, format!("no tenant named {t:?} in the config")))
            }
            t => Ok(t),
        }
    }

    fn server(&self, server: &str) -> Result<(), (u8, String)> {
        if self.servers.iter().any(|s| s == server) {
            return Ok(());
        }
        let hint = crate::util::closest(server, self.servers.iter().map(String::as_str))
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        Err((
            USAGE,
            format!("no server named {server:?} in the config{hint}"),
        ))
    }

    /// `SERVER.TOOL`, split at its first dot (server names have none).
    fn tool<'a>(&self, name: &'a str) -> Result<(&'a str, &'a str), (u8, String)> {
        let Some((server, tool)) = name
            .split_once('.')
            .filter(|(s, t)| !s.is_empty() && !t.is_empty())
        else {
            return Err((
                USAGE,
                format!("{name:?} is not SERVER.TOOL; `weft pins list` shows the pinned tools"),
            ));
        };
        self.server(server)?;
        Ok((server, tool))
    }
}

fn failed(e: crate::pins::PinError) -> (u8, String) {
    (FAILED, e.to_string())
}

/// A pin's state: `pinned` (the listing matches), `changed` or `new`.
fn state(row: &PinRow) -> &'static str {
    match (&row.approved, &row.seen) {
        (_, None) => "pinned",
        (Some(_), Some(_)) => "changed",
        (None, Some(_)) => "new",
    }
}

fn command(store: &dyn Store, known: &Known, cmd: PinsCommand) -> Result<String, (u8, String)> {
    match cmd {
        PinsCommand::List { held, json } => {
            let rows: Vec<(PinKey, PinRow)> = store
                .load()
                .map_err(failed)?
                .into_iter()
                .filter(|(_, r)| !held || r.seen.is_some())
                .collect();
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(k, r)| {
                        serde_json::json!({
                            "tenant": (!k.scope.is_empty()).then_some(&k.scope),
                            "server": k.server,
                            "tool": k.tool,
                            "state": state(r),
                            "pinned": r.approved.as_ref().map(|d| &d.digest),
                            "listed": r.seen.as_ref().map(|d| &d.digest),
                            "approved_by": r.approved_by,
                        })
                    })
                    .collect();
                return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
            }
            if rows.is_empty() {
                return Ok(format!(
                    "no {}pins in {}\n",
                    if held { "held " } else { "" },
                    store.location()
                ));
            }
            let short = |d: &Option<Def>| {
                d.as_ref()
                    .map_or("-".to_string(), |d| Def::short(&d.digest).to_string())
            };
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|(k, r)| {
                    vec![
                        k.shown(),
                        state(r).to_string(),
                        short(&r.approved),
                        short(&r.seen),
                        r.approved_by.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            Ok(super::table::render(
                &["TOOL", "STATE", "PINNED", "LISTED", "APPROVED BY"],
                &table,
                None,
            ))
        }
        PinsCommand::Diff { tool, tenant } => {
            let (server, name) = known.tool(&tool)?;
            let scope = known.tenant(tenant)?.unwrap_or_default();
            let rows = store.load().map_err(failed)?;
            let Some((_, row)) = rows
                .iter()
                .find(|(k, _)| k.scope == scope && k.server == server && k.tool == name)
            else {
                return Err((
                    FAILED,
                    format!(
                        "no pin for {tool}: weft pins a tool when it first lists it (`weft pins list` shows the pins)"
                    ),
                ));
            };
            match &row.seen {
                None => Ok(format!(
                    "{tool} matches its pin ({})\n",
                    row.approved.as_ref().map_or("-", |d| d.digest.as_str())
                )),
                Some(seen) => Ok(crate::pins::diff(row.approved.as_ref(), seen)),
            }
        }
        PinsCommand::Approve {
            tool,
            server,
            tenant,
        } => {
            let scope = known.tenant(tenant)?;
            let filter = match (&tool, &server) {
                (Some(t), _) => {
                    let (server, name) = known.tool(t)?;
                    Filter {
                        scope,
                        server: Some(server.to_string()),
                        tool: Some(name.to_string()),
                    }
                }
                (None, Some(s)) => {
                    known.server(s)?;
                    Filter {
                        scope,
                        server: Some(s.clone()),
                        tool: None,
                    }
                }
                (None, None) => {
                    return Err((USAGE, "name a tool (SERVER.TOOL) or --server".into()));
                }
            };
            let mut by = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            crate::util::truncate(&mut by, 128);
            let n = store.approve(&filter, &by).map_err(failed)?;
            if n == 0 {
                let what = tool.or(server).unwrap_or_default();
                return Err((
                    FAILED,
                    format!(
                        "nothing held for {what}: `weft pins list --held` shows what waits for approval"
                    ),
                ));
            }
            Ok(format!(
                "approved {n} tool definition{}; a running weft serves {} within seconds\n",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "them" }
            ))
        }
        PinsCommand::Reset { server, tenant } => {
            if let Some(s) = &server {
                known.server(s)?;
            }
            let filter = Filter {
                scope: known.tenant(tenant)?,
                server,
                tool: None,
            };
            let n = store.reset(&filter).map_err(failed)?;
            Ok(format!(
                "forgot {n} pin{}; tools are pinned again when next listed\n",
                if n == 1 { "" } else { "s" }
            ))
        }
    }
}
