//! The embedded journal: one SQLite file in WAL mode.
//!
//! Writes go to a dedicated thread over a channel, so no tokio worker ever
//! waits on the disk: the thread takes every write queued so far, applies
//! them in one transaction (group commit) and then acknowledges each.
//! Writes nobody waits on (clock reads, logs) are held until one that
//! somebody waits on arrives (or 20 ms pass), so they add no commit. A
//! failed transaction stops the writer for good, so no later write can
//! land after a lost one. Reads (the `weft runs` commands, a resume's
//! replay) use a connection of their own, and so does a checkpointer
//! thread, so that no commit waits for the log to be moved into the file.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};

use super::model::{Event, Resolution, RunOptions, RunRecord, Status};
use super::queue::{self, Queued};
use super::store::{Ack, Backend, Filter, JournalError, Op};

/// The schema version this build writes (kept in `meta`).
const SCHEMA_VERSION: &str = "1";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    spec TEXT NOT NULL,
    digest TEXT NOT NULL,
    input TEXT NOT NULL,
    options TEXT NOT NULL,
    seed TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    output TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (started_at);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT,
    resolution TEXT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
";

/// How hard each commit holds on to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous = NORMAL`: in WAL mode a commit survives the process
    /// being killed; the last commits may be lost if the machine loses
    /// power.
    Normal,
    /// `synchronous = FULL`: every commit is on the disk before it is
    /// acknowledged.
    Full,
}

/// A journal in one SQLite file.
pub struct Sqlite {
    path: PathBuf,
    writer: queue::Writer,
    reader: Mutex<Connection>,
    /// Disconnected once the writer and checkpoint threads have closed
    /// their connections.
    closed: Mutex<mpsc::Receiver<()>>,
}

/// How long dropping the journal waits for what is queued to be stored.
const CLOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

impl Sqlite {
    /// Opens (or makes) the journal at `path`, its folder too.
    pub fn open(path: &Path, durability: Durability) -> Result<Sqlite, JournalError> {
        let unusable = |reason: String| JournalError::Unusable {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unusable(format!("cannot make its folder: {e}")))?;
        }
        let writer = connect(path, durability)?;
        // The writer never checkpoints (an fsync of the file in the middle
        // of a commit); the checkpointer does, on a connection of its own.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| unusable(e.to_string()))?;
        let checkpointer = connect(path, durability)?;
        let reader = connect(path, durability)?;
        let (kick, kicked) = mpsc::sync_channel(1);
        // Each thread holds a sender of `closed` until its connection is
        // closed: dropping the journal waits on it (see `Drop`).
        let (closing, closed) = mpsc::channel::<()>();
        let ckpt_closing = closing.clone();
        std::thread::Builder::new()
            .name("weft-journal-ckpt".into())
            .spawn(move || {
                checkpoint_loop(checkpointer, kicked);
                drop(ckpt_closing);
            })
            .map_err(|e| unusable(format!("cannot start its checkpoint thread: {e}")))?;
        let (tx, rx) = mpsc::channel();
        let shown = path.to_path_buf();
        std::thread::Builder::new()
            .name("weft-journal".into())
            .spawn(move || {
                write_loop(writer, rx, &shown, kick);
                drop(closing);
            })
            .map_err(|e| unusable(format!("cannot start its writer thread: {e}")))?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            reader: Mutex::new(reader),
            closed: Mutex::new(closed),
        })
    }

    fn failed(&self, e: rusqlite::Error) -> JournalError {
        JournalError::Failed {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }
}

/// A connection with the journal's settings, its schema checked or made.
fn connect(path: &Path, durability: Durability) -> Result<Connection, JournalError> {
    let refused = |reason: String| JournalError::Unusable {
        path: path.to_path_buf(),
        reason,
    };
    let failed = |e: rusqlite::Error| refused(e.to_string());
    let conn = Connection::open(path).map_err(failed)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(failed)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(failed)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(refused(format!("SQLite refused WAL mode (it uses {mode})")));
    }
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(failed)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(failed)?;
    if !tables.is_empty() && !tables.iter().any(|t| t == "meta") {
        return Err(refused(
            "it is an SQLite database, but not a weft journal".into(),
        ));
    }
    conn.execute_batch(SCHEMA).map_err(failed)?;
    let version: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(failed)?;
    match version.as_deref() {
        None => {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?1)",
                [SCHEMA_VERSION],
            )
            .map_err(failed)?;
        }
        Some(SCHEMA_VERSION) => {}
        Some(other) => {
            return Err(refused(format!(
                "it has schema version {other}, and this weft reads version {SCHEMA_VERSION}"
            )));
        }
    }
    Ok(conn)
}

