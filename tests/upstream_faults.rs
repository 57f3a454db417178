//! Servers that fail: missing commands, crashes before and after the
//! handshake, hangs; and no child process outlives weft.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use weft::upstream::State;
use weft::{ErrorKind, Hub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broken_server_does_not_stop_the_others() {
    let dir = temp_dir();
    let fixture = target_bin("weft-faulty-server");
    let mut text = String::from("[settings]\nstartup_timeout = \"5s\"\n");
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += "[servers.missing]\ncommand = \"/nonexistent/mcp-server-nothing\"\n";
    text += &command_entry(
        "dies",
        &fixture,
        &[
            "--die-at-start",
            "fatal: cannot open database /var/lib/x.db",
        ],
    );
    text += "[servers.silent]\ncommand = \"sleep\"\nargs = [\"30\"]\n";
    text += &command_entry("fine", &fixture, &[]);
    let started = Instant::now();
    // Without a supervisor, so the first failure stays on record.
    let hub = Hub::start_unsupervised(config(dir.path(), &text)).await;
    // The silent server is given up on at the start-up timeout, not later.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "start took {:?}",
        started.elapsed()
    );

    let state = |name: &str| hub.upstream(name).unwrap().state();
    assert_eq!(state("everything"), State::Up);
    assert_eq!(state("fine"), State::Up);
    let State::Failed { error } = state("missing") else {
        panic!("missing should fail")
    };
    assert!(
        error.reason.contains("command not found"),
        "{}",
        error.reason
    );
    let State::Failed { error } = state("dies") else {
        panic!("dies should fail")
    };
    assert!(
        error
            .stderr_tail
            .iter()
            .any(|l| l.contains("cannot open database")),
        "{error:?}"
    );
    let State::Failed { error } = state("silent") else {
        panic!("silent should fail")
    };
    assert!(error.reason.contains("startup_timeout"), "{}", error.reason);

    // The working servers answer; the broken ones fail fast, by name.
    let r = hub
        .call_tool(
            "everything",
            "echo",
            json!({"message": "still here"}).as_object().cloned(),
        )
        .await
        .unwrap();
    assert_eq!(text_of(&r), "Echo: still here");
    let e = hub.call_tool("dies", "echo", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(e.server, "dies");
    assert!(e.message.contains("failed to start"), "{}", e.message);
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_session_is_unavailable_and_a_hang_times_out() {
    let dir = temp_dir();
    let fixture = target_bin("weft-faulty-server");
    let mut text = command_entry("crashy", &fixture, &["--crash-after", "2"]);
    text += &command_entry("hangs", &fixture, &[]);
    text += "timeout = \"700ms\"\n";
    // Without a supervisor, so the crashed server stays down.
    let hub = Hub::start_unsupervised(config(dir.path(), &text)).await;
    let pid = hub.upstream("crashy").unwrap().status().pid.expect("a pid");

    for i in 0..2 {
        let r = hub
            .call_tool(
                "crashy",
                "echo",
                json!({"text": i.to_string()}).as_object().cloned(),
            )
            .await
            .unwrap();
        assert_eq!(text_of(&r), i.to_string());
    }
    let e = hub.call_tool("crashy", "echo", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    // Once down, calls fail fast without touching the dead process.
    let e = hub.call_tool("crashy", "echo", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(
        hub.upstream("crashy")
            .unwrap()
            .stderr_tail(5)
            .iter()
            .any(|l| l.contains("crashing on call 3"))
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(!alive(pid), "the crashed server is reaped");

    let started = Instant::now();
    let e = hub.call_tool("hangs", "hang", None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(e.message.contains("servers.hangs.timeout"), "{}", e.message);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_secs(3),
        "timed out after {took:?}"
    );
    // The hung call does not block the server's other calls.
    let r = hub
        .call_tool("hangs", "echo", json!({"text": "ok"}).as_object().cloned())
        .await
        .unwrap();
    assert_eq!(text_of(&r), "ok");
    hub.shutdown().await;
}

#[test]
fn no_orphans_after_sigterm_or_sigint() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = temp_dir();
        let text = npm_entry("everything", "server-everything", &["stdio"]);
        std::fs::write(dir.path().join("weft.toml"), text).unwrap();
        // A long call keeps weft busy while we signal it.
        let mut child = weft()
            .current_dir(dir.path())
            .args([
                "call",
                "everything",
                "trigger-long-running-operation",
                r#"{"duration": 30, "steps": 3}"#,
            ])
            .spawn()
            .expect("weft starts");
        let weft_pid = child.id();
        // Find the server weft started: a process whose parent is weft.
        let started = Instant::now();
        let server = loop {
            let kids = children_of(weft_pid);
            if let Some(&k) = kids.first() {
                break k;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "weft never started its server"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: signals the weft process this test spawned.
        unsafe { libc::kill(weft_pid as i32, signal) };
        let status = child.wait().expect("weft exits");
        assert_eq!(
            status.code(),
            Some(if signal == libc::SIGTERM { 143 } else { 130 })
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            group_members(server).is_empty(),
            "the server's processes outlived weft (signal {signal})"
        );
    }
}

fn children_of(parent: u32) -> Vec<u32> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
                out.push(pid);
            }
        }
    }
    out
}
