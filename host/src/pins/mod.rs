//! Pins: each tool's definition as first seen, so that a server which
//! changes a tool after it was trusted (a "rug pull") is caught.
//!
//! The first time weft lists a server's tools it records a digest of each
//! definition (name, title, description, input and output schemas,
//! annotations), trust on first use. When a later listing differs, the
//! tool is *held*: under `pin = "strict"` or `"new-ok"` it is kept from
//! agents until someone approves the new definition (`weft pins approve`);
//! under `"warn"` it is served, and the change is logged and audited. A
//! tool new to a server that already has pins is held under `"strict"`
//! only.
//!
//! Pins live in weft's state: a SQLite file beside the journal, or the
//! `weft_pins` table of `settings.state` (PostgreSQL), so that replicas
//! share them. A running weft reads the store again when it changes (see
//! [`Pins::refresh`]); an approval made by `weft pins` in another process
//! then reaches it within the poll interval.
//!
//! A per-tenant server's instances are pinned apart: a pin's *scope* is
//! the tenant whose instance listed the tool, empty for a shared server.
//!
//! - `store`: the SQLite and PostgreSQL stores, blocking, behind [`Store`];
//! - `diff`: the old and new definitions side by side, for `weft pins diff`.

mod diff;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rmcp::model::Tool;
use serde::Serialize;
use sha2::Digest;

pub use diff::diff;
pub use store::{Filter, PinError, Store, open};

use crate::config::PinMode;

/// The most of a definition's text a pin keeps (its digest covers all of
/// it): enough for any sane tool, and a cap on what a server can make
/// weft store.
pub const MAX_DEF_TEXT: usize = 256 * 1024;

/// The longest tool name pinned: the longest a call may name (the
/// router's `MAX_NAME_BYTES`, which a unit test holds this to).
pub const MAX_PINNED_NAME: usize = 512;

/// Which pin: the scope (a tenant, or empty for a shared server), the
/// server and the tool's own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PinKey {
    /// The tenant whose instance of a per-tenant server listed the tool;
    /// empty for a shared server.
    pub scope: String,
    /// The server's configured name.
    pub server: String,
    /// The tool's own name on that server.
    pub tool: String,
}

impl PinKey {
    /// `server.tool`, with `tenant/` before it for a per-tenant instance.
    pub fn shown(&self) -> String {
        if self.scope.is_empty() {
            format!("{}.{}", self.server, self.tool)
        } else {
            format!("{}/{}.{}", self.scope, self.server, self.tool)
        }
    }
}

/// A definition: its digest and its canonical text (capped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Def {
    /// `sha256:` and the hex digest of the whole canonical text.
    pub digest: String,
    /// The canonical JSON (keys sorted), at most [`MAX_DEF_TEXT`] bytes.
    pub text: String,
}

impl Def {
    /// The pinned part of `tool`, canonical: its keys sorted, so the same
    /// definition in any key order has one digest.
    pub fn of(tool: &Tool) -> Def {
        let mut value = serde_json::to_value(tool).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut value {
            map.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "name"
                        | "title"
                        | "description"
                        | "inputSchema"
                        | "outputSchema"
                        | "annotations"
                )
            });
        }
        // serde_json's maps keep keys sorted (no `preserve_order`), so this
        // text is canonical; a unit test holds that.
        let text = value.to_string();
        let digest = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        );
        let mut text = text;
        crate::util::truncate(&mut text, MAX_DEF_TEXT);
        Def { digest, text }
    }

    /// The first 12 hex digits, for messages.
    pub fn short(digest: &str) -> &str {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        hex.get(..12).unwrap_or(hex)
    }
}

/// One pin as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PinRow {
    /// The definition trusted: first seen, or last approved. `None` for a
    /// new tool held until someone approves it.
    pub approved: Option<Def>,
    /// The definition listed now, when it differs from `approved`.
    pub seen: Option<Def>,
    /// When the row last changed, microseconds since the Unix epoch.
    pub updated_at: i64,
    /// Who approved `approved` (`first-use` for a pin taken on first
    /// listing).
    pub approved_by: Option<String>,
}

/// Why a listed tool is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldKind {
    /// Its definition differs from its pin.
    Changed,
    /// It is new on a server with pins, and `pin = "strict"`.
    New,
}

/// What pinning decided for one listed tool that does not match a pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// Changed or new.
    pub kind: HoldKind,
    /// The digest pinned, if any.
    pub pinned: Option<String>,
    /// The digest listed now.
    pub listed: String,
    /// Kept from agents (`pin = "strict"` or `"new-ok"`).
    pub hidden: bool,
}

/// One write the store owes, applied in order by the writer thread.
#[derive(Debug, Clone)]
pub enum Write {
    /// Pins `def` unless the key already has an approved definition.
    Pin(PinKey, Def),
    /// Records `def` as listed now, unless it is the approved one.
    Seen(PinKey, Def),
    /// Forgets what was listed, the approved `digest` being back.
    Clear(PinKey, String),
}

