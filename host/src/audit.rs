//! The audit log: one JSON line per request an agent, a policy or the
//! command line makes, whoever made it and however it ended.
//!
//! A record names the tenant, the key, the policy (if a policy made the
//! call), the route ([`AuditRoute`]: a tool call, a resource read, a prompt,
//! a completion, a task, a search, a policy run, a subscription), what it
//! was about (server and tool, or a URI, a prompt's name, …), the outcome
//! (`ok` or an error kind), the duration, and an HMAC-SHA256 of the
//! arguments keyed with a per-install salt, never the arguments
//! themselves. The salt (32 random bytes, hex, mode 0600) lives beside the
//! log in [`SALT_FILE`], created on first use, so the same arguments hash
//! the same within one install and differently across installs: a hash
//! cannot be looked up in a table of common arguments.
//!
//! Recording never stalls a call: a record is serialised on the caller's
//! side and handed to a writer thread through a bounded queue with
//! `try_send`. A full queue drops the record and counts it
//! ([`Audit::dropped`], exported as `weft_audit_dropped_total`). The writer
//! masks secrets, appends whole lines to a file opened for appending (mode
//! 0600) and flushes whenever the queue runs empty; [`Audit::flush`] waits
//! for everything queued before it to reach the file, for a clean shutdown.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

mod shared;
mod writer;

pub use shared::Reader as SharedReader;

/// The salt's file name, in the audit log's directory.
pub const SALT_FILE: &str = "weft-audit.salt";

/// How many records may wait for the writer before new ones are dropped.
pub const QUEUE: usize = 8192;

/// The longest target (a URI, a query, a name) a record keeps, in bytes.
pub const MAX_TARGET: usize = 256;

/// How long [`Audit::flush`] waits for the writer.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// What kind of request a record is about.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AuditRoute {
    /// `tools/call`, or a policy's `call-tool`.
    #[default]
    ToolCall,
    /// `resources/read`.
    ResourceRead,
    /// `prompts/get`.
    PromptGet,
    /// `completion/complete`.
    Completion,
    /// `tasks/get`, `tasks/result`, `tasks/cancel`, …
    Task,
    /// `weft_search_tools`.
    Search,
    /// A policy run (`weft_run_policy` or a policy exposed as a tool).
    PolicyRun,
    /// `resources/subscribe` and `subscriptions/listen`.
    Subscribe,
    /// A request the HTTP edge refused before it was routed (401, 429, …).
    Request,
    /// A tool definition weft's scanner flagged when its server listed
    /// it (`outcome`: `flagged` or `quarantined`; `target`: the tool and
    /// the rules).
    ToolFlagged,
    /// A tool's definition differs from its pin, or a tool new to a
    /// server with pins waits for approval (`outcome`: `served` or
    /// `quarantined`; `target`: the tool, the kind and both digests).
    ToolChanged,
    /// A call that waited for a person's approval (`outcome`: `approved`,
    /// `declined`, `cancelled`, `timeout`, `unasked`; `target`: the rule
    /// that made it wait; `key`: whose agent was asked, and answered).
    Approval,
}

impl AuditRoute {
    /// The name as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditRoute::ToolCall => "tool-call",
            AuditRoute::ResourceRead => "resource-read",
            AuditRoute::PromptGet => "prompt-get",
            AuditRoute::Completion => "completion",
            AuditRoute::Task => "task",
            AuditRoute::Search => "search",
            AuditRoute::PolicyRun => "policy-run",
            AuditRoute::Subscribe => "subscribe",
            AuditRoute::Request => "request",
            AuditRoute::ToolFlagged => "tool-flagged",
            AuditRoute::ToolChanged => "tool-changed",
            AuditRoute::Approval => "approval",
        }
    }
}

/// One request, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// RFC 3339, UTC, milliseconds.
    pub ts: String,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Records written before routes existed were all tool calls.
    #[serde(default)]
    pub route: AuditRoute,
    /// For a tool call: the server (or `@domain`) and the tool.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tool: String,
    /// For the other routes: what the request named (a URI, a prompt, a
    /// policy, a task id, a query), capped at [`MAX_TARGET`] bytes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// `ok`, or the error kind (`denied`, `rate-limited`, `tool-error`, …).
    pub outcome: String,
    pub ms: f64,
    /// HMAC-SHA256 of the arguments' JSON text (`{}` for none), keyed with
    /// the install's salt. Empty when there was nothing to hash.
    #[serde(default, alias = "args_sha256")]
    pub args_hmac: String,
    /// For a code-mode run (`weft_run_code`, `weft exec`): HMAC-SHA256 of
    /// the submitted code alone, keyed as `args_hmac` is, so that runs of
    /// the same code can be told apart from the input they were given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code_hmac: String,
}

