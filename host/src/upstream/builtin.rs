//! Built-in servers that run inside weft: `echo`, for diagnostics and for
//! measuring weft's own overhead without a process or a pipe to the kernel
//! in the way.
//!
//! They are rmcp servers like any other upstream for everything but a tool
//! call: listing goes through rmcp over a pair of in-process channels that
//! carry its typed messages (never serialised to JSON-RPC text). A tool
//! call takes the direct path, [`InProcess`]: the router calls the tool's
//! code in the caller's own task, with no channel, no task hop and no copy
//! of the arguments, so it costs what the tool costs.

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
        echo(&request.name, request.arguments.as_ref()).map(Into::into)
    }
}

/// The echo server's one tool.
fn echo(tool: &str, args: Option<&JsonObject>) -> Result<CallToolResult, ErrorData> {
    if tool != "echo" {
        return Err(ErrorData::invalid_params(
            format!("unknown tool {tool}"),
            None,
        ));
    }
    let text = match args.and_then(|a| a.get("message")) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
}

/// Why an in-process call failed.
#[derive(Debug)]
pub enum DirectError {
    /// A JSON-RPC error, as a server would answer.
    Rpc(ErrorData),
    /// A failure whose kind is known (a component's limit hit, its own
    /// error kind): passed on as it is, never read from text.
    Kinded {
        kind: crate::error::ErrorKind,
        message: String,
    },
}

/// A server whose tool calls run in weft's own process, called directly by
/// the router rather than through an rmcp client and server.
pub trait InProcess: Send + Sync {
    /// Calls `tool` with `args` for `caller` (whose tenant and chain of
    /// adapters a component's nested calls carry on).
    fn call<'a>(
        &'a self,
        tool: &'a str,
        args: Option<&'a JsonObject>,
        caller: &'a crate::tenant::Caller,
    ) -> futures::future::BoxFuture<'a, Result<CallToolResult, DirectError>>;
}

impl InProcess for Echo {
    fn call<'a>(
        &'a self,
        tool: &'a str,
        args: Option<&'a JsonObject>,
        _caller: &'a crate::tenant::Caller,
    ) -> futures::future::BoxFuture<'a, Result<CallToolResult, DirectError>> {
        Box::pin(std::future::ready(
            echo(tool, args).map_err(DirectError::Rpc),
        ))
    }
}

/// Messages in flight between weft and a built-in server.
const QUEUE: usize = 256;

/// The client end of a built-in server's channels.
pub type Pipe = SinkStreamTransport<
    futures::channel::mpsc::Sender<TxJsonRpcMessage<RoleClient>>,
    futures::channel::mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
>;

/// A built-in server that weft does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("there is no built-in server {name:?}; built-ins: {}", NAMES.join(", "))]
pub struct NoBuiltin {
    pub name: String,
}

/// Starts the built-in server `name` and returns the client end of its
/// typed channels, and its direct call path.
pub fn start(name: &str) -> Result<(Pipe, Arc<dyn InProcess>), NoBuiltin> {
    if name != "echo" {
        return Err(NoBuiltin { name: name.into() });
    }
    Ok((serve_in_process(Echo, "echo"), Arc::new(Echo)))
}

/// Serves `server` in this process over a pair of typed channels and
/// returns the client end.
pub(super) fn serve_in_process<S: ServerHandler>(server: S, what: &'static str) -> Pipe {
    let (to_server, from_client) = futures::channel::mpsc::channel(QUEUE);
    let (to_client, from_server) = futures::channel::mpsc::channel(QUEUE);
    let server_end: SinkStreamTransport<
        futures::channel::mpsc::Sender<TxJsonRpcMessage<RoleServer>>,
        futures::channel::mpsc::Receiver<RxJsonRpcMessage<RoleServer>>,
    > = SinkStreamTransport::new(to_client, from_client);
    tokio::spawn(async move {
        match server.serve(server_end).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => tracing::warn!(error = %e, server = what, "an in-process server stopped"),
        }
    });
    SinkStreamTransport::new(to_server, from_server)
}
