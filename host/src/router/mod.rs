//! The call pipeline: every tool call, from an agent, a policy, the
//! command line or (soon) an adapter, is one [`CallRequest`] and takes
//! one path, in stages of their own modules:
//!
//! 1. [`admit`]: the length of the names, the caller's view and grants
//!    (through [`crate::authz`], the one authorization point), and the
//!    tenant's rate, once;
//! 2. [`domain`]: an `@domain` call picks its member servers, each
//!    checked against the view and grants again, failing over in order;
//! 3. [`server`]: the tool cache, then the retry policy;
//! 4. [`invoke`]: the server's state, breakers and timeout, and the wire;
//!    input-required rounds are driven by [`input`], which prompts and
//!    resource reads use too.
//!
//! Failures come back as a typed [`CallError`]; [`classify`] turns rmcp's
//! errors into kinds, and is the only place that reads error text.

mod admit;
mod approve;
mod cached;
pub(crate) mod classify;
mod domain;
pub(crate) mod input;
mod invoke;
mod server;

#[allow(deprecated)]
use rmcp::model::LoggingLevel;
use rmcp::model::{
    CallToolResult, ClientCapabilities, CreateTaskResult, InputRequiredResult, InputResponses,
    JsonObject,
};

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use crate::audit::Audit;
use crate::cache::Cache;
use crate::catalog::{Catalog, ToolEntry};
use crate::error::{CallError, ErrorKind};
use crate::metrics::Metrics;
use crate::tenant::Caller;
use crate::upstream::Upstream;
use crate::upstream::relay::Relay;

pub use admit::MAX_NAME_BYTES;

/// What an agent's call brings along, so the upstream can reach the agent.
pub struct Forward {
    /// Where progress, logs and requests for the agent go.
    pub relay: Relay,
    /// The agent speaks 2026-07-28: an input-required result from a
    /// 2026-07-28 upstream goes back to it unchanged, and its retry comes
    /// back with these.
    pub pass_input_required: bool,
    /// The agent speaks the handshake era and can answer a server's
    /// requests (it declared sampling, elicitation or roots): its calls go
    /// to a server that speaks both eras in the handshake era, where such
    /// requests ride the call's own stream (see
    /// `upstream::handshake_side`). `false` for a library caller that
    /// answers through `relay` in whatever era the server speaks.
    pub handshake_agent: bool,
    /// The agent's answers to an earlier input-required result, sent on
    /// with the retried call.
    pub input_responses: Option<InputResponses>,
    /// The `requestState` of that input-required result, handed back to
    /// the upstream unchanged with the answers.
    pub request_state: Option<String>,
    /// The agent's capabilities, told to a 2026-07-28 upstream in place of
    /// weft's own, so it asks only for what the agent can give.
    pub client_capabilities: Option<ClientCapabilities>,
    /// The log level the agent wants, for a 2026-07-28 upstream (which
    /// sends log messages only to requests that ask for them).
    #[allow(deprecated)]
    pub log_level: Option<LoggingLevel>,
    /// Set once the agent has been asked for input during this call
    /// (sampling, elicitation, roots): a result made with the agent's
    /// answers is that agent's alone and is never cached.
    pub asked: Arc<std::sync::atomic::AtomicBool>,
}

impl Forward {
    /// What an embedding program gives a call to hear from the server:
    /// progress, logs and its requests for input arrive on `relay`, and
    /// are answered there, in whichever era the server speaks.
    pub fn new(relay: Relay) -> Forward {
        Forward {
            relay,
            pass_input_required: false,
            handshake_agent: false,
            input_responses: None,
            request_state: None,
            client_capabilities: None,
            log_level: None,
            asked: Arc::default(),
        }
    }

    fn agent_was_asked(&self) -> bool {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether the call carries the agent's answers to an earlier round.
    fn resuming(&self) -> bool {
        self.request_state.is_some() || self.input_responses.is_some()
    }
}

/// A forwarded call's outcome: done, or the upstream needs the agent's input.
#[derive(Debug)]
pub enum Forwarded {
    /// The upstream answered with the tool's result.
    Complete(CallToolResult),
    /// A 2026-07-28 upstream needs the agent's input before it can answer.
    InputRequired(InputRequiredResult),
    /// The server made a task of the call (the 2026-07-28 tasks extension);
    /// only when the agent declared that extension.
    Task(CreateTaskResult),
}

/// One tool call, built once where it enters weft and passed down the
/// pipeline unchanged: who calls, the catalog snapshot they saw (and the
/// entry their name resolved to there), the arguments (shared, copied
/// only onto the wire) and, for an agent's call, how the upstream reaches
/// the agent.
pub struct CallRequest {
    /// Who makes the call: its tenant, key and grants decide what it may reach.
    pub caller: Caller,
    /// The caller's catalog, taken once for the whole call.
    pub catalog: Arc<Catalog>,
    /// The server's name, or `@domain`.
    pub server: String,
    /// The server's own name for the tool.
    pub tool: String,
    /// The entry `tool` resolved to in `catalog`, when the caller named it
    /// by its exposed name (so it is not looked up again).
    entry: Option<usize>,
    /// The call's arguments; `None` when it was given none.
    pub args: Option<Arc<JsonObject>>,
    /// How the upstream reaches the agent; `None` unless the call is an
    /// agent's (see [`CallRequest::forwarded`]).
    pub forward: Option<Forward>,
}

impl CallRequest {
    /// A call of `tool` on `server` (or `@domain`) as `caller` sees it in
    /// `catalog`.
    pub fn new(
        caller: Caller,
        catalog: Arc<Catalog>,
        server: &str,
        tool: &str,
        args: Option<JsonObject>,
    ) -> CallRequest {
        CallRequest {
            caller,
            catalog,
            server: server.to_string(),
            tool: tool.to_string(),
            entry: None,
            args: args.map(Arc::new),
            forward: None,
        }
    }