/// The digests of one instance's listing, kept while that listing is
/// current: a catalog rebuilt for another server's change does not hash
/// this one's tools again. The listing is held, so its address cannot be
/// reused by a newer listing while the entry stands.
struct Digested {
    listing: Arc<dyn std::any::Any + Send + Sync>,
    defs: Arc<Vec<(String, Def)>>,
}

/// The pins this process knows, and the store behind them.
pub struct Pins {
    /// Each instance's last digests, by (scope, server).
    digested: Mutex<HashMap<(String, String), Digested>>,
    book: RwLock<BTreeMap<PinKey, PinRow>>,
    store: Option<Arc<dyn Store>>,
    writes: Mutex<Option<std::sync::mpsc::Sender<Write>>>,
    /// The writer thread, joined by [`Pins::flush`].
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The store's stamp when the book was last read from it.
    stamp: Mutex<Option<(i64, i64)>>,
}

impl Drop for Pins {
    fn drop(&mut self) {
        // A blocking client (PostgreSQL's) may not be dropped on an async
        // worker, which is where a hub's last reference often goes: the
        // store is dropped on a thread of its own.
        if let Some(store) = self.store.take() {
            let _ = std::thread::Builder::new()
                .name("weft-pins-drop".into())
                .spawn(move || drop(store));
        }
    }
}

impl Default for Pins {
    fn default() -> Pins {
        Pins::in_memory()
    }
}

impl Pins {
    /// Pins kept for this process's life only (no state to keep them in).
    pub fn in_memory() -> Pins {
        Pins {
            digested: Mutex::default(),
            book: RwLock::default(),
            store: None,
            writes: Mutex::new(None),
            writer: Mutex::new(None),
            stamp: Mutex::new(None),
        }
    }

