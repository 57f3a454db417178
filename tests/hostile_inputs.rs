//! Hostile input from what weft hosts (issue 53):
//!
//! - A stdio server that writes lines far longer than any message weft
//!   keeps (finding 12): over `weft serve --http`, the fault fixture
//!   (`--flood`) answers a tool call (its id first, as rmcp and the Python
//!   SDK write it, and last, as the TypeScript SDK does) and a resource
//!   read with one 64 MiB line, and writes a 256 MiB line to stderr. Each
//!   call fails at once with an error that says what happened and what to
//!   do, the process lives on (same pid), and weft's peak memory stays
//!   far below what it was sent.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::edge::{Raw, only_text, serve, write_config};
use crate::support::*;

/// What each flood sends.
const FLOOD: u64 = 64 << 20;
/// What the stderr flood writes.
const STDERR_FLOOD: u64 = 256 << 20;

/// The error a call gets when its answer is one line over weft's cap.
const OVERLONG: &str = "the server's answer is one line of more than 16777216 bytes, the most \
     weft reads as one message from a stdio server; weft dropped it and the server keeps running: \
     ask for less at a time (a page, a summary or a link)";

/// A peak memory (VmHWM) of `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib * 1024
}

/// `f__pid`: the fixture's process id.
async fn server_pid(raw: &mut Raw) -> String {
    only_text(&within("f__pid", raw.call("f__pid", json!({}))).await)
}

/// Each overlong line fails only its own call, at once, with an error
/// that says what to do, and the server's process serves the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_servers_overlong_line_fails_its_call_and_keeps_the_process() {
    let dir = temp_dir();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &command_entry(
        "f",
        &target_bin("weft-faulty-server"),
        &["--name", "f", "--flood"],
    );
    // Long enough that a call left waiting shows as a hang, not a timeout.
    text += "timeout = \"600s\"\n";
    let config = write_config(dir.path(), &text);
    let weft = serve(&config, &[]);
    let weft_pid = weft._proc.0.id();
    let mut raw = Raw::new(&reqwest::Client::new(), &weft.base, "2026-07-28");

    let pid = server_pid(&mut raw).await;
    let before = peak_rss(weft_pid);

    // The upstream's JSON-RPC error reaches the agent as it is.
    let overlong = json!({"code": -32603, "message": OVERLONG});
    for id_at in ["first", "last"] {
        let started = Instant::now();
        let (id, answer) = raw
            .request(
                "tools/call",
                json!({"name": "f__flood", "arguments": {"bytes": FLOOD, "id": id_at}}),
            )
            .await;
        assert_eq!(answer.status, 200, "id {id_at}: {}", answer.body);
        let message = answer.message(id);
        assert_eq!(message["error"], overlong, "id {id_at}: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "id {id_at}: the call took {:?}",
            started.elapsed()
        );
        assert_eq!(
            server_pid(&mut raw).await,
            pid,
            "after the id-{id_at} flood"
        );
    }

    // A request on rmcp's own path (not a tool call): a resource read.
    let uri = format!("f+fixture://flood/{FLOOD}");
    let id = 1000;
    let read = json!({"jsonrpc": "2.0", "id": id, "method": "resources/read", "params": {
        "uri": uri,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "weft-hostile", "version": "1"},
        },
    }});
    let answer = raw.post(&read, &[("mcp-name", &uri)]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let message = answer.message(id);
    assert_eq!(message["error"], overlong, "{message}");
    assert_eq!(server_pid(&mut raw).await, pid, "after the read's flood");

    let after_stdout = peak_rss(weft_pid);

    // A stderr line is read a piece at a time, never held whole.
    let answer = raw
        .call("f__flood", json!({"bytes": STDERR_FLOOD, "to": "stderr"}))
        .await;
    assert_eq!(
        only_text(&answer),
        format!("wrote {STDERR_FLOOD} bytes to stderr")
    );
    assert_eq!(server_pid(&mut raw).await, pid, "after the stderr flood");

    let after_stderr = peak_rss(weft_pid);
    let (stdout_grew, stderr_grew) = (after_stdout - before, after_stderr - after_stdout);
    eprintln!(
        "weft's peak RSS: {} MiB; it grew by {} KiB over three {} MiB stdout lines, \
         by {} KiB over one {} MiB stderr line",
        before >> 20,
        stdout_grew >> 10,
        FLOOD >> 20,
        stderr_grew >> 10,
        STDERR_FLOOD >> 20
    );
    // A line is held up to the cap (16 MiB) and let go; the allocator may
    // keep some of each on the thread that read it (measured: 41 MiB over
    // the three), but nothing grows with the line's length.
    assert!(
        stdout_grew < 64 << 20,
        "weft's peak memory grew by {stdout_grew} bytes over the stdout floods"
    );
    assert!(
        stderr_grew < 8 << 20,
        "weft's peak memory grew by {stderr_grew} bytes over the stderr flood"
    );

    // An answer under the cap still arrives whole.
    let bytes = 8u64 << 20;
    let answer = raw.call("f__flood", json!({"bytes": bytes})).await;
    assert_eq!(answer.get("isError"), None, "an 8 MiB answer fails");
    let text = only_text(&answer);
    // The line less its JSON-RPC framing (73 bytes and weft's request id).
    let framing = bytes as usize - text.len();
    assert!((74..100).contains(&framing), "{} bytes of text", text.len());
    assert!(text.bytes().all(|b| b == b'x'), "the text is the filler");
}
