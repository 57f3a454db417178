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
//!
//! Who holds a run is a lease (`file_lease`): the writer thread takes it
//! with the run's row, renews every lease of this process every third of
//! its length, fences every write of a run by it, and gives it up with the
//! run's end. The schema and its migrations are `file_schema`'s.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::file_lease::{self, Holder};
use super::model::{Event, Resolution, RunOptions, RunRecord, Status, now_us};
use super::queue::{self, Queued};
use super::store::{Ack, Backend, Filter, JournalError, Op, WriteError};

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
    /// This process as the holder of its runs.
    holder: Holder,
    writer: queue::Writer,
    reader: Mutex<Connection>,
    /// Disconnected once the writer and checkpoint threads have closed
    /// their connections.
    closed: Mutex<mpsc::Receiver<()>>,
}

/// How long dropping the journal waits for what is queued to be stored.
const CLOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

impl Sqlite {
    /// Opens (or makes) the journal at `path`, its folder too, this
    /// process's runs held with leases of the default length.
    pub fn open(path: &Path, durability: Durability) -> Result<Sqlite, JournalError> {
        Sqlite::open_leased(path, durability, crate::config::state::DEFAULT_LEASE)
    }

    /// Opens (or makes) the journal at `path`, its folder too, this
    /// process's runs held with leases of `lease`.
    pub fn open_leased(
        path: &Path,
        durability: Durability,
        lease: Duration,
    ) -> Result<Sqlite, JournalError> {
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
        let holder = Holder::this(lease);
        let job = WriteJob {
            path: path.to_path_buf(),
            holder: holder.clone(),
            kick,
        };
        std::thread::Builder::new()
            .name("weft-journal".into())
            .spawn(move || {
                job.run(writer, rx);
                drop(closing);
            })
            .map_err(|e| unusable(format!("cannot start its writer thread: {e}")))?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            holder,
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
    let mut conn = Connection::open(path).map_err(failed)?;
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
    super::file_schema::prepare(&mut conn).map_err(|e| refused(e.to_string()))?;
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

/// The writer thread's own state.
struct WriteJob {
    path: PathBuf,
    holder: Holder,
    /// Tells the checkpointer to move the log into the file.
    kick: mpsc::SyncSender<()>,
}

impl WriteJob {
    fn run(self, mut conn: Connection, rx: mpsc::Receiver<Queued>) {
        let mut broken: Option<JournalError> = None;
        let mut commits = 0u32;
        let beat = (self.holder.lease / 3).max(Duration::from_millis(100));
        let mut next_beat = Instant::now() + beat;
        loop {
            let first = match queue::next_until(&rx, next_beat) {
                Ok(first) => Some(first),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if Instant::now() >= next_beat {
                next_beat = Instant::now() + beat;
                if broken.is_none() {
                    self.renew(&conn);
                }
            }
            let Some(first) = first else { continue };
            commits = commits.wrapping_add(1);
            if commits.is_multiple_of(CHECKPOINT_EVERY) {
                // One waiting kick is enough: a checkpoint takes every page.
                let _ = self.kick.try_send(());
            }
            let batch = queue::gather(first, &rx);
            let outcome = match &broken {
                Some(why) => Err(why.clone()),
                None => apply(&mut conn, &batch, &self.holder).map_err(|reason| {
                    let why = JournalError::Failed {
                        path: self.path.clone(),
                        reason: reason.to_string(),
                    };
                    tracing::error!(target: "weft::journal", "journal write failed: {why}");
                    broken = Some(why.clone());
                    why
                }),
            };
            queue::acknowledge(batch, &outcome);
        }
    }

    /// Renews every lease this process holds.
    fn renew(&self, conn: &Connection) {
        let until = self.holder.until(now_us());
        if let Err(e) = conn.execute(
            "UPDATE runs SET lease_until = ?2 WHERE holder = ?1",
            params![self.holder.id, until],
        ) {
            tracing::warn!(target: "weft::journal", path = %self.path.display(), "cannot renew this process's leases: {e}");
        }
    }
}

/// Why a write of a run this process no longer holds was refused.
fn lost(run: &str) -> WriteError {
    WriteError::LeaseLost {
        run: run.to_string(),
    }
}

/// Applies `batch` in one transaction, each write of a run only while
/// `holder` holds it.
fn apply(conn: &mut Connection, batch: &[Queued], holder: &Holder) -> Result<(), WriteError> {
    let sql = |e: rusqlite::Error| WriteError::Database(e.to_string());
    let tx = conn.transaction().map_err(sql)?;
    let me = holder.id.as_str();
    for (op, _) in batch {
        let changed = match op {
            Op::CreateRun(run) => {
                let options = serde_json::to_string(&run.options).unwrap_or_default();
                tx.prepare_cached(
                    "INSERT INTO runs (id, policy, spec, digest, input, options, seed, status, pid, started_at, updated_at, holder, holder_process, lease_until)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13)",
                )
                .map_err(sql)?
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
                    run.started_at,
                    me,
                    holder.process,
                    holder.until(now_us())
                ])
                .map_err(sql)?;
                continue;
            }
            Op::Event { run, event } => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO events (run_id, seq, kind, request, result, resolution, started_at, finished_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?9, ?6, ?7
                     WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND holder = ?8)",
                )
                .map_err(sql)?
                .execute(params![
                    run,
                    event.seq as i64,
                    event.kind.as_str(),
                    event.request,
                    event.result,
                    event.started_at,
                    event.finished_at,
                    me,
                    event.resolution.map(|r| r.as_str())
                ])
                .map_err(sql)
                .map(|n| (n, run))?,
            Op::Result {
                run,
                seq,
                result,
                finished_at,
            } => tx
                .prepare_cached(
                    "UPDATE events SET result = ?3, finished_at = ?4 WHERE run_id = ?1 AND seq = ?2
                     AND EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND holder = ?5)",
                )
                .map_err(sql)?
                .execute(params![run, *seq as i64, result, finished_at, me])
                .map_err(sql)
                .map(|n| (n, run))?,
            // The run's end gives its lease up.
            Op::Finish {
                run,
                status,
                output,
                error,
            } => tx
                .prepare_cached(
                    "UPDATE runs SET status = ?2, output = ?3, error = ?4, updated_at = ?5,
                         holder = '', holder_process = NULL, lease_until = 0
                     WHERE id = ?1 AND holder = ?6",
                )
                .map_err(sql)?
                .execute(params![run, status.as_str(), output, error, now_us(), me])
                .map_err(sql)
                .map(|n| (n, run))?,
        };
        if changed.0 != 1 {
            return Err(lost(changed.1));
        }
    }
    tx.commit().map_err(sql)
}

