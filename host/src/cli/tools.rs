//! `weft tools`: the merged catalog, as a table or JSON.

use std::process::ExitCode;

use crate::config::Config;
use serde_json::json;

use super::{FAILED, USAGE, finish, only_server, start_hub, table, warn_failed};

/// The top-level entry point for `weft tools`.
pub async fn run(
    config: Config,
    server: Option<String>,
    read_only: bool,
    as_json: bool,
) -> ExitCode {
    let config = match server
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
    let hub = start_hub(config, !as_json, false).await;
    warn_failed(&hub);
    let catalog = hub.catalog();
    let tools: Vec<_> = catalog
        .tools()
        .iter()
        .filter(|t| !read_only || t.read_only)
        .collect();
    if as_json {
        let list: Vec<_> = tools
            .iter()
            .map(|t| {
                json!({
                    "name": t.exposed,
                    "server": &*t.server,
                    "tool": t.name(),
                    "title": t.tool.title,
                    "description": t.tool.description,
                    "readOnly": t.read_only,
                    "inputSchema": t.tool.input_schema,
                    "outputSchema": t.tool.output_schema,
                })
            })
            .collect();
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else {
        let rows: Vec<Vec<String>> = tools
            .iter()
            .map(|t| {
                vec![
                    t.exposed.clone(),
                    t.server.to_string(),
                    if t.read_only {
                        "ro".into()
                    } else {
                        String::new()
                    },
                    table::first_line(t.tool.description.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        table::print(
            &["TOOL", "SERVER", "RO", "DESCRIPTION"],
            &rows,
            table::terminal_width(),
        );
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
    let any_up = hub
        .status()
        .iter()
        .any(|s| s.state == crate::upstream::State::Up);
    finish(
        if any_up
            || hub
                .status()
                .iter()
                .all(|s| s.state == crate::upstream::State::Disabled)
        {
            0
        } else {
            FAILED
        },
    )
    .await
}
