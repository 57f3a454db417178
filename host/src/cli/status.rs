//! `weft status`: a running weft's report (`--url`, from its `GET /status`)
//! or a one-off report on the configured servers. Both print the same
//! table, or the same JSON with `--json`.

use std::process::ExitCode;

use crate::config::Config;
use serde_json::Value;

use super::{FAILED, finish, start_hub, table};

/// Starts the configured servers once and reports on them.
pub async fn local(config: Config, as_json: bool) -> ExitCode {
    let hub = start_hub(config, !as_json, false).await;
    let report = serde_json::to_value(hub.report()).unwrap_or(Value::Null);
    print(&report, as_json);
    finish(0).await
}

/// Asks a running `weft serve --http` at `url` for its status.
pub async fn remote(url: &str, as_json: bool) -> ExitCode {
    let base = url.trim_end_matches('/').trim_end_matches("/mcp");
    let endpoint = format!("{base}/status");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build();
    let fetched = match client {
        Ok(c) => {
            // With tenants, /status needs an admin tenant's key; it comes
            // from the environment, never the command line (process lists).
            let mut req = c.get(&endpoint);
            if let Ok(key) = std::env::var("WEFT_KEY")
                && !key.trim().is_empty()
            {
                req = req.bearer_auth(key.trim());
            }
            req.send().await
        }
        Err(e) => {
            crate::errln!("weft: cannot make an HTTP client: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let response = match fetched {
        Ok(r) if r.status().is_success() => r,
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            crate::errln!(
                "weft: {endpoint} answered {}: this weft has tenants, and its status is for admin tenants; set WEFT_KEY to an admin tenant's key (`admin = true` under [tenants.NAME])",
                r.status()
            );
            return ExitCode::from(FAILED);
        }
        Ok(r) => {
            crate::errln!(
                "weft: {endpoint} answered {}; is this a `weft serve --http` address?",
                r.status()
            );
            return ExitCode::from(FAILED);
        }
        Err(e) => {
            crate::errln!(
                "weft: cannot reach {endpoint}: {e}; is `weft serve --http` running there?"
            );
            return ExitCode::from(FAILED);
        }
    };
    match response.json::<Value>().await {
        Ok(report) => {
            print(&report, as_json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::errln!("weft: {endpoint} did not answer with a status report: {e}");
            ExitCode::from(FAILED)
        }
    }
}

fn print(report: &Value, as_json: bool) {
    if as_json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
        return;
    }
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let servers = report["servers"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = servers
        .iter()
        .map(|s| {
            let state = match s["state"].as_str() {
                Some("backing-off") => {
                    let now = crate::util::unix_ms(std::time::SystemTime::now());
                    let at = s["retry_at_ms"].as_u64().unwrap_or(now);
                    format!(
                        "backing-off (retry in {})",
                        crate::util::fmt_duration(std::time::Duration::from_millis(
                            at.saturating_sub(now)
                        ))
                    )
                }
                other => other.unwrap_or("?").to_string(),
            };
            let error = match s["state"].as_str() {
                Some("failed") => text(&s["error"]["reason"]),
                _ => text(&s["last_error"]["message"]),
            };
            let name = match s["tenant"].as_str() {
                Some(t) => format!("{}[{t}]", text(&s["name"])),
                None => text(&s["name"]),
            };
            vec![
                name,
                state,
                text(&s["transport"]),
                text(&s["protocol"]),
                text(&s["tools"]),
                text(&s["restarts"]),
                text(&s["breaker"]["state"]),
                text(&s["pid"]),
                error,
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
            "RESTARTS",
            "BREAKER",
            "PID",
            "LAST ERROR",
        ],
        &rows,
        Some(160),
    );
    // The table cuts long errors; a start error is shown whole, since its
    // end says what to do (the fix for a command not on PATH).
    let failed: Vec<String> = servers
        .iter()
        .filter(|s| s["state"] == "failed")
        .map(|s| format!("✗ {}: {}", text(&s["name"]), text(&s["error"]["reason"])))
        .collect();
    if !failed.is_empty() {
        crate::outln!("\n{}", failed.join("\n"));
    }
    let cache = &report["cache"];
    crate::outln!(
        "\ncatalog: {} tools, {} resources, {} prompts; up {} s",
        text(&report["tools"]),
        text(&report["resources"]),
        text(&report["prompts"]),
        text(&report["uptime_s"]),
    );
    crate::outln!(
        "cache: {} items, {} hits, {} misses ({:.0}% hit rate), {} evictions, {} invalidations",
        text(&cache["items"]),
        text(&cache["hits"]),
        text(&cache["misses"]),
        cache["hit_rate"].as_f64().unwrap_or(0.0) * 100.0,
        text(&cache["evictions"]),
        text(&cache["invalidations"]),
    );
    if let Some(runs) = report["policy_runs"].as_object()
        && !runs.is_empty()
    {
        let list: Vec<String> = runs
            .iter()
            .map(|(name, c)| {
                format!(
                    "{name} {} ok / {} error / {} limit",
                    text(&c["ok"]),
                    text(&c["error"]),
                    text(&c["limit"])
                )
            })
            .collect();
        crate::outln!("policy runs: {}", list.join("; "));
    }
}
