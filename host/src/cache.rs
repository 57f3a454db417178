//! The response cache: `resources/read` results and results of read-only
//! tools, each for a time-to-live. Entries are dropped when the server says
//! the resource changed (`resources/updated`), when its lists change, and
//! when it restarts.
//!
//! A result the server marks `cacheScope: "private"` is keyed by the
//! tenant that read it, so it is never served to another tenant.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolResult, ReadResourceResult};
use serde::Serialize;

/// The most entries kept; the one closest to expiry goes first.
const MAX_ITEMS: usize = 10_000;

/// What an entry holds.
#[derive(Debug, Clone)]
pub enum Cached {
    Resource(ReadResourceResult),
    Tool(CallToolResult),
}

/// Who may see an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Anyone.
    Public,
    /// Only this tenant.
    Private(String),
}

/// One entry's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub server: String,
    /// `resource` or `tool`.
    pub kind: &'static str,
    /// The resource URI (the server's own) or the tool name.
    pub name: String,
    /// The tool's arguments as canonical JSON; empty for resources.
    pub args: String,
    pub scope: Scope,
}

impl Key {
    pub fn resource(server: &str, uri: &str, scope: Scope) -> Key {
        Key {
            server: server.into(),
            kind: "resource",
            name: uri.into(),
            args: String::new(),
            scope,
        }
    }

    pub fn tool(server: &str, tool: &str, args: Option<&rmcp::model::JsonObject>) -> Key {
        // serde_json's maps are ordered by key, so this text is canonical.
        let args = args
            .map(|a| serde_json::to_string(a).unwrap_or_default())
            .unwrap_or_default();
        Key {
            server: server.into(),
            kind: "tool",
            name: tool.into(),
            args,
            scope: Scope::Public,
        }
    }
}

/// Counters for status and metrics.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Entries dropped because they expired or the cache was full.
    pub evictions: u64,
    /// Entries dropped because the server said they changed.
    pub invalidations: u64,
    /// hits / (hits + misses), 0 before any lookup.
    pub hit_rate: f64,
    pub items: usize,
}

struct Entry {
    value: Cached,
    expires: Instant,
}

/// The cache shared by every caller of one hub.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<Key, Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
}

impl Cache {
    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock()
    }

    /// The entry for `key`, if it is still fresh. Counts a hit or a miss.
    pub fn get(&self, key: &Key) -> Option<Cached> {
        self.lookup(std::slice::from_ref(key))
    }

    /// The first fresh entry among `keys` (say, a shared one and the
    /// tenant's own). Counts one hit or one miss.
    pub fn lookup(&self, keys: &[Key]) -> Option<Cached> {
        let now = Instant::now();
        let mut entries = self.lock();
        let mut found = None;
        for key in keys {
            match entries.get(key) {
                Some(e) if e.expires > now => {
                    found = Some(e.value.clone());
                    break;
                }
                Some(_) => {
                    entries.remove(key);
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                }
                None => {}
            }
        }
        tracing::debug!(key = ?keys.first(), hit = found.is_some(), "cache lookup");
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `value` for `ttl`; a zero TTL keeps nothing.
    pub fn put(&self, key: Key, value: Cached, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= MAX_ITEMS && !entries.contains_key(&key) {
            let before = entries.len();
            entries.retain(|_, e| e.expires > now);
            let mut evicted = (before - entries.len()) as u64;
            if entries.len() >= MAX_ITEMS
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
                evicted += 1;
            }
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        entries.insert(
            key,
            Entry {
                value,
                expires: now + ttl,
            },
        );
    }

    fn drop_where(&self, pred: impl Fn(&Key) -> bool) -> usize {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|k, _| !pred(k));
        let gone = before - entries.len();
        self.invalidations.fetch_add(gone as u64, Ordering::Relaxed);
        gone
    }

    /// Drops every entry of `server` (its lists changed, or it restarted).
    pub fn invalidate_server(&self, server: &str) -> usize {
        self.drop_where(|k| k.server == server)
    }

    /// Drops the entries for one resource of `server`, for every tenant.
    pub fn invalidate_resource(&self, server: &str, uri: &str) -> usize {
        self.drop_where(|k| k.server == server && k.kind == "resource" && k.name == uri)
    }

    /// The counters, with fresh item count and hit rate.
    pub fn stats(&self) -> CacheStats {
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        CacheStats {
            hits,
            misses,
            evictions: self.evictions.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            hit_rate: if lookups == 0 {
                0.0
            } else {
                hits as f64 / lookups as f64
            },
            items: self.lock().len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ResourceContents;

    fn res(text: &str) -> Cached {
        Cached::Resource(ReadResourceResult::new(vec![ResourceContents::text(
            text, "mem://a",
        )]))
    }

    #[test]
    fn counts_hits_misses_and_expiry() {
        let c = Cache::default();
        let k = Key::resource("s", "mem://a", Scope::Public);
        assert!(c.get(&k).is_none());
        c.put(k.clone(), res("one"), Duration::from_millis(30));
        assert!(c.get(&k).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get(&k).is_none());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.evictions, s.items), (1, 2, 1, 0));
        assert!((s.hit_rate - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn private_entries_stay_with_their_tenant() {
        let c = Cache::default();
        let a = Key::resource("s", "mem://a", Scope::Private("a".into()));
        let b = Key::resource("s", "mem://a", Scope::Private("b".into()));
        c.put(a.clone(), res("a's"), Duration::from_secs(5));
        assert!(c.get(&b).is_none());
        assert!(c.get(&a).is_some());
    }

    #[test]
    fn invalidation_by_resource_and_server() {
        let c = Cache::default();
        c.put(
            Key::resource("s", "mem://a", Scope::Public),
            res("x"),
            Duration::from_secs(5),
        );
        c.put(
            Key::resource("s", "mem://b", Scope::Private("t".into())),
            res("y"),
            Duration::from_secs(5),
        );
        c.put(
            Key::resource("other", "mem://a", Scope::Public),
            res("z"),
            Duration::from_secs(5),
        );
        assert_eq!(c.invalidate_resource("s", "mem://a"), 1);
        assert_eq!(c.invalidate_server("s"), 1);
        let s = c.stats();
        assert_eq!((s.invalidations, s.items), (2, 1));
        assert_eq!(c.put_zero_is_noop(), 1);
    }

    impl Cache {
        fn put_zero_is_noop(&self) -> usize {
            self.put(
                Key::resource("s", "mem://c", Scope::Public),
                res("w"),
                Duration::ZERO,
            );
            self.stats().items
        }
    }
}
