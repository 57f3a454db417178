//! The journal's storage contract: what any backend (the embedded SQLite
//! file, a shared PostgreSQL database) must do, and its errors.
//!
//! Writes are queued with [`Backend::submit`] and applied strictly in the
//! order queued; an acknowledged write is durable, and so is everything
//! queued before it. Reads are blocking: call them off the async workers.

use std::path::PathBuf;

use super::model::{Event, Resolution, RunRecord, Status};

/// Told when a queued write (and every write before it) is stored, or why
/// it could not be.
pub type Ack = tokio::sync::oneshot::Sender<Result<(), JournalError>>;

/// One write.
#[derive(Debug)]
pub enum Op {
    /// A new run's row.
    CreateRun(Box<RunRecord>),
    /// An event's row, replacing any row of the same run and sequence
    /// number (a call in doubt that is sent again keeps its place).
    Event { run: String, event: Event },
    /// A call's result, filling in its intent's row.
    Result {
        run: String,
        seq: u64,
        result: String,
        finished_at: i64,
    },
    /// The run's end (or stop): its status, output and error.
    Finish {
        run: String,
        status: Status,
        output: Option<String>,
        error: Option<String>,
    },
}

/// Which runs `weft runs list` shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<Status>,
    pub policy: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// What went wrong with the journal, naming its file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error(
        "cannot use the journal {path}: {reason} (move the file away to start a new journal, or set `journal = false` in [settings] to run without one)"
    )]
    Unusable { path: PathBuf, reason: String },
    #[error("the journal {path} failed: {reason}")]
    Failed { path: PathBuf, reason: String },
    #[error("no run {id:?} in the journal {path} (`weft runs list` shows the runs it holds)")]
    UnknownRun { id: String, path: PathBuf },
    #[error("the journal stopped: {0}")]
    Stopped(String),
    /// A shared journal's database (`at` never shows a password) could
    /// not be used; `reason` says what to do next.
    #[error("the journal database {at}: {reason}")]
    Database { at: String, reason: String },
    #[error(
        "no run {id:?} in the journal database {at} (`weft runs list` shows the runs it holds)"
    )]
    UnknownRunAt { id: String, at: String },
}

/// A place runs are journaled.
pub trait Backend: Send + Sync {
    /// Where it is, for messages (a file's path).
    fn location(&self) -> PathBuf;
    /// Queues a write; `ack` hears when it is stored.
    fn submit(&self, op: Op, ack: Option<Ack>);
    /// Runs matching `filter`, newest first.
    fn list(&self, filter: &Filter) -> Result<Vec<RunRecord>, JournalError>;
    /// One run.
    fn run(&self, id: &str) -> Result<RunRecord, JournalError>;
    /// A run's events in order.
    fn events(&self, id: &str) -> Result<Vec<Event>, JournalError>;
    /// How long a run's lease lasts, for a journal whose runs are owned
    /// through leases (a database several weft processes share); `None`
    /// when a run's process id decides who holds it.
    fn lease(&self) -> Option<std::time::Duration> {
        None
    }
    /// Takes a run for process `pid` if it is still held by `held_by` (the
    /// process that last ran it): `false` when another process got there
    /// first. A journal with leases ignores `held_by` and takes the run
    /// only if its lease has expired (or nobody holds it).
    fn claim(&self, id: &str, held_by: Option<u32>, pid: u32) -> Result<bool, JournalError>;
    /// Sets a run's status and error outside a run (a resume that stops
    /// before the guest starts).
    fn set_status(&self, id: &str, status: Status, error: Option<&str>)
    -> Result<(), JournalError>;
    /// Settles a call in doubt.
    fn resolve(
        &self,
        id: &str,
        seq: u64,
        resolution: Resolution,
        result: Option<&str>,
    ) -> Result<(), JournalError>;
    /// Deletes these runs and their events. Returns how many runs went.
    fn delete(&self, ids: &[String]) -> Result<usize, JournalError>;
}
