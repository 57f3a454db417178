//! What the console's views show, gathered from the hub: plain rows, every
//! text already through the redaction pass (all secrets masked: the
//! console is the operator's view) and capped, so rendering only escapes.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::Hub;
use crate::recent::{RunSummary, Series, ToolCounts};

/// Longest text shown of one value (a reason, a stderr line, a description).
const MAX_TEXT: usize = 2_000;
/// Longest schema shown.
const MAX_SCHEMA: usize = 8_000;
/// Tools shown at most (a search narrows them).
pub const MAX_TOOL_ROWS: usize = 1_000;
/// Audit records shown at most.
pub const MAX_AUDIT_ROWS: usize = 200;
/// How much of the end of the audit log is read.
const AUDIT_TAIL_BYTES: u64 = 2 << 20;

/// Masks every secret and caps the length.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = crate::redact::text(s).into_owned();
    crate::util::truncate(&mut out, max);
    out
}

/// One server (instance) as the Servers view shows it.
#[derive(Debug, Clone)]
pub struct ServerRow {
    pub name: String,
    pub tenant: Option<String>,
    pub state: &'static str,
    pub era: String,
    pub transport: &'static str,
    pub tools: usize,
    pub restarts: u32,
    pub breaker: &'static str,
    pub series: Series,
    /// Why it is not up, and its stderr's last lines.
    pub reason: Option<String>,
    pub stderr: Vec<String>,
    pub last_error: Option<String>,
}

pub fn servers(hub: &Hub) -> Vec<ServerRow> {
    use crate::upstream::State;
    let series = hub.metrics().recent().servers();
    hub.report()
        .servers
        .into_iter()
        .map(|s| {
            let st = &s.status;
            let (reason, stderr) = match &st.state {
                State::BackingOff {
                    reason,
                    stderr_tail,
                    ..
                } => (Some(reason.clone()), stderr_tail.clone()),
                State::Failed { error } => (Some(error.reason.clone()), error.stderr_tail.clone()),
                State::Down { reason } => (Some(reason.clone()), Vec::new()),
                _ => (None, Vec::new()),
            };
            ServerRow {
                name: clean(&st.name, 200),
                tenant: st.tenant.as_deref().map(|t| clean(t, 200)),
                state: st.state.name(),
                era: st
                    .protocol
                    .as_deref()
                    .map(|p| clean(p, 40))
                    .unwrap_or_default(),
                transport: st.transport,
                tools: st.tools,
                restarts: st.restarts,
                breaker: s.breaker.state,
                series: series.get(&st.name).cloned().unwrap_or_else(|| Series {
                    slots: vec![None; crate::recent::SLOTS],
                    ..Series::default()
                }),
                reason: reason.map(|r| clean(&r, MAX_TEXT)),
                stderr: stderr.iter().map(|l| clean(l, 500)).collect(),
                last_error: st.last_error.as_ref().map(|e| clean(&e.message, MAX_TEXT)),
            }
        })
        .collect()
}

/// One tool of the merged catalog.
#[derive(Debug, Clone)]
pub struct ToolRow {
    pub exposed: String,
    pub server: String,
    pub description: String,
    /// Hints the tool's annotations set.
    pub hints: Vec<&'static str>,
    pub schema: String,
    pub counts: ToolCounts,
}

/// The tools whose name, server or description holds `query` (any case),
/// at most [`MAX_TOOL_ROWS`], and how many matched in all.
pub fn tools(hub: &Hub, query: &str) -> (Vec<ToolRow>, usize) {
    let counts = hub.metrics().recent().tools();
    let catalog = hub.catalog();
    let q = query.to_lowercase();
    let mut matched = 0;
    let mut rows = Vec::new();
    for t in catalog.tools() {
        let description = t.tool.description.as_deref().unwrap_or_default();
        if !q.is_empty()
            && !t.exposed.to_lowercase().contains(&q)
            && !t.server.to_lowercase().contains(&q)
            && !description.to_lowercase().contains(&q)
        {
            continue;
        }
        matched += 1;
        if rows.len() >= MAX_TOOL_ROWS {
            continue;
        }
        let mut hints = Vec::new();
        if let Some(a) = &t.tool.annotations {
            for (set, name) in [
                (a.read_only_hint, "read-only"),
                (a.destructive_hint, "destructive"),
                (a.idempotent_hint, "idempotent"),
                (a.open_world_hint, "open-world"),
            ] {
                if set == Some(true) {
                    hints.push(name);
                }
            }
        }
        let schema = serde_json::to_string_pretty(&Value::Object((*t.tool.input_schema).clone()))
            .unwrap_or_default();
        rows.push(ToolRow {
            exposed: clean(&t.exposed, 300),
            server: clean(&t.server, 200),
            description: clean(description, MAX_TEXT),
            hints,
            schema: clean(&schema, MAX_SCHEMA),
            counts: counts
                .get(&(t.server.to_string(), t.name().to_string()))
                .copied()
                .unwrap_or_default(),
        });
    }
    (rows, matched)
}

