//! `weft check` and `weft status`: every server's state, one line each.

use std::process::ExitCode;

use weft::config::Config;
use weft::upstream::{ServerStatus, State};

use super::{FAILED, finish, start_hub, table};

/// Which of the two commands is running.
#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    /// Exit 1 when any enabled server failed.
    Check,
    /// Always exit 0: the report is the product.
    Status,
}

/// The top-level entry point for `weft check` and `weft status`.
pub async fn run(config: Config, as_json: bool, mode: Mode) -> ExitCode {
    let source = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let hub = start_hub(config, mode == Mode::Status && !as_json).await;
    let status = hub.status();
    let failed = status
        .iter()
        .filter(|s| matches!(s.state, State::Failed { .. }))
        .count();
    if as_json {
        let report = serde_json::json!({
            "config": source,
            "servers": status,
            "tools": hub.catalog().tools().len(),
            "collisions": hub.catalog().collisions(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else if mode == Mode::Check {
        println!("config {source}: ok");
        for s in &status {
            print_check_line(s);
        }
        let up = status.iter().filter(|s| s.state == State::Up).count();
        println!(
            "{up} up, {failed} failed, {} tools in the catalog",
            hub.catalog().tools().len()
        );
    } else {
        let rows: Vec<Vec<String>> = status
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    state_word(&s.state).to_string(),
                    s.transport.to_string(),
                    s.protocol.clone().unwrap_or_default(),
                    s.tools.to_string(),
                    s.resources.to_string(),
                    s.prompts.to_string(),
                    s.pid.map(|p| p.to_string()).unwrap_or_default(),
                    s.start_ms.map(|m| format!("{m} ms")).unwrap_or_default(),
                ]
            })
            .collect();
        table::print(
            &[
                "SERVER",
                "STATE",
                "TRANSPORT",
                "PROTOCOL",
                "TOOLS",
                "RESOURCES",
                "PROMPTS",
                "PID",
                "START",
            ],
            &rows,
            None,
        );
    }
    finish(if mode == Mode::Check && failed > 0 {
        FAILED
    } else {
        0
    })
    .await
}

fn state_word(state: &State) -> &'static str {
    match state {
        State::Disabled => "disabled",
        State::Starting => "starting",
        State::Up => "up",
        State::Failed { .. } => "failed",
        State::Down { .. } => "down",
    }
}

fn print_check_line(s: &ServerStatus) {
    match &s.state {
        State::Up => println!(
            "✓ {:<12} {:<10} {:>3} tools {:>3} resources {:>3} prompts  started in {} ms",
            s.name,
            s.protocol.as_deref().unwrap_or("?"),
            s.tools,
            s.resources,
            s.prompts,
            s.start_ms.unwrap_or(0)
        ),
        State::Disabled => println!("- {:<12} disabled", s.name),
        State::Failed { error } => {
            println!("✗ {:<12} {}", s.name, error.reason);
            for line in &error.stderr_tail {
                println!("    | {line}");
            }
        }
        other => println!("? {:<12} {}", s.name, state_word(other)),
    }
}
