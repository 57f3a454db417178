//! One path for every tool call: resolve the server and tool, check that the
//! catalog exposes it, apply the server's timeout, and classify failures
//! into an [`ErrorKind`].
//!
//! Calls from agents, from the CLI and from policies all come through here,
//! so checks, error kinds, retries, the circuit breaker, domain routing,
//! the tool cache and metrics are written once.

#[allow(deprecated)]
use rmcp::model::LoggingLevel;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientCapabilities, ClientRequest, CreateTaskResult, InputRequiredResult, InputResponses,
    JsonObject, RequestId, RequestMetaObject, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::audit::Audit;
use crate::authz::{self, Resource};
use crate::cache::{Cache, Cached, Key as CacheKey};
use crate::catalog::Catalog;
use crate::error::{CallError, ErrorKind, quote};
use crate::metrics::Metrics;
use crate::tenant::Caller;
use crate::upstream::relay::{Relay, RelayMsg};
use crate::upstream::{Connection, State, Upstream};
use crate::util::closest;

/// JSON-RPC error codes weft branches on.
const INVALID_PARAMS: i32 = -32602;
const METHOD_NOT_FOUND: i32 = -32601;
const RESOURCE_NOT_FOUND: i32 = -32002;

/// How many input-required rounds weft drives for one call.
const MAX_INPUT_ROUNDS: usize = 10;

