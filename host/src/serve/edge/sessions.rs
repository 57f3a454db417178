//! Which tenant opened each HTTP session, and how many sessions each
//! tenant holds: a tenant's sessions are its own (no other tenant can use
//! one), and each tenant has its own quota
//! (`settings.max_sessions_per_tenant`). A tenant at its quota is refused
//! a new session; no tenant's sessions are ever ended to make room for
//! another's.
//!
//! A new session's place is reserved when its `initialize` arrives (so
//! concurrent ones cannot overshoot the quota) and becomes the session's
//! when rmcp answers with its id, or is given back when it does not. Each
//! session also keeps the id of the key that opened it, so that a revoked
//! key's sessions end with it.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Who opened a session.
#[derive(Debug, Clone)]
struct Opener {
    tenant: String,
    key_id: Option<String>,
}

#[derive(Debug, Default)]
struct Book {
    /// Session id → who opened it.
    owner: HashMap<String, Opener>,
    /// Tenant → sessions it holds, with places reserved for new ones.
    held: HashMap<String, usize>,
}

/// The sessions of every tenant.
#[derive(Debug, Default)]
pub struct Sessions(Mutex<Book>);

/// A tenant at its quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tenant {tenant:?} holds {quota} sessions, its limit (settings.max_sessions_per_tenant); end one (DELETE /mcp with its Mcp-Session-Id) before opening another"
)]
pub struct Full {
    pub tenant: String,
    pub quota: usize,
}

impl Sessions {
    /// Whether session `id` is `tenant`'s.
    pub fn owned_by(&self, id: &str, tenant: &str) -> bool {
        self.0
            .lock()
            .owner
            .get(id)
            .is_some_and(|o| o.tenant == tenant)
    }

    /// The ids of `tenant`'s sessions.
    pub fn of(&self, tenant: &str) -> Vec<String> {
        let book = self.0.lock();
        book.owner
            .iter()
            .filter(|(_, o)| o.tenant == tenant)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The ids of the sessions opened with any of `key_ids`.
    pub fn of_keys(&self, key_ids: &[String]) -> Vec<String> {
        let book = self.0.lock();
        book.owner
            .iter()
            .filter(|(_, o)| o.key_id.as_ref().is_some_and(|k| key_ids.contains(k)))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Reserves a place for a new session of `tenant`.
    pub fn reserve(&self, tenant: &str, quota: usize) -> Result<(), Full> {
        let mut book = self.0.lock();
        let held = book.held.entry(tenant.to_string()).or_insert(0);
        if *held >= quota {
            return Err(Full {
                tenant: tenant.to_string(),
                quota,
            });
        }
        *held += 1;
        Ok(())
    }

    /// A reserved place becomes session `id`'s, opened with `key_id`.
    pub fn bind(&self, id: &str, tenant: &str, key_id: Option<&str>) {
        let mut book = self.0.lock();
        let opener = Opener {
            tenant: tenant.to_string(),
            key_id: key_id.map(str::to_string),
        };
        if let Some(before) = book.owner.insert(id.to_string(), opener) {
            // An id seen before (rmcp's ids are random, so never in
            // practice): the reservation is not needed twice.
            Self::give_back(&mut book, &before.tenant);
        }
    }

    /// Session `id`, opened by `tenant` on another replica, is served here
    /// too: it takes a place in the tenant's count here without a quota
    /// check (refusing it would break a session the tenant already has).
    pub fn adopt(&self, id: &str, tenant: &str, key_id: Option<&str>) {
        let mut book = self.0.lock();
        if book.owner.contains_key(id) {
            return;
        }
        let opener = Opener {
            tenant: tenant.to_string(),
            key_id: key_id.map(str::to_string),
        };
        book.owner.insert(id.to_string(), opener);
        *book.held.entry(tenant.to_string()).or_insert(0) += 1;
    }

    /// A reserved place that no session took.
    pub fn cancel(&self, tenant: &str) {
        Self::give_back(&mut self.0.lock(), tenant);
    }

    /// Session `id` has ended.
    pub fn end(&self, id: &str) {
        let mut book = self.0.lock();
        if let Some(opener) = book.owner.remove(id) {
            Self::give_back(&mut book, &opener.tenant);
        }
    }

    fn give_back(book: &mut Book, tenant: &str) {
        if let Some(n) = book.held.get_mut(tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                book.held.remove(tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tenant_has_its_own_quota() {
        let s = Sessions::default();
        s.reserve("a", 2).unwrap();
        s.bind("s1", "a", Some("k1"));
        s.reserve("a", 2).unwrap();
        s.bind("s2", "a", Some("k2"));
        assert_eq!(
            s.reserve("a", 2),
            Err(Full {
                tenant: "a".into(),
                quota: 2
            })
        );
        // b is not touched by a being full, and a's sessions stay.
        s.reserve("b", 2).unwrap();
        s.bind("s3", "b", Some("k3"));
        assert!(s.owned_by("s1", "a") && s.owned_by("s2", "a") && s.owned_by("s3", "b"));
        assert!(!s.owned_by("s3", "a"));
        assert_eq!(s.of_keys(&["k2".into(), "k3".into()]).len(), 2);
        assert_eq!(s.of_keys(&["k9".into()]), Vec::<String>::new());
        s.end("s1");
        s.reserve("a", 2).unwrap();
        s.cancel("a");
        s.reserve("a", 2).unwrap();
        assert_eq!(s.reserve("a", 2).map_err(|f| f.quota), Err(2));
    }
}
