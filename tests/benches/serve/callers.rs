//! The load generator's clients: rmcp's typed client, plain stateless
//! HTTP, and the keep-alive streamable HTTP client a new user writes.

use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::CallToolRequestParams;
use serde_json::json;

use super::Client;
use super::lean::{LeanHttp, LeanStdio, PLAIN_BODY};

/// How the load generator reaches a gateway: an rmcp client (the typed
/// client an agent uses), or plain HTTP with keep-alive, one JSON-RPC POST
/// per call in the stateless 2026-07-28 era, timed until the body is in
/// (the gateway alone, without the client's SSE and JSON layers).
pub(super) enum Caller {
    Rmcp(Client, String),
    Plain(reqwest::Client, String, String),
    KeepAlive(KeepAlive),
    /// `GET` of a URL that answers `ok` (weft's `/health`): an HTTP round
    /// trip through the same client and server with no MCP work in it.
    Health(reqwest::Client, String),
    /// One keep-alive connection written and read in the calling task
    /// ([`LeanHttp`]): the `echo` call, or `GET /health`.
    LeanHttp(tokio::sync::Mutex<LeanHttp>),
    /// JSON-RPC lines on a server's stdin and stdout ([`LeanStdio`]).
    LeanStdio(tokio::sync::Mutex<LeanStdio>),
}

/// A handshake-era (2025-06-18) streamable HTTP client on reqwest: one
/// session, pooled keep-alive connections with TCP_NODELAY, every answer
/// read whole (as SSE when the server streams it).
pub(super) struct KeepAlive {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
    tool: String,
    next_id: AtomicUsize,
}

const KEEPALIVE_VERSION: &str = "2025-06-18";

impl KeepAlive {
    fn post(&self, body: &serde_json::Value) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", KEEPALIVE_VERSION)
            .body(body.to_string());
        if let Some(id) = &self.session {
            req = req.header("mcp-session-id", id);
        }
        req
    }

    /// One request; the JSON-RPC message answering it (SSE or JSON body).
    async fn request(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = self.post(&body).send().await.map_err(|e| e.to_string())?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{method}: {status}: {text}"));
        }
        answer_message(&text, id)
            .ok_or_else(|| format!("{method}: no answer to id {id} in {text:?}"))
    }

    /// Handshake, then the tool to call (`echo`, or a peer's name for it).
    pub(super) async fn connect(url: &str) -> Result<KeepAlive, String> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| e.to_string())?;
        let mut client = KeepAlive {
            http,
            url: url.to_string(),
            session: None,
            tool: String::new(),
            next_id: AtomicUsize::new(0),
        };
        let init = json!({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
            "protocolVersion": KEEPALIVE_VERSION, "capabilities": {},
            "clientInfo": {"name": "bench-keepalive", "version": "1"}}});
        let answer = client.post(&init).send().await.map_err(|e| e.to_string())?;
        client.session = answer
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = answer.status();
        let text = answer.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() || answer_message(&text, "init").is_none() {
            return Err(format!("initialize: {status}: {text}"));
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = client.post(&note).send().await.map_err(|e| e.to_string())?;
        if !answer.status().is_success() {
            return Err(format!("notifications/initialized: {}", answer.status()));
        }
        let listed = client.request("tools/list", json!({})).await?;
        let names: Vec<String> = listed["result"]["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        client.tool = names
            .into_iter()
            .filter(|n| n == "echo" || n.ends_with("__echo") || n.ends_with("_echo"))
            .min_by_key(|n| n.len())
            .ok_or_else(|| format!("no echo tool in {listed}"))?;
        Ok(client)
    }
}

/// The JSON-RPC message with this id in a JSON or SSE body.
fn answer_message(text: &str, id: impl Into<serde_json::Value>) -> Option<serde_json::Value> {
    let id = id.into();
    let is_answer = |m: &serde_json::Value| {
        m.get("id") == Some(&id) && (m.get("result").is_some() || m.get("error").is_some())
    };
    if let Ok(m) = serde_json::from_str::<serde_json::Value>(text) {
        return is_answer(&m).then_some(m);
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
        .find(is_answer)
}

impl Caller {
    pub(super) async fn call(&self) -> Result<(), String> {
        match self {
            Caller::Rmcp(client, tool) => {
                let mut params = CallToolRequestParams::new(tool.clone());
                params.arguments = json!({"message": "bench"}).as_object().cloned();
                client
                    .call_tool(params)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Caller::Plain(http, url, body) => {
                let answer = http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "echo")
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = answer.status();
                let text = answer.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() || !text.windows(6).any(|w| w == b"result") {
                    return Err(format!("{status}: {}", String::from_utf8_lossy(&text)));
                }
                Ok(())
            }
            Caller::Health(http, url) => {
                let answer = http.get(url).send().await.map_err(|e| e.to_string())?;
                let status = answer.status();
                let text = answer.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() || &text[..] != b"ok\n" {
                    return Err(format!("{status}: {}", String::from_utf8_lossy(&text)));
                }
                Ok(())
            }
            Caller::LeanHttp(lean) => lean.lock().await.call().await,
            Caller::LeanStdio(lean) => lean.lock().await.call().await,
            Caller::KeepAlive(client) => {
                let params = json!({"name": client.tool, "arguments": {"message": "bench"}});
                let answer = client.request("tools/call", params).await?;
                match answer.get("result") {
                    Some(r) if r["isError"] != json!(true) => Ok(()),
                    _ => Err(format!("tools/call: {answer}")),
                }
            }
        }
    }
}

/// Plain HTTP calls of `echo` through weft's stateless endpoint.
pub(super) fn plain_caller(url: &str) -> Caller {
    Caller::Plain(
        reqwest::Client::new(),
        url.to_string(),
        PLAIN_BODY.to_string(),
    )
}
