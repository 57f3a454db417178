//! Servers that fail: missing commands, crashes before and after the
//! handshake, hangs; and no child process outlives weft.

use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::json;
use weft::State;
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
    let hub = within(
        "the hub starts",
        Hub::start_unsupervised(config(dir.path(), &text)),
    )
    .await;
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
        error.reason.starts_with(r#"command "/nonexistent/mcp-server-nothing" was not found (no such file); check the path"#),
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
    let r = within(
        "a call to a working server",
        hub.call_tool(
            "everything",
            "echo",
            json!({"message": "still here"}).as_object().cloned(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&r), "Echo: still here");
    let e = within(
        "a call to a failed server",
        hub.call_tool("dies", "echo", None),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(e.server, "dies");
    assert!(e.message.contains("failed to start"), "{}", e.message);
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_session_is_unavailable_and_a_hang_times_out() {
    let dir = temp_dir();
    let fixture = target_bin("weft-faulty-server");
    let mut text = command_entry("crashy", &fixture, &["--crash-after", "2"]);
    text += &command_entry("hangs", &fixture, &[]);
    text += "timeout = \"700ms\"\n";
    // Without a supervisor, so the crashed server stays down.
    let hub = within(
        "the hub starts",
        Hub::start_unsupervised(config(dir.path(), &text)),
    )
    .await;
    let pid = hub.upstream("crashy").unwrap().status().pid.expect("a pid");

    for i in 0..2 {
        let r = within(
            "a call before the crash",
            hub.call_tool(
                "crashy",
                "echo",
                json!({"text": i.to_string()}).as_object().cloned(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(text_of(&r), i.to_string());
    }
    let e = within("the crashing call", hub.call_tool("crashy", "echo", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    // Once down, calls fail fast without touching the dead process.
    let e = within(
        "a call after the crash",
        hub.call_tool("crashy", "echo", None),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(
        hub.upstream("crashy")
            .unwrap()
            .stderr_tail(5)
            .iter()
            .any(|l| l.contains("crashing on call 3"))
    );
    eventually(
        Duration::from_secs(10),
        "the crashed server to be reaped",
        || !alive(pid),
    )
    .await;

    let started = Instant::now();
    let e = within("a hung call", hub.call_tool("hangs", "hang", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(e.message.contains("servers.hangs.timeout"), "{}", e.message);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_secs(3),
        "timed out after {took:?}"
    );
    // The hung call does not block the server's other calls.
    let r = within(
        "a call beside the hung one",
        hub.call_tool("hangs", "echo", json!({"text": "ok"}).as_object().cloned()),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&r), "ok");
    within("hub shutdown", hub.shutdown()).await;
}

#[test]
fn no_orphans_after_sigterm_or_sigint() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = temp_dir();
        let record = dir.path().join("calls.log");
        // The fixture starts a child of its own in its process group, so
        // the check covers what weft cannot see: a server's descendants.
        let text = command_entry(
            "fixture",
            &target_bin("weft-faulty-server"),
            &[
                "--fork-grandchild",
                "--record",
                &record.display().to_string(),
            ],
        );
        std::fs::write(dir.path().join("weft.toml"), text).unwrap();
        // A long call keeps weft busy while we signal it.
        let mut child = weft()
            .current_dir(dir.path())
            .args(["call", "fixture", "slow", r#"{"ms": 30000}"#])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("weft starts");
        let weft_pid = child.id();
        let killer = KillOnDrop(weft_pid);
        wait_until(
            Duration::from_secs(60),
            "the call to reach the server",
            || recorded(&record, "slow").len() == 1,
        );
        let grandchild = grandchild_pid(&record);
        let server = servers_of(weft_pid);
        assert_eq!(server.len(), 1, "one server process: {server:?}");
        let server = server[0];
        // weft made a process group for the server, and the fixture's own
        // child is in it.
        assert_eq!(pgid_of(server), Some(server), "the server leads a group");
        assert_eq!(pgid_of(grandchild), Some(server), "the grandchild is in it");
        // SAFETY: signals the weft process this test spawned.
        unsafe { libc::kill(weft_pid as i32, signal) };
        let status = wait_child(&mut child, Duration::from_secs(20));
        drop(killer);
        assert_eq!(
            status.code(),
            Some(if signal == libc::SIGTERM { 143 } else { 130 })
        );
        // weft signalled the group before it exited; the kernel may take a
        // moment to finish the processes.
        wait_until(
            Duration::from_secs(5),
            &format!("the server {server} to be gone (signal {signal})"),
            || !alive(server),
        );
        wait_until(
            Duration::from_secs(5),
            &format!("the grandchild {grandchild} to be gone (signal {signal})"),
            || !alive(grandchild),
        );
        assert!(
            group_members(server).is_empty(),
            "the server's processes outlived weft (signal {signal})"
        );
    }
}

/// `kill -9` of weft itself: the kernel kills each server process
/// (`PR_SET_PDEATHSIG`), whichever runtime thread started it, and weft's
/// reaper kills what the servers started in their groups (see
/// `host/src/upstream/stdio.rs`), then exits.
#[test]
fn servers_die_with_a_weft_killed_by_sigkill() {
    let dir = temp_dir();
    let record = dir.path().join("calls.log");
    let mut text = npm_entry("everything", "server-everything", &["stdio"]);
    text += &command_entry(
        "fixture",
        &target_bin("weft-faulty-server"),
        &[
            "--fork-grandchild",
            "--record",
            &record.display().to_string(),
        ],
    );
    // Started later, from whatever runtime thread the supervisor runs on.
    text += &command_entry(
        "phoenix",
        &target_bin("weft-faulty-server"),
        &["--name", "phoenix"],
    );
    text += "[servers.phoenix.restart]\ninitial = \"10ms\"\n";
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let mut cmd = weft();
    cmd.current_dir(dir.path());
    let (mut weft, base) = serve_weft_http(&mut cmd);
    let status = || http_status(&base);
    let pid_of = |s: &serde_json::Value, name: &str| -> Option<u32> {
        s["servers"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == name && v["state"] == "up")?["pid"]
            .as_u64()
            .map(|p| p as u32)
    };
    // Restart one server, so a process started after start-up is covered.
    let first = status();
    let phoenix = pid_of(&first, "phoenix").expect("phoenix is up");
    // SAFETY: signals a server process this test's weft started.
    unsafe { libc::kill(phoenix as i32, libc::SIGKILL) };
    let mut now = first.clone();
    wait_until(Duration::from_secs(30), "phoenix to come back", || {
        now = status();
        pid_of(&now, "phoenix").is_some_and(|p| p != phoenix)
    });
    let servers: Vec<u32> = ["everything", "fixture", "phoenix"]
        .iter()
        .map(|n| pid_of(&now, n).unwrap_or_else(|| panic!("{n} is not up: {now}")))
        .collect();
    let grandchild = grandchild_pid(&record);
    let _cleanup = KillOnDrop(grandchild);
    for &pid in &servers {
        assert!(alive(pid), "server {pid} runs");
    }
    let reapers = reapers_of(weft.0.id());
    assert_eq!(reapers.len(), 1, "one reaper: {reapers:?}");
    let _reaper = KillOnDrop(reapers[0]);

    // SAFETY: signals the weft process this test spawned.
    unsafe { libc::kill(weft.0.id() as i32, libc::SIGKILL) };
    let exit = wait_child(&mut weft.0, Duration::from_secs(10));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&exit),
        Some(libc::SIGKILL)
    );
    for pid in servers {
        wait_until(
            Duration::from_secs(10),
            &format!("server {pid} to die with weft"),
            || !alive(pid),
        );
    }
    wait_until(
        Duration::from_secs(10),
        &format!("the grandchild {grandchild} to die with weft"),
        || !alive(grandchild),
    );
    wait_until(Duration::from_secs(10), "the reaper to exit", || {
        !alive(reapers[0])
    });
}

/// weft's children that are server processes, each the leader of a
/// process group of its own (weft's reaper, which leads one too, is not).
fn servers_of(weft_pid: u32) -> Vec<u32> {
    let reapers = reapers_of(weft_pid);
    children_of(weft_pid)
        .into_iter()
        .filter(|&p| pgid_of(p) == Some(p) && !reapers.contains(&p))
        .collect()
}

/// weft's reaper processes (named `weft-reaper`).
fn reapers_of(weft_pid: u32) -> Vec<u32> {
    children_of(weft_pid)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "weft-reaper")
        })
        .collect()
}

/// Kills a process (if still there) when dropped, so a failed test leaves
/// nothing behind.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            // SAFETY: signals a process this test started (or its server's).
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }
}

/// The lines the fixture recorded for `what`.
fn recorded(record: &std::path::Path, what: &str) -> Vec<String> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(what))
        .map(str::to_string)
        .collect()
}

/// The pid of the grandchild the fixture recorded (`--fork-grandchild`).
fn grandchild_pid(record: &std::path::Path) -> u32 {
    let lines = recorded(record, "grandchild");
    assert_eq!(lines.len(), 1, "one grandchild recorded: {lines:?}");
    let json = lines[0].splitn(3, ' ').nth(2).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(json).expect("a JSON record");
    v["pid"].as_u64().expect("a pid") as u32
}

/// The process group of a process.
fn pgid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}