/// What an agent's call brings along, so the upstream can reach the agent.
pub struct Forward {
    /// Where progress, logs and requests for the agent go.
    pub relay: Relay,
    /// The agent speaks 2026-07-28: an input-required result from a
    /// 2026-07-28 upstream goes back to it unchanged, and its retry comes
    /// back with these.
    pub pass_input_required: bool,
    pub input_responses: Option<InputResponses>,
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
    fn agent_was_asked(&self) -> bool {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A forwarded call's outcome: done, or the upstream needs the agent's input.
#[derive(Debug)]
pub enum Forwarded {
    Complete(CallToolResult),
    InputRequired(InputRequiredResult),
    /// The server made a task of the call (the 2026-07-28 tasks extension);
    /// only when the agent declared that extension.
    Task(CreateTaskResult),
}

/// What a call needs from the hub: the servers, the catalog snapshot the
/// caller saw, and where to count and cache.
#[derive(Clone, Copy)]
pub struct Route<'a> {
    pub upstreams: &'a [Arc<Upstream>],
    pub catalog: &'a Catalog,
    pub metrics: &'a Metrics,
    pub cache: &'a Cache,
    /// Who the call is for: the tenant's view is checked here, on every
    /// call, whatever route it came by.
    pub caller: &'a Caller,
    pub audit: Option<&'a Audit>,
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

/// Resolves and performs one call.
pub async fn call_tool(
    route: Route<'_>,
    server: &str,
    tool: &str,
    args: Option<JsonObject>,
) -> Result<CallToolResult, CallError> {
    match call_tool_forwarded(route, server, tool, args, None).await? {
        Forwarded::Complete(result) => Ok(result),
        // Only a forward that passes input-required results on gets one.
        Forwarded::InputRequired(_) | Forwarded::Task(_) => Err(CallError::new(
            ErrorKind::Internal,
            server,
            tool,
            "the server needs input from a client",
        )),
    }
}

/// [`call_tool`] for an agent's call: progress, logs and the upstream's
/// requests reach the agent through `forward`. A `server` of the form
/// `@domain` goes to the healthy server of highest priority in that domain
/// that has the tool, failing over to the next on `unavailable`.
pub async fn call_tool_forwarded(
    route: Route<'_>,
    server: &str,
    tool: &str,
    args: Option<JsonObject>,
    forward: Option<&Forward>,
) -> Result<Forwarded, CallError> {
    let span = tracing::info_span!("call", server, tool);
    async move {
        let started = Instant::now();
        let args_sha256 = route.audit.map(|a| a.args_hash(args.as_ref()));
        let outcome = match admit(route, server, tool) {
            Err(e) => Err(e),
            Ok(()) => match server.strip_prefix('@') {
                Some(domain) => call_domain(route, domain, tool, args, forward).await,
                None => call_server(route, server, tool, args, forward, true).await,
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
            audit.call(route.caller, server, tool, outcome, ms, args_sha256);
        }
        outcome
    }
    .instrument(span)
    .await
}

/// The longest server or tool name weft looks up, in bytes. Longer names
/// are refused before any lookup, so their cost never grows with them.
pub const MAX_NAME_BYTES: usize = 512;

/// A name over [`MAX_NAME_BYTES`], refused as bad arguments.
#[allow(clippy::result_large_err)] // the same error every router function returns
pub fn check_length(server: &str, tool: &str) -> Result<(), CallError> {
    for (what, name) in [("server", server), ("tool", tool)] {
        if name.len() > MAX_NAME_BYTES {
            return Err(CallError::new(
                ErrorKind::InvalidArgs,
                "",
                "",
                format!(
                    "the {what} name {} is {} bytes long; names are at most {MAX_NAME_BYTES}",
                    quote(name),
                    name.len()
                ),
            ));
        }
    }
    Ok(())
}

/// The tenant's checks, before anything is resolved: the length of the
/// names, the view (a domain call is checked per server in
/// [`call_domain`]), then the tenant's rate. A tool outside the view gets
/// the answer a tool that does not exist gets, so a tenant learns nothing
/// about what other tenants can call.
#[allow(clippy::result_large_err)] // the same error every router function returns
fn admit(route: Route<'_>, server: &str, tool: &str) -> Result<(), CallError> {
    check_length(server, tool)?;
    let caller = route.caller;
    let Some(tenant) = &caller.tenant else {
        return Ok(());
    };
    if !server.starts_with('@') && !authz::allowed(caller, &Resource::Tool { server, tool }) {
        tracing::warn!(tenant = %tenant.name, server, tool, "denied: outside the tenant's view");
        return Err(unknown(route, server, tool, true));
    }
    caller.take_call().map_err(|wait| {
        let mut e = CallError::new(
            ErrorKind::RateLimited,
            server,
            tool,
            format!(
                "tenant {:?} is over its rate of {} calls a minute; retry after {}",
                tenant.name,
                tenant.limits.calls_per_minute.unwrap_or(0),
                crate::util::fmt_duration(wait)
            ),
        );
        e.retry_after_ms = Some(wait.as_millis().max(1) as u64);
        e
    })
}

/// The answer to a server or tool the caller cannot see, whether it does
/// not exist or is outside the caller's view (`hidden`): the same words
/// either way, with hints drawn only from what the caller can see.
fn unknown(route: Route<'_>, server: &str, tool: &str, hidden: bool) -> CallError {
    let caller = route.caller;
    let mut e = if route.upstreams.iter().any(|u| u.name() == server)
        && authz::allowed(caller, &Resource::Server(server))
    {
        let names = route
            .catalog
            .tools()
            .iter()
            .filter(|t| {
                &*t.server == server
                    && authz::allowed(
                        caller,
                        &Resource::Tool {
                            server,
                            tool: t.name(),
                        },
                    )
            })
            .map(|t| t.name());
        let hint = closest(tool, names)
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_default();
        // Only the owner learns of the config's own filters.
        let filtered = caller.tenant.is_none()
            && instance(route.upstreams, server, caller)
                .is_some_and(|up| up.listing().tools.iter().any(|t| t.name == tool));
        let why = if filtered {
            "is hidden by this server's include/exclude filter"
        } else {
            "does not exist on this server"
        };
        CallError::new(
            ErrorKind::NotFound,
            server,
            tool,
            format!("tool {} {why}{hint}", quote(tool)),
        )
    } else {
        let names: Vec<&str> = route
            .upstreams
            .iter()
            .map(|u| u.name())
            .filter(|n| authz::allowed(caller, &Resource::Server(n)))
            .collect();
        let hint = closest(server, names.iter().copied())
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_else(|| {
                let mut names = names.clone();
                names.dedup();
                format!("; configured servers: {}", names.join(", "))
            });
        CallError::new(
            ErrorKind::NotFound,
            server,
            tool,
            format!("no server named {}{hint}", quote(server)),
        )
    };
    e.hidden = hidden;
    e
}

/// A call to one domain: servers in priority order, healthy ones only.
/// Only servers the caller can see count as members, so a domain whose
/// members are all outside the view answers as an unknown domain does.
async fn call_domain(
    route: Route<'_>,
    domain: &str,
    tool: &str,
    args: Option<JsonObject>,
    forward: Option<&Forward>,
) -> Result<Forwarded, CallError> {
    let at = format!("@{domain}");
    let caller = route.caller;
    let tenant = caller.tenant.as_ref().map(|t| t.name.as_str());
    let in_domain = |u: &&Arc<Upstream>| {
        u.config.enabled && u.config.domains.iter().any(|d| d == domain) && u.serves(tenant)
    };
    let mut members: Vec<&Arc<Upstream>> = route
        .upstreams
        .iter()
        .filter(in_domain)
        .filter(|u| authz::allowed(caller, &Resource::Server(u.name())))
        .collect();
    // Whether a server outside the view has the tool: audited as denied.
    let hidden = route.upstreams.iter().filter(in_domain).any(|u| {
        !authz::allowed(
            caller,
            &Resource::Tool {
                server: u.name(),
                tool,
            },
        ) && route.catalog.tool_for_call(u.name(), tool).is_some()
    });
    if members.is_empty() {
        let mut known: Vec<&str> = route
            .upstreams
            .iter()
            .filter(|u| authz::allowed(caller, &Resource::Server(u.name())))
            .flat_map(|u| u.config.domains.iter().map(String::as_str))
            .collect();
        known.sort_unstable();
        known.dedup();
        let hint = if known.is_empty() {
            "; no server declares a domain (servers.NAME.domains)".to_string()
        } else {
            format!("; domains: {}", known.join(", "))
        };
        let mut e = CallError::new(
            ErrorKind::NotFound,
            &at,
            tool,
            format!("no enabled server is in the domain {}{hint}", quote(domain)),
        );
        e.hidden = hidden;
        return Err(e);
    }
    members.sort_by(|a, b| {
        b.config
            .priority
            .cmp(&a.config.priority)
            .then_with(|| a.name().cmp(b.name()))
    });
    let with_tool: Vec<&Arc<Upstream>> = members
        .iter()
        .copied()
        .filter(|u| route.catalog.tool_for_call(u.name(), tool).is_some())
        .filter(|u| {
            authz::allowed(
                caller,
                &Resource::Tool {
                    server: u.name(),
                    tool,
                },
            )
        })
        .collect();
    if with_tool.is_empty() {
        let names: Vec<&str> = members.iter().map(|u| u.name()).collect();
        let mut e = CallError::new(
            ErrorKind::NotFound,
            &at,
            tool,
            format!(
                "no server in the domain {} ({}) has the tool {}, or none is up",
                quote(domain),
                names.join(", "),
                quote(tool)
            ),
        );
        e.hidden = hidden;
        return Err(e);
    }
    let mut passed = Vec::new();
    for (i, up) in with_tool.iter().enumerate() {
        if up.state() != State::Up || up.breaker.is_open() {
            let why = if up.breaker.is_open() {
                "breaker open"
            } else {
                up.state().name()
            };
            passed.push(format!("{}: {why}", up.name()));
            continue;
        }
        if i > 0 {
            route.metrics.failover(domain);
            tracing::info!(domain, server = up.name(), passed = ?passed, "failing over");
        }
        match call_server(route, up.name(), tool, args.clone(), forward, false).await {
            Err(e) if e.kind == ErrorKind::Unavailable => {
                passed.push(format!("{}: {}", up.name(), e.message));
            }
            other => return other,
        }
    }
    Err(CallError::new(
        ErrorKind::Unavailable,
        &at,
        tool,
        format!(
            "no server in the domain {domain:?} could take the call ({})",
            passed.join("; ")
        ),
    ))
}

/// A call to one named server, retried by its retry policy and counted.
async fn call_server(
    route: Route<'_>,
    server: &str,
    tool: &str,
    args: Option<JsonObject>,
    forward: Option<&Forward>,
    retry_unavailable: bool,
) -> Result<Forwarded, CallError> {
    let err = |kind, msg: String| CallError::new(kind, server, tool, msg);
    let Some(up) = instance(route.upstreams, server, route.caller) else {
        if route.upstreams.iter().any(|u| u.name() == server)
            && authz::allowed(route.caller, &Resource::Server(server))
        {
            // Only per-tenant instances, none of them this caller's.
            return Err(err(
                ErrorKind::Unavailable,
                match &route.caller.tenant {
                    Some(t) => format!(
                        "the server runs once per tenant and has no instance for tenant {:?}",
                        t.name
                    ),
                    None => "the server runs once per tenant; call it as a tenant (weft call --tenant NAME)".to_string(),
                },
            ));
        }
        return Err(unknown(route, server, tool, false));
    };
    let known = route.catalog.tool_for_call(server, tool);
    if known.is_none() && up.in_catalog() {
        return Err(unknown(route, server, tool, false));
    }
    let safe = known.is_some_and(|t| {
        t.read_only
            || t.tool
                .annotations
                .as_ref()
                .and_then(|a| a.idempotent_hint)
                .unwrap_or(false)
    });
    let resuming =
        forward.is_some_and(|f| f.request_state.is_some() || f.input_responses.is_some());
    let cache_ttl = up
        .config
        .resilience
        .cache
        .tool_ttl
        .filter(|_| known.is_some_and(|t| t.read_only) && !resuming);
    // Keyed by instance: each tenant's own process may answer differently.
    let key = cache_ttl.map(|_| CacheKey::tool(up.key(), tool, args.as_ref()));
    if let Some(key) = &key
        && let Some(Cached::Tool(result)) = route.cache.get(key)
    {
        route.metrics.call(server, tool, "ok", Duration::ZERO);
        return Ok(Forwarded::Complete(result));
    }
    let policy = &up.config.resilience.retry;
    let began = Instant::now();
    let mut retries = 0;
    let outcome = loop {
        let (outcome, reached) =
            attempt(up, server, tool, args.clone(), forward, route.caller).await;
        let Err(e) = &outcome else { break outcome };
        let restarting = matches!(
            up.state(),
            State::Starting | State::BackingOff { .. } | State::Down { .. }
        );
        let retry = retries < policy.max_retries
            && policy.kinds.contains(&e.kind)
            && (policy.all_tools || safe)
            && !resuming
            && (reached || restarting)
            && (retry_unavailable || e.kind != ErrorKind::Unavailable);
        if !retry {
            break outcome;
        }
        retries += 1;
        route.metrics.retry(server);
        let pause = policy.pause(retries);
        tracing::info!(kind = %e.kind, retry = retries, pause_ms = pause.as_millis() as u64, "retrying");
        if up.state() == State::Up {
            tokio::time::sleep(pause).await;
        } else {
            // Back as soon as the server is, but no later than the pause.
            up.wait_up(pause).await;
        }
    };
    let label = match &outcome {
        Ok(_) => "ok",
        Err(e) => e.kind.as_str(),
    };
    route.metrics.call(server, tool, label, began.elapsed());
    // A result made after the agent answered a question is not cached:
    // it holds that agent's answers.
    let asked = forward.is_some_and(Forward::agent_was_asked);
    if let (Some(key), Some(ttl), Ok(Forwarded::Complete(result)), false) =
        (key, cache_ttl, &outcome, asked)
    {
        route.cache.put(key, Cached::Tool(result.clone()), ttl);
    }
    outcome
}

/// One try: checks the server's state and breaker, then calls within the
/// server's timeout. Also says whether the call reached the server.
async fn attempt(
    up: &Upstream,
    server: &str,
    tool: &str,
    args: Option<JsonObject>,
    forward: Option<&Forward>,
    caller: &Caller,
) -> (Result<Forwarded, CallError>, bool) {
    let err = |kind, msg: String| CallError::new(kind, server, tool, msg);
    let conn = match up.state() {
        State::Up => up.connection(),
        State::Disabled => {
            return (
                Err(err(
                    ErrorKind::Unavailable,
                    "the server is disabled in the config".into(),
                )),
                false,
            );
        }
        State::Starting => {
            return (
                Err(err(ErrorKind::Unavailable, "the server is starting".into())),
                false,
            );
        }
        State::BackingOff {
            reason,
            attempt,
            retry_at_ms,
            ..
        } => {
            let wait =
                retry_at_ms.saturating_sub(crate::util::unix_ms(std::time::SystemTime::now()));
            return (
                Err(err(
                    ErrorKind::Unavailable,
                    format!(
                        "the server is down ({reason}); restart attempt {attempt} in {}",
                        crate::util::fmt_duration(Duration::from_millis(wait))
                    ),
                )),
                false,
            );
        }
        State::Failed { error } => {
            return (
                Err(err(
                    ErrorKind::Unavailable,
                    format!("the server failed to start: {}", error.reason),
                )),
                false,
            );
        }
        State::Down { reason } => {
            return (
                Err(err(
                    ErrorKind::Unavailable,
                    format!("the server is down: {reason}"),
                )),
                false,
            );
        }
    };
    let Some(conn) = conn else {
        return (
            Err(err(
                ErrorKind::Unavailable,
                "the server has no connection".into(),
            )),
            false,
        );
    };
    // A tenant's own timeout breaker, then the shared one.
    let own = caller.tenant.as_ref().map(|t| up.tenant_breaker(&t.name));
    if let Some(own) = &own
        && let Err(left) = own.admit()
    {
        let b = own.status();
        return (
            Err(err(
                ErrorKind::Unavailable,
                format!(
                    "circuit breaker open for tenant {:?} after {} consecutive timeouts of its calls; next probe in {}",
                    caller.tenant_name(),
                    b.consecutive_failures,
                    crate::util::fmt_duration(left)
                ),
            )),
            false,
        );
    }
    if let Err(left) = up.breaker.admit() {
        let b = up.breaker.status();
        return (
            Err(err(
                ErrorKind::Unavailable,
                format!(
                    "circuit breaker open after {} consecutive failures; next probe in {}",
                    b.consecutive_failures,
                    crate::util::fmt_duration(left)
                ),
            )),
            false,
        );
    }
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = args;
    if let Some(f) = forward {
        params.input_responses = f.input_responses.clone();
        params.request_state = f.request_state.clone();
    }
    let timeout = up.config.timeout;
    let outcome = tokio::time::timeout(timeout, invoke(&conn, params, forward, caller)).await;
    let result = match outcome {
        Err(_) => Err(err(
            ErrorKind::Timeout,
            format!(
                "no answer within {} (servers.{server}.timeout)",
                crate::util::fmt_duration(timeout)
            ),
        )),
        Ok(Ok(Forwarded::Complete(result))) if result.is_error == Some(true) => {
            let mut e = err(ErrorKind::ToolError, error_text(&result));
            e.result = serde_json::to_value(&result).ok();
            Err(e)
        }
        Ok(Ok(done)) => Ok(done),
        Ok(Err(service_error)) => {
            let e = classify(service_error, server, tool);
            if e.kind == ErrorKind::Unavailable {
                up.mark_down(&e.message);
            }
            Err(e)
        }
    };
    // A server that is down fails everyone. A timeout may be the
    // caller's own doing (a slow operation it asked for): with tenants it
    // counts against that tenant's breaker only, so one tenant's slow
    // calls never cut off the others.
    let timed_out = matches!(&result, Err(e) if e.kind == ErrorKind::Timeout);
    let down = matches!(&result, Err(e) if e.kind == ErrorKind::Unavailable);
    let shared_failed = down || (timed_out && own.is_none());
    if up.breaker.record(shared_failed) {
        tracing::warn!(server, "circuit breaker opened");
    }
    if let Some(own) = &own
        && own.record(timed_out)
    {
        tracing::warn!(server, tenant = %caller.tenant_name(), "the tenant's circuit breaker opened");
    }
    if let Err(e) = &result
        && !matches!(e.kind, ErrorKind::ToolError)
    {
        up.note_error(&format!("{tool}: {}: {}", e.kind, e.message));
    }
    (result, true)
}

/// Sends the call and drives input-required rounds: answered through the
/// agent's relay, or handed back to a 2026-07-28 agent as they are.
async fn invoke(
    conn: &Connection,
    mut params: CallToolRequestParams,
    forward: Option<&Forward>,
    caller: &Caller,
) -> Result<Forwarded, ServiceError> {
    let peer = conn.service.peer();
    let modern_upstream = conn.protocol.as_str() >= "2026-07-28";
    let mut meta = RequestMetaObject::default();
    if let (true, Some(f)) = (modern_upstream, forward) {
        if let Some(caps) = &f.client_capabilities {
            meta.set_client_capabilities(caps.clone());
        }
        if let Some(level) = f.log_level {
            meta.set_log_level(level);
        }
    }
    for _round in 0..MAX_INPUT_ROUNDS {
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params.clone()));
        let mut options = PeerRequestOptions::no_options();
        if !meta.is_empty() {
            options.meta = Some(meta.clone());
        }
        let handle = peer.send_cancellable_request(request, options).await?;
        // Ties weft's request id (the span) to the id the upstream sees.
        tracing::debug!(upstream_id = %handle.id, "sent to the upstream");
        let _registration = forward.map(|f| {
            conn.service.service().relays.register(
                handle.progress_token.clone(),
                f.relay.clone(),
                f.log_level.is_some(),
                caller.tenant.as_ref().map(|t| t.name.as_str()),
            )
        });
        let mut guard = CancelOnDrop {
            peer: Some(peer.clone()),
            id: handle.id.clone(),
        };
        let answer = handle.await_response().await;
        guard.peer = None;
        let input = match answer? {
            ServerResult::CallToolResult(result) => return Ok(Forwarded::Complete(result)),
            ServerResult::InputRequiredResult(input) => input,
            ServerResult::CreateTaskResult(task) if forward.is_some() => {
                return Ok(Forwarded::Task(task));
            }
            _ => return Err(ServiceError::UnexpectedResponse),
        };
        let Some(f) = forward else {
            return Err(ServiceError::McpError(
                rmcp::model::ErrorData::invalid_request(
                    "the server needs input from the client (sampling, elicitation or roots), \
                 which a policy or the command line cannot give",
                    None,
                ),
            ));
        };
        if f.pass_input_required && modern_upstream {
            return Ok(Forwarded::InputRequired(input));
        }
        let mut responses = InputResponses::new();
        for (key, request) in input.input_requests.unwrap_or_default() {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let sent = f.relay.send(RelayMsg::Ask {
                request: Box::new(request),
                reply,
            });
            let value = match (sent, answer.await) {
                (Ok(()), Ok(value)) => value.map_err(ServiceError::McpError)?,
                _ => return Err(ServiceError::TransportClosed),
            };
            responses.insert(key, value);
        }
        params.input_responses = Some(responses);
        params.request_state = input.request_state;
    }
    Err(ServiceError::InputRequiredRoundsExceeded {
        max_rounds: MAX_INPUT_ROUNDS,
    })
}

/// Tells the upstream to stop a request whose caller went away.
struct CancelOnDrop {
    peer: Option<Peer<RoleClient>>,
    id: RequestId,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(peer) = self.peer.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let id = self.id.clone();
        runtime.spawn(async move {
            let params = CancelledNotificationParam::new(
                Some(id),
                Some("the caller cancelled or timed out".into()),
            );
            let _ = peer.notify_cancelled(params).await;
        });
    }
}

