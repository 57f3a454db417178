//! Durable runs: a journal of every host call a run makes, so that a run
//! killed halfway can be resumed without repeating a side effect.
//!
//! Each run gets an id and a row; each host call it makes (`call-tool`,
//! each call of `call-tools`, `list-tools`), each clock read and each log
//! line is an event of that run, in order. A call's intent is stored
//! before it goes out; its result is stored with the next write that is
//! waited on (the next intent, or the run's end). A resume replays
//! the events (the guest gets the recorded answers) and goes live where
//! the journal ends; a call with an intent and no result is *in doubt*.
//!
//! - [`model`]: runs, events and their statuses;
//! - [`caller`]: the caller a run was made for, as it is stored and
//!   resumed;
//! - `store`: the [`Backend`] contract any storage meets;
//! - `sqlite`: the embedded backend (one file, WAL mode, a writer thread),
//!   its schema and migrations in `file_schema`, its runs held through
//!   `file_lease`s;
//! - `postgres`: the shared backend (`settings.state`), its schema
//!   brought up to date by `crate::migrate` at start-up, its runs owned
//!   through `lease`s (whose holder id the file's leases share);
//! - `queue`: the write queue both share (group commit on a thread);
//! - `recorder`: one run's journal, live or replaying;
//! - [`resumable`]: which runs may be resumed, which calls in doubt resent;
//! - `clocks`: the guest's clocks and random under the journal;
//! - `crash`: the test hook that aborts weft at a point of a call.
//!
//! The journaled host calls of a run (each of `RunCtx`'s calls with its
//! journal step) are the sandbox's: `sandbox/journaled.rs`.

pub mod caller;
mod clocks;
pub(crate) mod crash;
mod file_lease;
mod file_schema;
mod lease;
pub mod model;
mod postgres;
mod queue;
mod recorder;
pub mod resumable;
mod sqlite;
mod store;

use std::path::Path;
use std::sync::Arc;

pub use crate::migrate::LATEST as SCHEMA_VERSION;
pub use clocks::wire;
pub use model::{
    CallOutcome, CallRequest, Event, Kind, LeaseHolder, Resolution, RunCaller, RunOptions,
    RunRecord, Status, new_seed,
};
pub use postgres::Postgres;
pub use recorder::{Recorder, Step, Store, wait};
pub use sqlite::{Durability, Sqlite};
pub use store::{Ack, Backend, Filter, JournalError, Op};

pub use crate::config::default_journal_path as default_path;

/// Opens the journal at `path`, this process's runs held with leases of
/// `lease` (blocking: call it off the async workers).
pub fn open(path: &Path, lease: std::time::Duration) -> Result<Arc<dyn Backend>, JournalError> {
    Ok(Arc::new(Sqlite::open_leased(
        path,
        Durability::Normal,
        lease,
    )?))
}

/// Opens the shared journal in the PostgreSQL database at `url`, this
/// process's runs held with leases of `lease` (blocking: call it off the
/// async workers).
pub fn open_shared(
    url: &str,
    lease: std::time::Duration,
) -> Result<Arc<dyn Backend>, JournalError> {
    Ok(Arc::new(Postgres::open(url, lease)?))
}

/// Brings the schema of the shared database at `url` up to date, for a
/// process that uses it without a journal (blocking: call it off the async
/// workers).
pub fn prepare_shared(url: &str) -> Result<(), JournalError> {
    postgres::prepare(url)
}

/// How messages name the database at `url`: without its password.
pub fn shown_url(url: &str) -> String {
    postgres::shown_url(url)
}

/// Opens the journal `settings` name: the shared database of `state` if
/// there is one, else the `journal` file; `None` when the journal is off
/// (blocking: call it off the async workers).
pub fn open_configured(
    settings: &crate::config::Settings,
) -> Result<Option<Arc<dyn Backend>>, JournalError> {
    if settings.journal.is_none() {
        return Ok(None);
    }
    if let Some(url) = &settings.state {
        return open_shared(url.expose(), settings.lease).map(Some);
    }
    settings
        .journal
        .as_deref()
        .map(|path| open(path, settings.lease))
        .transpose()
}

/// A new run id: the start time, then random hex (`r20261124-191530-3fa2c1`).
pub fn new_run_id() -> String {
    let at = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    format!("r{at}-{}", crate::util::request_id())
}

/// The component's digest as a journal keeps it.
pub fn digest_hex(digest: [u8; 32]) -> String {
    hex::encode(digest)
}
