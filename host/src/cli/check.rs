//! `weft check`: validate the config, start every server once, one line each.
//!
//! With tenants configured, it also warns about every shared server of the
//! handshake era: such a server's requests for the agent's input name no
//! call, so weft refuses them while several tenants' calls are in flight
//! (MCP servers do not declare whether they will ask; see
//! `docs/decisions.md`).
//!
//! Each tenant gets a line with its tool count, and every view or policy
//! pattern that matches nothing is an error (exit 2), see [`tenants`].
//! Each configured policy is readied as `weft run` would, compiled and
//! cached if it was not (a policy that cannot run fails the check), see
//! [`policies`].

mod policies;
mod sandbox;
mod tenants;

use std::process::ExitCode;

use crate::config::Config;
use crate::upstream::{ServerStatus, State};

use super::{FAILED, USAGE, finish, start_hub};

/// The top-level entry point for `weft check`; exit 2 when a tenant's
/// pattern matches nothing, else 1 when a server failed.
pub async fn run(config: Config, as_json: bool) -> ExitCode {
    let source = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let tenants = !config.tenants.is_empty();
    let mut config = config;
    // oci:// components first: the policies are readied from the files.
    if let Err(e) = crate::oci::materialize(&mut config, false).await {
        crate::errln!("weft: {e}");
        return ExitCode::from(FAILED);
    }
    let policy_reports = policies::check(&config.policies).await;
    let hub = start_hub(config, false, false).await;
    let status = hub.status();
    let mut warnings: Vec<String> = if tenants {
        status
            .iter()
            .filter_map(|s| shared_input_warning(s, &tenants::views_reaching(&hub, &s.name)))
            .collect()
    } else {
        Vec::new()
    };
    warnings.extend(sandbox::warnings(hub.config()));
    warnings.extend(oci_warnings(hub.config()));
    let failed = status
        .iter()
        .filter(|s| matches!(s.state, State::Failed { .. }))
        .count();
    let tenant_reports = tenants::check(&hub);
    let policies_failed = policy_reports.iter().any(|p| !p.ok);
    let bad_patterns = tenant_reports.iter().any(|t| !t.problems.is_empty());
    if as_json {
        let report = serde_json::json!({
            "config": source,
            "servers": status,
            "tools": hub.catalog().tools().len(),
            "collisions": hub.catalog().collisions(),
            "flagged": hub.catalog().flagged(),
            "warnings": warnings,
            "tenants": tenant_reports,
            "policies": policy_reports,
        });
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        crate::outln!("config {source}: ok");
        for s in &status {
            print_check_line(s);
            if let Some(c) = &s.component {
                crate::outln!("    component: {c}");
            }
        }
        for p in &policy_reports {
            crate::outln!("{}", policies::line(p));
        }
        for c in hub.catalog().collisions() {
            crate::outln!(
                "! {} {} is offered by {} and {}: {} serves it (the higher priority), the others are hidden",
                c.kind,
                c.name,
                c.winner,
                c.hidden.join(", "),
                c.winner
            );
        }
        for f in hub.catalog().flagged() {
            let what = if f.quarantined && !f.held_by_pin() {
                "quarantined"
            } else {
                "flagged"
            };
            if let Some(hold) = &f.pin {
                let what = if hold.hidden { "quarantined" } else { "served" };
                let why = match hold.kind {
                    crate::pins::HoldKind::Changed => "its definition changed since it was pinned",
                    crate::pins::HoldKind::New => "it is new and waits for approval",
                };
                crate::outln!(
                    "! tool {}.{} {what}: {why}; `weft pins diff {}.{}` shows it",
                    f.server,
                    f.tool,
                    f.server,
                    f.tool
                );
            }
            if f.findings.is_empty() {
                continue;
            }
            crate::outln!("! tool {}.{} {what} by the scanner:", f.server, f.tool);
            for x in &f.findings {
                crate::outln!(
                    "    {} in {}: {:?} ({})",
                    x.rule,
                    x.field,
                    x.excerpt,
                    x.reason
                );
            }
        }
        for w in &warnings {
            crate::outln!("! {w}");
        }
        for t in &tenant_reports {
            crate::outln!(
                "tenant {}: {} tool{}",
                t.name,
                t.tools,
                if t.tools == 1 { "" } else { "s" }
            );
            for p in &t.problems {
                crate::outln!("✗ tenant {}: {p}", t.name);
            }
            for n in &t.notes {
                crate::outln!("- tenant {}: {n}", t.name);
            }
        }
        let up = status.iter().filter(|s| s.state == State::Up).count();
        crate::outln!(
            "{up} up, {failed} failed, {} tools in the catalog",
            hub.catalog().tools().len()
        );
    }
    finish(if bad_patterns {
        USAGE
    } else if failed > 0 || policies_failed {
        FAILED
    } else {
        0
    })
    .await
}

