//! Benchmark: catalog start-up and the cost of `hub.call_tool`.
//!
//! Prints figures; asserts nothing about speed. Run with
//! `cargo bench -p weft-integration --profile dev --bench cases -- upstream`
//! (dependencies are optimised in the dev profile too).
//!
//! 1. Start-up of the example config's five servers through `Hub::start`,
//!    beside each server started alone (the slowest one bounds the hub).
//! 2. `echo` on server-everything over stdio: through `hub.call_tool`
//!    beside a raw rmcp client on its own connection to the same server
//!    (p50, p99 of sequential calls).

use crate::support;

use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use support::*;

const CALLS: usize = 2000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{label:<44} p50 {:>8.1} µs   p99 {:>8.1} µs",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    (p50, p99)
}

fn example_config(dir: &std::path::Path) -> String {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git_repo(&repo);
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &npm_entry("files", "server-filesystem", &[&dir.display().to_string()]);
    text += &sandbox_read(&[dir]);
    text += &memory_entry("memory", &dir.join("memory"));
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    text += &command_entry(
        "git",
        &venv_bin("mcp-server-git"),
        &["--repository", &repo.display().to_string()],
    );
    text += &sandbox_write(&[&repo]);
    text
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    let dir = temp_dir();
    let text = example_config(dir.path());
    let config = config(dir.path(), &text);

    println!("== catalog start-up (5 servers, 2 cores) ==");
    let mut alone = vec![];
    for server in &config.servers {
        let mut one = config.clone();
        one.servers.retain(|s| s.name == server.name);
        let t = Instant::now();
        let hub = weft::Hub::start(one).await;
        let took = t.elapsed();
        assert_eq!(
            hub.status()[0].state,
            weft::State::Up,
            "{} did not start",
            server.name
        );
        hub.shutdown().await;
        println!(
            "{:<12} alone: {:>6.0} ms",
            server.name,
            took.as_secs_f64() * 1e3
        );
        alone.push((server.name.clone(), took));
    }
    let slowest = alone.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let t = Instant::now();
    let hub = weft::Hub::start(config.clone()).await;
    let all = t.elapsed();
    println!(
        "all five through Hub::start: {:.0} ms; slowest alone {:.0} ms; ratio {:.2}",
        all.as_secs_f64() * 1e3,
        slowest.as_secs_f64() * 1e3,
        all.as_secs_f64() / slowest.as_secs_f64()
    );

    println!("\n== echo on server-everything (stdio), {CALLS} sequential calls ==");
    let args = json!({"message": "hi"}).as_object().cloned();
    for _ in 0..200 {
        hub.call_tool("everything", "echo", args.clone())
            .await
            .unwrap();
    }
    let mut via_hub = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        hub.call_tool("everything", "echo", args.clone())
            .await
            .unwrap();
        via_hub.push(t.elapsed());
    }

    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(npm_server("server-everything"))
        .arg("stdio")
        .stderr(std::process::Stdio::null());
    let raw = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
    for _ in 0..200 {
        raw.call_tool(CallToolRequestParams::new("echo").with_arguments(args.clone().unwrap()))
            .await
            .unwrap();
    }
    let mut direct = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        raw.call_tool(CallToolRequestParams::new("echo").with_arguments(args.clone().unwrap()))
            .await
            .unwrap();
        direct.push(t.elapsed());
    }
    let (h50, h99) = report("hub.call_tool", via_hub);
    let (d50, d99) = report("raw rmcp client", direct);
    println!(
        "overhead of the hub: p50 {:+.1} µs ({:.2}x), p99 {:+.1} µs",
        (h50.as_secs_f64() - d50.as_secs_f64()) * 1e6,
        h50.as_secs_f64() / d50.as_secs_f64(),
        (h99.as_secs_f64() - d99.as_secs_f64()) * 1e6
    );
    let _ = raw.cancel().await;
    hub.shutdown().await;
}