impl Record {
    /// What the record is about, for a table: `server.tool` or the target.
    pub fn subject(&self) -> String {
        if self.tool.is_empty() {
            self.target.clone()
        } else {
            format!("{}.{}", self.server, self.tool)
        }
    }
}

/// What the writer thread is asked to do.
enum Job {
    Line(String),
    /// Reply once everything queued before has reached the file.
    Flush(oneshot::Sender<()>),
}

/// Where records go.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    salt: [u8; 32],
    queue: mpsc::Sender<Job>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Line(_) => "Line",
            Job::Flush(_) => "Flush",
        })
    }
}

impl Audit {
    /// Opens (or creates, mode 0600) the log for appending, reads or makes
    /// the install's salt beside it, and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<Audit> {
        Self::open_with_queue(path, QUEUE)
    }

    /// [`Audit::open`] with a queue of `capacity` records.
    pub fn open_with_queue(path: &Path, capacity: usize) -> std::io::Result<Audit> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let salt = load_or_create_salt(&dir.join(SALT_FILE))?;
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path)?;
        let (audit, jobs) = Self::unstarted(path, salt, capacity);
        let shown = path.to_path_buf();
        std::thread::Builder::new()
            .name("weft-audit".into())
            .spawn(move || {
                let sink = writer::Sink::File(std::io::BufWriter::with_capacity(64 << 10, file));
                writer::write_loop(jobs, sink, &shown)
            })?;
        Ok(audit)
    }

    /// Opens the audit table of the shared database at `url` (see
    /// `shared`), reads or makes the database's salt, and starts the
    /// writer thread. Blocking: call it off the async workers.
    pub fn open_shared(url: &str, shown: &str) -> std::io::Result<Audit> {
        Self::open_shared_with_queue(url, shown, QUEUE)
    }

    /// [`Audit::open_shared`] with a queue of `capacity` records.
    pub fn open_shared_with_queue(
        url: &str,
        shown: &str,
        capacity: usize,
    ) -> std::io::Result<Audit> {
        let (db, salt) = shared::open(url)?;
        let name = PathBuf::from(format!("{shown} ({})", shared::TABLE));
        let (audit, jobs) = Self::unstarted(&name, salt, capacity);
        std::thread::Builder::new()
            .name("weft-audit".into())
            .spawn(move || writer::write_loop(jobs, writer::Sink::Db(Box::new(db)), &name))?;
        Ok(audit)
    }

    /// An audit handle and the queue its writer would read.
    fn unstarted(path: &Path, salt: [u8; 32], capacity: usize) -> (Audit, mpsc::Receiver<Job>) {
        let (queue, jobs) = mpsc::channel(capacity.max(1));
        let audit = Audit {
            path: path.to_path_buf(),
            salt,
            queue,
            dropped: Arc::default(),
        };
        (audit, jobs)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records dropped because the writer's queue was full (or the writer
    /// had stopped).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues one record; never waits. A full queue drops it and counts
    /// the drop.
    pub fn write(&self, record: &Record) {
        let Ok(mut line) = serde_json::to_string(record) else {
            return;
        };
        line.push('\n');
        if self.queue.try_send(Job::Line(line)).is_err() {
            let before = self.dropped.fetch_add(1, Ordering::Relaxed);
            // One warning per 1,000 drops, so a flood does not flood the log too.
            if before.is_multiple_of(1000) {
                tracing::warn!(dropped = before + 1, path = %self.path.display(), "the audit log's queue is full; records are being dropped");
            }
        }
    }

    /// Waits (at most a few seconds) until every record queued before this
    /// call is in the file.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        let sent = async {
            if self.queue.send(Job::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        };
        if tokio::time::timeout(FLUSH_WAIT, sent).await.is_err() {
            tracing::warn!(path = %self.path.display(), "the audit log's writer did not finish in time");
        }
    }

    /// The hash recorded for a request's arguments: HMAC-SHA256 of their
    /// JSON text (`{}` for none), keyed with this install's salt.
    pub fn args_hash(&self, args: Option<&rmcp::model::JsonObject>) -> String {
        let text = match args {
            Some(a) => serde_json::to_string(a).unwrap_or_default(),
            None => "{}".into(),
        };
        keyed_hash(&self.salt, text.as_bytes())
    }

    /// Records one tool call made for `caller`; `args_hmac` comes from
    /// [`Audit::args_hash`].
    pub fn call(
        &self,
        caller: &crate::Caller,
        server: &str,
        tool: &str,
        outcome: &str,
        ms: f64,
        args_hmac: String,
    ) {
        let mut record = self.record(caller, AuditRoute::ToolCall, outcome, ms);
        record.server = capped(server);
        record.tool = capped(tool);
        record.args_hmac = args_hmac;
        self.write(&record);
    }

    /// Records the answer to one approval: `outcome` is the answer,
    /// `rule` where the rule that asked is written, `ms` the wait.
    pub fn approval(
        &self,
        caller: &crate::Caller,
        (server, tool): (&str, &str),
        (outcome, rule): (&str, &str),
        ms: f64,
        args_hmac: String,
    ) {
        let mut record = self.record(caller, AuditRoute::Approval, outcome, ms);
        record.server = capped(server);
        record.tool = capped(tool);
        record.target = capped(rule);
        record.args_hmac = args_hmac;
        self.write(&record);
    }

    /// Records one request of any route: `target` names what it was about
    /// (a URI, a prompt, a policy, a task id, a query; capped), and `args`,
    /// when given, are hashed.
    pub fn event(
        &self,
        caller: &crate::Caller,
        route: AuditRoute,
        target: &str,
        outcome: &str,
        ms: f64,
        args: Option<&rmcp::model::JsonObject>,
    ) {
        let mut record = self.record(caller, route, outcome, ms);
        record.target = capped(target);
        if args.is_some() {
            record.args_hmac = self.args_hash(args);
        }
        self.write(&record);
    }

    /// Records a request the HTTP edge refused: `tenant` is empty when the
    /// key was not known, `key` is the key's id (or, for an unknown key, a
    /// short fingerprint of it), `target` what was asked (`POST /mcp`).
    pub fn refusal(&self, tenant: &str, key: Option<String>, target: &str, outcome: &str) {
        let mut record = self.record(&crate::Caller::default(), AuditRoute::Request, outcome, 0.0);
        record.tenant = capped(tenant);
        record.key = key.as_deref().map(capped);
        record.target = capped(target);
        self.write(&record);
    }

    fn record(&self, caller: &crate::Caller, route: AuditRoute, outcome: &str, ms: f64) -> Record {
        Record {
            ts: now(),
            tenant: caller.tenant_name().to_string(),
            key: caller.key_id.clone(),
            policy: caller.policy.as_deref().map(capped),
            route,
            server: String::new(),
            tool: String::new(),
            target: String::new(),
            outcome: capped(outcome),
            ms,
            args_hmac: String::new(),
            code_hmac: String::new(),
        }
    }
}

