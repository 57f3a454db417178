//! Built-in servers that run inside weft: `echo`, for diagnostics and for
//! measuring weft's own overhead without a process or a pipe to the kernel
//! in the way.
//!
//! They are rmcp servers like any other upstream, so every call takes the
//! same path through the router and the client, but their transport is a
//! pair of in-process channels that carry rmcp's typed messages: a call is
//! never serialised to JSON-RPC text and parsed back (no framing).

use std::sync::Arc;

use rmcp::model::*;
use rmcp::service::{RequestContext, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::sink_stream::SinkStreamTransport;
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt};

/// The names `builtin = "..."` accepts.
pub const NAMES: &[&str] = crate::config::BUILTINS;

#[derive(Clone)]
struct Echo;

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("weft-builtin-echo", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema =
            serde_json::json!({"type": "object", "properties": {"message": {"type": "string"}}});
        let tool = Tool::new(
            "echo",
            "Returns its arguments as text",
            Arc::new(schema.as_object().cloned().unwrap_or_default()),
        )
        .with_annotations(ToolAnnotations::new().read_only(true).idempotent(true));
        Ok(ListToolsResult::with_all_items(vec![tool]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "echo" {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {}", request.name),
                None,
            ));
        }
        let text = match request.arguments.as_ref().and_then(|a| a.get("message")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// Messages in flight between weft and a built-in server.
const QUEUE: usize = 256;

/// The client end of a built-in server's channels.
pub type Pipe = SinkStreamTransport<
    futures::channel::mpsc::Sender<TxJsonRpcMessage<RoleClient>>,
    futures::channel::mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
>;

/// Starts the built-in server `name` and returns the client end of its
/// typed channels.
pub fn start(name: &str) -> Result<Pipe, String> {
    if name != "echo" {
        return Err(format!(
            "there is no built-in server {name:?}; built-ins: {}",
            NAMES.join(", ")
        ));
    }
    let (to_server, from_client) = futures::channel::mpsc::channel(QUEUE);
    let (to_client, from_server) = futures::channel::mpsc::channel(QUEUE);
    let server: SinkStreamTransport<
        futures::channel::mpsc::Sender<TxJsonRpcMessage<RoleServer>>,
        futures::channel::mpsc::Receiver<RxJsonRpcMessage<RoleServer>>,
    > = SinkStreamTransport::new(to_client, from_client);
    tokio::spawn(async move {
        match Echo.serve(server).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::warn!(error = %e, "the built-in echo server stopped"),
        }
    });
    Ok(SinkStreamTransport::new(to_server, from_server))
}
