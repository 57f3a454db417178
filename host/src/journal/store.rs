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
    Event {
        /// The run's id.
        run: String,
        /// The event to store.
        event: Event,
    },
    /// A call's result, filling in its intent's row.
    Result {
        /// The run's id.
        run: String,
        /// The call's sequence number in the run.
        seq: u64,
        /// The call's outcome, as JSON text.
        result: String,
        /// When the result came, in microseconds since the Unix epoch.
        finished_at: i64,
    },
    /// The run's end (or stop): its status, output and error.
    Finish {
        /// The run's id.
        run: String,
        /// The status the run ends in.
        status: Status,
        /// The policy's output, if it returned one.
        output: Option<String>,
        /// Why the run failed or was stopped, if it was.
        error: Option<String>,
    },
}

/// Which runs `weft runs list` shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only runs in this status; `None`: any status.
    pub status: Option<Status>,
    /// Only runs of the policy of this name; `None`: any policy.
    pub policy: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// Why one batch of writes was not applied: what a backend's writer
/// tells every waiter of the batch (so it is `Clone`), before it becomes
/// the [`JournalError`] that names the database.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum WriteError {
    /// The database refused a statement.
    #[error("{0}")]
    Database(String),
    /// Another process has taken the run over since this one held it.
    #[error(
        "this process no longer holds run {run}'s lease (another process took it over); the \
         write was refused"
    )]
    LeaseLost {
        /// The run's id.
        run: String,
    },
    /// The writer's prepared statements are missing.
    #[error("its statements are not prepared")]
    Unprepared,
}

/// What went wrong with the journal, naming its file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    /// The journal file cannot be opened, made or set up.
    #[error(
        "cannot use the journal {path}: {reason} (move the file away to start a new journal, or set `journal = false` in [settings] to run without one)"
    )]
    Unusable {
        /// The journal file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A read or write of the journal file failed.
    #[error("the journal {path} failed: {reason}")]
    Failed {
        /// The journal file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The journal file holds no run of that id.
    #[error("no run {id:?} in the journal {path} (`weft runs list` shows the runs it holds)")]
    UnknownRun {
        /// The run id asked for.
        id: String,
        /// The journal file.
        path: PathBuf,
    },
    /// The journal's writer ended before the write was stored; holds why.
    #[error("the journal stopped: {0}")]
    Stopped(String),
    /// A shared journal's database (`at` never shows a password) could
    /// not be used; `reason` says what to do next.
    #[error("the journal database {at}: {reason}")]
    Database {
        /// Where the database is, without its password.
        at: String,
        /// What went wrong, and what to do next.
        reason: String,
    },
    /// The shared journal's database holds no run of that id.
    #[error(
        "no run {id:?} in the journal database {at} (`weft runs list` shows the runs it holds)"
    )]
    UnknownRunAt {
        /// The run id asked for.
        id: String,
        /// Where the database is, without its password.
        at: String,
    },
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
