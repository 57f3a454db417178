//! `weft audit tail`: the last records of the audit log (every route:
//! tool calls, reads, prompts, completions, tasks, searches, policy runs,
//! subscriptions), as a table or as the stored JSON lines, optionally
//! following new ones.

use std::process::ExitCode;
use std::time::Duration;

use crate::audit::{Record, tail as read_tail};
use crate::config::Config;

use super::{FAILED, USAGE};

/// The top-level entry point for `weft audit tail`.
pub async fn tail(config: &Config, n: usize, follow: bool, json: bool) -> ExitCode {
    let Some(path) = config.settings.audit.clone() else {
        eprintln!("weft: no audit log is configured; set `audit = \"FILE\"` under [settings]");
        return ExitCode::from(USAGE);
    };
    let mut shown = 0usize;
    let mut first = true;
    loop {
        let records = match read_tail(&path, 0) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && follow => Vec::new(),
            Err(e) => {
                eprintln!("weft: cannot read the audit log {}: {e}", path.display());
                return ExitCode::from(FAILED);
            }
        };
        let start = if first {
            if n == 0 {
                0
            } else {
                records.len().saturating_sub(n)
            }
        } else {
            shown.min(records.len())
        };
        let new = &records[start..];
        if first && !json && !new.is_empty() {
            println!(
                "{:<24} {:<12} {:<10} {:<12} {:<13} {:<28} {:<13} {:>9}",
                "TIME", "TENANT", "KEY", "POLICY", "ROUTE", "TARGET", "OUTCOME", "MS"
            );
        }
        for r in new {
            match r {
                Ok(rec) if json => match serde_json::to_string(rec) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("weft: {e}"),
                },
                Ok(rec) => println!("{}", row(rec)),
                Err(e) => eprintln!("weft: {e}"),
            }
        }
        shown = records.len();
        first = false;
        if !follow {
            return ExitCode::SUCCESS;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn row(r: &Record) -> String {
    format!(
        "{:<24} {:<12} {:<10} {:<12} {:<13} {:<28} {:<13} {:>9.1}",
        r.ts,
        if r.tenant.is_empty() { "-" } else { &r.tenant },
        r.key.as_deref().unwrap_or("-"),
        r.policy.as_deref().unwrap_or("-"),
        r.route.as_str(),
        r.subject(),
        r.outcome,
        r.ms
    )
}
