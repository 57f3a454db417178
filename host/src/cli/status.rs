//! `weft status`: a running weft's report (`--url`, from its `GET /status`)
//! or a one-off report on the configured servers. Both print the same
//! table, or the same JSON with `--json`.

use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use serde_json::Value;

use super::{FAILED, finish, start_hub, table};

/// Starts the configured servers once and reports on them (and, with
/// `watch`, again every interval until Ctrl-C).
pub async fn local(config: Config, as_json: bool, watch: Option<Duration>) -> ExitCode {
    let hub = start_hub(config, !as_json && watch.is_none(), false).await;
    let Some(every) = watch else {
        let report = serde_json::to_value(hub.report()).unwrap_or(Value::Null);
        print(&report, as_json);
        return finish(0).await;
    };
    let mut screen = Screen::new("the configured servers", every, as_json);
    loop {
        if !screen.show(&Ok(
            serde_json::to_value(hub.report()).unwrap_or(Value::Null)
        )) {
            return finish(0).await;
        }
        // Ctrl-C ends it: `cli::run` stops the servers.
        tokio::time::sleep(every).await;
    }
}

/// Asks a running `weft serve --http` at `url` for its status (and, with
/// `watch`, again every interval until Ctrl-C).
pub async fn remote(url: &str, as_json: bool, watch: Option<Duration>) -> ExitCode {
    let base = url.trim_end_matches('/').trim_end_matches("/mcp");
    let endpoint = format!("{base}/status");
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            crate::errln!("weft: cannot make an HTTP client: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let Some(every) = watch else {
        return match fetch(&client, &endpoint).await {
            Ok(report) => {
                print(&report, as_json);
                ExitCode::SUCCESS
            }
            Err(e) => {
                crate::errln!("weft: {e}");
                ExitCode::from(FAILED)
            }
        };
    };
    let mut screen = Screen::new(&endpoint, every, as_json);
    loop {
        let report = fetch(&client, &endpoint).await;
        // A refused key will not start working: say so and stop.
        if let Err(e @ FetchError::Refused { .. }) = &report {
            crate::errln!("weft: {e}");
            return ExitCode::from(FAILED);
        }
        if !screen.show(&report) {
            return ExitCode::SUCCESS;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => {
                screen.leave();
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// Why no status report came, said for the user.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    /// The key was refused: it will not start working on a retry.
    #[error(
        "{endpoint} answered {status}: this weft has tenants, and its status is for admin \
         tenants; set WEFT_KEY to an admin tenant's key (`admin = true` under [tenants.NAME])"
    )]
    Refused {
        endpoint: String,
        status: reqwest::StatusCode,
    },
    #[error("{endpoint} answered {status}; is this a `weft serve --http` address?")]
    Status {
        endpoint: String,
        status: reqwest::StatusCode,
    },
    #[error("cannot reach {endpoint}: {source}; is `weft serve --http` running there?")]
    Unreachable {
        endpoint: String,
        source: reqwest::Error,
    },
    #[error("{endpoint} did not answer with a status report: {source}")]
    NotAReport {
        endpoint: String,
        source: reqwest::Error,
    },
}

/// One status report from `endpoint`, or what went wrong.
async fn fetch(client: &reqwest::Client, endpoint: &str) -> Result<Value, FetchError> {
    let mut req = client.get(endpoint);
    // With tenants, /status needs an admin tenant's key; it comes from
    // the environment, never the command line (process lists).
    if let Ok(key) = std::env::var("WEFT_KEY")
        && !key.trim().is_empty()
    {
        req = req.bearer_auth(key.trim());
    }
    let endpoint = endpoint.to_string();
    let response = match req.send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            let status = r.status();
            return Err(FetchError::Refused { endpoint, status });
        }
        Ok(r) => {
            let status = r.status();
            return Err(FetchError::Status { endpoint, status });
        }
        Err(source) => return Err(FetchError::Unreachable { endpoint, source }),
    };
    response
        .json::<Value>()
        .await
        .map_err(|source| FetchError::NotAReport { endpoint, source })
}

/// Where `--watch` draws: in place on a terminal, else one snapshot after
/// another (JSON lines with `--json`).
struct Screen {
    what: String,
    every: Duration,
    json: bool,
    terminal: bool,
}

