//! The rmcp `ServerHandler` of a [`Session`]: every MCP method weft serves,
//! mapped onto the hub's catalog, the upstreams and the policy runner.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rmcp::ServerHandler;
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, ErrorData, GetPromptRequestParams, GetPromptResponse, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, Reference, ResultType,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter, Tool,
    UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, RequestContext, RoleServer, ServiceError, SubscriptionContext,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::call::{self, Agent, STATE_PREFIX, Work};
use super::tools::{self, Target};
use super::{Gateway, Session, notify, page::page};
use crate::audit::{Audit, AuditRoute};
use crate::authz::{self, Resource};
use crate::cache::{Cached, Key as CacheKey, Scope};
use crate::error::{CallError, ErrorKind, quote};
use crate::router::input::{self, Driven, Round};
use crate::router::{CallRequest, Forward, Forwarded};
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

    fn gw(&self) -> &Gateway {
        &self.gw
    }

    fn min_log(&self) -> Option<u8> {
        let v = self.min_log.load(Ordering::Relaxed);
        (v != u8::MAX).then_some(v)
    }

    /// Who this request is for: the caller the HTTP layer authenticated,
    /// else the session's own (stdio), else the owner when no tenants are
    /// configured. With tenants and no caller, nobody: an empty view.
    fn caller(&self, extensions: &rmcp::model::Extensions) -> Caller {
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
pub(super) fn unknown_resource(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("no server offers the resource {}", quote(uri)),
        None,
    )
}

/// [`unknown_resource`] for a URI outside the caller's view, logged as the
/// refusal it is.
pub(super) fn hidden_resource(caller: &Caller, uri: &str) -> ErrorData {
    tracing::warn!(tenant = %caller.tenant_name(), uri = %quote(uri), "denied: a resource outside the tenant's view");
    unknown_resource(uri)
}

/// The answer to a prompt name no server offers, and to one outside the
/// caller's view.
fn unknown_prompt(name: &str) -> ErrorData {
    ErrorData::invalid_params(format!("no prompt named {}", quote(name)), None)
}

/// The answer to a resource template no server offers, and to one outside
/// the caller's view.
fn unknown_template(uri: &str) -> ErrorData {
    ErrorData::invalid_params(format!("no resource template {}", quote(uri)), None)
}

/// Logs a refusal of something outside the caller's view.
fn log_hidden(caller: &Caller, what: &str, name: &str) {
    tracing::warn!(tenant = %caller.tenant_name(), what, name = %quote(name), "denied: outside the tenant's view");
}

/// An upstream's live connection, or the error an agent should see.
fn connection(gw: &Gateway, caller: &Caller, server: &str) -> Result<Arc<Connection>, ErrorData> {
    gw.hub
        .upstream_for(server, caller)
        .and_then(|u| u.connection())
        .ok_or_else(|| {
            ErrorData::internal_error(format!("server {server:?} is not available"), None)
        })
}

/// An upstream's failure, as the agent should see it: its own JSON-RPC
/// error when it gave one.
pub(super) fn upstream_error(server: &str, e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(data) => data,
        other => ErrorData::internal_error(format!("server {server:?}: {other}"), None),
    }
}

/// A router error as a tool result or a protocol error, per the spec:
/// a malformed request (a name over the length cap) and unknown tools are
/// protocol errors; everything else, arguments that do not fit a tool's
/// schema included (since 2025-11-25 a tool error the model can correct),
/// is a result with `isError` and the kind in `_meta`.
fn call_error(mut e: CallError) -> Result<CallToolResponse, ErrorData> {
    match e.kind {
        ErrorKind::ToolError => {
            if let Some(r) = e.result.take() {
                return Ok((*r).into());
            }
        }
        // The upstream answered with a JSON-RPC error: pass it on as it is.
        _ if e.rpc.is_some() => {
            if let Some(data) = e.rpc.take() {
                return Err(*data);
            }
        }
        ErrorKind::InvalidArgs if e.server.is_empty() => {
            return Err(ErrorData::invalid_params(e.message, None));
        }
        ErrorKind::NotFound => return Err(ErrorData::invalid_params(e.to_string(), None)),
        _ => {}
    }
    let retry_after = e.retry_after_ms;
    // The kind once, in brackets (not again in the text after it).
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
        "[{}] {}/{}: {}",
        e.kind.as_str(),
        e.server,
        e.tool,
        e.message
    ))]);
    let mut meta = rmcp::model::MetaObject::new();
    meta.insert("weft/errorKind".into(), json!(e.kind.as_str()));
    if let Some(ms) = retry_after {
        meta.insert("weft/retryAfterMs".into(), json!(ms));
    }
    result.meta = Some(meta);
    Ok(result.into())
}