    /// Pins read from `store` and written back to it by a thread of their
    /// own (blocking: call it off the async workers).
    pub fn stored(store: Arc<dyn Store>) -> Result<Pins, PinError> {
        let stamp = store.stamp()?;
        let rows = store.load()?;
        let (tx, rx) = std::sync::mpsc::channel::<Write>();
        let writer = store.clone();
        let thread = std::thread::Builder::new()
            .name("weft-pins".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    if let Err(e) = writer.write(&batch) {
                        tracing::error!(error = %e, "cannot store tool pins; they hold in this process until it stops");
                    }
                }
            })
            .map_err(|e| PinError::Store(format!("cannot start the pins' writer: {e}")))?;
        Ok(Pins {
            digested: Mutex::default(),
            book: RwLock::new(rows.into_iter().collect()),
            store: Some(store),
            writes: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(thread)),
            stamp: Mutex::new(Some(stamp)),
        })
    }

    /// Writes what is waiting to the store and stops the writer: at
    /// shutdown, so that a short-lived weft (an agent's `weft serve` over
    /// stdio) leaves no pin unwritten. Later pins hold in this process
    /// only. Blocking: call it off the async workers.
    pub fn flush(&self) {
        drop(self.writes.lock().take());
        if let Some(thread) = self.writer.lock().take() {
            let _ = thread.join();
        }
    }

    /// Whether pins outlive this process.
    pub fn is_stored(&self) -> bool {
        self.store.is_some()
    }

    /// Approves what `filter` matches that is held (its listed definition
    /// becomes its pin), as `by`: in the store when there is one, which
    /// is then read again, else in this process's book. Returns how many.
    /// Blocking: call it off the async workers.
    pub fn approve(&self, filter: &Filter, by: &str) -> Result<usize, PinError> {
        if let Some(store) = &self.store {
            let n = store.approve(filter, by)?;
            self.refresh()?;
            return Ok(n);
        }
        let mut n = 0;
        for (key, row) in self.book.write().iter_mut() {
            let wanted =
                |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
            if !(wanted(&filter.scope, &key.scope)
                && wanted(&filter.server, &key.server)
                && wanted(&filter.tool, &key.tool))
            {
                continue;
            }
            if let Some(seen) = row.seen.take() {
                row.approved = Some(seen);
                row.approved_by = Some(by.to_string());
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every pin, in key order.
    pub fn rows(&self) -> Vec<(PinKey, PinRow)> {
        self.book
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Reads the store again if it changed since it was last read (another
    /// process approved or reset a pin, or a replica pinned a tool).
    /// Returns whether the book changed. Blocking: call it off the async
    /// workers.
    pub fn refresh(&self) -> Result<bool, PinError> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        let stamp = store.stamp()?;
        if *self.stamp.lock() == Some(stamp) {
            return Ok(false);
        }
        let rows: BTreeMap<PinKey, PinRow> = store.load()?.into_iter().collect();
        *self.stamp.lock() = Some(stamp);
        let mut book = self.book.write();
        let changed = !same_pins(&book, &rows);
        *book = rows;
        Ok(changed)
    }

    /// Judges a server's listed tools against their pins, pinning what is
    /// first seen: the tools that do not match, by name. Idempotent for
    /// the same listing, so each audience's catalog may ask.
    /// `listing` is what holds `tools`: while the same listing comes back,
    /// their digests are not computed again.
    pub fn judge<L: Send + Sync + 'static>(
        &self,
        (scope, server): (&str, &str),
        mode: PinMode,
        listing: &Arc<L>,
        tools: &[Tool],
    ) -> HashMap<String, Hold> {
        let mut holds = HashMap::new();
        if mode == PinMode::Off || tools.is_empty() {
            return holds;
        }
        let defs = self.defs((scope, server), listing, tools);
        let defs = defs.iter().map(|(name, def)| (name.as_str(), def.clone()));
        let mut writes = Vec::new();
        {
            let mut book = self.book.write();
            let start = PinKey {
                scope: scope.to_string(),
                server: server.to_string(),
                tool: String::new(),
            };
            let known = book
                .range(start.clone()..)
                .next()
                .is_some_and(|(k, _)| k.scope == scope && k.server == server);
            for (name, def) in defs {
                let key = PinKey {
                    tool: name.to_string(),
                    ..start.clone()
                };
                let now = now_micros();
                let row = book.entry(key.clone()).or_default();
                match row.approved.clone() {
                    Some(a) if a.digest == def.digest => {
                        if row.seen.take().is_some() {
                            row.updated_at = now;
                            writes.push(Write::Clear(key, a.digest));
                        }
                    }
                    Some(a) => {
                        see(row, key, &def, now, &mut writes);
                        holds.insert(
                            name.to_string(),
                            Hold {
                                kind: HoldKind::Changed,
                                pinned: Some(a.digest),
                                listed: def.digest,
                                hidden: mode != PinMode::Warn,
                            },
                        );
                    }
                    // A tool never approved: brand new, or held as new.
                    None => {
                        let held_before = row.seen.is_some();
                        if mode == PinMode::Strict && (known || held_before) {
                            see(row, key, &def, now, &mut writes);
                            holds.insert(
                                name.to_string(),
                                Hold {
                                    kind: HoldKind::New,
                                    pinned: None,
                                    listed: def.digest,
                                    hidden: true,
                                },
                            );
                        } else {
                            row.approved = Some(def.clone());
                            row.seen = None;
                            row.updated_at = now;
                            row.approved_by = Some(FIRST_USE.into());
                            writes.push(Write::Pin(key, def));
                        }
                    }
                }
            }
        }
        self.send(writes);
        holds
    }

    /// The digests of `tools`, from the last judgement of the same
    /// `listing` when there was one.
    fn defs<L: Send + Sync + 'static>(
        &self,
        key: (&str, &str),
        listing: &Arc<L>,
        tools: &[Tool],
    ) -> Arc<Vec<(String, Def)>> {
        let key = (key.0.to_string(), key.1.to_string());
        let same = |d: &Digested| std::ptr::addr_eq(Arc::as_ptr(&d.listing), Arc::as_ptr(listing));
        if let Some(d) = self.digested.lock().get(&key).filter(|d| same(d)) {
            return d.defs.clone();
        }
        // A name no call can use (the router refuses longer ones) is not
        // stored: a server cannot make weft keep unbounded keys.
        let defs: Arc<Vec<(String, Def)>> = Arc::new(
            tools
                .iter()
                .filter(|t| t.name.len() <= MAX_PINNED_NAME)
                .map(|t| (t.name.to_string(), Def::of(t)))
                .collect(),
        );
        let held: Arc<dyn std::any::Any + Send + Sync> = listing.clone();
        self.digested.lock().insert(
            key,
            Digested {
                listing: held,
                defs: defs.clone(),
            },
        );
        defs
    }

    fn send(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        let mut slot = self.writes.lock();
        if let Some(tx) = slot.as_ref() {
            for w in writes {
                if tx.send(w).is_err() {
                    // The writer is gone; the book still holds the pins.
                    *slot = None;
                    break;
                }
            }
        }
    }
}

/// Records `def` as what is listed now for `key`, unless it already is.
fn see(row: &mut PinRow, key: PinKey, def: &Def, now: i64, writes: &mut Vec<Write>) {
    if row.seen.as_ref().map(|s| &s.digest) != Some(&def.digest) {
        row.seen = Some(def.clone());
        row.updated_at = now;
        writes.push(Write::Seen(key, def.clone()));
    }
}

/// Now, in microseconds since the Unix epoch.
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Who approved a pin taken the first time a tool was listed.
pub const FIRST_USE: &str = "first-use";

/// Whether two books hold the same pins (timestamps aside).
fn same_pins(a: &BTreeMap<PinKey, PinRow>, b: &BTreeMap<PinKey, PinRow>) -> bool {
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|((ka, ra), (kb, rb))| {
            ka == kb
                && ra.approved.as_ref().map(|d| &d.digest)
                    == rb.approved.as_ref().map(|d| &d.digest)
                && ra.seen.as_ref().map(|d| &d.digest) == rb.seen.as_ref().map(|d| &d.digest)
        })
}

#[cfg(test)]
mod tests;