    /// A call by the name agents see (`server__tool`), resolved once in
    /// `catalog`; `None` when no tool has that name there.
    pub fn exposed(
        caller: Caller,
        catalog: Arc<Catalog>,
        exposed: &str,
        args: Option<JsonObject>,
    ) -> Option<CallRequest> {
        let index = catalog.tools().iter().position(|t| t.exposed == exposed);
        let (server, tool) = match index {
            Some(i) => {
                let entry = &catalog.tools()[i];
                (entry.server.to_string(), entry.name().to_string())
            }
            // A quarantined tool: the router refuses it, saying why.
            None => catalog
                .flagged()
                .iter()
                .find(|f| f.quarantined && f.exposed == exposed)
                .map(|f| (f.server.clone(), f.tool.clone()))?,
        };
        Some(CallRequest {
            caller,
            catalog,
            server,
            tool,
            entry: index,
            args: args.map(Arc::new),
            forward: None,
        })
    }

    /// The call as an agent's: progress, logs and the upstream's requests
    /// reach the agent through `forward`.
    pub fn forwarded(mut self, forward: Forward) -> CallRequest {
        self.forward = Some(forward);
        self
    }

    /// The catalog entry of `tool` on the concrete `server` (a domain
    /// call's member), if the catalog lists it.
    fn entry_on(&self, server: &str) -> Option<&ToolEntry> {
        match self.entry {
            Some(i) if server == self.server => self.catalog.tools().get(i),
            _ => self.catalog.tool_for_call(server, &self.tool),
        }
    }

    /// A copy of the arguments for the wire: rmcp's request owns them.
    /// Retries and input rounds share `args` and copy only here.
    fn wire_args(&self) -> Option<JsonObject> {
        self.args.as_deref().cloned()
    }
}

/// What the pipeline needs from the hub: the servers, and where to count,
/// cache and audit.
#[derive(Clone, Copy)]
pub(crate) struct Route<'a> {
    pub upstreams: &'a [Arc<Upstream>],
    pub metrics: &'a Metrics,
    pub cache: &'a Cache,
    pub audit: Option<&'a Audit>,
    /// `settings.approval` and `settings.approval_timeout`.
    pub approvals: &'a crate::config::Approvals,
}

/// The instance of `server` that serves `caller`: a shared server, or the
/// instance run for the caller's tenant.
pub fn instance<'a>(
    upstreams: &'a [Arc<Upstream>],
    server: &str,
    caller: &Caller,
) -> Option<&'a Arc<Upstream>> {
    let tenant = caller.tenant.as_ref().map(|t| t.name.as_str());
    upstreams
        .iter()
        .find(|u| u.name() == server && u.serves(tenant))
}

/// Runs one call through the pipeline, and audits it. A `server` of the
/// form `@domain` goes to the healthy server of highest priority in that
/// domain that has the tool, failing over to the next on `unavailable`.
pub(crate) async fn call(route: Route<'_>, req: &CallRequest) -> Result<Forwarded, CallError> {
    let span = tracing::info_span!("call", server = %req.server, tool = %req.tool);
    async move {
        let started = Instant::now();
        let args_sha256 = route.audit.map(|a| a.args_hash(req.args.as_deref()));
        let outcome = match admit::admit(route, req).await {
            Err(e) => {
                // Refused before any server: counted here, with the names
                // only when the catalog has them (bounded label values).
                let known = req.catalog.tool_for_call(&req.server, &req.tool).is_some();
                let (server, tool) = if known {
                    (req.server.as_str(), req.tool.as_str())
                } else {
                    ("", "")
                };
                route
                    .metrics
                    .refusal(req.caller.tenant_name(), server, tool, e.audit_outcome());
                Err(e)
            }
            Ok(()) => match req.server.strip_prefix('@') {
                Some(domain) => domain::call(route, req, domain).await,
                None => server::call(route, req, &req.server, true).await,
            },
        };
        match &outcome {
            Ok(_) => tracing::debug!("call done"),
            Err(e) => tracing::debug!(kind = %e.kind, error = %e.message, "call failed"),
        }
        if let (Some(audit), Some(args_sha256)) = (route.audit, args_sha256) {
            let outcome = match &outcome {
                Ok(_) => "ok",
                Err(e) => e.audit_outcome(),
            };
            let ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
            audit.call(
                &req.caller,
                &req.server,
                &req.tool,
                outcome,
                ms,
                args_sha256,
            );
        }
        outcome
    }
    .instrument(span)
    .await
}

/// [`call`] for a caller that cannot take input-required results or tasks
/// (a policy, the command line): only a complete result is a success.
pub(crate) async fn call_complete(
    route: Route<'_>,
    req: &CallRequest,
) -> Result<CallToolResult, CallError> {
    match call(route, req).await? {
        Forwarded::Complete(result) => Ok(result),
        // Only a forward that passes input-required results on gets one.
        Forwarded::InputRequired(_) | Forwarded::Task(_) => Err(CallError::new(
            ErrorKind::Internal,
            &req.server,
            &req.tool,
            "the server needs input from a client",
        )),
    }
}