/// The parameters of a request that may need the agent's input: a
/// prompt or a resource read.
trait Resumable: Clone {
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
async fn with_agent<P, R, F, Fut>(
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
    call::ask(&agent.peer, request)
        .await
        .map_err(ServiceError::McpError)
}

/// Reads a tool's arguments as a JSON object.
fn object_arg(args: &Option<rmcp::model::JsonObject>, key: &str) -> Option<Value> {
    args.as_ref().and_then(|a| a.get(key)).cloned()
}

impl Session {
    async fn call_tool_in(
        &self,
        mut params: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let agent = Agent::of(&ctx, self.min_log());
        let caller = self.caller(&ctx.extensions);
        let owner = call::Owner::of(&caller);
        let lot = &self.gw.lot;
        let resume = params
            .request_state
            .clone()
            .filter(|s| s.starts_with(STATE_PREFIX));
        let mut response = match resume {
            Some(state) => {
                let answers = params.input_responses.take().unwrap_or_default();
                call::resume(&ctx, &agent, &owner, lot, &state, answers).await?
            }
            None => {
                let (tx, rx) = mpsc::unbounded_channel();
                let work = self.work(params, &agent, &caller, tx)?;
                call::drive(&ctx, &agent, &owner, lot, work, rx).await?
            }
        };
        // Upstreams of the handshake era send no resultType; 2026-07-28
        // agents need it (rmcp strips it again for older agents).
        if let CallToolResponse::Complete(r) = &mut response {
            r.result_type.get_or_insert(ResultType::COMPLETE);
        }
        Ok(response)
    }

