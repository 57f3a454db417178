//! The catalogs the hub serves, one per audience, and the versioned swap
//! that installs them.
//!
//! A server run once per tenant has one process per tenant, and each may
//! list different resources, templates, prompts and tool descriptions.
//! So each tenant with instances of its own gets a catalog built from the
//! shared servers and its own instances; a tenant with none gets the
//! shared servers only; the owner (the command line, a weft without
//! tenants) sees the first instance of each per-tenant server.
//!
//! Every build takes a version before it reads the servers' listings, and
//! a build never replaces one of a higher version: two rebuilds racing
//! cannot leave the older listing in place.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::catalog::{Catalog, Listing, Source};
use crate::config::Settings;
use crate::hub::Change;
use crate::pins::{Hold, Pins};
use crate::tenant::Caller;
use crate::upstream::Upstream;

/// One build of every audience's catalog.
#[derive(Default)]
pub(crate) struct Catalogs {
    /// Taken before the listings were read; higher is newer.
    pub version: u64,
    /// The owner's: every server, a per-tenant server by its first instance.
    pub owner: Arc<Catalog>,
    /// A tenant's without instances of its own: shared servers only.
    pub shared: Arc<Catalog>,
    /// A tenant's with instances of its own.
    pub tenants: HashMap<String, Arc<Catalog>>,
}

impl Catalogs {
    /// Builds every catalog from the servers' current listings.
    /// Each instance's tools are judged against their pins once, here,
    /// and every audience's catalog sees the same holds.
    pub fn build(
        version: u64,
        settings: &Settings,
        upstreams: &[Arc<Upstream>],
        pins: &Pins,
    ) -> Catalogs {
        let live: Vec<(&Upstream, Arc<Listing>, HashMap<String, Hold>)> = upstreams
            .iter()
            .filter(|u| u.in_catalog())
            .map(|u| {
                let listing = u.listing();
                let mode = u.config.pin.unwrap_or(settings.pin);
                let scope = u.tenant.as_deref().unwrap_or("");
                let holds = pins.judge((scope, u.name()), mode, &listing, &listing.tools);
                (&**u, listing, holds)
            })
            .collect();
        let merge = |keep: &dyn Fn(&Upstream) -> bool| {
            let sources: Vec<Source<'_>> = live
                .iter()
                .filter(|(u, _, _)| keep(u))
                .map(|(u, l, h)| Source {
                    config: &u.config,
                    listing: l,
                    holds: (!h.is_empty()).then_some(h),
                })
                .collect();
            Arc::new(Catalog::build(settings, &sources))
        };
        let own: BTreeSet<&str> = live
            .iter()
            .filter_map(|(u, _, _)| u.tenant.as_deref())
            .collect();
        // The first instance listed of each server speaks for the owner.
        let mut named = HashSet::new();
        let firsts: HashSet<&str> = live
            .iter()
            .filter(|(u, _, _)| named.insert(u.name()))
            .map(|(u, _, _)| u.key())
            .collect();
        let owner = merge(&|u: &Upstream| firsts.contains(u.key()));
        if own.is_empty() {
            return Catalogs {
                version,
                shared: owner.clone(),
                owner,
                tenants: HashMap::new(),
            };
        }
        let shared = merge(&|u: &Upstream| u.tenant.is_none());
        let tenants = own
            .into_iter()
            .map(|t| {
                let catalog = merge(&|u: &Upstream| u.tenant.as_deref().is_none_or(|o| o == t));
                (t.to_string(), catalog)
            })
            .collect();
        Catalogs {
            version,
            owner,
            shared,
            tenants,
        }
    }

    /// The catalog `caller` sees.
    pub fn for_caller(&self, caller: &Caller) -> &Arc<Catalog> {
        match &caller.tenant {
            None => &self.owner,
            Some(t) => self.tenants.get(&t.name).unwrap_or(&self.shared),
        }
    }

    /// Every catalog of this build, for collision warnings.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Catalog>> {
        std::iter::once(&self.owner)
            .chain(std::iter::once(&self.shared))
            .chain(self.tenants.values())
    }

    /// What changed for any audience between `self` and `new`, each change
    /// once.
    pub fn changes_to(&self, new: &Catalogs) -> Vec<Change> {
        let mut out = self.owner.changes_to(&new.owner);
        out.extend(self.shared.changes_to(&new.shared));
        let names: BTreeSet<&String> = self.tenants.keys().chain(new.tenants.keys()).collect();
        for name in names {
            let old = self.tenants.get(name).unwrap_or(&self.shared);
            let now = new.tenants.get(name).unwrap_or(&new.shared);
            out.extend(old.changes_to(now));
        }
        let mut seen = Vec::new();
        out.retain(|c| {
            let fresh = !seen.contains(c);
            if fresh {
                seen.push(c.clone());
            }
            fresh
        });
        out
    }
}

/// Installs `new` unless the slot already holds a build of a higher
/// version. Returns the build it replaced, or `None` when `new` was stale.
pub(crate) fn install(slot: &RwLock<Arc<Catalogs>>, new: Arc<Catalogs>) -> Option<Arc<Catalogs>> {
    let mut current = slot.write();
    if current.version > new.version {
        return None;
    }
    Some(std::mem::replace(&mut *current, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_of(version: u64) -> Arc<Catalogs> {
        Arc::new(Catalogs {
            version,
            ..Catalogs::default()
        })
    }

    #[test]
    fn an_older_build_never_replaces_a_newer_one() {
        let slot = RwLock::new(build_of(0));
        // Two rebuilds: the first took version 1 and read the old
        // listings, the second took version 2 and read the new ones, and
        // the second finished first.
        assert!(install(&slot, build_of(2)).is_some());
        assert!(install(&slot, build_of(1)).is_none());
        assert_eq!(slot.read().version, 2);
        assert!(install(&slot, build_of(3)).is_some());
        assert_eq!(slot.read().version, 3);
    }
}
