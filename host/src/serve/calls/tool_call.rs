//! `tools/call` for a [`Session`]: a catalog tool through the router, a
//! policy run, or one of weft's own tools, as a call that can outlive its
//! request (2026-07-28 input rounds resume it by `requestState`). The
//! `ServerHandler` in `methods/handler.rs` delegates here.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData, ResultType,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::call::{self, Agent, STATE_PREFIX, Work};
use super::run_call::{RunKind, object_arg, run_loaded, tool_failure};
use crate::audit::{Audit, AuditRoute};
use crate::authz::{self, Resource};
use crate::error::{CallError, ErrorKind, quote};
use crate::router::{CallRequest, Forward, Forwarded};
use crate::serve::view::tools::{self, Target};
use crate::serve::{Gateway, Session};
use crate::tenant::Caller;

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

impl Session {
    pub(in crate::serve) async fn call_tool_in(
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
                call::resume(&ctx.ct, &agent, &owner, lot, &state, answers).await?
            }
            None => {
                let (tx, rx) = mpsc::unbounded_channel();
                // Approvals the call needs, here or in a policy it runs,
                // are asked of this agent.
                let caller = caller.clone().asking(agent.asker(&tx));
                let as_task = self.may_become_task(&params.name, &agent);
                let work = self.work(params, &agent, &caller, tx)?;
                if as_task {
                    let relay = |msg| call::relay_notification(&agent, msg);
                    let progress_to = match (&agent.progress_token, &agent.peer) {
                        (Some(token), Some(peer)) => Some(super::run_tasks::ProgressTo {
                            peer: peer.clone(),
                            token: token.clone(),
                            session: crate::serve::session_of(&ctx.extensions),
                        }),
                        _ => None,
                    };
                    super::run_tasks::offer(
                        &self.gw,
                        &caller,
                        &ctx.ct,
                        work,
                        rx,
                        relay,
                        progress_to,
                    )
                    .await?
                } else {
                    call::drive(&ctx.ct, &agent, &owner, lot, work, rx).await?
                }
            }
        };
        // Upstreams of the handshake era send no resultType; 2026-07-28
        // agents need it (rmcp strips it again for older agents).
        if let CallToolResponse::Complete(r) = &mut response {
            r.result_type.get_or_insert(ResultType::COMPLETE);
        }
        Ok(response)
    }

    /// Whether a call of `name` may be answered with a task: a policy
    /// run or code run, journaled, for an agent that takes tasks.
    fn may_become_task(&self, name: &str, agent: &Agent) -> bool {
        let takes = agent
            .capabilities
            .as_ref()
            .is_some_and(|c| c.supports_tasks());
        if !takes || self.gw.journal().is_none() {
            return false;
        }
        let policies = &self.gw.hub.config().policies;
        matches!(
            tools::target(name, policies, self.gw.expose),
            Target::Policy(_) | Target::Meta(tools::RUN_POLICY) | Target::Meta(tools::RUN_CODE)
        )
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
            Target::Meta(tools::RUN_CODE) => {
                super::code_call::work(gw, caller, params.arguments, tx)
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
            Target::Catalog => catalog_work(
                gw,
                caller,
                &name,
                params.arguments,
                agent,
                (params.input_responses, params.request_state),
                tx,
            ),
        }
    }
}

/// The work of a call of the catalog tool exposed as `name`, through the
/// router; the agent's answers to an earlier input round come as `round`.
pub(in crate::serve) fn catalog_work(
    gw: Arc<Gateway>,
    caller: &Caller,
    name: &str,
    arguments: Option<rmcp::model::JsonObject>,
    agent: &Agent,
    round: (Option<rmcp::model::InputResponses>, Option<String>),
    tx: mpsc::UnboundedSender<crate::upstream::relay::RelayMsg>,
) -> Result<Work, ErrorData> {
    if name.len() > crate::router::MAX_NAME_BYTES {
        return Err(ErrorData::invalid_params(
            format!(
                "the tool name {} is {} bytes long; names are at most {}",
                quote(name),
                name.len(),
                crate::router::MAX_NAME_BYTES
            ),
            None,
        ));
    }
    let catalog = gw.hub.catalog_for(caller);
    let Some(req) = CallRequest::exposed(caller.clone(), catalog.clone(), name, arguments) else {
        return Err(unknown_tool(name, &catalog, caller));
    };
    // Outside the view: the router refuses it (and audits the refusal),
    // and the agent gets what an unknown name gets.
    let hidden = (!authz::allowed(
        caller,
        &Resource::Tool {
            server: &req.server,
            tool: &req.tool,
        },
    ))
    .then(|| unknown_tool(name, &catalog, caller));
    let (input_responses, request_state) = round;
    let req = req.forwarded(Forward {
        relay: tx,
        pass_input_required: agent.modern,
        handshake_agent: !agent.modern && agent.can_be_asked(),
        input_responses,
        request_state,
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
                let tenant = req.caller.tenant.as_ref().map(|t| t.name.as_str());
                gw.home_task(tenant, &t.task.task_id).await;
                Ok(t.into())
            }
            Err(e) if e.hidden => {
                Err(hidden.unwrap_or_else(|| ErrorData::invalid_params(e.message.clone(), None)))
            }
            Err(e) => call_error(e),
        }
    }))
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
        let loaded = match gw.policy(&name).await {
            Ok(l) => l,
            Err(e) => return Ok(tool_failure(e.to_string())),
        };
        let audit = Audit::begin(gw.hub.audit(), &caller, AuditRoute::PolicyRun, &name)
            .args(input.as_object());
        Ok(run_loaded(
            &gw,
            &caller,
            (RunKind::Policy, &loaded),
            &input.to_string(),
            tx,
            audit,
        )
        .await)
    })
}