    /// Builds the work for one call, without running it.
    fn work(
        &self,
        params: CallToolRequestParams,
        agent: &Agent,
        caller: &Caller,
        tx: mpsc::UnboundedSender<crate::upstream::relay::RelayMsg>,
    ) -> Result<Work, ErrorData> {
        let gw = self.gw.clone();
        let name = params.name.to_string();
        let policies = &self.gw.hub.config().policies;
        match tools::target(&name, policies, gw.expose) {
            Target::Meta(tools::SEARCH) => {
                let query = object_arg(&params.arguments, "query")
                    .and_then(|v| v.as_str().map(String::from))
                    .ok_or_else(|| {
                        ErrorData::invalid_params(
                            "weft_search_tools needs a \"query\" string",
                            None,
                        )
                    })?;
                let server = object_arg(&params.arguments, "server")
                    .and_then(|v| v.as_str().map(String::from));
                let limit = object_arg(&params.arguments, "limit")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(10) as usize;
                let mut audit = Audit::begin(gw.hub.audit(), caller, AuditRoute::Search, &query);
                let found = tools::search(
                    &gw.hub.catalog_for(caller),
                    &query,
                    server.as_deref(),
                    limit,
                    caller,
                )
                .map_err(|e| ErrorData::invalid_params(format!("weft_search_tools: {e}"), None))?;
                audit.ok();
                Ok(Box::pin(async move {
                    Ok(CallToolResult::structured(found).into())
                }))
            }
            Target::Meta(tools::RUN_POLICY) => {
                let policy = object_arg(&params.arguments, "policy")
                    .and_then(|v| v.as_str().map(String::from))
                    .ok_or_else(|| {
                        ErrorData::invalid_params("weft_run_policy needs a \"policy\" name", None)
                    })?;
                if gw.hub.config().policy(&policy).is_none()
                    || !authz::allowed(caller, &Resource::Policy(&policy))
                {
                    let names: Vec<&str> = policies
                        .iter()
                        .filter(|p| authz::allowed(caller, &Resource::Policy(&p.name)))
                        .map(|p| p.name.as_str())
                        .collect();
                    return Err(ErrorData::invalid_params(
                        format!(
                            "no policy named {}; configured: {}",
                            quote(&policy),
                            names.join(", ")
                        ),
                        None,
                    ));
                }
                let input = object_arg(&params.arguments, "input").unwrap_or(json!({}));
                Ok(run_policy(gw, caller.clone(), policy, input, tx))
            }
            Target::Meta(_) => {
                let target = object_arg(&params.arguments, "name")
                    .and_then(|v| v.as_str().map(String::from))
                    .ok_or_else(|| {
                        ErrorData::invalid_params("weft_call_tool needs a tool \"name\"", None)
                    })?;
                let mut inner = CallToolRequestParams::new(target);
                inner.arguments =
                    object_arg(&params.arguments, "arguments").and_then(|v| v.as_object().cloned());
                inner.input_responses = params.input_responses;
                inner.request_state = params.request_state;
                if matches!(
                    tools::target(&inner.name, policies, gw.expose),
                    Target::Meta(_)
                ) {
                    return Err(ErrorData::invalid_params(
                        "weft_call_tool calls catalog tools and policies, not meta tools",
                        None,
                    ));
                }
                self.work(inner, agent, caller, tx)
            }
            // A policy the caller may not run is a name it does not know.
            Target::Policy(p) if !authz::allowed(caller, &Resource::Policy(&p.name)) => {
                tracing::warn!(tenant = %caller.tenant_name(), policy = %p.name, "denied: a policy outside the tenant's view");
                Err(unknown_tool(&name, &gw.hub.catalog_for(caller), caller))
            }
            Target::Policy(p) => {
                let input = params
                    .arguments
                    .map(Value::Object)
                    .unwrap_or_else(|| json!({}));
                Ok(run_policy(gw, caller.clone(), p.name.clone(), input, tx))
            }
            Target::Catalog => {
                if name.len() > crate::router::MAX_NAME_BYTES {
                    return Err(ErrorData::invalid_params(
                        format!(
                            "the tool name {} is {} bytes long; names are at most {}",
                            quote(&name),
                            name.len(),
                            crate::router::MAX_NAME_BYTES
                        ),
                        None,
                    ));
                }
                let catalog = gw.hub.catalog_for(caller);
                let Some(req) =
                    CallRequest::exposed(caller.clone(), catalog.clone(), &name, params.arguments)
                else {
                    return Err(unknown_tool(&name, &catalog, caller));
                };
                // Outside the view: the router refuses it (and audits the
                // refusal), and the agent gets what an unknown name gets.
                let hidden = (!authz::allowed(
                    caller,
                    &Resource::Tool {
                        server: &req.server,
                        tool: &req.tool,
                    },
                ))
                .then(|| unknown_tool(&name, &catalog, caller));
                let req = req.forwarded(Forward {
                    relay: tx,
                    pass_input_required: agent.modern,
                    input_responses: params.input_responses,
                    request_state: params.request_state,
                    client_capabilities: agent.capabilities.clone(),
                    log_level: agent.log_level,
                    asked: agent.asked.clone(),
                });
                Ok(Box::pin(async move {
                    match gw.hub.call(&req).await {
                        Ok(Forwarded::Complete(r)) => Ok(r.into()),
                        Ok(Forwarded::InputRequired(i)) => Ok(i.into()),
                        Ok(Forwarded::Task(t)) => {
                            let instance = gw
                                .hub
                                .upstream_for(&req.server, &req.caller)
                                .map_or_else(|| req.server.clone(), |u| u.key().to_string());
                            gw.tasks.remember(&req.caller, &t.task.task_id, &instance);
                            Ok(t.into())
                        }
                        Err(e) if e.hidden => Err(hidden
                            .unwrap_or_else(|| ErrorData::invalid_params(e.message.clone(), None))),
                        Err(e) => call_error(e),
                    }
                }))
            }
        }
    }
}

/// The answer to a tool name the caller cannot see, whether nothing has
/// that name or it is outside the caller's view: the name quoted and cut
/// short, and a hint drawn only from the caller's own tools.
fn unknown_tool(name: &str, catalog: &crate::catalog::Catalog, caller: &Caller) -> ErrorData {
    let hint = crate::util::closest(
        name,
        tools::visible(catalog, caller).map(|t| t.exposed.as_str()),
    )
    .map(|c| format!("; did you mean {c:?}?"))
    .unwrap_or_default();
    ErrorData::invalid_params(format!("Unknown tool: {}{hint}", quote(name)), None)
}

/// A policy run as a call's work; progress goes to the agent.
fn run_policy(
    gw: Arc<Gateway>,
    caller: Caller,
    name: String,
    input: Value,
    tx: mpsc::UnboundedSender<crate::upstream::relay::RelayMsg>,
) -> Work {
    Box::pin(async move {
        let Some(runner) = gw.runner.as_ref() else {
            let why = gw.sandbox_error.clone().unwrap_or_default();
            return Ok(tool_failure(format!("the sandbox is not available: {why}")));
        };
        let loaded = match gw.policy(&name) {
            Ok(l) => l,
            Err(e) => return Ok(tool_failure(e)),
        };
        let progress: crate::sandbox::ProgressFn = Arc::new(move |progress, total, message| {
            let _ = tx.send(crate::upstream::relay::RelayMsg::Progress {
                progress,
                total,
                message,
            });
        });
        let mut audit = Audit::begin(gw.hub.audit(), &caller, AuditRoute::PolicyRun, &name)
            .args(input.as_object());
        let report = runner
            .run_as(&caller, &loaded, &input.to_string(), Some(progress))
            .await;
        audit.outcome(report.status);
        let summary = json!({
            "policy": report.policy,
            "status": report.status,
            "error": report.error,
            "limit": report.limit,
            "calls": report.calls,
            "fuel_used": report.fuel_used,
            "duration_ms": report.duration_ms,
        });
        let mut result = if report.ok() {
            let output = report.output.clone().unwrap_or(Value::Null);
            match output {
                Value::Object(_) => CallToolResult::structured(output),
                Value::String(s) => CallToolResult::success(vec![ContentBlock::text(s)]),
                other => CallToolResult::success(vec![ContentBlock::text(other.to_string())]),
            }
        } else {
            let what = if report.status == "limit" {
                "hit a limit"
            } else {
                "failed"
            };
            CallToolResult::error(vec![ContentBlock::text(format!(
                "policy {:?} {what}: {}",
                report.policy,
                report.error.clone().unwrap_or_default()
            ))])
        };
        let mut meta = rmcp::model::MetaObject::new();
        meta.insert("weft/run".into(), summary);
        result.meta = Some(meta);
        Ok(result.into())
    })
}

fn tool_failure(message: String) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message)]).into()
}

