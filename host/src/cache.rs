//! The response cache: `resources/read` results and results of read-only
//! tools, each for a time-to-live. Entries are dropped when the server says
//! the resource changed (`resources/updated`), when its lists change, and
//! when it restarts.
//!
//! A result the server marks `cacheScope: "private"` is keyed by the
//! tenant that read it, so it is never served to another tenant. A
//! component server's (an adapter's) tool result is keyed by its caller's
//! whole authority (tenant, view, grants, adapter chain; see
//! `router/cached.rs`), since the adapter's nested calls were made as that
//! caller.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolResult, ReadResourceResult};
use serde::Serialize;

/// The most entries kept; the one closest to expiry goes first.
const MAX_ITEMS: usize = 10_000;

/// The most bytes of results kept when no other cap is given (64 MiB);
/// the oldest entries go first. A result larger than the cap is not kept.
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

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
    /// Only callers with exactly this authority: the tenant's name and a
    /// digest of its view, grants and adapter chain.
    Caller(String),
}

impl Scope {
    /// The bytes of its name, as counted against the byte cap.
    fn len(&self) -> usize {
        match self {
            Scope::Public => 0,
            Scope::Private(s) | Scope::Caller(s) => s.len(),
        }
    }
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

    /// A tool's result for the callers `scope` admits.
    pub fn tool(
        server: &str,
        tool: &str,
        args: Option<&rmcp::model::JsonObject>,
        scope: Scope,
    ) -> Key {
        // serde_json's maps are ordered by key, so this text is canonical.
        let args = args
            .map(|a| serde_json::to_string(a).unwrap_or_default())
            .unwrap_or_default();
        Key {
            server: server.into(),
            kind: "tool",
            name: tool.into(),
            args,
            scope,
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
    /// What the entry counts against the byte cap.
    bytes: usize,
    /// Insertion order, for evicting the oldest first.
    seq: u64,
}

impl Cached {
    /// The size of the result as JSON, which is what it costs to keep.
    fn size(&self) -> usize {
        let json = match self {
            Cached::Resource(r) => serde_json::to_vec(r),
            Cached::Tool(r) => serde_json::to_vec(r),
        };
        json.map_or(usize::MAX, |v| v.len())
    }
}

impl Key {
    fn size(&self) -> usize {
        self.server.len() + self.name.len() + self.args.len() + self.scope.len() + 64
    }
}

/// The entries, their total size and their insertion order.
#[derive(Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    order: BTreeMap<u64, Key>,
    bytes: usize,
    next: u64,
}

impl Entries {
    fn get(&self, key: &Key) -> Option<&Entry> {
        self.map.get(key)
    }

    fn contains_key(&self, key: &Key) -> bool {
        self.map.contains_key(key)
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let e = self.map.remove(key)?;
        self.order.remove(&e.seq);
        self.bytes -= e.bytes;
        Some(e)
    }

    fn insert(&mut self, key: Key, mut entry: Entry) {
        self.remove(&key);
        entry.seq = self.next;
        self.next += 1;
        self.bytes += entry.bytes;
        self.order.insert(entry.seq, key.clone());
        self.map.insert(key, entry);
    }

    /// Drops every entry `keep` says no to; returns how many went.
    fn retain(&mut self, mut keep: impl FnMut(&Key, &Entry) -> bool) -> usize {
        let gone: Vec<Key> = self
            .map
            .iter()
            .filter(|(k, e)| !keep(k, e))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.remove(k);
        }
        gone.len()
    }

    /// Drops the oldest entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        let Some(key) = self.order.first_key_value().map(|(_, k)| k.clone()) else {
            return false;
        };
        self.remove(&key).is_some()
    }
}

/// The cache shared by every caller of one hub.
pub struct Cache {
    entries: Mutex<Entries>,
    /// The most bytes of results kept.
    max_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
}

impl Default for Cache {
    fn default() -> Cache {
        Cache::with_max_bytes(DEFAULT_MAX_BYTES)
    }
}

impl Cache {
    /// A cache that keeps at most `max_bytes` of results (as JSON).
    pub fn with_max_bytes(max_bytes: usize) -> Cache {
        Cache {
            entries: Mutex::default(),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Entries> {
        self.entries.lock()
    }

    /// The bytes the entries take, as counted against the cap.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
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

    /// Keeps `value` for `ttl`; a zero TTL keeps nothing. Over the byte
    /// cap, the oldest entries go; a value larger than the whole cap is
    /// not kept.
    pub fn put(&self, key: Key, value: Cached, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let bytes = value.size().saturating_add(key.size());
        if bytes > self.max_bytes {
            return;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        entries.remove(&key);
        let mut evicted = 0u64;
        if entries.len() >= MAX_ITEMS && !entries.contains_key(&key) {
            evicted += entries.retain(|_, e| e.expires > now) as u64;
            if entries.len() >= MAX_ITEMS
                && let Some(oldest) = entries
                    .map
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
                evicted += 1;
            }
        }
        while entries.bytes + bytes > self.max_bytes && entries.pop_oldest() {
            evicted += 1;
        }
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        entries.insert(
            key,
            Entry {
                value,
                expires: now + ttl,
                bytes,
                seq: 0,
            },
        );
    }

    fn drop_where(&self, pred: impl Fn(&Key) -> bool) -> usize {
        let gone = self.lock().retain(|k, _| !pred(k));
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

    #[test]
    fn the_byte_cap_evicts_the_oldest_first() {
        let one = res(&"x".repeat(1000));
        let size = one.size() + Key::resource("s", "mem://0", Scope::Public).size();
        let c = Cache::with_max_bytes(size * 3);
        let key = |i: usize| Key::resource("s", &format!("mem://{i}"), Scope::Public);
        for i in 0..3 {
            c.put(key(i), one.clone(), Duration::from_secs(60));
        }
        assert_eq!(c.stats().items, 3);
        assert_eq!(c.bytes(), size * 3);
        c.put(key(3), one.clone(), Duration::from_secs(60));
        assert_eq!(c.stats().items, 3, "one went to make room");
        assert!(c.get(&key(0)).is_none(), "the oldest went");
        assert!(c.get(&key(1)).is_some() && c.get(&key(3)).is_some());
        assert!(c.bytes() <= size * 3);
        // A value larger than the whole cap is not kept, and evicts nothing.
        c.put(key(9), res(&"y".repeat(size * 4)), Duration::from_secs(60));
        assert!(c.get(&key(9)).is_none());
        assert_eq!(c.stats().items, 3);
        // Replacing a key does not count it twice.
        c.put(key(3), one.clone(), Duration::from_secs(60));
        assert_eq!(c.bytes(), size * 3);
        // Invalidation gives the bytes back.
        c.invalidate_server("s");
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn a_tool_result_stays_with_its_scope() {
        let c = Cache::default();
        let args = serde_json::json!({"repo": "/r"}).as_object().cloned();
        let key = |scope| Key::tool("digest", "repo_digest", args.as_ref(), scope);
        let a = key(Scope::Caller("a:1".into()));
        let result = Cached::Tool(CallToolResult::success(Vec::new()));
        c.put(a.clone(), result, Duration::from_secs(5));
        for other in [
            Scope::Caller("b:1".into()),
            Scope::Caller("a:2".into()),
            Scope::Private("a".into()),
            Scope::Public,
        ] {
            assert!(c.get(&key(other.clone())).is_none(), "{other:?}");
        }
        assert!(c.get(&a).is_some());
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
