//! Stage 1 of the pipeline: what a caller may call, decided once per call
//! before anything is resolved. Also the answer every invisible name gets.

use crate::authz::{self, Resource};
use crate::error::{CallError, ErrorKind, quote};
use crate::util::closest;

use super::{CallRequest, Route, instance};

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
/// names, the view and grants (a domain call is checked per member server
/// in [`super::domain`]), then the tenant's rate. A tool outside the view
/// gets the answer a tool that does not exist gets, so a tenant learns
/// nothing about what other tenants can call.
#[allow(clippy::result_large_err)] // the same error every router function returns
pub(super) async fn admit(route: Route<'_>, req: &CallRequest) -> Result<(), CallError> {
    let (server, tool) = (req.server.as_str(), req.tool.as_str());
    check_length(server, tool)?;
    let caller = &req.caller;
    if !server.starts_with('@') && !authz::allowed(caller, &Resource::Tool { server, tool }) {
        tracing::warn!(tenant = %caller.tenant_name(), server, tool, "denied: outside the caller's view or grants");
        return Err(unknown(route, req, server, true));
    }
    let Some(tenant) = &caller.tenant else {
        return Ok(());
    };
    caller.take_call().await.map_err(|wait| {
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

/// Why a tool held by its pin is refused, and how to review it.
fn held(server: &str, tool: &str, hold: &crate::pins::Hold) -> String {
    use crate::pins::{Def, HoldKind};
    let name = format!("{server}.{tool}");
    match hold.kind {
        HoldKind::Changed => format!(
            "tool {} is quarantined: its definition changed since weft pinned it (pinned {}, listed {}); review the change with `weft pins diff {name}` and trust it with `weft pins approve {name}`",
            quote(tool),
            Def::short(hold.pinned.as_deref().unwrap_or("")),
            Def::short(&hold.listed),
        ),
        HoldKind::New => format!(
            "tool {} is quarantined: it is new on server {server}, and pin = \"strict\" holds new tools until they are approved; review it with `weft pins diff {name}` and trust it with `weft pins approve {name}`",
            quote(tool),
        ),
    }
}

/// The answer to a server or tool the caller cannot see, whether it does
/// not exist or is outside the caller's view (`hidden`): the same words
/// either way, with hints drawn only from what the caller can see.
pub(super) fn unknown(
    route: Route<'_>,
    req: &CallRequest,
    server: &str,
    hidden: bool,
) -> CallError {
    let (caller, tool) = (&req.caller, req.tool.as_str());
    if reachable(route, req, server)
        && authz::allowed(caller, &Resource::Tool { server, tool })
        && let Some(q) = req.catalog.quarantined(server, tool)
    {
        if let Some(hold) = q.pin.as_ref().filter(|h| h.hidden) {
            return CallError::new(ErrorKind::Denied, server, tool, held(server, tool, hold));
        }
        let rules: Vec<&str> = q.findings.iter().map(|f| f.rule.as_str()).collect();
        return CallError::new(
            ErrorKind::Denied,
            server,
            tool,
            format!(
                "tool {} is quarantined: weft's scanner flagged its definition ({}), and servers.{server}.scan (or settings.scan) is \"strict\"; review it with `weft check`, and set scan = \"warn\" on the server to serve it anyway",
                quote(tool),
                rules.join(", ")
            ),
        );
    }
    let mut e = if reachable(route, req, server) {
        let names = req
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
        let mut names: Vec<&str> = route
            .upstreams
            .iter()
            .map(|u| u.name())
            .filter(|n| authz::allowed(caller, &Resource::Server(n)))
            .collect();
        names.dedup();
        let hint = closest(server, names.iter().copied())
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_else(|| format!("; configured servers: {}", names.join(", ")));
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

/// Whether `server` is one of the caller's: configured and reachable.
pub(super) fn reachable(route: Route<'_>, req: &CallRequest, server: &str) -> bool {
    route.upstreams.iter().any(|u| u.name() == server)
        && authz::allowed(&req.caller, &Resource::Server(server))
}