/// Rewrites the `uri` of every content item to the name the agent sees.
fn expose_contents<T: serde::Serialize + serde::de::DeserializeOwned>(
    gw: &Gateway,
    server: &str,
    value: T,
) -> T {
    let catalog = gw.hub.catalog();
    let Ok(mut v) = serde_json::to_value(&value) else {
        return value;
    };
    if let Some(items) = v.get_mut("contents").and_then(Value::as_array_mut) {
        for item in items {
            if let Some(uri) = item.get("uri").and_then(Value::as_str) {
                let exposed = catalog.expose_uri(server, uri);
                item["uri"] = Value::String(exposed);
            }
        }
    }
    serde_json::from_value(v).unwrap_or(value)
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
        let caps = if self.gw.upstreams_offer_tasks() {
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
        if !self.watching.swap(true, Ordering::SeqCst) {
            tokio::spawn(notify::watch_session(
                self.gw.hub.clone(),
                ctx.peer.clone(),
                self.subscriptions.clone(),
                self.caller(&ctx.extensions),
            ));
        }
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
        super::listing::page_for(gw, &gw.hub.catalog_for(&caller), &caller, &policies, cursor)
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
        self.call_tool_in(params, ctx).instrument(span).await
    }

    async fn list_resources(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let all: Vec<_> = self
            .gw
            .hub
            .catalog_for(&caller)
            .resources()
            .iter()
            .filter(|e| authz::allowed(&caller, &Resource::Server(&e.server)))
            .map(|e| {
                let mut r = e.item.clone();
                r.uri = e.exposed.clone();
                r
            })
            .collect();
        let cursor = params.as_ref().and_then(|p| p.cursor.as_deref());
        let (items, next) = page(all, cursor, self.gw.page_size)?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let all: Vec<_> = self
            .gw
            .hub
            .catalog_for(&caller)
            .templates()
            .iter()
            .filter(|e| authz::allowed(&caller, &Resource::Server(&e.server)))
            .map(|e| {
                let mut t = e.item.clone();
                t.uri_template = e.exposed.clone();
                t
            })
            .collect();
        let cursor = params.as_ref().and_then(|p| p.cursor.as_deref());
        let (items, next) = page(all, cursor, self.gw.page_size)?;
        let mut result = ListResourceTemplatesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let gw = self.gw();
        let caller = self.caller(&ctx.extensions);
        let mut audit = Audit::begin(
            gw.hub.audit(),
            &caller,
            AuditRoute::ResourceRead,
            &params.uri,
        );
        let Some((server, inner)) = gw.hub.catalog_for(&caller).resolve_uri(&params.uri) else {
            return Err(unknown_resource(&params.uri));
        };
        if !authz::allowed(&caller, &Resource::Server(&server)) {
            return Err(hidden_resource(&caller, &params.uri));
        }
        let tenant = caller.tenant_name();
        // Cached by instance: a per-tenant server's processes differ.
        let instance = gw
            .hub
            .upstream_for(&server, &caller)
            .map_or_else(|| server.to_string(), |u| u.key().to_string());
        let fresh = params.input_responses.is_none() && params.request_state.is_none();
        if fresh && let Some(hit) = cached_read(gw, tenant, &instance, &inner) {
            audit.ok();
            return Ok(expose_contents(gw, &server, hit).into());
        }
        let conn = connection(gw, &caller, &server)?;
        let agent = Agent::of(&ctx, self.min_log());
        let mut upstream = params.clone();
        upstream.uri = inner.clone();
        let driven = with_agent(&agent, upstream, |params| {
            let conn = conn.clone();
            async move {
                Ok(match conn.service.read_resource_once(params).await? {
                    ReadResourceResponse::InputRequired(input) => Round::Input(input),
                    answer => Round::Done(answer),
                })
            }
        })
        .await
        .map_err(|e| upstream_error(&server, e))?;
        match driven {
            Driven::Done(ReadResourceResponse::Complete(mut result)) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                cache_read(gw, tenant, &server, &instance, &inner, &result);
                audit.ok();
                Ok(expose_contents(gw, &server, result).into())
            }
            Driven::InputRequired(input) => {
                audit.outcome("input-required");
                Ok(input.into())
            }
            #[allow(unreachable_patterns)]
            _ => Err(ErrorData::internal_error("unexpected answer", None)),
        }
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        params: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let mut audit = Audit::begin(
            self.gw.hub.audit(),
            &caller,
            AuditRoute::Subscribe,
            &params.uri,
        );
        match self.gw.hub.catalog_for(&caller).resolve_uri(&params.uri) {
            Some((server, _)) if !authz::allowed(&caller, &Resource::Server(&server)) => {
                return Err(hidden_resource(&caller, &params.uri));
            }
            _ => {}
        }
        let fresh = self.subscriptions.lock().insert(params.uri.clone());
        if fresh && let Err(e) = self.gw.acquire(&caller, &params.uri).await {
            self.subscriptions.lock().remove(&params.uri);
            return Err(e);
        }
        audit.ok();
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        params: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let was = self.subscriptions.lock().remove(&params.uri);
        if was {
            self.gw.release(&caller, &params.uri).await?;
        }
        Ok(())
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
        let caller = self.caller(&ctx.extensions);
        let all: Vec<_> = self
            .gw
            .hub
            .catalog_for(&caller)
            .prompts()
            .iter()
            .filter(|e| authz::allowed(&caller, &Resource::Server(&e.server)))
            .map(|e| {
                let mut p = e.item.clone();
                p.name = e.exposed.clone();
                p
            })
            .collect();
        let cursor = params.as_ref().and_then(|p| p.cursor.as_deref());
        let (items, next) = page(all, cursor, self.gw.page_size)?;
        let mut result = ListPromptsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let gw = self.gw();
        let caller = self.caller(&ctx.extensions);
        let Some((server, inner)) = gw.hub.catalog_for(&caller).resolve_prompt(&params.name) else {
            return Err(unknown_prompt(&params.name));
        };
        let mut audit = Audit::begin(gw.hub.audit(), &caller, AuditRoute::PromptGet, &params.name)
            .args(params.arguments.as_ref());
        if !authz::allowed(&caller, &Resource::Server(&server)) {
            log_hidden(&caller, "prompt", &params.name);
            return Err(unknown_prompt(&params.name));
        }
        let conn = connection(gw, &caller, &server)?;
        let agent = Agent::of(&ctx, self.min_log());
        let mut upstream = params.clone();
        upstream.name = inner;
        let driven = with_agent(&agent, upstream, |params| {
            let conn = conn.clone();
            async move {
                Ok(match conn.service.get_prompt_once(params).await? {
                    GetPromptResponse::InputRequired(input) => Round::Input(input),
                    answer => Round::Done(answer),
                })
            }
        })
        .await
        .map_err(|e| upstream_error(&server, e))?;
        match driven {
            Driven::Done(GetPromptResponse::Complete(mut result)) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                audit.ok();
                Ok(result.into())
            }
            Driven::InputRequired(input) => {
                audit.outcome("input-required");
                Ok(input.into())
            }
            #[allow(unreachable_patterns)]
            _ => Err(ErrorData::internal_error("unexpected answer", None)),
        }
    }

    async fn complete(
        &self,
        mut params: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let caller = self.caller(&ctx.extensions);
        let gw = self.gw();
        let mut audit = Audit::begin(
            gw.hub.audit(),
            &caller,
            AuditRoute::Completion,
            params
                .r#ref
                .as_prompt_name()
                .or(params.r#ref.as_resource_uri())
                .unwrap_or_default(),
        );
        let catalog = gw.hub.catalog_for(&caller);
        let server = match &mut params.r#ref {
            Reference::Prompt(p) => {
                let (server, inner) = catalog
                    .resolve_prompt(&p.name)
                    .ok_or_else(|| unknown_prompt(&p.name))?;
                if !authz::allowed(&caller, &Resource::Server(&server)) {
                    log_hidden(&caller, "prompt", &p.name);
                    return Err(unknown_prompt(&p.name));
                }
                p.name = inner;
                server
            }
            Reference::Resource(r) => {
                let entry = catalog
                    .templates()
                    .iter()
                    .find(|t| t.exposed == r.uri)
                    .ok_or_else(|| unknown_template(&r.uri))?;
                if !authz::allowed(&caller, &Resource::Server(&entry.server)) {
                    log_hidden(&caller, "resource template", &r.uri);
                    return Err(unknown_template(&r.uri));
                }
                r.uri = entry.item.uri_template.clone();
                entry.server.clone()
            }
            #[allow(unreachable_patterns)]
            _ => return Ok(CompleteResult::default()),
        };
        params.meta = None;
        let conn = connection(gw, &caller, &server)?;
        let mut result = conn
            .service
            .complete(params)
            .await
            .map_err(|e| upstream_error(&server, e))?;
        result.result_type.get_or_insert(ResultType::COMPLETE);
        audit.ok();
        Ok(result)
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

/// A fresh cached read of `uri` on `server`: shared, or this tenant's
/// (`""` without tenants).
fn cached_read(
    gw: &Gateway,
    tenant: &str,
    server: &str,
    uri: &str,
) -> Option<rmcp::model::ReadResourceResult> {
    let keys = [Scope::Public, Scope::Private(tenant.into())]
        .map(|scope| CacheKey::resource(server, uri, scope));
    match gw.hub.cache().lookup(&keys) {
        Some(Cached::Resource(r)) => Some(r),
        _ => None,
    }
}

/// Keeps a read for as long as the server allows (`ttlMs`), else for the
/// server's configured `cache.ttl`; a private result only for its tenant.
fn cache_read(
    gw: &Gateway,
    tenant: &str,
    server: &str,
    instance: &str,
    uri: &str,
    result: &rmcp::model::ReadResourceResult,
) {
    let configured = gw
        .hub
        .upstream(server)
        .and_then(|u| u.config.resilience.cache.ttl);
    let ttl = match result.ttl_ms {
        Some(ms) => Some(std::time::Duration::from_millis(ms)),
        None => configured,
    };
    let Some(ttl) = ttl else { return };
    let scope = match result.cache_scope {
        Some(rmcp::model::CacheScope::Private) => Scope::Private(tenant.into()),
        _ => Scope::Public,
    };
    gw.hub.cache().put(
        CacheKey::resource(instance, uri, scope),
        Cached::Resource(result.clone()),
        ttl,
    );
}
