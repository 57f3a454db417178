//! `weft tools`: the merged catalog, as a table or JSON; with `--tenant`,
//! exactly what that tenant's `tools/list` shows (its view of the
//! catalog, the policies it may run and the meta tools), built by the
//! same code `weft serve` answers with.

use std::process::ExitCode;

use crate::Caller;
use crate::config::Config;
use crate::serve::tools as listing;
use serde_json::json;

use super::{FAILED, USAGE, finish, only_server, start_hub, table, warn_failed};

/// What `weft tools` was asked for.
pub struct Options {
    pub server: Option<String>,
    pub tenant: Option<String>,
    pub read_only: bool,
    pub json: bool,
    /// A vendor's tool-list format (`--format`).
    pub format: Option<crate::formats::Format>,
}

/// One listed tool.
struct Row {
    /// The name an agent sees.
    name: String,
    /// The server and its own name, for a catalog tool.
    origin: Option<(String, String)>,
    /// `tool` (from a server), `policy` or `weft` (a meta tool).
    kind: &'static str,
    read_only: bool,
    tool: rmcp::model::Tool,
}

/// The top-level entry point for `weft tools`.
pub async fn run(config: Config, opts: Options) -> ExitCode {
    if let Some(t) = &opts.tenant
        && let Err(code) = super::known_tenant(&config, t)
    {
        return code;
    }
    let config = match opts
        .server
        .as_deref()
        .map(|s| only_server(config.clone(), s))
        .transpose()
    {
        Ok(c) => c.unwrap_or(config),
        Err(e) => {
            crate::errln!("weft: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let quiet = opts.json || opts.format.is_some();
    let hub = start_hub(config, !quiet, false).await;
    warn_failed(&hub);
    let catalog = hub.catalog();
    let rows = match opts.tenant.as_deref().and_then(|t| hub.tenants().get(t)) {
        Some(tenant) => tenant_rows(&hub, &Caller::tenant(tenant, "cli")),
        None => catalog
            .tools()
            .iter()
            .map(|t| Row {
                name: t.exposed.clone(),
                origin: Some((t.server.to_string(), t.name().to_string())),
                kind: "tool",
                read_only: t.read_only,
                tool: t.tool.clone(),
            })
            .collect(),
    };
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| !opts.read_only || r.read_only)
        .collect();
    if let Some(format) = opts.format {
        let tools: Vec<rmcp::model::Tool> = rows
            .iter()
            .map(|r| {
                let mut t = r.tool.clone();
                t.name = r.name.clone().into();
                t
            })
            .collect();
        let rendered = crate::formats::render(format, &tools);
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&rendered.tools).unwrap_or_default()
        );
    } else if opts.json {
        print_json(&rows);
    } else {
        print_table(&rows);
        for c in catalog.collisions() {
            crate::errln!(
                "weft: {} {:?} is offered by {} and {}; {} wins by priority",
                c.kind,
                c.name,
                c.winner,
                c.hidden.join(", "),
                c.winner
            );
        }
    }
    let status = hub.status();
    let any_up = status.iter().any(|s| s.state == crate::upstream::State::Up);
    let all_disabled = status
        .iter()
        .all(|s| s.state == crate::upstream::State::Disabled);
    finish(if any_up || all_disabled { 0 } else { FAILED }).await
}

/// What `tools/list` shows `caller`, in its order, each tool classified.
fn tenant_rows(hub: &crate::Hub, caller: &Caller) -> Vec<Row> {
    let catalog = hub.catalog_for(caller);
    let policies = listing::policies_for(hub, caller);
    let expose = hub.config().settings.expose;
    listing::listed(hub, expose, caller)
        .into_iter()
        .map(|tool| {
            let name = tool.name.to_string();
            let meta = [listing::SEARCH, listing::RUN_POLICY, listing::CALL_TOOL];
            let (origin, kind, read_only) = if policies.iter().any(|p| p.name == name) {
                (None, "policy", false)
            } else if meta.contains(&name.as_str()) {
                let ro = tool.annotations.as_ref().and_then(|a| a.read_only_hint);
                (None, "weft", ro == Some(true))
            } else {
                let entry = catalog.tools().iter().find(|t| t.exposed == name);
                (
                    entry.map(|t| (t.server.to_string(), t.name().to_string())),
                    "tool",
                    entry.is_some_and(|t| t.read_only),
                )
            };
            Row {
                name,
                origin,
                kind,
                read_only,
                tool,
            }
        })
        .collect()
}

fn print_json(rows: &[Row]) {
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "server": r.origin.as_ref().map(|o| &o.0),
                "tool": r.origin.as_ref().map(|o| &o.1),
                "kind": r.kind,
                "title": r.tool.title,
                "description": r.tool.description,
                "readOnly": r.read_only,
                "inputSchema": r.tool.input_schema,
                "outputSchema": r.tool.output_schema,
            })
        })
        .collect();
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&list).unwrap_or_default()
    );
}

fn print_table(rows: &[Row]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                match &r.origin {
                    Some((server, _)) => server.clone(),
                    None => format!("({})", r.kind),
                },
                if r.read_only {
                    "ro".into()
                } else {
                    String::new()
                },
                table::first_line(r.tool.description.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    table::print(
        &["TOOL", "SERVER", "RO", "DESCRIPTION"],
        &rows,
        table::terminal_width(),
    );
}