/// One tool definition held for review: changed since it was pinned, or
/// new to a server with pins.
#[derive(Debug, Clone)]
pub struct HeldRow {
    /// `server.tool`, with `tenant/` before it for a per-tenant instance.
    pub name: String,
    /// `changed` or `new`.
    pub state: &'static str,
    /// The pinned definition against the listed one, as a unified diff.
    pub diff: String,
}

/// The held tool definitions, at most [`MAX_TOOL_ROWS`].
pub fn held(hub: &Hub) -> Vec<HeldRow> {
    hub.held_pins()
        .into_iter()
        .take(MAX_TOOL_ROWS)
        .filter_map(|(key, row)| {
            let seen = row.seen.as_ref()?;
            Some(HeldRow {
                name: clean(&key.shown(), 300),
                state: if row.approved.is_some() {
                    "changed"
                } else {
                    "new"
                },
                diff: clean(&crate::pins::diff(row.approved.as_ref(), seen), MAX_SCHEMA),
            })
        })
        .collect()
}

/// The runs kept in memory, texts cleaned.
pub fn runs(hub: &Hub) -> Vec<RunSummary> {
    hub.metrics()
        .recent()
        .runs()
        .into_iter()
        .map(clean_run)
        .collect()
}

pub fn run(hub: &Hub, seq: u64) -> Option<RunSummary> {
    hub.metrics().recent().find_run(seq).map(clean_run)
}

fn clean_run(mut r: RunSummary) -> RunSummary {
    r.policy = clean(&r.policy, 200);
    r.error = r.error.map(|e| clean(&e, MAX_TEXT));
    for c in &mut r.calls {
        c.server = clean(&c.server, 200);
        c.tool = clean(&c.tool, 200);
    }
    r
}

/// Journal events shown at most for one run.
pub const MAX_JOURNAL_ROWS: usize = 500;

/// One event of a run's journal, as shown.
#[derive(Debug, Clone)]
pub struct JournalRow {
    pub seq: u64,
    pub kind: &'static str,
    /// What it asked: a call's `server.tool`, else the request's text.
    pub what: String,
    /// Milliseconds from the run's first event to this one's start.
    pub at_ms: f64,
    /// Its duration, if it finished.
    pub ms: Option<f64>,
    /// `ok`, `error`, `in doubt` (a call with no result) or empty.
    pub outcome: &'static str,
}

/// The events the journal holds for run `id` (at most
/// [`MAX_JOURNAL_ROWS`]), read on the blocking pool, or why not.
pub async fn journal(hub: &Hub, id: &str) -> anyhow::Result<Vec<JournalRow>> {
    let Some(journal) = hub.journal().cloned() else {
        anyhow::bail!("this weft keeps no journal");
    };
    let id = id.to_string();
    let events = tokio::task::spawn_blocking(move || journal.events(&id))
        .await?
        .map_err(|e| anyhow::anyhow!(clean(&e.to_string(), MAX_TEXT)))?;
    let first = events.first().map_or(0, |e| e.started_at);
    Ok(events
        .iter()
        .take(MAX_JOURNAL_ROWS)
        .map(|e| {
            use crate::journal::Kind;
            let request: Value = serde_json::from_str(&e.request).unwrap_or(Value::Null);
            let what = match e.kind {
                Kind::Call => format!(
                    "{}.{}",
                    request["server"].as_str().unwrap_or("?"),
                    request["tool"].as_str().unwrap_or("?")
                ),
                _ => e.request_shown().to_string(),
            };
            let outcome = match (e.kind, &e.result) {
                (Kind::Call, None) => "in doubt",
                (Kind::Call, Some(r)) if r.starts_with("{\"ok\"") => "ok",
                (Kind::Call, Some(_)) => "error",
                _ => "",
            };
            JournalRow {
                seq: e.seq,
                kind: e.kind.as_str(),
                what: clean(&what, 300),
                at_ms: (e.started_at - first) as f64 / 1e3,
                ms: e.finished_at.map(|f| (f - e.started_at) as f64 / 1e3),
                outcome,
            }
        })
        .collect())
}

