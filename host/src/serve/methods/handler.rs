//! The rmcp `ServerHandler` of a [`Session`]: every MCP method weft serves.
//! Tool calls, resources and prompts are handled in `calls/tool_call.rs`,
//! `resources.rs` and `prompts.rs`; this file keeps the methods' entry
//! points, the session's own state (caller, log level), and the errors and
//! input-round driver they share.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rmcp::ServerHandler;
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, ErrorData,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, RequestContext, RoleServer, ServiceError, SubscriptionContext,
};
use serde_json::Value;
use tracing::Instrument;

use super::notify;
use crate::audit::{Audit, AuditRoute};
use crate::authz::{self, Resource};
use crate::error::quote;
use crate::router::input::{self, Driven, Round};
use crate::serve::calls::call::{self, Agent};
use crate::serve::view::tools::{self, Target};
use crate::serve::{Gateway, Session};
use crate::tenant::Caller;
use crate::upstream::Connection;

const INSTRUCTIONS: &str = "weft puts many MCP servers behind one endpoint. Tool names are \
server__tool unless configured otherwise; policies are sandboxed workflows that call several \
servers in one step. weft_search_tools finds tools by keyword; weft_run_policy runs a policy.";

impl Session {
    /// The audit record of one `tasks/*` request.
    fn audit_task<'a>(&'a self, caller: &'a Caller, task_id: &str) -> crate::audit::Pending<'a> {
        Audit::begin(self.gw.hub.audit(), caller, AuditRoute::Task, task_id)
    }

    pub(in crate::serve) fn gw(&self) -> &Gateway {
        &self.gw
    }

    pub(in crate::serve) fn min_log(&self) -> Option<u8> {
        let v = self.min_log.load(Ordering::Relaxed);
        (v != u8::MAX).then_some(v)
    }

    /// One page of a catalog list (resources, templates or prompts): the
    /// entries on servers the caller may reach, each under its exposed name.
    pub(in crate::serve) fn visible_page<T: Clone + serde::Serialize>(
        &self,
        caller: &Caller,
        entries: &[crate::catalog::Entry<T>],
        params: Option<rmcp::model::PaginatedRequestParams>,
        expose: impl Fn(&crate::catalog::Entry<T>) -> T,
    ) -> Result<(Vec<T>, Option<String>), ErrorData> {
        let all: Vec<T> = entries
            .iter()
            .filter(|e| authz::allowed(caller, &Resource::Server(&e.server)))
            .map(expose)
            .collect();
        let cursor = params.as_ref().and_then(|p| p.cursor.as_deref());
        crate::serve::view::page::page(all, cursor, self.gw.page)
    }

    /// Who this request is for: the caller the HTTP layer authenticated,
    /// else the session's own (stdio), else the owner when no tenants are
    /// configured. With tenants and no caller, nobody: an empty view.
    pub(in crate::serve) fn caller(&self, extensions: &rmcp::model::Extensions) -> Caller {
        if let Some(c) = extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>())
        {
            return c.clone();
        }
        if let Some(c) = &self.caller {
            return c.clone();
        }
        if self.gw.hub.tenants().is_empty() {
            Caller::owner()
        } else {
            Caller::nobody()
        }
    }

    /// The policies this caller may list and run.
    fn policies_for(&self, caller: &Caller) -> Vec<crate::config::PolicyConfig> {
        self.gw.policies_for(caller)
    }
}

/// The answer to a resource URI no server offers, and to one outside the
/// caller's view: the same bytes, so a tenant cannot probe for others'
/// resources. The URI is quoted cut short.
pub(in crate::serve) fn unknown_resource(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("no server offers the resource {}", quote(uri)),
        None,
    )
}

/// [`unknown_resource`] for a URI outside the caller's view, logged as the
/// refusal it is.
pub(in crate::serve) fn hidden_resource(caller: &Caller, uri: &str) -> ErrorData {
    tracing::warn!(tenant = %caller.tenant_name(), uri = %quote(uri), "denied: a resource outside the tenant's view");
    unknown_resource(uri)
}

/// The answer to a prompt name no server offers, and to one outside the
/// caller's view.
pub(in crate::serve) fn unknown_prompt(name: &str) -> ErrorData {
    ErrorData::invalid_params(format!("no prompt named {}", quote(name)), None)
}

