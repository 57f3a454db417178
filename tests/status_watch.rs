//! `weft status --watch`: a running weft's status, refreshed every
//! interval; redrawn in place on a terminal (checked under `script`, a
//! real pseudo-terminal), a snapshot after another through a pipe, JSON
//! lines with `--json`; a call made while it watches shows up in the
//! server's calls and latency; closing the pipe ends it quietly.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

use crate::support::*;

/// The lines a child prints, as they come.
fn lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line that `want` takes, and gives what it made of it.
fn wait_line<T>(rx: &mpsc::Receiver<String>, what: &str, want: impl Fn(&str) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(found) = want(&line) {
                    return found;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line showed {what}")
}

/// The echo server's row of a table: (calls, p50).
fn echo_row(line: &str) -> Option<(u64, String)> {
    let cells: Vec<&str> = line.split_whitespace().collect();
    (cells.first() == Some(&"echo")).then(|| (cells[7].parse().unwrap(), cells[8].to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_refreshes_and_shows_a_new_call() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("weft.toml"),
        "[servers.echo]\nbuiltin = \"echo\"\n",
    )
    .unwrap();
    let mut cmd = weft();
    cmd.current_dir(dir.path());
    let (_weft, base) = serve_weft_http(&mut cmd);
    let watch = |extra: &[&str]| {
        let mut cmd = weft();
        cmd.args(["status", "--url", &base, "--watch", "--interval", "200ms"])
            .args(extra)
            .stdout(Stdio::piped());
        Background::spawn(&mut cmd)
    };

    // Through a pipe: a snapshot after another, with its header.
    let mut table = watch(&[]);
    let rows = lines(&mut table.0);
    let header = wait_line(&rows, "the header", |l| {
        l.starts_with("weft status: ").then(|| l.to_string())
    });
    assert!(header.contains(&format!("{base}/status")), "{header}");
    assert!(
        header.ends_with("every 200 ms (Ctrl-C to stop)"),
        "{header}"
    );
    assert_eq!(
        wait_line(&rows, "echo with no calls", echo_row),
        (0, "-".to_string())
    );
    let mut json_watch = watch(&["--json"]);
    let reports = lines(&mut json_watch.0);
    let first: Value =
        serde_json::from_str(&reports.recv_timeout(Duration::from_secs(60)).unwrap()).unwrap();
    assert_eq!(first["servers"][0]["name"], "echo");
    assert!(first["servers"][0].get("latency").is_none(), "{first}");

    let client = within(
        "the agent connects",
        ().serve(StreamableHttpClientTransport::from_uri(format!(
            "{base}/mcp"
        ))),
    )
    .await
    .unwrap();
    let args = json!({"message": "hi"});
    let params =
        CallToolRequestParams::new("echo__echo").with_arguments(args.as_object().cloned().unwrap());
    within("a call", client.call_tool(params)).await.unwrap();

    // The next snapshots show it.
    let (calls, p50) = wait_line(&rows, "echo with one call", |l| {
        echo_row(l).filter(|(n, _)| *n == 1)
    });
    assert_eq!(calls, 1);
    assert!(p50.parse::<f64>().is_ok(), "{p50}");
    let latency = wait_line(&reports, "a report with the call", |l| {
        let r: Value = serde_json::from_str(l).ok()?;
        r["servers"][0].get("latency").cloned()
    });
    assert_eq!(latency["calls"], 1);
    assert!(latency["p50_ms"].as_f64().unwrap() >= 0.0, "{latency}");

    // Closing the pipe ends it, with no panic.
    drop(rows);
    let mut cut = weft();
    cut.args(["status", "--url", &base, "--watch", "--interval", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cut.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut some = [0u8; 64];
    out.read_exact(&mut some).unwrap();
    drop(out);
    let status = wait_child(&mut child, Duration::from_secs(20));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // On a terminal: the alternate screen, and each refresh homes the
    // cursor and clears before drawing.
    let shown = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "timeout -s INT 2 {} status --url {base} --watch --interval 200ms",
            target_bin("weft").display()
        ))
        .arg("/dev/null")
        .env("HOME", test_home())
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.starts_with("\x1b[?1049h\x1b[?25l"), "{text:?}");
    assert!(text.matches("\x1b[H\x1b[2J").count() >= 3, "{text:?}");
    assert!(
        text.trim_end().ends_with("\x1b[?25h\x1b[?1049l"),
        "{text:?}"
    );
}