/// What the Audit view filters by (each empty for any).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub tool: String,
    /// `ok`, `error` (anything else), or one outcome.
    #[serde(default)]
    pub outcome: String,
}

impl AuditFilter {
    fn keeps(&self, r: &crate::audit::Record) -> bool {
        (self.tenant.is_empty() || r.tenant == self.tenant)
            && (self.tool.is_empty()
                || r.subject()
                    .to_lowercase()
                    .contains(&self.tool.to_lowercase()))
            && match self.outcome.as_str() {
                "" => true,
                "error" => r.outcome != "ok",
                o => r.outcome == o,
            }
    }
}

/// One audit record as shown.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub ts: String,
    pub tenant: String,
    pub key: String,
    pub route: &'static str,
    pub subject: String,
    pub outcome: String,
    pub ms: f64,
}

/// The audit view's rows (newest first) and the outcomes seen, or why
/// there are none.
pub struct AuditTail {
    pub rows: Vec<AuditRow>,
    pub outcomes: BTreeSet<String>,
    pub note: Option<String>,
}

/// The last records of the audit log that `filter` keeps. Reads at most
/// the log's last [`AUDIT_TAIL_BYTES`], on the blocking pool.
pub async fn audit(hub: &Hub, filter: &AuditFilter) -> AuditTail {
    let Some(audit) = hub.audit() else {
        return AuditTail {
            rows: Vec::new(),
            outcomes: BTreeSet::new(),
            note: Some(
                "no audit log is configured: set `audit = \"FILE\"` under [settings]".into(),
            ),
        };
    };
    if hub.config().settings.state.is_some() {
        return AuditTail {
            rows: Vec::new(),
            outcomes: BTreeSet::new(),
            note: Some(
                "the audit log is in PostgreSQL (settings.state): read it with `weft audit tail`"
                    .into(),
            ),
        };
    }
    let path = audit.path().to_path_buf();
    let filter = filter.clone();
    tokio::task::spawn_blocking(move || read_audit(&path, &filter))
        .await
        .unwrap_or_else(|e| AuditTail {
            rows: Vec::new(),
            outcomes: BTreeSet::new(),
            note: Some(format!("cannot read the audit log: {e}")),
        })
}

fn read_audit(path: &Path, filter: &AuditFilter) -> AuditTail {
    use std::io::{Read, Seek, SeekFrom};
    let mut tail = AuditTail {
        rows: Vec::new(),
        outcomes: BTreeSet::new(),
        note: None,
    };
    let text = (|| -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        let start = len.saturating_sub(AUDIT_TAIL_BYTES);
        f.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        f.take(AUDIT_TAIL_BYTES).read_to_end(&mut bytes)?;
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if start > 0 {
            // The first line is likely cut: drop it.
            let cut = text.find('\n').map_or(text.len(), |i| i + 1);
            text.drain(..cut);
        }
        Ok(text)
    })();
    let text = match text {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            tail.note = Some(format!("cannot read the audit log: {e}"));
            return tail;
        }
    };
    for line in text.lines().rev() {
        let Ok(r) = serde_json::from_str::<crate::audit::Record>(line) else {
            continue;
        };
        if tail.outcomes.len() < 64 {
            tail.outcomes.insert(clean(&r.outcome, 60));
        }
        if tail.rows.len() >= MAX_AUDIT_ROWS || !filter.keeps(&r) {
            continue;
        }
        tail.rows.push(AuditRow {
            ts: clean(&r.ts, 40),
            tenant: clean(&r.tenant, 200),
            key: r.key.as_deref().map(|k| clean(k, 100)).unwrap_or_default(),
            route: r.route.as_str(),
            subject: clean(&r.subject(), 300),
            outcome: clean(&r.outcome, 60),
            ms: r.ms,
        });
    }
    tail
}