/// How many commits the writer makes between two checkpoints (each
/// commit adds a page or two to the log).
const CHECKPOINT_EVERY: u32 = 256;

/// Moves the log's pages into the file whenever the writer says so, with
/// a passive checkpoint: it never stops the writer, which goes on
/// appending to the log meanwhile. Ends when the writer does.
fn checkpoint_loop(conn: Connection, kicked: mpsc::Receiver<()>) {
    while kicked.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(target: "weft::journal", "journal checkpoint failed: {e}");
        }
    }
}

fn write_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Queued>,
    path: &Path,
    kick: mpsc::SyncSender<()>,
) {
    let mut broken: Option<JournalError> = None;
    let mut commits = 0u32;
    while let Some(first) = queue::next(&rx) {
        commits = commits.wrapping_add(1);
        if commits.is_multiple_of(CHECKPOINT_EVERY) {
            // One waiting kick is enough: a checkpoint takes every page.
            let _ = kick.try_send(());
        }
        let batch = queue::gather(first, &rx);
        let outcome = match &broken {
            Some(why) => Err(why.clone()),
            None => apply(&mut conn, &batch).map_err(|e| {
                let why = JournalError::Failed {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                };
                tracing::error!(target: "weft::journal", "journal write failed: {why}");
                broken = Some(why.clone());
                why
            }),
        };
        queue::acknowledge(batch, &outcome);
    }
}

fn apply(conn: &mut Connection, batch: &[Queued]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for (op, _) in batch {
        match op {
            Op::CreateRun(run) => {
                let options = serde_json::to_string(&run.options).unwrap_or_default();
                tx.prepare_cached(
                    "INSERT INTO runs (id, policy, spec, digest, input, options, seed, status, pid, started_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                )?
                .execute(params![
                        run.id,
                        run.policy,
                        run.spec,
                        run.digest,
                        run.input,
                        options,
                        run.seed,
                        run.status.as_str(),
                        run.pid,
                        run.started_at
                ])?;
            }
            Op::Event { run, event } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO events (run_id, seq, kind, request, result, resolution, started_at, finished_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7)",
                )?
                .execute(params![
                    run,
                    event.seq as i64,
                    event.kind.as_str(),
                    event.request,
                    event.result,
                    event.started_at,
                    event.finished_at
                ])?;
            }
            Op::Result {
                run,
                seq,
                result,
                finished_at,
            } => {
                tx.prepare_cached(
                    "UPDATE events SET result = ?3, finished_at = ?4 WHERE run_id = ?1 AND seq = ?2",
                )?
                .execute(params![run, *seq as i64, result, finished_at])?;
            }
            Op::Finish {
                run,
                status,
                output,
                error,
            } => {
                tx.prepare_cached(
                    "UPDATE runs SET status = ?2, output = ?3, error = ?4, updated_at = ?5 WHERE id = ?1",
                )?
                .execute(params![run, status.as_str(), output, error, super::model::now_us()])?;
            }
        }
    }
    tx.commit()
}

const RUN_COLUMNS: &str = "id, policy, spec, digest, input, options, seed, status, pid, started_at, updated_at, output, error";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let options: String = r.get(5)?;
    let status: String = r.get(7)?;
    Ok(RunRecord {
        id: r.get(0)?,
        policy: r.get(1)?,
        spec: r.get(2)?,
        digest: r.get(3)?,
        input: r.get(4)?,
        options: serde_json::from_str::<RunOptions>(&options).unwrap_or_default(),
        seed: r.get(6)?,
        status: Status::parse(&status).unwrap_or(Status::Error),
        pid: r.get(8)?,
        started_at: r.get(9)?,
        updated_at: r.get(10)?,
        output: r.get(11)?,
        error: r.get(12)?,
        lease: None,
    })
}

impl Backend for Sqlite {
    fn location(&self) -> PathBuf {
        self.path.clone()
    }

    fn submit(&self, op: Op, ack: Option<Ack>) {
        queue::submit(&self.writer, op, ack, || JournalError::Failed {
            path: self.path.clone(),
            reason: "its writer has stopped".into(),
        });
    }

