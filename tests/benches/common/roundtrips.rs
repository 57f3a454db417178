//! The two designs weft's sandbox is compared with, for workflows of N
//! sequential `echo` calls to server-everything over stdio (cases 3 and 7
//! of the suite):
//!
//! - the official Python `mcp` SDK as a client, one call at a time on a
//!   session opened and warmed first, timed inside Python;
//! - "code as policies" as Python orchestrators do it: a fresh Python
//!   subprocess per workflow (`bench/python/workflow.py`, standard library
//!   only, one urllib request per call) calling over HTTP on 127.0.0.1
//!   through a bridge (`bench/python/bridge.py`, holding one `mcp` session
//!   to its own server-everything). Each sample includes spawning the
//!   subprocess, its interpreter start and its exit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports;
use crate::support::{Background, npm_server, repo_root, venv_bin};

/// The median time, in ms, of `reps` workflows of `n` calls each, for
/// every `n` in `ns`, made by the Python `mcp` client on one warm session.
pub fn python_client_ms(ns: &[usize], reps: usize) -> HashMap<usize, f64> {
    let server = npm_server("server-everything").display().to_string();
    let script = format!(
        r#"
import asyncio, json, time, statistics
from mcp import Client, StdioServerParameters
P = StdioServerParameters(command="node", args=[{server:?}, "stdio"])
async def main():
    async with Client(P, mode="legacy") as c:
        for _ in range(100): await c.call_tool("echo", {{"message": "warm"}})
        out = {{}}
        for n in {ns:?}:
            runs = []
            for _ in range({reps}):
                t = time.perf_counter()
                for i in range(n): await c.call_tool("echo", {{"message": str(i)}})
                runs.append(time.perf_counter() - t)
            out[str(n)] = statistics.median(runs) * 1e3
        print(json.dumps(out))
asyncio.run(main())
"#
    );
    let out = Command::new(venv_bin("python"))
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .expect("run the Python mcp client");
    assert!(
        out.status.success(),
        "python client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let times: HashMap<String, f64> =
        serde_json::from_slice(&out.stdout).expect("the Python client prints its medians");
    ns.iter()
        .map(|n| (*n, times.get(&n.to_string()).copied().unwrap_or(f64::NAN)))
        .collect()
}

/// The bridge, running and warmed, that fresh workflow processes call.
pub struct Bridge {
    _process: Background,
    url: String,
    scripts: PathBuf,
}

impl Bridge {
    /// Starts `bench/python/bridge.py` in front of its own
    /// server-everything and makes one workflow of `warm` calls.
    pub fn start(warm: usize) -> Bridge {
        let server = npm_server("server-everything").display().to_string();
        let scripts = repo_root().join("bench/python");
        let process = Background::spawn(
            Command::new(venv_bin("python"))
                .arg(scripts.join("bridge.py"))
                .arg("0")
                .args(["node", &server, "stdio"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let port = ports::bound_port(process.0.id(), Duration::from_secs(30));
        let bridge = Bridge {
            _process: process,
            url: format!("http://127.0.0.1:{port}"),
            scripts,
        };
        bridge.workflow(warm);
        bridge
    }

    /// One workflow of `n` calls in a fresh Python process, timed from
    /// its spawn to its exit.
    pub fn workflow(&self, n: usize) -> Duration {
        let t = Instant::now();
        let out = Command::new(venv_bin("python"))
            .arg(self.scripts.join("workflow.py"))
            .arg(&self.url)
            .arg(n.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run workflow.py");
        let took = t.elapsed();
        assert!(
            out.status.success(),
            "workflow.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("workflow.py prints a summary");
        assert_eq!(summary["ok"], n, "{summary}");
        took
    }
}