/// Turns an rmcp failure into a kinded error.
pub fn classify(error: ServiceError, server: &str, tool: &str) -> CallError {
    let rpc = match &error {
        ServiceError::McpError(data) => serde_json::to_value(data).ok(),
        _ => None,
    };
    let (kind, message) = match error {
        ServiceError::McpError(data) => {
            let code = data.code.0;
            let lower = data.message.to_ascii_lowercase();
            let kind = if lower.contains("rate limit") || lower.contains("too many requests") {
                ErrorKind::RateLimited
            } else if code == INVALID_PARAMS
                && (lower.contains("unknown tool") || lower.contains("not found"))
            {
                ErrorKind::NotFound
            } else if code == INVALID_PARAMS {
                ErrorKind::InvalidArgs
            } else if code == METHOD_NOT_FOUND || code == RESOURCE_NOT_FOUND {
                ErrorKind::NotFound
            } else {
                ErrorKind::Internal
            };
            (kind, format!("{} (JSON-RPC {code})", data.message))
        }
        ServiceError::TransportClosed => (
            ErrorKind::Unavailable,
            "the connection to the server closed".into(),
        ),
        // An HTTP server's 429 is a request to slow down, not an outage.
        ServiceError::TransportSend(e) if e.to_string().contains("HTTP 429") => (
            ErrorKind::RateLimited,
            format!("the server answered 429 Too Many Requests: {e}"),
        ),
        // An answer that could not be read fails this call only: the
        // server answered, so it is up and is not restarted.
        ServiceError::TransportSend(e) if crate::upstream::http::is_bad_answer(&e) => (
            ErrorKind::Internal,
            format!("the server's answer could not be read: {e}"),
        ),
        ServiceError::TransportSend(e) => (
            ErrorKind::Unavailable,
            format!("cannot send to the server: {e}"),
        ),
        ServiceError::Timeout { timeout } => (
            ErrorKind::Timeout,
            format!("no answer within {}", crate::util::fmt_duration(timeout)),
        ),
        ServiceError::Cancelled { reason } => (
            ErrorKind::Internal,
            format!(
                "cancelled: {}",
                reason.unwrap_or_else(|| "no reason given".into())
            ),
        ),
        other => (ErrorKind::Internal, other.to_string()),
    };
    let mut e = CallError::new(kind, server, tool, message);
    e.rpc = rpc;
    e
}

/// The text a failed tool gave, for the error message.
fn error_text(result: &CallToolResult) -> String {
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    if text.is_empty() {
        "the tool reported an error".into()
    } else {
        text.join("\n")
    }
}
