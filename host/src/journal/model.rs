//! What a journal holds: runs, and the ordered events of each run (host
//! calls with their request and result, clock reads, logs), in the shape
//! every backend stores and `weft runs` prints.

use serde::{Deserialize, Serialize};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Started and not finished: in progress, or its process died
    /// (`weft runs list` shows that as `interrupted`).
    Running,
    /// Stopped by a resume that found a call whose fate is unknown.
    InDoubt,
    /// Stopped by a resume whose replay differed from the journal.
    Nondeterministic,
    /// Finished: the policy returned its output.
    Ok,
    /// Finished: the policy failed or crashed.
    Error,
    /// Finished: a limit stopped it.
    Limit,
}

impl Status {
    /// The kebab-case name the journal stores and `weft runs` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::InDoubt => "in-doubt",
            Status::Nondeterministic => "nondeterministic",
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Limit => "limit",
        }
    }

    /// Reads a name written by [`Status::as_str`]; `None` for any other text.
    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "running" => Status::Running,
            "in-doubt" => Status::InDoubt,
            "nondeterministic" => Status::Nondeterministic,
            "ok" => Status::Ok,
            "error" => Status::Error,
            "limit" => Status::Limit,
            _ => return None,
        })
    }

    /// A finished run is never resumed.
    pub fn finished(self) -> bool {
        matches!(self, Status::Ok | Status::Error | Status::Limit)
    }
}

/// How a run was started, so that a resume starts it the same way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    /// `--grant` globs given on the command line (none: the configured
    /// grants).
    #[serde(default)]
    pub grants: Vec<String>,
    /// `--fuel`: `Some(None)` is unlimited.
    #[serde(default)]
    pub fuel: Option<Option<u64>>,
    /// `--timeout`, in milliseconds (none: the configured limit).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// `--memory`, in bytes (none: the configured limit).
    #[serde(default)]
    pub memory: Option<u64>,
    /// What started the run: `serve` for a policy run through `weft
    /// serve` (which resumes such runs when `settings.resume` is on);
    /// `None` for `weft run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The tenant the run was made for (through `weft serve`, or `weft run
    /// --tenant`), if any: a resume runs it for that tenant again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Who, within that tenant, the run was made for (see
    /// [`RunCaller`]): a resume goes on as exactly that caller. `None`
    /// in a run an older weft stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<RunCaller>,
    /// Why the stored options could not be read, when they could not: such
    /// a run is never resumed (it would go on with defaults: as the owner,
    /// unlimited), never stored.
    #[serde(skip)]
    pub unreadable: Option<String>,
}

impl RunOptions {
    /// The options stored as `text`; options that do not read are the
    /// defaults marked [`RunOptions::unreadable`], so that no resume
    /// widens the run to them.
    pub fn read(text: &str) -> RunOptions {
        serde_json::from_str(text).unwrap_or_else(|e| RunOptions {
            unreadable: Some(format!("{e}")),
            ..RunOptions::default()
        })
    }
}

/// Who a run was made for, within its tenant (the run's `tenant`), stored in its options; `super::caller` makes
/// one and resumes as it: what
/// narrows the caller, as written, so that a resume is held to exactly it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCaller {
    /// The key that authenticated the caller (`oauth:SUBJECT` for an
    /// agent's token), for the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The grants the caller carried, as written, outermost first: each
    /// list narrows those before it (an agent's token's scopes, then a
    /// calling policy's grants). None: the tenant's whole view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<Vec<String>>,
    /// The policy or adapter making the call (a durable adapter's call
    /// made by one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The adapters the call came through, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

/// One run, as its row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id, by which `weft runs` names it.
    pub id: String,
    /// The policy's name (from the config, or the file's stem).
    pub policy: String,
    /// What `weft run` was given: a config name or a `.wasm` path.
    pub spec: String,
    /// The component's SHA-256, hex.
    pub digest: String,
    /// The input the policy was given, as JSON text.
    pub input: String,
    /// How the run was started, so a resume starts it the same way.
    pub options: RunOptions,
    /// The seed of the run's random streams (hex), so a replay draws the
    /// same bytes.
    #[serde(skip_serializing)]
    pub seed: String,
    /// Where the run stands.
    pub status: Status,
    /// The process that runs it (or last ran it).
    pub pid: Option<u32>,
    /// Microseconds since the Unix epoch.
    pub started_at: i64,
    /// When the row last changed, in microseconds since the Unix epoch.
    pub updated_at: i64,
    /// The policy's output, once the run has finished with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Why the run failed or was stopped, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who holds the run's lease: the owner's id, and whether the lease is
    /// still live. `None` for a finished run, and for a run of a journal
    /// file an older weft recorded (schema 1: its process id decides).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseHolder>,
}

/// A run's lease as a journal reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// The owner's id (`host:pid:random`); empty when nobody holds it.
    pub owner: String,
    /// When it expires, microseconds since the Unix epoch (0: never held).
    pub expires_at: i64,
    /// Held: not yet expired (by the database's clock; in a journal file,
    /// by this process's), or, in a journal file, held by a process this
    /// one can see and that is alive, whatever its expiry.
    pub live: bool,
}

impl RunRecord {
    /// A new run of this process, started now, with a fresh id and seed.
    pub fn start(
        policy: &str,
        spec: &str,
        digest: [u8; 32],
        input: &str,
        options: RunOptions,
    ) -> Result<RunRecord, crate::util::RandomError> {
        let now = now_us();
        Ok(RunRecord {
            id: super::new_run_id(),
            policy: policy.to_string(),
            spec: spec.to_string(),
            digest: super::digest_hex(digest),
            input: input.to_string(),
            options,
            seed: new_seed()?,
            status: Status::Running,
            pid: Some(std::process::id()),
            started_at: now,
            updated_at: now,
            output: None,
            error: None,
            lease: None,
        })
    }
}

