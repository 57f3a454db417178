//! A hand-driven 2026-07-28 agent that takes tasks: `weft serve --http`
//! with code mode's interpreters, requests that carry the tasks extension
//! (and, if asked, elicitation) in their capabilities, and polling a task
//! until it settles.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::code::weft_code;
use super::edge::{Answer, Raw, base_of};
use super::keys::add_key;
use super::{Background, command_entry, first_line, target_bin};

/// `weft serve --http` on port 0 with the config in `dir` and code mode's
/// interpreters at `interp`: the process and its base URL.
pub fn serve_code(interp: &Path, dir: &Path) -> (Background, String) {
    let mut cmd = weft_code(interp);
    cmd.current_dir(dir)
        .args(["serve", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped());
    let mut proc = Background::spawn(&mut cmd);
    let stdout = proc.0.stdout.take().expect("stdout is piped");
    let banner = first_line(stdout, Duration::from_secs(90));
    (proc, base_of(&banner))
}

/// What the agent declares besides the tasks extension.
#[derive(Clone, Copy)]
pub enum Caps {
    /// Tasks only.
    Tasks,
    /// Tasks and form elicitation (it can answer approvals).
    Elicitation,
}

/// A 2026-07-28 request from an agent that takes tasks: the JSON-RPC
/// answer. A request naming a task names it in `Mcp-Name` too (SEP-2243).
pub async fn request(raw: &mut Raw, caps: Caps, method: &str, mut params: Value) -> Value {
    let id = raw.next_id;
    raw.next_id += 1;
    let mut declared = json!({"extensions": {"io.modelcontextprotocol/tasks": {}}});
    if let Caps::Elicitation = caps {
        declared["elicitation"] = json!({"form": {}});
    }
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": declared,
        "io.modelcontextprotocol/clientInfo": {"name": "weft-task-test", "version": "1"},
    });
    let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let task = params["taskId"].as_str().unwrap_or_default().to_string();
    let extra: &[(&str, &str)] = if task.is_empty() {
        &[]
    } else {
        &[("mcp-name", &task)]
    };
    let answer: Answer = raw.post(&message, extra).await;
    answer.message(id)
}

/// Polls `tasks/get` (every 100 ms, for up to two minutes) until `done`
/// holds for the answer, and returns that answer (or the last one).
pub async fn poll_until(
    raw: &mut Raw,
    caps: Caps,
    id: &str,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = request(raw, caps, "tasks/get", json!({"taskId": id})).await;
        if done(&got) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `tasks/get` until the task leaves `working`.
pub async fn settled(raw: &mut Raw, caps: Caps, id: &str) -> Value {
    poll_until(raw, caps, id, |got| got["result"]["status"] != "working").await
}

/// A config in `dir` for durable runs of code: the recording server `w`
/// (weft-faulty-server, its calls written to `dir/record.txt`, with
/// `server_extra` added to its table), a journal, `resume = true`, and
/// tenants `a` (with `a_extra` added to its table) and `b`, each with code
/// mode on and granted `w.*`. Their keys.
pub fn durable_tenants(dir: &Path, server_extra: &str, a_extra: &str) -> (String, String) {
    let record = dir.join("record.txt");
    let mut text = String::from(
        "[settings]\nstartup_timeout = \"60s\"\njournal = \"journal.db\"\nresume = true\n",
    );
    text += &command_entry(
        "w",
        &target_bin("weft-faulty-server"),
        &["--name", "w", "--record", &record.display().to_string()],
    );
    text += server_extra;
    for (tenant, extra) in [("a", a_extra), ("b", "")] {
        text += &format!(
            "[tenants.{tenant}]\ninclude = [\"w.*\"]\n{extra}[tenants.{tenant}.code]\nenabled = true\ngrants = [\"w.*\"]\n"
        );
    }
    std::fs::write(dir.join("weft.toml"), text).expect("write the config");
    (add_key(dir, "a"), add_key(dir, "b"))
}