const RUN_COLUMNS: &str = "id, policy, spec, digest, input, options, seed, status, pid, started_at, updated_at, output, error, holder, holder_process, lease_until";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let options: String = r.get(5)?;
    let status: String = r.get(7)?;
    let status = Status::parse(&status).unwrap_or(Status::Error);
    let stored = file_lease::Stored {
        holder: r.get(13)?,
        process: r.get(14)?,
        until: r.get(15)?,
    };
    Ok(RunRecord {
        id: r.get(0)?,
        policy: r.get(1)?,
        spec: r.get(2)?,
        digest: r.get(3)?,
        input: r.get(4)?,
        options: RunOptions::read(&options),
        seed: r.get(6)?,
        status,
        pid: r.get(8)?,
        started_at: r.get(9)?,
        updated_at: r.get(10)?,
        output: r.get(11)?,
        error: r.get(12)?,
        lease: file_lease::shown(stored, status.finished(), now_us()),
    })
}

impl Backend for Sqlite {
    fn location(&self) -> PathBuf {
        self.path.clone()
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.holder.lease)
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

    fn claim(&self, id: &str, _held_by: Option<u32>, pid: u32) -> Result<bool, JournalError> {
        let mut conn = self.reader.lock();
        // The write lock first: the run is read and taken by one process
        // at a time.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.failed(e))?;
        let run = tx
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                run_row,
            )
            .optional()
            .map_err(|e| self.failed(e))?;
        let Some(run) = run else {
            return Ok(false);
        };
        if run.status.finished() || (run.status == Status::Running && super::resumable::held(&run))
        {
            return Ok(false);
        }
        let now = now_us();
        tx.execute(
            "UPDATE runs SET pid = ?2, status = 'running', error = NULL, updated_at = ?3,
                 holder = ?4, holder_process = ?5, lease_until = ?6
             WHERE id = ?1",
            params![
                id,
                pid,
                now,
                self.holder.id,
                self.holder.process,
                self.holder.until(now)
            ],
        )
        .map_err(|e| self.failed(e))?;
        tx.commit().map_err(|e| self.failed(e))?;
        Ok(true)
    }

    fn set_status(
        &self,
        id: &str,
        status: Status,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        let conn = self.reader.lock();
        // The holder stays: a run stopped before it was claimed is held by
        // the process that last ran it (gone, or its lease lapsed), and
        // one its holder stops (a cancelled task) may still have writes
        // on their way, which must not be refused.
        conn.execute(
            "UPDATE runs SET status = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, status.as_str(), error, now_us()],
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
                result.map(|_| now_us())
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
