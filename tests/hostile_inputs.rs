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
//! - Code mode's Python import guard, escaped (finding 14): through
//!   `tools.call.__func__.__globals__` and through `object.__subclasses__()`
//!   the code reaches the interpreter's real `__import__`, and with it
//!   `os` and `socket`; still it finds no file, no environment variable
//!   and no socket, because the sandbox grants none.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::code::{EXEC_DEADLINE, interpreters, weft_code};
use crate::support::edge::{Raw, only_text, serve, write_config};
use crate::support::*;

/// What each flood sends: far over what the allocator may keep of the
/// 16 MiB line buffer on each thread that reads one (measured: 39 to 80
/// MiB over the three), so that a line held whole shows.
const FLOOD: u64 = 256 << 20;
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
    // The kernel's RSS counters are per CPU and summed lazily: the peak
    // read later may be a little lower.
    let (stdout_grew, stderr_grew) = (
        after_stdout.saturating_sub(before),
        after_stderr.saturating_sub(after_stdout),
    );
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
    // keep some of each on the thread that read it, but nothing grows with
    // the line's length: half of one line is more than weft may grow by.
    assert!(
        stdout_grew < FLOOD / 2,
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

/// The Python code that escapes the guard both ways and looks for files,
/// variables and sockets with the real modules: one report of what it
/// found, keyed by the way in. (That `os` imports at all is the escape:
/// the guard refuses it.)
const ESCAPE: &str = r#"
def via_globals():
    return tools.call.__func__.__globals__["_real_import"]

def via_subclasses():
    for c in object.__subclasses__():
        g = getattr(getattr(c, "__init__", None), "__globals__", None)
        if g and "__builtins__" in g:
            b = g["__builtins__"]
            imp = b["__import__"] if isinstance(b, dict) else b.__import__
            if imp is not __import__:
                return imp
    raise RuntimeError("no class leads to the real import")

def outcome(f):
    try:
        return ["ok", f()]
    except BaseException as e:
        return [type(e).__name__, getattr(e, "errno", None)]

found = {}
for way, get in [("globals", via_globals), ("subclasses", via_subclasses)]:
    imp = get()
    os = imp("os")
    real_open = imp("builtins").open
    port = input["port"]
    def connect():
        socket = imp("socket")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        return "connected"
    found[way] = {
        "environ": dict(os.environ),
        "canary": os.environ.get("WEFT_GUARD_CANARY"),
        "listdir /": outcome(lambda: os.listdir("/")),
        "listdir .": outcome(lambda: os.listdir(".")),
        "open": outcome(lambda: real_open(input["file"]).read()),
        "stat": outcome(lambda: os.stat(input["file"]).st_size),
        "socket": outcome(connect),
        "_socket": outcome(lambda: imp("_socket").socket()),
    }
return found
"#;

/// Past the import guard, by both known ways, the code has the real `os`
/// and `socket` and finds nothing with them: no file (not even one weft
/// itself can read), no variable (not even one set on weft), no socket
/// (a listener on loopback sees no connection).
#[test]
fn an_escaped_import_guard_still_finds_no_file_variable_or_socket() {
    let interp = interpreters("python");
    let dir = temp_dir();
    let cfg = write_config(dir.path(), "");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "weft can read this").expect("write the file");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a listener");
    let port = listener.local_addr().expect("its address").port();
    let code = dir.path().join("escape.py");
    std::fs::write(&code, ESCAPE).expect("write the code");
    let input = json!({"port": port, "file": secret.display().to_string()});

    let out = weft_code(&interp)
        .env("WEFT_GUARD_CANARY", "canary-53")
        .arg("-c")
        .arg(&cfg)
        .args(["exec", "--json"])
        .arg(&code)
        .arg("--input")
        .arg(input.to_string())
        .output_within(EXEC_DEADLINE)
        .expect("weft exec runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json prints a report ({e}): {stderr}"));
    assert_eq!(out.status.code(), Some(0), "{report} {stderr}");

    let nothing = json!({
        "environ": {},
        "canary": null,
        // WASI's ENOENT: there is no file system to look in.
        "listdir /": ["FileNotFoundError", 44],
        "listdir .": ["FileNotFoundError", 44],
        "open": ["FileNotFoundError", 44],
        "stat": ["FileNotFoundError", 44],
        // The stdlib's socket module is not built for WASI, and the
        // sockets underneath refuse to be made.
        "socket": ["ModuleNotFoundError", null],
        "_socket": ["PermissionError", 2],
    });
    assert_eq!(
        report["output"],
        json!({"globals": nothing, "subclasses": nothing}),
        "{report}"
    );
    listener.set_nonblocking(true).expect("non-blocking");
    let accepted = listener.accept().map(|(_, peer)| peer);
    assert_eq!(
        accepted.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "the code's socket reached the listener"
    );
}