/// The warning for a shared server of the handshake era, which may ask
/// agents for input with requests that name no call: only when the views
/// of two or more tenants (`reached_by`) reach it.
fn shared_input_warning(s: &ServerStatus, reached_by: &[String]) -> Option<String> {
    let protocol = s.protocol.as_deref()?;
    let handshake = !crate::Era::of(protocol).is_stateless();
    // Built-in and component servers run in weft and never ask agents.
    let in_weft = matches!(s.transport, "builtin" | "component");
    (s.tenant.is_none() && handshake && !in_weft && reached_by.len() >= 2).then(|| {
        format!(
            "servers.{} is shared by {} tenants ({}) and speaks {protocol}: if it asks agents for \
             input (sampling, elicitation, roots), weft refuses while calls of several tenants \
             are in flight; set per_tenant = true",
            s.name,
            reached_by.len(),
            reached_by.join(", ")
        )
    })
}

/// A warning for each `oci://` component no trusted key verified.
fn oci_warnings(config: &Config) -> Vec<String> {
    let servers = config.servers.iter().filter_map(|s| match &s.transport {
        crate::config::Transport::Component(a) => a.oci.as_ref(),
        _ => None,
    });
    config
        .policies
        .iter()
        .filter_map(|p| p.oci.as_ref())
        .chain(servers)
        .filter(|o| o.unverified())
        .map(|o| {
            format!(
                "{} runs without a verified signature ({}); [settings.trust] keys and require_signatures = true refuse such components",
                o.reference.canonical(),
                o.signature()
            )
        })
        .collect()
}

fn print_check_line(s: &ServerStatus) {
    match &s.state {
        State::Up => crate::outln!(
            "✓ {:<12} {:<10} {:>3} tools {:>3} resources {:>3} prompts  started in {} ms",
            s.name,
            s.protocol.as_deref().unwrap_or("?"),
            s.tools,
            s.resources,
            s.prompts,
            s.start_ms.unwrap_or(0)
        ),
        State::Disabled => crate::outln!("- {:<12} disabled", s.name),
        State::Failed { error } => {
            crate::outln!("✗ {:<12} {}", s.name, error.reason);
            for line in &error.stderr_tail {
                crate::outln!("    | {line}");
            }
        }
        other => crate::outln!("? {:<12} {}", s.name, other.name()),
    }
    if let Some(sandbox) = &s.sandbox {
        crate::outln!("    sandbox: {sandbox}");
    }
    if let Some(line) = openapi_line(s) {
        crate::outln!("    {line}");
    }
    const SHOWN: usize = 20;
    for w in s.warnings.iter().take(SHOWN) {
        crate::outln!("    ! {w}");
    }
    if s.warnings.len() > SHOWN {
        crate::outln!(
            "    ! … and {} more (`weft check --json` lists them)",
            s.warnings.len() - SHOWN
        );
    }
}

/// `builtin:openapi`'s report: its operations, tools, skipped ones and
/// the security schemes weft adds.
fn openapi_line(s: &ServerStatus) -> Option<String> {
    let d = s.detail.as_ref()?;
    let skipped = d.get("skipped")?.as_u64()? as usize;
    let schemes: Vec<&str> = d
        .get("schemes")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    Some(format!(
        "openapi: {} operations, {} tools, {skipped} skipped; auth: {}; document: {}",
        s.tools + skipped,
        s.tools,
        if schemes.is_empty() {
            "none".to_string()
        } else {
            schemes.join(", ")
        },
        d.get("document")?.as_str()?
    ))
}
