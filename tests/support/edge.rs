//! A weft serving `--http` for a test, and a hand-driven MCP client for
//! it: [`serve`] starts `weft serve --http 127.0.0.1:0` and reads back its
//! URL; [`Raw`] speaks either protocol era over one kept-alive reqwest
//! connection, with the headers each era asks for, and [`Answer`] reads a
//! JSON or SSE answer. Every wait is bounded by [`IO`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;

/// Every await on a socket is bounded by this.
pub(crate) const IO: Duration = Duration::from_secs(30);

/// A running `weft serve --http 127.0.0.1:0`: its base URL (`http://IP:PORT`).
pub(crate) struct Served {
    pub(crate) _proc: Background,
    pub(crate) base: String,
    pub(crate) port: u16,
    /// The line weft printed on stdout once it was listening.
    pub(crate) banner: String,
}

/// The `http://IP:PORT` part of the first URL in `line`.
pub(crate) fn base_of(line: &str) -> String {
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    url.trim_end_matches("/mcp").to_string()
}

pub(crate) fn serve(config: &Path, extra: &[&str]) -> Served {
    serve_with(weft(), config, "127.0.0.1:0", extra)
}

/// `cmd` (a `weft`) serving `config` over HTTP on `addr`, once it listens.
pub(crate) fn serve_with(mut cmd: Command, config: &Path, addr: &str, extra: &[&str]) -> Served {
    cmd.arg("--config")
        .arg(config)
        .args(["serve", "--http", addr])
        .args(extra)
        .stdout(Stdio::piped());
    let mut proc = Background::spawn(&mut cmd);
    let stdout = proc.0.stdout.take().expect("stdout is piped");
    let banner = first_line(stdout, Duration::from_secs(90));
    let base = base_of(&banner);
    let port = base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {base}"));
    Served {
        _proc: proc,
        base,
        port,
        banner,
    }
}

/// A config file in `dir` with `text`.
pub(crate) fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The fault fixture as a stdio server named `name`.
pub(crate) fn fixture(name: &str) -> String {
    command_entry(name, &target_bin("weft-faulty-server"), &["--name", name])
}

/// `weft keys add TENANT` for the config at `config`: the new key. (The
/// benches build this module too, and make no keys.)
#[allow(unused_imports)]
pub(crate) use super::keys::add_key_at as add_key;

/// One answer: status, headers and the body as text.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    /// The `Content-Type`, or `""` without one.
    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Every JSON-RPC message of the answer, in order: a JSON body's one,
    /// or those of the `data:` lines of an SSE body.
    pub(crate) fn messages(&self) -> Vec<Value> {
        if self.content_type().starts_with("text/event-stream") {
            self.body
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok())
                .collect()
        } else {
            serde_json::from_str(&self.body).into_iter().collect()
        }
    }

    /// The JSON-RPC message answering request `id`.
    pub(crate) fn message(&self, id: u64) -> Value {
        self.messages()
            .into_iter()
            .find(|m: &Value| m["id"] == json!(id))
            .unwrap_or_else(|| panic!("no answer to request {id} in: {}", self.body))
    }
}

/// A hand-driven MCP client over one `reqwest::Client` (which keeps its
/// connection alive and sets TCP_NODELAY on its side, as most do).
pub(crate) struct Raw {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
    pub(crate) key: Option<String>,
    /// The protocol version: a handshake-era one, or `2026-07-28`.
    version: &'static str,
    pub(crate) session: Option<String>,
    pub(crate) next_id: u64,
}

impl Raw {
    pub(crate) fn new(http: &reqwest::Client, base: &str, version: &'static str) -> Raw {
        Raw {
            http: http.clone(),
            url: format!("{base}/mcp"),
            key: None,
            version,
            session: None,
            next_id: 1,
        }
    }

    /// A client that sends `key` as its bearer token.
    pub(crate) fn keyed(
        http: &reqwest::Client,
        base: &str,
        version: &'static str,
        key: &str,
    ) -> Raw {
        Raw {
            key: Some(key.to_string()),
            ..Raw::new(http, base, version)
        }
    }

    /// The protocol version it speaks.
    pub(crate) fn version(&self) -> &'static str {
        self.version
    }

    pub(crate) fn stateless(&self) -> bool {
        self.version == "2026-07-28"
    }

    /// POSTs one message with the headers its era asks for, plus `extra`.
    pub(crate) async fn post(&self, message: &Value, extra: &[(&str, &str)]) -> Answer {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(message.to_string());
        let method = message["method"].as_str().unwrap_or_default();
        if method != "initialize" {
            req = req.header("mcp-protocol-version", self.version);
        }
        if self.stateless() {
            req = req.header("mcp-method", method);
            if let Some(name) = message["params"]["name"].as_str() {
                req = req.header("mcp-name", name);
            }
        }
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        if let Some(k) = &self.key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        send(req).await
    }

    /// A request with `params` (and, in 2026-07-28, the per-request
    /// `_meta` that era requires): its id and the answer.
    pub(crate) async fn request(&mut self, method: &str, mut params: Value) -> (u64, Answer) {
        let id = self.next_id;
        self.next_id += 1;
        if self.stateless() {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": self.version,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "weft-http-edge", "version": "1"},
            });
        }
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        (id, self.post(&message, &[]).await)
    }

    /// The handshake (handshake era only): keeps the session id.
    pub(crate) async fn open(&mut self) {
        let (id, answer) = self
            .request(
                "initialize",
                json!({"protocolVersion": self.version, "capabilities": {},
                       "clientInfo": {"name": "weft-http-edge", "version": "1"}}),
            )
            .await;
        assert_eq!(answer.status, 200, "initialize: {}", answer.body);
        assert_eq!(
            answer.message(id)["result"]["protocolVersion"],
            self.version,
            "{}",
            answer.body
        );
        let session = answer
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("a session id");
        self.session = Some(session.to_string());
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = self.post(&done, &[]).await;
        assert_eq!(answer.status, 202, "initialized: {}", answer.body);
    }

    /// `tools/call`: the JSON-RPC `result`, which must be there.
    pub(crate) async fn call(&mut self, tool: &str, args: Value) -> Value {
        let (id, answer) = self
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        assert_eq!(answer.status, 200, "{tool}: {}", answer.body);
        let message = answer.message(id);
        assert!(message.get("error").is_none(), "{tool}: {message}");
        message["result"].clone()
    }

    pub(crate) async fn delete(&self) -> u16 {
        let mut req = self
            .http
            .delete(&self.url)
            .header("mcp-protocol-version", self.version);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        if let Some(k) = &self.key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        send(req).await.status
    }
}

/// Sends a request and reads its whole answer, each under [`IO`].
pub(crate) async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = tokio::time::timeout(IO, req.send())
        .await
        .expect("weft answers within 30 s")
        .expect("weft answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = tokio::time::timeout(IO, resp.text())
        .await
        .expect("the body arrives within 30 s")
        .expect("a readable body");
    Answer {
        status,
        headers,
        body,
    }
}

/// The text of a tool result's only content block.
pub(crate) fn only_text(result: &Value) -> String {
    let content = result["content"].as_array().expect("content");
    assert_eq!(content.len(), 1, "{result}");
    content[0]["text"]
        .as_str()
        .expect("a text block")
        .to_string()
}