    fn list(&self, filter: &Filter) -> Result<Vec<RunRecord>, JournalError> {
        let conn = self.reader.lock();
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR policy = ?2)
             ORDER BY started_at DESC, id LIMIT ?3"
        );
        let limit = if filter.limit == 0 {
            -1
        } else {
            filter.limit as i64
        };
        let mut stmt = conn.prepare(&sql).map_err(|e| self.failed(e))?;
        let rows = stmt
            .query_map(
                params![filter.status.map(Status::as_str), filter.policy, limit],
                run_row,
            )
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.failed(e))?;
        Ok(rows)
    }

    fn run(&self, id: &str) -> Result<RunRecord, JournalError> {
        let conn = self.reader.lock();
        conn.query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            [id],
            run_row,
        )
        .optional()
        .map_err(|e| self.failed(e))?
        .ok_or_else(|| JournalError::UnknownRun {
            id: id.to_string(),
            path: self.path.clone(),
        })
    }

    fn events(&self, id: &str) -> Result<Vec<Event>, JournalError> {
        let conn = self.reader.lock();
        let mut stmt = conn
            .prepare(
                "SELECT seq, kind, request, result, resolution, started_at, finished_at
                 FROM events WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.failed(e))?;
        let rows = stmt
            .query_map([id], |r| {
                let kind: String = r.get(1)?;
                let resolution: Option<String> = r.get(4)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    kind,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    resolution,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.failed(e))?;
        rows.into_iter()
            .map(
                |(seq, kind, request, result, resolution, started_at, finished_at)| {
                    Event::stored(
                        seq,
                        &kind,
                        request,
                        result,
                        resolution.as_deref(),
                        (started_at, finished_at),
                    )
                    .map_err(|why| JournalError::Failed {
                        path: self.path.clone(),
                        reason: format!("run {id} has {why}"),
                    })
                },
            )
            .collect()
    }

    fn claim(&self, id: &str, held_by: Option<u32>, pid: u32) -> Result<bool, JournalError> {
        let conn = self.reader.lock();
        let changed = conn
            .execute(
                "UPDATE runs SET pid = ?3, status = 'running', error = NULL, updated_at = ?4
                 WHERE id = ?1 AND pid IS ?2",
                params![id, held_by, pid, super::model::now_us()],
            )
            .map_err(|e| self.failed(e))?;
        Ok(changed == 1)
    }

    fn set_status(
        &self,
        id: &str,
        status: Status,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        let conn = self.reader.lock();
        conn.execute(
            "UPDATE runs SET status = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, status.as_str(), error, super::model::now_us()],
        )
        .map_err(|e| self.failed(e))?;
        Ok(())
    }

    fn resolve(
        &self,
        id: &str,
        seq: u64,
        resolution: Resolution,
        result: Option<&str>,
    ) -> Result<(), JournalError> {
        let conn = self.reader.lock();
        conn.execute(
            "UPDATE events SET resolution = ?3, result = ?4, finished_at = ?5
             WHERE run_id = ?1 AND seq = ?2 AND result IS NULL",
            params![
                id,
                seq as i64,
                resolution.as_str(),
                result,
                result.map(|_| super::model::now_us())
            ],
        )
        .map_err(|e| self.failed(e))?;
        Ok(())
    }

    fn delete(&self, ids: &[String]) -> Result<usize, JournalError> {
        let mut conn = self.reader.lock();
        let tx = conn.transaction().map_err(|e| self.failed(e))?;
        let mut gone = 0;
        for id in ids {
            tx.execute("DELETE FROM events WHERE run_id = ?1", [id])
                .map_err(|e| self.failed(e))?;
            gone += tx
                .execute("DELETE FROM runs WHERE id = ?1", [id])
                .map_err(|e| self.failed(e))?;
        }
        tx.commit().map_err(|e| self.failed(e))?;
        Ok(gone)
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        // Closing the channel ends the writer thread once it has applied
        // what was queued. Waiting for both threads to close their
        // connections means nothing queued is lost when weft exits, and
        // the last connection (the reader, dropped next) folds the log
        // back into the file, so no -wal or -shm file is left behind. The
        // wait is short (a commit, and a write nobody waited on lingers
        // 20 ms at most) and happens once, when the journal is let go.
        self.writer.lock().take();
        let _ = self.closed.lock().recv_timeout(CLOSE_WITHIN);
    }
}
