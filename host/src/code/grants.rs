//! What code may call: the grants written in `[code]`, or by default every
//! read-only tool the caller can see, by exact name. Compiling those glob
//! sets costs more than a run's start, so [`GrantsCache`] keeps them per
//! catalog snapshot and caller view, and compiles again only when either
//! changes.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::catalog::Catalog;
use crate::config::Grants;
use crate::tenant::{Caller, Tenant};

/// Grants for every read-only tool the catalog lists now that `caller`
/// can see, each by its exact name (glob characters escaped); the default
/// when code is given none. A tool outside the caller's view is left out,
/// so code that names one is `denied` as for a tool that does not exist.
pub fn read_only_grants(catalog: &Catalog, caller: &Caller) -> Grants {
    let exact: Vec<String> = catalog
        .tools()
        .iter()
        .filter(|t| {
            t.read_only
                && crate::authz::allowed(
                    caller,
                    &crate::authz::Resource::Tool {
                        server: &t.server,
                        tool: t.name(),
                    },
                )
        })
        .map(|t| {
            format!(
                "{}.{}",
                globset::escape(&t.server),
                globset::escape(t.name())
            )
        })
        .filter(|g| crate::config::policy::validate_grant(g).is_ok())
        .collect();
    Grants::new(&exact).unwrap_or_default()
}

/// The code grants of a caller: written ones compiled, else the read-only
/// default of [`read_only_grants`].
fn compile(catalog: &Catalog, caller: &Caller, written: Option<&[String]>) -> Grants {
    match written {
        // Checked when the config was loaded.
        Some(g) => Grants::new(g).unwrap_or_default(),
        None => read_only_grants(catalog, caller),
    }
}

/// One caller view's compiled grants, and what they were compiled from.
/// The weak pointers name the catalog snapshot and the tenant without
/// keeping either alive; while they can be upgraded, their addresses
/// cannot be reused by another snapshot or tenant.
struct Entry {
    catalog: Weak<Catalog>,
    tenant: Option<Weak<Tenant>>,
    written: Option<Vec<String>>,
    grants: Grants,
}

impl Entry {
    fn holds(&self, catalog: &Arc<Catalog>, caller: &Caller, written: Option<&[String]>) -> bool {
        let same_tenant = match (&self.tenant, &caller.tenant) {
            (None, None) => true,
            (Some(w), Some(t)) => w.upgrade().is_some_and(|live| Arc::ptr_eq(&live, t)),
            _ => false,
        };
        same_tenant
            && self
                .catalog
                .upgrade()
                .is_some_and(|live| Arc::ptr_eq(&live, catalog))
            && self.written.as_deref() == written
    }
}

/// Compiled code grants, one entry per tenant name (and one for callers
/// without a tenant), replaced when the catalog, the tenant or its
/// written grants change. The entries are as many as the config's tenants.
#[derive(Default)]
pub struct GrantsCache {
    entries: Mutex<HashMap<Option<String>, Entry>>,
    /// How many times grants were compiled (for the tests).
    compiled: std::sync::atomic::AtomicUsize,
}

impl GrantsCache {
    /// The code grants of `caller` on `catalog`: `written` (the `[code]
    /// grants` that hold for it) or the read-only default. A caller that
    /// carries grants of its own (a policy's) is not cached.
    pub fn get(
        &self,
        catalog: &Arc<Catalog>,
        caller: &Caller,
        written: Option<&[String]>,
    ) -> Grants {
        if caller.grants.is_some() {
            return self.compile(catalog, caller, written);
        }
        let key = caller.tenant.as_ref().map(|t| t.name.clone());
        if let Some(e) = self.entries.lock().get(&key)
            && e.holds(catalog, caller, written)
        {
            return e.grants.clone();
        }
        // Compiled outside the lock: another view's callers do not wait.
        let grants = self.compile(catalog, caller, written);
        self.entries.lock().insert(
            key,
            Entry {
                catalog: Arc::downgrade(catalog),
                tenant: caller.tenant.as_ref().map(Arc::downgrade),
                written: written.map(<[String]>::to_vec),
                grants: grants.clone(),
            },
        );
        grants
    }