/// A request being recorded: made by [`Audit::begin`], it writes its
/// record when dropped, with the time since it began and the outcome set
/// by [`Pending::ok`] or [`Pending::finish`] (`error` if neither was
/// called, as when a handler returns early with `?`).
pub struct Pending<'a> {
    audit: Option<&'a Audit>,
    caller: &'a crate::Caller,
    route: AuditRoute,
    target: String,
    args_hmac: String,
    code_hmac: String,
    started: std::time::Instant,
    outcome: Option<String>,
}

impl Audit {
    /// Starts recording one request of `route` about `target`, when an
    /// audit log is configured (`audit` is [`crate::Hub::audit`]).
    pub fn begin<'a>(
        audit: Option<&'a Audit>,
        caller: &'a crate::Caller,
        route: AuditRoute,
        target: &str,
    ) -> Pending<'a> {
        Pending {
            audit,
            caller,
            route,
            target: audit.map(|_| capped(target)).unwrap_or_default(),
            args_hmac: String::new(),
            code_hmac: String::new(),
            started: std::time::Instant::now(),
            outcome: None,
        }
    }
}

impl Pending<'_> {
    /// Records a hash of the request's arguments too.
    pub fn args(mut self, args: Option<&rmcp::model::JsonObject>) -> Self {
        if let (Some(audit), Some(args)) = (self.audit, args) {
            self.args_hmac = audit.args_hash(Some(args));
        }
        self
    }

    /// Records a hash of submitted code too (a code-mode run).
    pub fn code(mut self, code: &str) -> Self {
        if let Some(audit) = self.audit {
            self.code_hmac = keyed_hash(&audit.salt, code.as_bytes());
        }
        self
    }

    /// The request succeeded.
    pub fn ok(&mut self) {
        self.outcome = Some("ok".into());
    }

    /// The request ended with this outcome (`ok`, an error kind, a policy
    /// run's status).
    pub fn outcome(&mut self, outcome: &str) {
        self.outcome = Some(capped(outcome));
    }

    /// The request ended with `result`: `ok`, or the error's `kind` (as
    /// weft's own errors carry in `data`), else `error`.
    pub fn finish<T>(mut self, result: &Result<T, rmcp::ErrorData>) {
        self.outcome = Some(match result {
            Ok(_) => "ok".into(),
            Err(e) => outcome_of(e),
        });
    }
}

