//! One authorization point: whether a caller may use a resource, for every
//! kind of resource weft serves. The router and every route of `weft
//! serve` ask here, so what a tenant (and a running policy) may reach is
//! decided in one place.
//!
//! A refusal is deliberately plain: callers answer it as they answer a
//! name that does not exist (see `docs/decisions.md`), and log it.

use crate::tenant::Caller;

/// Something a caller may or may not use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resource<'a> {
    /// One tool of one server (a concrete server, never `@domain`).
    Tool { server: &'a str, tool: &'a str },
    /// A server's prompts, resources, templates and completions: reached
    /// when any of its tools could be in the caller's view.
    Server(&'a str),
    /// A configured policy, to list and to run.
    Policy(&'a str),
    /// A task, made for the tenant `owner` (`None` without tenants).
    Task { owner: Option<&'a str> },
    /// Code mode, under the `[code]` settings that apply to the caller
    /// (its tenant's, else the config's), where `by_default` is the
    /// transport's default (on over stdio, off over HTTP).
    Code {
        settings: &'a crate::config::CodeConfig,
        by_default: bool,
    },
}

/// The one check: whether `caller` may use `resource`. Callers answer a
/// refusal as they answer a name that does not exist, and log it.
pub fn allowed(caller: &Caller, resource: &Resource<'_>) -> bool {
    match *resource {
        Resource::Tool { server, tool } => caller.allows(server, tool),
        Resource::Server(server) => caller.reaches(server),
        Resource::Policy(name) => caller.may_run(name),
        Resource::Task { owner } => owner == caller.tenant.as_ref().map(|t| t.name.as_str()),
        Resource::Code {
            settings,
            by_default,
        } => settings.is_enabled(by_default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantConfig;
    use crate::tenant::Tenant;
    use std::sync::Arc;

    fn tenant(name: &str, include: &[&str], policies: &[&str]) -> Caller {
        let mut config = TenantConfig::named(name);
        config.include = include.iter().map(|s| s.to_string()).collect();
        config.policies = policies.iter().map(|s| s.to_string()).collect();
        Caller {
            tenant: Some(Arc::new(Tenant::new(&config))),
            ..Caller::default()
        }
    }

    #[test]
    fn every_kind_of_resource_is_checked_in_one_place() {
        let a = tenant("a", &["git.git_*"], &["report"]);
        let tool = |server, tool| Resource::Tool { server, tool };
        assert!(allowed(&a, &tool("git", "git_log")));
        assert!(!allowed(&a, &tool("time", "now")));
        assert!(allowed(&a, &Resource::Server("git")));
        assert!(!allowed(&a, &Resource::Server("time")));
        assert!(allowed(&a, &Resource::Policy("report")));
        assert!(!allowed(&a, &Resource::Policy("other")));
        assert!(allowed(&a, &Resource::Task { owner: Some("a") }));
        assert!(!allowed(&a, &Resource::Task { owner: Some("b") }));
        assert!(!allowed(&a, &Resource::Task { owner: None }));
        // The owner reaches everything but another tenant's task.
        let owner = Caller::owner();
        assert!(allowed(&owner, &tool("time", "now")));
        assert!(allowed(&owner, &Resource::Task { owner: None }));
        assert!(!allowed(&owner, &Resource::Task { owner: Some("a") }));
        // Code mode: the settings' own switch, else the transport's default.
        let unset = crate::config::CodeConfig::default();
        let code = |settings, by_default| Resource::Code {
            settings,
            by_default,
        };
        assert!(allowed(&a, &code(&unset, true)));
        assert!(!allowed(&a, &code(&unset, false)));
        let off = crate::config::CodeConfig {
            enabled: Some(false),
            ..unset.clone()
        };
        assert!(!allowed(&owner, &code(&off, true)));
    }

    #[test]
    fn a_running_policy_is_held_to_its_grants_too() {
        let grants = crate::config::Grants::new(&["git.git_log".into()]).unwrap();
        let a = tenant("a", &["git.*"], &[]).with_grants(&grants);
        let tool = |server, tool| Resource::Tool { server, tool };
        assert!(allowed(&a, &tool("git", "git_log")));
        assert!(
            !allowed(&a, &tool("git", "git_commit")),
            "in the view, not granted"
        );
    }
}
