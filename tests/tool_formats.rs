//! Tool formats for agents that embed weft (issue 22): `weft tools
//! --format mcp|openai|anthropic` against real servers, and the example
//! agent loop (`examples/agent_loop.rs`, weft as a library) driven by a
//! scripted stand-in for an OpenAI-compatible chat endpoint, since no
//! model is reachable here: the stand-in asks for two tool calls by the
//! names it was offered, and the loop answers each with the real servers'
//! results, mapped back to the names weft routes.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::support::*;

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = npm_entry("everything", "server-everything", &["stdio"]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn tools_as(cfg: &std::path::Path, format: &str) -> Value {
    let out = weft()
        .arg("-c")
        .arg(cfg)
        .args(["tools", "--format", format])
        .output_timed()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON only")
}

#[test]
fn weft_tools_prints_each_vendors_tool_list() {
    let dir = temp_dir();
    let cfg = config(dir.path());
    let openai = tools_as(&cfg, "openai");
    let echo = openai
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "everything__echo")
        .unwrap_or_else(|| panic!("{openai}"));
    assert_eq!(echo["type"], "function");
    assert_eq!(
        echo["function"]["parameters"]["properties"]["message"]["type"],
        "string"
    );
    let anthropic = tools_as(&cfg, "anthropic");
    let time = anthropic
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "time__get_current_time")
        .unwrap_or_else(|| panic!("{anthropic}"));
    assert_eq!(time["input_schema"]["type"], "object");
    assert!(
        time["input_schema"]["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("timezone")))
    );
    // Every vendor name is one the vendors accept.
    for t in anthropic.as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        assert!(
            name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{name}"
        );
    }
    let mcp = tools_as(&cfg, "mcp");
    assert!(
        mcp["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "everything__echo" && t["inputSchema"].is_object()),
        "{mcp}"
    );
    // --json and --format are one or the other.
    let out = weft()
        .arg("-c")
        .arg(&cfg)
        .args(["tools", "--json", "--format", "openai"])
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The chat requests the stand-in received.
type Seen = Arc<Mutex<Vec<Value>>>;

/// Turn 1: call `everything__echo` and `time__get_current_time`; turn 2:
/// answer with the tool results it was sent.
async fn chat(req: Request<Incoming>, seen: Seen) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let turn = {
        let mut seen = seen.lock();
        seen.push(request.clone());
        seen.len()
    };
    let message = if turn == 1 {
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "everything__echo", "arguments": "{\"message\": \"from the model\"}"}},
            {"id": "call_2", "type": "function",
             "function": {"name": "time__get_current_time", "arguments": "{\"timezone\": \"Asia/Tokyo\"}"}},
        ]})
    } else {
        let results: Vec<String> = request["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "tool")
            .map(|m| {
                format!(
                    "{}={}",
                    m["tool_call_id"].as_str().unwrap_or(""),
                    m["content"].as_str().unwrap_or("")
                )
            })
            .collect();
        json!({"role": "assistant", "content": format!("done: {}", results.join(" | "))})
    };
    let answer = json!({"id": "chat-1", "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]});
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_agent_loop_runs_a_scripted_models_tool_calls() {
    let dir = temp_dir();
    let cfg = config(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| chat(req, s.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let example = example_bin("agent_loop");
    let mut cmd = std::process::Command::new(&example);
    isolate(&mut cmd);
    cmd.arg("--config")
        .arg(&cfg)
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{port}/v1"),
            "--model",
            "scripted",
        ])
        .arg("What time is it in Tokyo? Echo something first.")
        .env("WEFT_LOG", "error")
        .stdin(std::process::Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output_timed())
        .await
        .unwrap()
        .unwrap();
    server.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let answer = stdout.trim();
    assert!(
        answer.starts_with("done: call_1=Echo: from the model | call_2={"),
        "{answer}"
    );
    assert!(answer.contains("\"timezone\": \"Asia/Tokyo\""), "{answer}");
    let seen = seen.lock().clone();
    assert_eq!(seen.len(), 2, "two model turns");
    // The model was offered the catalog in OpenAI's format.
    let offered: Vec<&str> = seen[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        offered.contains(&"everything__echo") && offered.contains(&"time__get_current_time"),
        "{offered:?}"
    );
    assert_eq!(seen[0]["model"], "scripted");
}
