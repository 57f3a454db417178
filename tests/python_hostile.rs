//! Hostile Python guests (`tests/guests/hostile-python`) against the
//! sandbox: the same limits hold as for Rust guests, each attack ends with
//! the error that names what stopped it, and a normal run succeeds after.

use crate::sandbox::{limit, rig_with};
use crate::support::python::python_wasm;
use serde_json::json;
use std::time::Duration;
use weft::config::Limits;
use weft::policy::{RunReport, RunStatus};
use weft::sandbox::LimitError;

/// A policy's own error: the run's error, and the log's lines.
fn policy_error(r: &RunReport) -> (String, Vec<String>) {
    assert_eq!(
        r.status,
        RunStatus::Error,
        "expected an error, got {:?}",
        r.output
    );
    let logs = r.logs.iter().map(|l| l.message.clone()).collect();
    (r.error.clone().expect("an error message"), logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_python_guests_are_stopped_and_the_host_carries_on() {
    let rig = rig_with(&python_wasm("tests/guests/hostile-python")).await;
    rig.still_serves().await;

    // An infinite loop, stopped by fuel.
    let r = rig
        .run(
            json!({"attack": "spin"}),
            Limits {
                fuel: Some(200_000_000),
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(limit(&r), &LimitError::Fuel { fuel: 200_000_000 });
    rig.still_serves().await;

    // The same loop with unlimited fuel, stopped by the wall-time limit.
    let r = rig
        .run(
            json!({"attack": "spin"}),
            Limits {
                fuel: None,
                timeout: Duration::from_millis(300),
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(limit(&r), &LimitError::Time { ms: 300 });
    assert!(
        r.duration_ms >= 300.0 && r.duration_ms < 400.0,
        "stopped after {} ms",
        r.duration_ms
    );
    rig.still_serves().await;

    // A memory bomb, stopped at the cap (the default 64 MiB).
    let r = rig
        .run(json!({"attack": "memory"}), Limits::default())
        .await;
    match limit(&r) {
        LimitError::Memory { cap, desired } => {
            assert_eq!(*cap, 64 << 20);
            assert!(*desired > 64 << 20, "{desired}");
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    rig.still_serves().await;

    // A call flood, stopped by the call cap: exactly the cap reached the router.
    let r = rig
        .run(
            json!({"attack": "flood"}),
            Limits {
                max_calls: 25,
                ..Limits::default()
            },
        )
        .await;
    assert_eq!(limit(&r), &LimitError::Calls { max: 25 });
    assert_eq!(r.calls.len(), 25);
    assert!(r.calls.iter().all(|c| c.ok && c.server == "everything"));
    rig.still_serves().await;

    // Python's recursion limit: a RecursionError, the policy's own error,
    // with the traceback (from the policy's frame on) in the log.
    let r = rig
        .run(json!({"attack": "recurse"}), Limits::default())
        .await;
    let (error, logs) = policy_error(&r);
    assert_eq!(
        error,
        "the policy failed: RecursionError: maximum recursion depth exceeded"
    );
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].starts_with(
            "Traceback (most recent call last):\n  File \"/1/app.py\", line 41, in run\n"
        ) && logs[0].contains("in _recurse")
            && logs[0].ends_with("RecursionError: maximum recursion depth exceeded"),
        "{logs:?}"
    );
    rig.still_serves().await;

    // With Python's limit lifted, its frames grow until the memory cap.
    let r = rig.run(json!({"attack": "deep"}), Limits::default()).await;
    assert!(
        matches!(limit(&r), LimitError::Memory { cap, .. } if *cap == 64 << 20),
        "{:?}",
        r.error
    );
    rig.still_serves().await;

    // An exception of the policy's own: its type and message are the error.
    let r = rig.run(json!({"attack": "raise"}), Limits::default()).await;
    let (error, logs) = policy_error(&r);
    assert_eq!(error, "the policy failed: ValueError: the policy refused");
    assert_eq!(
        logs,
        [
            "Traceback (most recent call last):\n  File \"/1/app.py\", line 68, in run\nValueError: the policy refused"
        ]
    );
    rig.still_serves().await;

    // /etc/passwd: there is no file system at all.
    let r = rig
        .run(json!({"attack": "passwd"}), Limits::default())
        .await;
    let (error, _) = policy_error(&r);
    assert_eq!(
        error,
        "the policy failed: FileNotFoundError: [Errno 44] No such file or directory: '/etc/passwd'"
    );
    rig.still_serves().await;

    // The environment is empty: nothing of the host's, nor of the build's.
    let r = rig
        .run(json!({"attack": "environ"}), Limits::default())
        .await;
    assert!(r.ok(), "{:?}", r.error);
    assert_eq!(r.output.unwrap(), json!({}));
    rig.still_serves().await;

    // Sockets: the runtime has no socket module, and a listener on this
    // machine never sees a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = rig
        .run(json!({"attack": "socket", "port": port}), Limits::default())
        .await;
    let (error, _) = policy_error(&r);
    assert_eq!(
        error,
        "the policy failed: ModuleNotFoundError: No module named 'socket'"
    );
    assert!(listener.accept().is_err(), "the guest reached the listener");
    rig.still_serves().await;
}