/// The outcome recorded for a refused or failed request.
pub fn outcome_of(e: &rmcp::ErrorData) -> String {
    e.data
        .as_ref()
        .and_then(|d| d.get("kind"))
        .and_then(|k| k.as_str())
        .map_or_else(|| "error".to_string(), capped)
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let Some(audit) = self.audit else { return };
        let ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let mut record = audit.record(
            self.caller,
            self.route,
            self.outcome.as_deref().unwrap_or("error"),
            ms,
        );
        record.target = std::mem::take(&mut self.target);
        record.args_hmac = std::mem::take(&mut self.args_hmac);
        record.code_hmac = std::mem::take(&mut self.code_hmac);
        audit.write(&record);
    }
}

/// `text`, cut to [`MAX_TARGET`] bytes on a character boundary.
fn capped(text: &str) -> String {
    if text.len() <= MAX_TARGET {
        return text.to_string();
    }
    let mut cut = MAX_TARGET;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// HMAC-SHA256 of `data` under `key`, as hex.
fn keyed_hash(key: &[u8], data: &[u8]) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Reads the install's salt, or makes one. A new salt is written to a
/// temporary file and linked into place, so two processes starting at
/// once agree on one salt. A salt file others can read is refused.
fn load_or_create_salt(path: &Path) -> std::io::Result<[u8; 32]> {
    let read = |path: &Path| -> std::io::Result<[u8; 32]> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(std::io::Error::other(format!(
                    "the audit salt {} has mode {mode:04o}, so others can read it; run `chmod 600 {}`",
                    path.display(),
                    path.display()
                )));
            }
        }
        let text = std::fs::read_to_string(path)?;
        let mut salt = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut salt).map_err(|e| {
            std::io::Error::other(format!(
                "the audit salt {} is not 64 hex digits ({e}); remove it to make a new one",
                path.display()
            ))
        })?;
        Ok(salt)
    };
    match read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| std::io::Error::other(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let suffix = crate::util::random_hex(4).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".{SALT_FILE}.{suffix}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let made = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(format!("{}\n", hex::encode(salt)).as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match made {
        Ok(()) => Ok(salt),
        // Another process made one first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(e),
    }
}

/// Now, as recorded.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A line of the audit log that is not a record.
#[derive(Debug, thiserror::Error)]
#[error("unreadable line ({source}): {line}")]
pub struct UnreadableLine {
    pub line: String,
    pub source: serde_json::Error,
}

/// The last `n` records of a log (all of them for `n == 0`); lines that do
/// not parse are returned as errors so a damaged log is seen, not hidden.
pub fn tail(path: &Path, n: usize) -> std::io::Result<Vec<Result<Record, UnreadableLine>>> {
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = if n == 0 {
        0
    } else {
        lines.len().saturating_sub(n)
    };
    Ok(lines[start..]
        .iter()
        .map(|l| {
            serde_json::from_str(l).map_err(|source| UnreadableLine {
                line: l.to_string(),
                source,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests;