/// The answer to a resource template no server offers, and to one outside
/// the caller's view.
pub(in crate::serve) fn unknown_template(uri: &str) -> ErrorData {
    ErrorData::invalid_params(format!("no resource template {}", quote(uri)), None)
}

/// Logs a refusal of something outside the caller's view.
pub(in crate::serve) fn log_hidden(caller: &Caller, what: &str, name: &str) {
    tracing::warn!(tenant = %caller.tenant_name(), what, name = %quote(name), "denied: outside the tenant's view");
}

/// An upstream's live connection, or the error an agent should see.
pub(in crate::serve) fn connection(
    gw: &Gateway,
    caller: &Caller,
    server: &str,
) -> Result<Arc<Connection>, ErrorData> {
    gw.hub
        .upstream_for(server, caller)
        .and_then(|u| u.connection())
        .ok_or_else(|| {
            ErrorData::internal_error(format!("server {server:?} is not available"), None)
        })
}

/// An upstream's failure, as the agent should see it: its own JSON-RPC
/// error when it gave one.
pub(in crate::serve) fn upstream_error(server: &str, e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(data) => data,
        other => ErrorData::internal_error(format!("server {server:?}: {other}"), None),
    }
}

/// The parameters of a request that may need the agent's input: a
/// prompt or a resource read.
pub(in crate::serve) trait Resumable: Clone {
    /// Takes the answers and state the agent sent back, and the `_meta`
    /// that is the agent's alone.
    fn take_round(&mut self) -> (Option<rmcp::model::InputResponses>, Option<String>);
    fn set_round(&mut self, responses: Option<rmcp::model::InputResponses>, state: Option<String>);
}

macro_rules! resumable {
    ($($t:ty),*) => {$(
        impl Resumable for $t {
            fn take_round(&mut self) -> (Option<rmcp::model::InputResponses>, Option<String>) {
                self.meta = None;
                (self.input_responses.take(), self.request_state.take())
            }
            fn set_round(&mut self, responses: Option<rmcp::model::InputResponses>, state: Option<String>) {
                self.input_responses = responses;
                self.request_state = state;
            }
        }
    )*};
}
resumable!(ReadResourceRequestParams, GetPromptRequestParams);

/// Sends a prompt or a read (`once`, one round) to an upstream and drives
/// its input rounds with `agent`: a 2026-07-28 agent gets the questions
/// back, an older one is asked them.
pub(in crate::serve) async fn with_agent<P, R, F, Fut>(
    agent: &Agent,
    mut params: P,
    once: F,
) -> Result<Driven<R>, ServiceError>
where
    P: Resumable,
    F: Fn(P) -> Fut,
    Fut: std::future::Future<Output = Result<Round<R>, ServiceError>>,
{
    let first = params.take_round();
    let send = |responses, state| {
        let mut p = params.clone();
        p.set_round(responses, state);
        once(p)
    };
    input::drive(first, agent.modern, send, |r| answer_input(agent, r)).await
}

/// Answers one of a 2026-07-28 upstream's input requests by asking a
/// handshake-era agent.
async fn answer_input(
    agent: &Agent,
    request: rmcp::model::InputRequest,
) -> Result<Value, ServiceError> {
    if let Some(e) = agent.cannot(&request) {
        return Err(ServiceError::McpError(e));
    }
    call::ask(agent.peer.as_ref(), request)
        .await
        .map_err(ServiceError::McpError)
}

