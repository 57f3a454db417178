//! Fair shares of a cap that tenants share: an adapter's
//! `limits.concurrency`, the legacy SSE transport's sessions. (Policy
//! runs have a cap per tenant instead: `concurrent_runs`, 8 unless set.)
//!
//! The rule, one comparison: **a tenant may take a slot only while it
//! holds fewer slots than are free.** So a tenant never holds more than
//! half of what the others leave: alone it gets half of the cap (rounded
//! up), and whatever one tenant does, a tenant holding nothing finds a
//! slot. Each tenant that comes halves what is left, so a cap of N stays
//! open to a newcomer until about log2(N) + 1 tenants are busy at once.
//!
//! The rule is for tenants sharing: a caller without a tenant (the owner)
//! or the only tenant of a weft (see [`sharer`]) is held to the cap
//! alone. Slots are taken without waiting (a refusal is the caller's to
//! retry), so no one queues behind calls that may be spinning. A slot is
//! given back when its [`Slot`] is dropped.
//!
//! Why not a fixed split (N / tenants)? It would leave most of the cap
//! idle while one tenant works alone. Why not "any free slot but the
//! last"? One tenant could then hold N − 1 and the next one the last,
//! and a third would find nothing: halving keeps room for more tenants
//! at the cost of a lone tenant getting half.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::Caller;

/// A cap shared by tenants, with the slots each one holds.
#[derive(Debug)]
pub struct FairShare {
    cap: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    /// Tenant → slots it holds (no entry: none).
    by_tenant: HashMap<String, usize>,
}

/// Why no slot was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Every slot is taken.
    #[error("all {cap} slots are taken")]
    Full { cap: usize },
    /// The tenant holds as many slots as are free: its share.
    #[error(
        "tenant {tenant:?} holds {held} of the {cap} slots, as many as are left for other tenants"
    )]
    Share {
        tenant: String,
        held: usize,
        cap: usize,
    },
}

/// One slot of a [`FairShare`], given back when dropped.
#[derive(Debug)]
pub struct Slot {
    share: Arc<FairShare>,
    tenant: Option<String>,
}

impl FairShare {
    /// A cap of `cap` slots (0 refuses everything).
    pub fn new(cap: usize) -> Arc<FairShare> {
        Arc::new(FairShare {
            cap,
            held: Mutex::new(Held::default()),
        })
    }

    /// Slots held now, by everyone.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.lock().total
    }

    /// A slot for `tenant` (`None`: a caller held to the cap alone), or
    /// why not.
    pub fn take(self: &Arc<Self>, tenant: Option<&str>) -> Result<Slot, Refused> {
        let mut held = self.held.lock();
        let free = self.cap.saturating_sub(held.total);
        if free == 0 {
            return Err(Refused::Full { cap: self.cap });
        }
        if let Some(t) = tenant {
            let mine = held.by_tenant.get(t).copied().unwrap_or(0);
            if mine >= free {
                return Err(Refused::Share {
                    tenant: t.to_string(),
                    held: mine,
                    cap: self.cap,
                });
            }
            *held.by_tenant.entry(t.to_string()).or_insert(0) += 1;
        }
        held.total += 1;
        Ok(Slot {
            share: self.clone(),
            tenant: tenant.map(str::to_string),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.share.held.lock();
        held.total = held.total.saturating_sub(1);
        if let Some(t) = &self.tenant
            && let Some(n) = held.by_tenant.get_mut(t)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.by_tenant.remove(t);
            }
        }
    }
}

/// The tenant whose share `caller`'s slots count against: its tenant's
/// name when the weft has two or more tenants, else none (the owner, or a
/// lone tenant, has the whole cap).
pub fn sharer(caller: &Caller) -> Option<&str> {
    caller
        .tenant
        .as_ref()
        .filter(|t| t.shares_caps())
        .map(|t| t.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(share: &Arc<FairShare>, tenant: Option<&str>, into: &mut Vec<Slot>) -> usize {
        let mut n = 0;
        while let Ok(slot) = share.take(tenant) {
            into.push(slot);
            n += 1;
        }
        n
    }

    #[test]
    fn a_tenant_holds_no_more_than_it_leaves_free() {
        let share = FairShare::new(64);
        let mut slots = vec![];
        // Each tenant in turn gets half of what is left.
        let got: Vec<usize> = ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .map(|t| take_all(&share, Some(t), &mut slots))
            .collect();
        assert_eq!(got, [32, 16, 8, 4, 2, 1, 1, 0]);
        assert_eq!(share.held(), 64);
        assert_eq!(
            share.take(Some("a")).unwrap_err(),
            Refused::Full { cap: 64 }
        );
    }

    #[test]
    fn a_cap_of_two_is_one_each() {
        let share = FairShare::new(2);
        let a = share.take(Some("a")).expect("a's first");
        assert_eq!(
            share.take(Some("a")).unwrap_err(),
            Refused::Share {
                tenant: "a".into(),
                held: 1,
                cap: 2
            }
        );
        let b = share.take(Some("b")).expect("b's first");
        assert_eq!(share.take(Some("c")).unwrap_err(), Refused::Full { cap: 2 });
        drop(a);
        let _c = share.take(Some("c")).expect("a's slot, given back");
        drop(b);
        assert_eq!(share.held(), 1);
    }

    #[test]
    fn a_caller_without_a_share_takes_up_to_the_cap() {
        let share = FairShare::new(3);
        let mut slots = vec![];
        assert_eq!(take_all(&share, None, &mut slots), 3);
        slots.clear();
        assert_eq!(share.held(), 0);
        // A cap of one is the first comer's, tenant or not.
        let one = FairShare::new(1);
        let _held = one.take(Some("a")).expect("the only slot");
        assert_eq!(one.take(Some("b")).unwrap_err(), Refused::Full { cap: 1 });
        assert!(FairShare::new(0).take(None).is_err());
    }

    #[test]
    fn a_lone_tenant_is_no_sharer() {
        let configs = |names: &[&str]| -> Vec<crate::config::TenantConfig> {
            names
                .iter()
                .map(|n| crate::config::TenantConfig::named(n))
                .collect()
        };
        let caller = |tenants: &super::super::Tenants, name: &str| Caller {
            tenant: tenants.get(name),
            ..Caller::default()
        };
        let one = super::super::Tenants::new(&configs(&["a"]));
        assert_eq!(sharer(&caller(&one, "a")), None);
        let two = super::super::Tenants::new(&configs(&["a", "b"]));
        assert_eq!(sharer(&caller(&two, "a")), Some("a"));
        assert_eq!(sharer(&Caller::owner()), None);
        assert_eq!(sharer(&Caller::nobody()), None);
    }
}