    fn compile(&self, catalog: &Catalog, caller: &Caller, written: Option<&[String]>) -> Grants {
        self.compiled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        compile(catalog, caller, written)
    }

    /// How many times grants were compiled so far.
    pub fn compiled(&self) -> usize {
        self.compiled.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Listing, Source};
    use crate::config::{Config, TenantConfig};
    use rmcp::model::{Tool, ToolAnnotations};

    fn tool(name: &str, read_only: bool) -> Tool {
        let mut t = Tool::default();
        t.name = name.to_string().into();
        let mut a = ToolAnnotations::default();
        a.read_only_hint = Some(read_only);
        t.annotations = Some(a);
        t
    }

    /// A catalog of server `a` with these tools.
    fn catalog(tools: &[(&str, bool)]) -> Arc<Catalog> {
        let config = Config::from_str(
            "[servers.a]\ncommand = \"x\"\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let listing = Listing {
            tools: tools.iter().map(|(n, r)| tool(n, *r)).collect(),
            ..Default::default()
        };
        Arc::new(Catalog::build(
            &config.settings,
            &[Source {
                config: &config.servers[0],
                listing: &listing,
                holds: None,
            }],
        ))
    }

    fn tenant(name: &str, include: &[&str]) -> Caller {
        let mut config = TenantConfig::named(name);
        config.include = include.iter().map(|s| s.to_string()).collect();
        Caller::tenant(Arc::new(Tenant::new(&config)), "k")
    }

    #[test]
    fn grants_are_compiled_once_per_catalog_and_caller_view() {
        let cache = GrantsCache::default();
        let cat = catalog(&[("read", true), ("peek", true), ("write", false)]);
        let owner = Caller::owner();
        for _ in 0..3 {
            let g = cache.get(&cat, &owner, None);
            assert!(g.allows("a", "read") && g.allows("a", "peek"));
            assert!(!g.allows("a", "write"));
        }
        assert_eq!(cache.compiled(), 1, "three calls, one compile");

        // Another view (a tenant that sees only `read`): its own entry.
        let t = tenant("t", &["a.read"]);
        for _ in 0..2 {
            let g = cache.get(&cat, &t, None);
            assert!(g.allows("a", "read") && !g.allows("a", "peek"));
        }
        assert_eq!(cache.compiled(), 2);
        assert!(cache.get(&cat, &owner, None).allows("a", "peek"));
        assert_eq!(cache.compiled(), 2, "the owner's entry is still there");

        // A new catalog snapshot: compiled again, with its new tool.
        let next = catalog(&[("read", true), ("fresh", true)]);
        let g = cache.get(&next, &owner, None);
        assert!(g.allows("a", "fresh") && !g.allows("a", "peek"));
        assert_eq!(cache.compiled(), 3);

        // The same tenant name with another view (a reloaded config).
        let reloaded = tenant("t", &["a.fresh"]);
        let g = cache.get(&next, &reloaded, None);
        assert!(g.allows("a", "fresh") && !g.allows("a", "read"));
        assert_eq!(cache.compiled(), 4);

        // Written grants are cached too, and their text is part of the key.
        let written = vec!["a.write".to_string()];
        for _ in 0..2 {
            assert!(
                cache
                    .get(&next, &owner, Some(&written))
                    .allows("a", "write")
            );
        }
        assert_eq!(cache.compiled(), 5);
        let other = vec!["a.read".to_string()];
        assert!(!cache.get(&next, &owner, Some(&other)).allows("a", "write"));
        assert_eq!(cache.compiled(), 6);
    }

    #[test]
    fn a_dropped_catalog_is_never_mistaken_for_a_new_one() {
        let cache = GrantsCache::default();
        let owner = Caller::owner();
        let first = catalog(&[("old", true)]);
        assert!(cache.get(&first, &owner, None).allows("a", "old"));
        drop(first);
        // Even if the allocator hands the new snapshot the old address,
        // the entry's weak pointer no longer upgrades.
        let second = catalog(&[("new", true)]);
        let g = cache.get(&second, &owner, None);
        assert!(g.allows("a", "new") && !g.allows("a", "old"));
    }
}
