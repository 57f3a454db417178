//! `weft check`'s look at the tenants: every `include`, `exclude` and
//! `policies` pattern must match something that is really there (a tool
//! of a started server, a configured policy), and each tenant's tool
//! count is what its `tools/list` shows.
//!
//! A pattern whose servers did not start (failed or disabled) cannot be
//! checked and is passed over: the server's own line says why it is down.
//! A catch-all (`*`, `*.*`) that matches nothing yet is a note, not an
//! error: it says "everything", and will match what is added.

use globset::Glob;

use crate::Caller;
use crate::Hub;
use crate::config::{TenantConfig, ToolPatterns};
use crate::serve::tools as listing;
use crate::upstream::State;

/// One tenant as `weft check` reports it.
#[derive(Debug, serde::Serialize)]
pub struct TenantReport {
    pub name: String,
    /// How many tools its `tools/list` shows (catalog, policies, meta tools).
    pub tools: usize,
    /// Patterns that match nothing, each a whole sentence.
    pub problems: Vec<String>,
    /// Catch-alls that match nothing yet, each a whole sentence.
    pub notes: Vec<String>,
}

/// Checks every tenant of the hub's config.
pub fn check(hub: &Hub) -> Vec<TenantReport> {
    let config = hub.config();
    config
        .tenants
        .iter()
        .filter_map(|t| {
            let tenant = hub.tenants().get(&t.name)?;
            let caller = Caller::tenant(tenant, "check");
            let (problems, notes) = problems(hub, t, &caller);
            Some(TenantReport {
                name: t.name.clone(),
                tools: listing::listed(hub, config.settings.expose, &caller).len(),
                problems,
                notes,
            })
        })
        .collect()
}

/// The tenants whose view reaches `server`, in config order.
pub fn views_reaching(hub: &Hub, server: &str) -> Vec<String> {
    hub.config()
        .tenants
        .iter()
        .filter(|t| {
            hub.tenants()
                .get(&t.name)
                .is_some_and(|tenant| Caller::tenant(tenant, "check").reaches(server))
        })
        .map(|t| t.name.clone())
        .collect()
}

/// Whether `pattern` says "everything": `*` parts only (`*`, `*.*`).
fn catch_all(pattern: &str) -> bool {
    pattern
        .split('.')
        .all(|part| !part.is_empty() && part.chars().all(|c| c == '*'))
}

/// The patterns of `tenant` that match nothing: errors, and notes for
/// catch-alls.
fn problems(hub: &Hub, tenant: &TenantConfig, caller: &Caller) -> (Vec<String>, Vec<String>) {
    let catalog = hub.catalog_for(caller);
    let tools: Vec<String> = catalog
        .tools()
        .iter()
        .map(|t| format!("{}.{}", t.server, t.name()))
        .collect();
    let status = hub.status();
    // Servers that are not up (for this tenant): their tools are unknown.
    let down: Vec<&str> = status
        .iter()
        .filter(|s| s.tenant.as_deref().is_none_or(|n| n == tenant.name))
        .filter(|s| s.state != State::Up)
        .map(|s| s.name.as_str())
        .collect();
    let servers: Vec<&str> = status.iter().map(|s| s.name.as_str()).collect();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (field, patterns) in [("include", &tenant.include), ("exclude", &tenant.exclude)] {
        for p in patterns {
            let matched = match ToolPatterns::new(std::slice::from_ref(p), "view entry") {
                Ok(one) => catalog
                    .tools()
                    .iter()
                    .any(|t| one.matches(&t.server, t.name())),
                Err(e) => {
                    out.push(format!("tenants.{}.{field}: {e}", tenant.name));
                    continue;
                }
            };
            let (server, tool) = p.split_once('.').unwrap_or((p, "*"));
            let unverified = Glob::new(server)
                .map(|g| g.compile_matcher())
                .is_ok_and(|g| down.iter().any(|d| g.is_match(d)));
            if matched || unverified {
                continue;
            }
            if catch_all(p) {
                notes.push(format!(
                    "tenants.{}.{field}: {p:?} matches no tool yet; it will match every tool of a server that starts",
                    tenant.name
                ));
                continue;
            }
            // A misspelt server first (its tool part kept), else a tool.
            let server_glob = Glob::new(server).map(|g| g.compile_matcher());
            let no_server = server_glob.is_ok_and(|g| !servers.iter().any(|s| g.is_match(s)));
            let suggestion = match crate::util::closest(server, servers.iter().copied()) {
                Some(s) if no_server => Some(format!("{s}.{tool}")),
                _ => crate::util::closest(p, tools.iter().map(String::as_str)).map(str::to_string),
            };
            let hint = match suggestion {
                Some(c) => format!("; did you mean {c:?}?"),
                None => "; `weft tools` lists the SERVER.TOOL names there are".into(),
            };
            out.push(format!(
                "tenants.{}.{field}: {p:?} matches no tool{hint}",
                tenant.name
            ));
        }
    }
    let policies: Vec<&str> = hub
        .config()
        .policies
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    for p in &tenant.policies {
        let matched = Glob::new(p)
            .map(|g| g.compile_matcher())
            .is_ok_and(|g| policies.iter().any(|n| g.is_match(n)));
        if matched {
            continue;
        }
        if catch_all(p) {
            notes.push(format!(
                "tenants.{}.policies: {p:?} matches no policy yet; it will match every policy you add",
                tenant.name
            ));
            continue;
        }
        let hint = match crate::util::closest(p, policies.iter().copied()) {
            Some(c) => format!("; did you mean {c:?}?"),
            None if policies.is_empty() => "; the config defines no policies".into(),
            None => format!("; policies: {}", policies.join(", ")),
        };
        out.push(format!(
            "tenants.{}.policies: {p:?} matches no policy{hint}",
            tenant.name
        ));
    }
    (out, notes)
}
