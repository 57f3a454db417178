//! `weft check`: validate the config, start every server once, one line each.

use std::process::ExitCode;

use weft::config::Config;
use weft::upstream::{ServerStatus, State};

use super::{FAILED, finish, start_hub};

/// The top-level entry point for `weft check`; exit 1 when a server failed.
pub async fn run(config: Config, as_json: bool) -> ExitCode {
    let source = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let hub = start_hub(config, false, false).await;
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
        weft::outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        weft::outln!("config {source}: ok");
        for s in &status {
            print_check_line(s);
        }
        let up = status.iter().filter(|s| s.state == State::Up).count();
        weft::outln!(
            "{up} up, {failed} failed, {} tools in the catalog",
            hub.catalog().tools().len()
        );
    }
    finish(if failed > 0 { FAILED } else { 0 }).await
}

fn print_check_line(s: &ServerStatus) {
    match &s.state {
        State::Up => weft::outln!(
            "✓ {:<12} {:<10} {:>3} tools {:>3} resources {:>3} prompts  started in {} ms",
            s.name,
            s.protocol.as_deref().unwrap_or("?"),
            s.tools,
            s.resources,
            s.prompts,
            s.start_ms.unwrap_or(0)
        ),
        State::Disabled => weft::outln!("- {:<12} disabled", s.name),
        State::Failed { error } => {
            weft::outln!("✗ {:<12} {}", s.name, error.reason);
            for line in &error.stderr_tail {
                weft::outln!("    | {line}");
            }
        }
        other => weft::outln!("? {:<12} {}", s.name, other.name()),
    }
}
