//! One failing server never takes the rest down: a crash during a policy
//! run, a flapping server and its circuit breaker, failover within a
//! domain, retries of safe tools only, and the cache's counters, with
//! status and metrics read from a running `weft serve --http`. How weft
//! stops is in `shutdown.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::served::{faulty, recorded, serve};
use crate::support::*;
use serde_json::{Value, json};
use weft::Change;
use weft::Grants;
use weft::State;
use weft::config::Limits;
use weft::policy::{Loaded, Runner};
use weft::sandbox::Sandbox;
use weft::{ErrorKind, Hub};

fn kill9(pid: u32) {
    // SAFETY: signals a server process this test's hub started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_policy_run_is_unavailable_and_the_server_comes_back() {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = command_entry(
        "flaky",
        &faulty(),
        &["--name", "flaky", "--record", &record.display().to_string()],
    );
    text += "[servers.flaky.restart]\ninitial = \"200ms\"\n";
    text += &command_entry("time", &venv_bin("mcp-server-time"), &[]);
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    assert_eq!(hub.upstream("time").unwrap().state(), State::Up);
    let first_pid = hub.upstream("flaky").unwrap().status().pid.expect("pid");
    let mut changes = hub.changes();

    let sandbox = Arc::new(Sandbox::with_cache_dir(Some(dir.path().join("cache"))).unwrap());
    let runner = Arc::new(Runner::new(hub.clone(), sandbox));
    let policy = Arc::new(Loaded {
        name: "script".into(),
        wasm: weft::sandbox::Wasm::new(std::fs::read(guest_wasm("weft-hostile-guest")).unwrap()),
        grants: Grants::new(&["flaky.*".into(), "time.*".into()]).unwrap(),
        limits: Limits::default(),
    });
    let script = json!({"attack": "script", "calls": [
        {"server": "flaky", "tool": "slow", "args": {"ms": 5000}},
        {"server": "time", "tool": "get_current_time", "args": {"timezone": "UTC"}},
        {"server": "flaky", "tool": "echo", "args": {"text": "after the crash"}},
    ]});
    let run = {
        let (runner, policy, input) = (runner.clone(), policy.clone(), script.to_string());
        tokio::spawn(async move { runner.run(&policy, &input, None).await })
    };
    // Kill the server once the slow call has reached it (the policy's
    // compile comes first and takes a while on a cold cache).
    eventually(AWAIT, "the slow call to reach the server", || {
        recorded(&record, "slow") == 1
    })
    .await;
    kill9(first_pid);
    let report = within("the policy run", run).await.unwrap();
    assert!(report.ok(), "{:?}", report.error);
    let out = report.output.unwrap();
    assert_eq!(out[0]["ok"], false, "{out}");
    assert_eq!(out[0]["kind"], "unavailable", "{out}");
    assert_eq!(
        out[1]["ok"], true,
        "the other server keeps answering: {out}"
    );
    assert!(out[1]["text"].as_str().unwrap().contains("UTC"), "{out}");

    // The supervisor brings it back as a new process and tells agents.
    let up = hub.upstream("flaky").unwrap().clone();
    eventually(Duration::from_secs(15), "flaky to restart", || {
        let s = up.status();
        s.state == State::Up && s.restarts == 1 && s.pid != Some(first_pid)
    })
    .await;
    assert!(!alive(first_pid), "the killed process is reaped");
    let status = up.status();
    assert!(
        status
            .last_error
            .as_ref()
            .is_some_and(|e| !e.message.is_empty()),
        "{status:?}"
    );
    // The hub hears of the restart through its event task, which may run
    // just after the status flips to up: wait for the change itself.
    let mut heard = vec![];
    let got = tokio::time::timeout(AWAIT, async {
        while let Ok(c) = changes.recv().await {
            let tools = c == Change::Tools;
            heard.push(c);
            if tools {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "list_changed after restart: {heard:?}");

    let again = json!({"attack": "script", "calls": [
        {"server": "flaky", "tool": "echo", "args": {"text": "back"}},
        {"server": "time", "tool": "get_current_time", "args": {"timezone": "UTC"}},
    ]});
    let report = within(
        "the second policy run",
        runner.run(&policy, &again.to_string(), None),
    )
    .await;
    let out = report.output.expect("output");
    assert_eq!(out[0]["ok"], true, "{out}");
    assert_eq!(out[0]["text"], "back");
    assert_eq!(out[1]["ok"], true, "{out}");
    let report = hub.report();
    assert_eq!(report.policy_runs["script"].ok, 2);
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_server_opens_and_then_closes_the_breaker() {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = command_entry(
        "flappy",
        &faulty(),
        &[
            "--record",
            &record.display().to_string(),
            "--name",
            "flappy",
        ],
    );
    text += "timeout = \"300ms\"\n";
    text += "[servers.flappy.breaker]\nfailures = 3\ncooldown = \"800ms\"\n";
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    let echo = |t: &str| json!({"text": t}).as_object().cloned();
    let up = hub.upstream("flappy").unwrap().clone();

    for cycle in 1..=2u64 {
        // Bad phase: every call hangs past the timeout.
        for _ in 0..3 {
            let e = within(
                "a call past its timeout",
                hub.call_tool("flappy", "slow", json!({"ms": 3000}).as_object().cloned()),
            )
            .await
            .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
        }
        assert_eq!(up.breaker.status().state, "open");
        assert_eq!(up.breaker.status().opened, cycle);
        // Open: calls fail fast and never reach the server.
        let before = recorded(&record, "echo");
        let started = Instant::now();
        let e = within(
            "a call to an open breaker",
            hub.call_tool("flappy", "echo", echo("x")),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
        assert!(e.message.contains("circuit breaker open"), "{}", e.message);
        // Fast: well under the 300 ms the server would have had.
        let took = started.elapsed();
        assert!(took < Duration::from_millis(250), "{took:?}");
        assert_eq!(recorded(&record, "echo"), before);
        // Good phase: after the cool-down one probe gets through and
        // closes it.
        eventually(AWAIT, "the breaker's cool-down", || {
            up.breaker.status().state == "half-open"
        })
        .await;
        let r = within("the probe", hub.call_tool("flappy", "echo", echo("probe")))
            .await
            .unwrap();
        assert_eq!(text_of(&r), "probe");
        assert_eq!(up.breaker.status().state, "closed");
        assert_eq!(recorded(&record, "echo"), before + 1);
    }
    let metrics = hub.metrics_text();
    assert!(
        metrics.contains(r#"weft_breaker_opened_total{server="flappy"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"weft_calls_total{tenant="",server="flappy",tool="slow",outcome="timeout"} 6"#
        ),
        "{metrics}"
    );
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_call_fails_over_to_a_lower_priority_server() {
    let dir = temp_dir();
    let mut text = command_entry("primary", &faulty(), &["--name", "primary"]);
    text += "priority = 10\ndomains = [\"search\"]\n";
    text += "[servers.primary.restart]\ninitial = \"300ms\"\n";
    text += &command_entry("backup", &faulty(), &["--name", "backup"]);
    text += "priority = 1\ndomains = [\"search\"]\n";
    text += &command_entry("elsewhere", &faulty(), &["--name", "elsewhere"]);
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    let whoami = async |hub: &Hub| {
        within("a domain call", hub.call_tool("@search", "whoami", None))
            .await
            .map(|r| text_of(&r))
    };
    assert_eq!(whoami(&hub).await.unwrap(), "primary");

    let pid = hub.upstream("primary").unwrap().status().pid.unwrap();
    kill9(pid);
    assert_eq!(
        whoami(&hub).await.unwrap(),
        "backup",
        "fails over while the primary is down"
    );
    let metrics = hub.metrics_text();
    assert!(
        metrics.contains(r#"weft_failovers_total{domain="search"} 1"#),
        "{metrics}"
    );

    let primary = hub.upstream("primary").unwrap().clone();
    eventually(Duration::from_secs(15), "the primary to return", || {
        primary.state() == State::Up
    })
    .await;
    assert_eq!(whoami(&hub).await.unwrap(), "primary");

    let e = within(
        "an unknown domain",
        hub.call_tool("@nowhere", "whoami", None),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("domains: search"), "{}", e.message);
    let e = within(
        "an unknown tool",
        hub.call_tool("@search", "no_such_tool", None),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_safe_tools_are_retried_unless_configured() {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let rec = record.display().to_string();
    let mut text = command_entry(
        "cautious",
        &faulty(),
        &["--rate-limit", "2", "--record", &rec, "--name", "cautious"],
    );
    text += "[servers.cautious.retry]\nbackoff = \"20ms\"\n";
    text += &command_entry(
        "bold",
        &faulty(),
        &["--rate-limit", "2", "--record", &rec, "--name", "bold"],
    );
    text += "[servers.bold.retry]\nbackoff = \"20ms\"\ntools = \"all\"\n";
    let hub = within("the hub starts", Hub::start(config(dir.path(), &text))).await;
    let count = |server: &str, tool: &str| {
        std::fs::read_to_string(&record)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&format!("{server} {tool} ")))
            .count()
    };

    // A read-only tool is retried past two rate-limit refusals.
    let r = within("a retried read", hub.call_tool("cautious", "limited", None))
        .await
        .unwrap();
    assert_eq!(text_of(&r), "limited after 3 tries");
    assert_eq!(count("cautious", "limited"), 3);
    // A write is not: one try, and the kind says why.
    let e = within("a write", hub.call_tool("cautious", "limited_write", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited, "{e}");
    assert_eq!(count("cautious", "limited_write"), 1);
    // Unless the server's retry policy says all tools.
    let r = within(
        "a retried write",
        hub.call_tool("bold", "limited_write", None),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&r), "limited_write after 3 tries");
    assert_eq!(count("bold", "limited_write"), 3);
    let metrics = hub.metrics_text();
    assert!(
        metrics.contains(r#"weft_retries_total{server="cautious"} 2"#),
        "{metrics}"
    );
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_counts_hits_misses_and_invalidations() {
    // The fixture speaks 2026-07-28 and allows a minute (`ttlMs`); it
    // leaves `cacheScope` out, which means private to the reader.
    let served = serve(
        &["--resource-ttl-ms", "60000"],
        "[servers.fixture.cache]\ntool_ttl = \"60s\"\n",
    );
    let client = served.client().await;
    let read = async |uri: &str| {
        let r = within(
            "a resource read",
            client.read_resource(rmcp::model::ReadResourceRequestParams::new(uri)),
        )
        .await
        .expect("read");
        match &r.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("{other:?}"),
        }
    };
    let uri = "fixture+fixture://item/0";
    assert_eq!(read(uri).await, "contents of fixture://item/0");
    assert_eq!(read(uri).await, "contents of fixture://item/0");
    assert_eq!(
        recorded(&served.record, "resources/read"),
        1,
        "the second read is a hit"
    );
    let cache = served.status().await["cache"].clone();
    assert_eq!(
        (cache["hits"].as_u64(), cache["misses"].as_u64()),
        (Some(1), Some(1)),
        "{cache}"
    );
    assert_eq!(cache["items"], 1);

    // The server says the resource changed: the entry goes.
    let call = |tool: &str, args: Value| {
        rmcp::model::CallToolRequestParams::new(tool.to_string())
            .with_arguments(args.as_object().cloned().unwrap_or_default())
    };
    within(
        "the touch call",
        client.call_tool(call("fixture__touch", json!({"uri": "fixture://item/0"}))),
    )
    .await
    .expect("touch");
    let start = Instant::now();
    loop {
        let cache = served.status().await["cache"].clone();
        if cache["invalidations"] == 1 {
            assert_eq!(cache["items"], 0, "{cache}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no invalidation: {cache}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read(uri).await, "contents of fixture://item/0");
    assert_eq!(
        recorded(&served.record, "resources/read"),
        2,
        "a miss after the update"
    );

    // A read-only tool's result is cached per arguments.
    for text in ["a", "a", "b"] {
        let r = within(
            "an echo call",
            client.call_tool(call("fixture__echo", json!({"text": text}))),
        )
        .await
        .expect("echo");
        assert_eq!(text_of(&r), text);
    }
    assert_eq!(
        recorded(&served.record, "echo"),
        2,
        "the second `a` is a hit"
    );
    let cache = served.status().await["cache"].clone();
    assert_eq!(
        (cache["hits"].as_u64(), cache["misses"].as_u64()),
        (Some(2), Some(4)),
        "{cache}"
    );
    assert!((cache["hit_rate"].as_f64().unwrap() - 2.0 / 6.0).abs() < 1e-9);

    // The same figures in Prometheus form, and through `weft status`.
    let (ctype, metrics) = served.get("/metrics").await;
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(
        metrics.contains(r#"weft_cache_events_total{event="hit"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"weft_calls_total{tenant="",server="fixture",tool="touch",outcome="ok"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"weft_upstream_up{server="fixture"} 1"#),
        "{metrics}"
    );
    let out = weft()
        .args(["status", "--url", &served.base])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("fixture") && l.contains(" up ")),
        "{table}"
    );
    assert!(table.contains("2 hits, 4 misses (33% hit rate)"), "{table}");
    within("the client closes", client.cancel()).await.ok();
}
