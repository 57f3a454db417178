//! A server that is a Wasm component (`component = "PATH.wasm"`), seen from
//! the upstream layer: something that loads and lists its tools once, then
//! takes tool calls in this process ([`InProcess`]). The sandbox side (in
//! `crate::adapter`) implements it; this layer only gives it a connection
//! like any other server's, so status, the catalog and the router treat it
//! as one.
//!
//! Listing goes through rmcp over in-process channels, as for the built-in
//! servers: a small [`Listed`] server answers `tools/list` from what the
//! component listed at load. Calls never take that path.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::builtin::InProcess;

/// Why a component cannot serve (the sandbox side's own error; this layer
/// only shows it).
pub type LoadFailure = Box<dyn std::error::Error + Send + Sync>;

/// A component server's host side.
pub trait Component: InProcess {
    /// Reads, compiles and instantiates the component once and asks it for
    /// its tools; `Err` says why it cannot serve.
    fn load(&self) -> BoxFuture<'_, Result<Vec<Tool>, LoadFailure>>;

    /// What status shows as the server's name (the component's file).
    fn label(&self) -> String;

    /// What the component warned of at its last load (`builtin:openapi`:
    /// each operation it skipped, and why), capped; none by default.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// What status shows of the component beyond its tools
    /// (`builtin:openapi`: operations, skipped operations, auth schemes).
    fn detail(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Answers `tools/list` with the tools a component listed.
#[derive(Clone)]
pub(super) struct Listed {
    pub tools: Arc<Vec<Tool>>,
    pub label: String,
}

impl ServerHandler for Listed {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new(self.label.clone(), env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The router calls a component directly; nothing sends this.
        Err(ErrorData::internal_error(
            "a component's tools are called in process, not over this channel",
            None,
        ))
    }
}