/// What kind of thing an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A `call-tool` (or one call of a `call-tools`).
    Call,
    /// A `list-tools`.
    ListTools,
    /// `wasi:clocks/wall-clock.now`.
    WallClock,
    /// `wasi:clocks/monotonic-clock.now` (and the `now` a
    /// `subscribe-instant` reads).
    Monotonic,
    /// A `host-log.log` line.
    Log,
    /// A `host-log.progress` report.
    Progress,
}

impl Kind {
    /// The kebab-case name the journal stores and `weft runs` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::ListTools => "list-tools",
            Kind::WallClock => "wall-clock",
            Kind::Monotonic => "monotonic-clock",
            Kind::Log => "log",
            Kind::Progress => "progress",
        }
    }

    /// Reads a name written by [`Kind::as_str`]; `None` for any other text.
    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "call" => Kind::Call,
            "list-tools" => Kind::ListTools,
            "wall-clock" => Kind::WallClock,
            "monotonic-clock" => Kind::Monotonic,
            "log" => Kind::Log,
            "progress" => Kind::Progress,
            _ => return None,
        })
    }
}

/// How someone settled a call whose fate was unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// It happened; its result is the one given.
    Done,
    /// It did not happen: it is sent when the run resumes.
    NotDone,
}

impl Resolution {
    /// The kebab-case name the journal stores: `done` or `not-done`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Done => "done",
            Resolution::NotDone => "not-done",
        }
    }

    /// Reads `done` or `not-done`; `None` for any other text.
    pub fn parse(text: &str) -> Option<Resolution> {
        match text {
            "done" => Some(Resolution::Done),
            "not-done" => Some(Resolution::NotDone),
            _ => None,
        }
    }
}

/// One event of a run. A call's row is its intent until `result` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event's place in its run, counting from 0.
    pub seq: u64,
    /// What the event records.
    pub kind: Kind,
    /// The request, as JSON text (for a call: server, tool and args).
    pub request: String,
    /// The result, as JSON text; `None` for a call in flight (or in doubt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// How someone settled the call, if it was in doubt; `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Microseconds since the Unix epoch.
    pub started_at: i64,
    /// When the result was recorded, in microseconds since the Unix epoch;
    /// `None` while there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
}

/// A stored event's kind that this weft does not know (a newer weft's).
#[derive(Debug, thiserror::Error)]
#[error("an event of unknown kind {0:?}")]
pub struct UnknownKind(pub String);

impl Event {
    /// The request's text for a reader: empty when the event asked
    /// nothing (a `list-tools` stores `null`).
    pub fn request_shown(&self) -> &str {
        match self.request.trim() {
            "null" => "",
            text => text,
        }
    }

    /// An event from its stored columns (its kind and resolution as text),
    /// unless its kind is not one this weft knows.
    pub(super) fn stored(
        seq: i64,
        kind: &str,
        request: String,
        result: Option<String>,
        resolution: Option<&str>,
        (started_at, finished_at): (i64, Option<i64>),
    ) -> Result<Event, UnknownKind> {
        Ok(Event {
            seq: u64::try_from(seq).unwrap_or(0),
            kind: Kind::parse(kind).ok_or_else(|| UnknownKind(kind.to_string()))?,
            request,
            result,
            resolution: resolution.and_then(Resolution::parse),
            started_at,
            finished_at,
        })
    }

    /// A call that went out (or was about to) and has no recorded result,
    /// and that nobody has settled yet.
    pub fn in_doubt(&self) -> bool {
        self.kind == Kind::Call && self.result.is_none() && self.resolution.is_none()
    }
}

/// The request of a call, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// The server, as the guest named it.
    pub server: String,
    /// The tool on that server, as the guest named it.
    pub tool: String,
    /// The arguments exactly as the guest sent them.
    pub args: String,
}

impl CallRequest {
    /// The request as the journal stores it: a JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored request back; `None` when `text` is not one.
    pub fn from_json(text: &str) -> Option<CallRequest> {
        serde_json::from_str(text).ok()
    }

    /// `server.tool {args}`, its args cut short, for messages.
    pub fn describe(&self) -> String {
        let mut args = self.args.clone();
        crate::util::truncate(&mut args, 200);
        format!("{}.{} {}", self.server, self.tool, args)
    }
}

/// The stored outcome of a call: the guest's `result<string, call-error>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallOutcome {
    /// The call succeeded; holds the result text the guest was given.
    Ok(String),
    /// The call failed with this error.
    Err(crate::CallError),
}

/// A fresh run seed, as stored (hex).
pub fn new_seed() -> Result<String, crate::util::RandomError> {
    crate::util::random_hex(32)
}

/// The stored seed's bytes (zeros for an unreadable one: a replay of it
/// is still the same as its run).
pub(super) fn seed_bytes(hex_seed: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(bytes) = hex::decode(hex_seed) {
        let n = bytes.len().min(32);
        out[..n].copy_from_slice(&bytes[..n]);
    }
    out
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `weft runs show` and the console print what an event asked; a
    /// `list-tools` asked nothing, and shows nothing rather than `null`.
    #[test]
    fn an_event_that_asked_nothing_shows_nothing() {
        let event = |kind, request: &str| Event {
            seq: 1,
            kind,
            request: request.to_string(),
            result: None,
            resolution: None,
            started_at: 0,
            finished_at: None,
        };
        assert_eq!(event(Kind::ListTools, "null").request_shown(), "");
        assert_eq!(event(Kind::ListTools, " null\n").request_shown(), "");
        assert_eq!(event(Kind::Log, "\"hello\"").request_shown(), "\"hello\"");
    }
}