impl Screen {
    fn new(what: &str, every: Duration, json: bool) -> Screen {
        use std::io::IsTerminal;
        let terminal = !json && std::io::stdout().is_terminal();
        if terminal {
            // The alternate screen, so the shell's own lines come back
            // after Ctrl-C; the cursor hidden while it redraws.
            crate::out!("\x1b[?1049h\x1b[?25l");
        }
        Screen {
            what: what.to_string(),
            every,
            json,
            terminal,
        }
    }

    /// Draws one report; false once stdout is closed (`| head`, say).
    fn show(&mut self, report: &Result<Value, FetchError>) -> bool {
        use std::io::Write;
        let text = if self.json {
            match report {
                Ok(r) => format!("{}\n", serde_json::to_string(r).unwrap_or_default()),
                Err(e) => format!("{}\n", serde_json::json!({"error": e.to_string()})),
            }
        } else {
            let now = chrono::Local::now().format("%H:%M:%S");
            // Home and clear on a terminal; elsewhere a blank line between.
            let start = if self.terminal { "\x1b[H\x1b[2J" } else { "\n" };
            let body = match report {
                Ok(r) => render(r, false),
                Err(e) => format!("✗ {e}\n"),
            };
            format!(
                "{start}weft status: {} at {now}, every {} (Ctrl-C to stop)\n\n{body}",
                self.what,
                crate::util::fmt_duration(self.every)
            )
        };
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(crate::redact::text(&text).as_bytes())
            .and_then(|()| stdout.flush())
            .is_ok()
    }

    /// Back to the shell's screen.
    fn leave(&self) {
        if self.terminal {
            crate::out!("\x1b[?25h\x1b[?1049l");
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.leave();
    }
}

fn print(report: &Value, as_json: bool) {
    crate::out!("{}", render(report, as_json));
}

/// The report as [`print`] shows it, each line ended.
fn render(report: &Value, as_json: bool) -> String {
    use std::fmt::Write;
    if as_json {
        return format!(
            "{}\n",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    }
    let mut out = String::new();
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
            let ms = |v: &Value| match v.as_f64() {
                Some(v) if v < 10.0 => format!("{v:.2}"),
                Some(v) => format!("{v:.0}"),
                None => "-".into(),
            };
            vec![
                name,
                state,
                text(&s["transport"]),
                text(&s["protocol"]),
                text(&s["tools"]),
                text(&s["restarts"]),
                text(&s["breaker"]["state"]),
                s["latency"]["calls"].as_u64().unwrap_or(0).to_string(),
                ms(&s["latency"]["p50_ms"]),
                ms(&s["latency"]["p99_ms"]),
                text(&s["pid"]),
                error,
            ]
        })
        .collect();
    out += &table::render(
        &[
            "SERVER",
            "STATE",
            "TRANSPORT",
            "PROTOCOL",
            "TOOLS",
            "RESTARTS",
            "BREAKER",
            "CALLS/5M",
            "P50 MS",
            "P99 MS",
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
        let _ = writeln!(out, "\n{}", failed.join("\n"));
    }
    // Each stdio server's OS sandbox, whole (the layers, and why any is
    // missing or the sandbox is off); each oci:// component's digest,
    // whether it came from the cache (the registry down, say) and its
    // signature.
    for (field, heading) in [("sandbox", "sandboxes"), ("component", "components")] {
        let lines: Vec<String> = servers
            .iter()
            .filter(|s| s[field].is_string())
            .map(|s| format!("  {}: {}", text(&s["name"]), text(&s[field])))
            .collect();
        if !lines.is_empty() {
            let _ = writeln!(out, "\n{heading}:\n{}", lines.join("\n"));
        }
    }
    let cache = &report["cache"];
    let _ = writeln!(
        out,
        "\ncatalog: {} tools, {} resources, {} prompts; up {} s",
        text(&report["tools"]),
        text(&report["resources"]),
        text(&report["prompts"]),
        text(&report["uptime_s"]),
    );
    let _ = writeln!(
        out,
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
        let _ = writeln!(out, "policy runs: {}", list.join("; "));
    }
    out
}