impl ServerHandler for Session {
    fn get_info(&self) -> ServerConfig {
        #[allow(deprecated)] // logging: still what handshake-era agents use
        let caps = ServerCapabilities::builder()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_tools()
            .enable_tool_list_changed();
        // Tasks: an upstream's passed through, and weft's own for long
        // durable runs (when there is a run an agent can start).
        let caps = if self.gw.upstreams_offer_tasks() || self.gw.runs_may_become_tasks() {
            caps.enable_tasks()
        } else {
            caps
        }
        .build();
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("weft", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        super::roots::fetch(
            self.gw.hub.clone(),
            ctx.peer.clone(),
            &self.caller(&ctx.extensions),
        );
        if !self.watching.swap(true, Ordering::SeqCst) {
            // An HTTP session's peer is known by its id, for updates
            // another replica relays.
            let session = crate::serve::session_of(&ctx.extensions);
            if let Some(id) = &session {
                self.gw
                    .peers
                    .join(id.clone(), ctx.peer.clone(), self.min_log.clone());
            }
            tokio::spawn(notify::watch_session(
                self.gw.clone(),
                ctx.peer.clone(),
                self.subscriptions.clone(),
                self.caller(&ctx.extensions),
                session,
            ));
        }
    }

    async fn on_roots_list_changed(&self, ctx: NotificationContext<RoleServer>) {
        super::roots::fetch(
            self.gw.hub.clone(),
            ctx.peer.clone(),
            &self.caller(&ctx.extensions),
        );
    }

    async fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let gw = self.gw();
        let caller = self.caller(&ctx.extensions);
        let policies = self.policies_for(&caller);
        let cursor = params.as_ref().and_then(|p| p.cursor.as_deref());
        crate::serve::view::listing::page_for(
            gw,
            &gw.hub.catalog_for(&caller),
            &caller,
            &policies,
            cursor,
        )
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // One id per agent request, on every log line of the call: the
        // router's, the upstream's and the policy's.
        let span = tracing::info_span!(
            "request",
            request_id = %crate::util::request_id(),
            rpc_id = %ctx.id,
            tool = %params.name
        );
        let headers = ctx
            .extensions
            .get::<http::request::Parts>()
            .map(|p| &p.headers);
        // rmcp keeps a request's `_meta` in the context; the params may
        // hold it too.
        let meta = match &params.meta {
            Some(m) if m.get_traceparent().is_some() => &**m,
            _ => &*ctx.meta,
        };
        let (parent, state) = crate::telemetry::sent(meta, headers);
        crate::telemetry::adopt(&span, parent.as_deref(), state.as_deref());
        self.call_tool_in(params, ctx).instrument(span).await
    }

    async fn list_resources(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.list_resources_in(params, ctx).await
    }

    async fn list_resource_templates(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.list_resource_templates_in(params, ctx).await
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.read_resource_in(params, ctx).await
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        params: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscribe_in(params, ctx).await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        params: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.unsubscribe_in(params, ctx).await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, ctx: SubscriptionContext) -> Result<(), ErrorData> {
        let uris = ctx
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        let caller = self.caller(&ctx.request_context().extensions);
        let mut held = Vec::new();
        for uri in uris {
            if self.gw.acquire(&caller, &uri).await.is_ok() {
                held.push(uri);
            }
        }
        let result = notify::listen(self.gw.hub.clone(), ctx, &caller, &held).await;
        for uri in held {
            let _ = self.gw.release(&caller, &uri).await;
        }
        result
    }

    async fn get_task(
        &self,
        params: rmcp::model::GetTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetTaskResult, ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let audit = self.audit_task(&caller, &params.task_id);
        let result = self.gw.get_task(&caller, params, &ctx).await;
        audit.finish(&result);
        result
    }

    async fn update_task(
        &self,
        params: rmcp::model::UpdateTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let audit = self.audit_task(&caller, &params.task_id);
        let result = self.gw.update_task(&caller, params, &ctx).await;
        audit.finish(&result);
        result
    }

    async fn cancel_task(
        &self,
        params: rmcp::model::CancelTaskParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let audit = self.audit_task(&caller, &params.task_id);
        let result = self.gw.cancel_task(&caller, params, &ctx).await;
        audit.finish(&result);
        result
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let gw = self.gw();
        let policies = &gw.hub.config().policies;
        match tools::target(name, policies, gw.expose) {
            Target::Policy(p) => Some(tools::policy_tool(p)),
            Target::Meta(tools::RUN_CODE) => gw
                .code_offered()
                .then(|| tools::code_tool(None, &gw.hub.config().code)),
            Target::Meta(_) => tools::meta_tools(gw.expose, policies)
                .into_iter()
                .find(|t| t.name == name),
            Target::Catalog => gw.hub.catalog().tool_by_exposed(name).map(|t| {
                let mut tool = t.tool.clone();
                tool.name = t.exposed.clone().into();
                tool
            }),
        }
    }

    async fn list_prompts(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.list_prompts_in(params, ctx).await
    }

    async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.get_prompt_in(params, ctx).await
    }

    async fn complete(
        &self,
        params: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        self.complete_in(params, ctx).await
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        params: SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.min_log
            .store(call::level_rank(params.level), Ordering::Relaxed);
        Ok(())
    }
}
