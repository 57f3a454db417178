//! How long an idle `weft serve --http` in front of five real stdio
//! servers takes to exit on SIGTERM.

use std::time::{Duration, Instant};

use serde_json::json;

use super::measure::percentile;
use super::start_weft;
use crate::record;
use crate::support::*;

/// Runs of the idle-shutdown measurement.
const SHUTDOWN_RUNS: usize = 20;

/// An idle `weft serve --http` in front of five real stdio servers (the
/// example config's kinds: server-everything, -memory and -filesystem on
/// Node; mcp-server-time and -git on Python), all up: the time from
/// SIGTERM to weft's exit, over 20 runs (1 ms resolution).
pub(super) async fn idle_shutdown(dir: &std::path::Path) {
    let repo = dir.join("shutdown-repo");
    std::fs::create_dir_all(&repo).expect("a repo dir");
    git_repo(&repo);
    let files = dir.join("shutdown-files");
    std::fs::create_dir_all(&files).expect("a files dir");
    let text = format!(
        "{}{}{}{}{}{}{}",
        npm_entry("everything", "server-everything", &["stdio"]),
        memory_entry("memory", &dir.join("shutdown-memory")),
        npm_entry(
            "files",
            "server-filesystem",
            &[&files.display().to_string()]
        ),
        sandbox_write(&[&files]),
        command_entry(
            "time",
            &venv_bin("mcp-server-time"),
            &["--local-timezone", "UTC"]
        ),
        command_entry(
            "git",
            &venv_bin("mcp-server-git"),
            &["--repository", &repo.display().to_string()]
        ),
        sandbox_write(&[&repo]),
    );
    let config = dir.join("shutdown.toml");
    std::fs::write(&config, text).expect("write the config");
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    for run in 0..SHUTDOWN_RUNS {
        let (mut weft, url) = start_weft(&config);
        let status_url = url.replace("/mcp", "/status");
        // Idle means every server is up and nothing is in flight.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let status: serde_json::Value =
                match tokio::time::timeout(Duration::from_secs(10), async {
                    http.get(&status_url)
                        .send()
                        .await?
                        .json::<serde_json::Value>()
                        .await
                })
                .await
                {
                    Ok(Ok(v)) => v,
                    _ => json!({}),
                };
            let up = status["servers"]
                .as_array()
                .map(|s| s.iter().filter(|s| s["state"] == "up").count())
                .unwrap_or(0);
            if up == 5 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "run {run}: servers not all up: {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = weft.0.id();
        let start = Instant::now();
        // SAFETY: kill(2) on the pid of a child this function owns.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let code = loop {
            if let Some(status) = weft.0.try_wait().expect("wait for weft") {
                break status.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "weft did not exit within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        times.push(start.elapsed());
        if code != Some(143) {
            println!("run {run}: weft exited with {code:?} on SIGTERM, not 143");
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (p50, max) = (ms(percentile(&times, 0.5)), ms(times[times.len() - 1]));
    println!(
        "idle shutdown, 5 stdio servers, {SHUTDOWN_RUNS} runs: p50 {p50:.0} ms, max {max:.0} ms"
    );
    record::figure("4", "idle shutdown, 5 stdio servers p50", p50, "ms");
    record::figure("4", "idle shutdown, 5 stdio servers max", max, "ms");
}
