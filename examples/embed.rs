//! weft as a library, one function per entry point: start a hub and call a
//! tool; make a call as a tenant would, with the server's progress and
//! requests forwarded to the embedding program; run a policy component;
//! serve the hub to agents over streamable HTTP.
//!
//! ```sh
//! cargo run -p weft-examples --example embed -- weft.toml policy.wasm
//! ```
//!
//! The config needs server-everything as `everything`; the policy is
//! `plugins/template` built (`weft build plugins/template`).

use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(config), Some(policy)) = (args.next(), args.next()) else {
        bail!("usage: embed CONFIG POLICY.wasm");
    };
    let config = weft::Config::load(config.as_ref())?;
    // Every server starts in parallel; one that fails is reported by
    // `hub.status()`, and its calls fail with kind `unavailable`.
    let hub = weft::Hub::start(config).await;
    call_a_tool(&hub).await?;
    forward_a_call(&hub).await?;
    run_a_policy(&hub, &policy).await?;
    serve_agents(&hub).await?;
    hub.shutdown().await;
    Ok(())
}

/// The catalog, and one call by server and tool name.
async fn call_a_tool(hub: &weft::Hub) -> anyhow::Result<()> {
    let tools = hub.catalog().tools().len();
    println!("catalog: {tools} tools");
    let args = json!({"message": "hi"});
    let result = hub
        .call_tool("everything", "echo", args.as_object().cloned())
        .await?;
    println!("echo: {}", text_of(&result));
    Ok(())
}

/// A call whose requests for the agent come back to this program: the
/// server asks for an LLM completion (sampling), and the program answers
/// it, as an agent of `weft serve` would.
async fn forward_a_call(hub: &weft::Hub) -> anyhow::Result<()> {
    let (relay, mut back) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Progress and logs come here too; a request whose reply channel
        // is dropped unanswered is refused.
        while let Some(message) = back.recv().await {
            if let weft::relay::Message::Ask { request, reply } = message {
                let asked = serde_json::to_value(&request).unwrap_or_default();
                let answer = match asked["method"].as_str() {
                    Some("sampling/createMessage") => json!({
                        "role": "assistant", "model": "embed",
                        "content": {"type": "text", "text": "a completion"}
                    }),
                    _ => continue,
                };
                let _ = reply.send(Ok(answer));
            }
        }
    });
    let args = json!({"prompt": "say something", "maxTokens": 10});
    let request = hub
        .request(
            &weft::Caller::owner(),
            "everything",
            "trigger-sampling-request",
            args.as_object().cloned(),
        )
        .forwarded(weft::Forward::new(relay));
    match hub.call(&request).await? {
        weft::Forwarded::Complete(result) => {
            let text = text_of(&result);
            println!("sampling answered: {}", text.contains("a completion"));
        }
        other => bail!("the call did not complete: {other:?}"),
    }
    Ok(())
}

/// A policy component run in weft's sandbox, its tool calls checked
/// against its grants.
async fn run_a_policy(hub: &weft::Hub, path: &str) -> anyhow::Result<()> {
    let sandbox = Arc::new(weft::sandbox::Sandbox::new().context("weft's sandbox")?);
    let runner = weft::policy::Runner::new(hub.clone(), sandbox);
    let grants = ["everything.echo".to_string()];
    let policy = weft::policy::load(hub, path, &grants)?;
    let report = runner
        .run(&policy, r#"{"message": "from a policy"}"#, None)
        .await;
    if !report.ok() {
        bail!("the policy failed: {:?}", report.error);
    }
    let output = report.output.unwrap_or_default();
    println!("policy: {}", output["echo"]);
    Ok(())
}

/// `weft serve --http` in this process, on a free port, until stopped.
async fn serve_agents(hub: &weft::Hub) -> anyhow::Result<()> {
    let gateway = weft::serve::Gateway::new(hub.clone(), None);
    let stop = tokio_util::sync::CancellationToken::new();
    let (bound, at) = tokio::sync::oneshot::channel();
    let serving = tokio::spawn(weft::serve::serve_http(
        gateway,
        ([127, 0, 0, 1], 0).into(),
        weft::serve::HttpOptions::default(),
        stop.clone(),
        Box::new(move |addr| {
            let _ = bound.send(addr);
        }),
    ));
    let addr = at.await.context("the server did not bind")?;
    let health = reqwest::get(format!("http://{addr}/health")).await?;
    println!("serving: /health {}", health.status().as_u16());
    stop.cancel();
    serving.await??;
    Ok(())
}

/// A tool result's text.
fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
