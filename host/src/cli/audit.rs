//! `weft audit tail`: the last records of the audit log (every route:
//! tool calls, reads, prompts, completions, tasks, searches, policy runs,
//! subscriptions), as a table or as the stored JSON lines, optionally
//! following new ones.

use std::process::ExitCode;
use std::time::Duration;

use crate::audit::{Record, SharedReader, UnreadableLine, tail as read_tail};
use crate::config::Config;

use super::{FAILED, USAGE};

/// The top-level entry point for `weft audit tail`.
pub async fn tail(config: &Config, n: usize, follow: bool, json: bool) -> ExitCode {
    let Some(path) = config.settings.audit.clone() else {
        eprintln!("weft: no audit log is configured; set `audit = \"FILE\"` under [settings]");
        return ExitCode::from(USAGE);
    };
    if let Some(url) = &config.settings.state {
        return tail_shared(url.expose().to_string(), n, follow, json).await;
    }
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
            header();
        }
        for r in new {
            show(r.as_ref(), json);
        }
        shown = records.len();
        first = false;
        if !follow {
            return ExitCode::SUCCESS;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `weft audit tail` of the shared database's table: the last `n` rows,
/// then (following) the rows after the last one shown. The `postgres`
/// client blocks (and must be dropped off the async workers too), so the
/// whole loop runs on the blocking pool.
async fn tail_shared(url: String, n: usize, follow: bool, json: bool) -> ExitCode {
    tokio::task::spawn_blocking(move || tail_shared_blocking(&url, n, follow, json))
        .await
        .unwrap_or_else(|e| {
            eprintln!("weft: {e}");
            ExitCode::from(FAILED)
        })
}

fn tail_shared_blocking(url: &str, n: usize, follow: bool, json: bool) -> ExitCode {
    let shown_at = crate::journal::shown_url(url);
    let failed = |e: std::io::Error| {
        eprintln!("weft: cannot read the audit log in {shown_at}: {e}");
        ExitCode::from(FAILED)
    };
    let mut reader = match SharedReader::open(url) {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let (mut last, mut first) = (0i64, true);
    loop {
        let rows = match reader.after(last, if first { n } else { 0 }) {
            Ok(rows) => rows,
            Err(e) => return failed(e),
        };
        if first && !json && !rows.is_empty() {
            header();
        }
        for (id, line) in rows {
            last = id;
            let parsed = serde_json::from_str::<Record>(&line).map_err(|source| UnreadableLine {
                line: line.clone(),
                source,
            });
            show(parsed.as_ref(), json);
        }
        first = false;
        if !follow {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn header() {
    println!(
        "{:<24} {:<12} {:<10} {:<12} {:<13} {:<28} {:<13} {:>9}",
        "TIME", "TENANT", "KEY", "POLICY", "ROUTE", "TARGET", "OUTCOME", "MS"
    );
}

/// One record as a table row, or as its stored JSON line.
fn show(r: Result<&Record, &UnreadableLine>, json: bool) {
    match r {
        Ok(rec) if json => match serde_json::to_string(rec) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("weft: {e}"),
        },
        Ok(rec) => println!("{}", row(rec)),
        Err(e) => eprintln!("weft: {e}"),
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
