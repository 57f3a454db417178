//! An agent loop over any OpenAI-compatible chat completions endpoint,
//! with weft as a library: weft starts the configured MCP servers, offers
//! the model their tools and the config's policies (in OpenAI's format,
//! names made acceptable and mapped back), runs each tool call the model
//! asks for through weft's router (a policy in weft's sandbox), and sends
//! the results back until the model answers in text.
//!
//! ```sh
//! cargo run -p weft-examples --example agent_loop -- \
//!     --config examples/weft.toml --endpoint http://127.0.0.1:8080/v1 \
//!     --model my-model "What time is it in Tokyo?"
//! ```
//!
//! The key, if the endpoint needs one, is read from `$OPENAI_API_KEY`.
//! Progress goes to stderr; the model's final answer to stdout.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use weft::formats::{self, Format};

#[derive(Parser)]
struct Args {
    /// The weft config: servers and policies.
    #[arg(long)]
    config: PathBuf,
    /// The endpoint's base URL (`…/v1`); `/chat/completions` is added.
    #[arg(long)]
    endpoint: String,
    #[arg(long, default_value = "default")]
    model: String,
    /// The most model turns before giving up.
    #[arg(long, default_value_t = 8)]
    max_turns: usize,
    /// What to ask.
    prompt: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = weft::Config::load(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hub = weft::Hub::start(config).await;
    let rendered = hub.tools_as(Format::OpenAi);
    eprintln!(
        "agent_loop: offering {} tools to {}",
        rendered.names.len(),
        args.endpoint
    );
    let sandbox = Arc::new(weft::sandbox::Sandbox::new().context("weft's sandbox")?);
    let runner = weft::policy::Runner::new(hub.clone(), sandbox);
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", args.endpoint.trim_end_matches('/'));
    let key = std::env::var("OPENAI_API_KEY").ok();
    let mut messages = vec![json!({"role": "user", "content": args.prompt})];
    for _ in 0..args.max_turns {
        let body = json!({"model": args.model, "messages": messages, "tools": rendered.tools});
        let mut request = http.post(&url).json(&body);
        if let Some(k) = &key {
            request = request.bearer_auth(k);
        }
        let answer: Value = request
            .send()
            .await
            .context("the chat endpoint")?
            .error_for_status()?
            .json()
            .await
            .context("the chat endpoint's answer")?;
        let message = answer["choices"][0]["message"].clone();
        let calls = message["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        messages.push(message.clone());
        if calls.is_empty() {
            println!("{}", message["content"].as_str().unwrap_or_default());
            hub.shutdown().await;
            return Ok(());
        }
        for call in calls {
            let id = call["id"].as_str().unwrap_or_default();
            let name = call["function"]["name"].as_str().unwrap_or_default();
            let arguments: Value =
                serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("{}"))
                    .unwrap_or_else(|_| json!({}));
            let result = match rendered.names.exposed(name) {
                None => rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(
                    format!("no tool named {name:?}"),
                )]),
                Some(exposed) => run(&hub, &runner, exposed, arguments).await,
            };
            eprintln!("agent_loop: {name} → {}", formats::result_text(&result));
            messages.push(formats::openai_result(id, &result));
        }
    }
    hub.shutdown().await;
    bail!("no answer after {} turns", args.max_turns)
}

/// Runs one tool call: a configured policy in the sandbox, else a catalog
/// tool through the router.
async fn run(
    hub: &weft::Hub,
    runner: &weft::policy::Runner,
    exposed: &str,
    arguments: Value,
) -> rmcp::model::CallToolResult {
    use rmcp::model::{CallToolResult, ContentBlock};
    if hub.config().policy(exposed).is_some() {
        let loaded = match weft::policy::load(hub, exposed, &[]) {
            Ok(l) => l,
            Err(e) => return CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        };
        let report = runner.run(&loaded, &arguments.to_string(), None).await;
        return match (report.ok(), report.output) {
            (true, Some(Value::Object(o))) => CallToolResult::structured(Value::Object(o)),
            (true, Some(other)) => {
                CallToolResult::success(vec![ContentBlock::text(other.to_string())])
            }
            _ => CallToolResult::error(vec![ContentBlock::text(report.error.unwrap_or_default())]),
        };
    }
    match hub
        .call_exposed(exposed, arguments.as_object().cloned())
        .await
    {
        Ok(r) => r,
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
    }
}
