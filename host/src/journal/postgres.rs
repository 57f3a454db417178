//! The shared journal: runs and their events in a PostgreSQL database
//! (`settings.state = "postgres://..."`), so that several weft processes
//! (replicas) see the same runs and one can take over another's.
//!
//! It keeps the SQLite journal's contract and shape: writes go to a
//! dedicated thread over a channel (no tokio worker waits on the
//! database), which applies every write queued so far in one transaction
//! and then acknowledges each, so a call's intent is committed before the
//! call goes out. The same thread renews this process's leases (see
//! `lease`). Reads use a connection of their own. Both connections come
//! from the maintained `postgres` client (tokio-postgres underneath); the
//! schema is migrated at start-up (`migrate`).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use postgres::{Client, Row, Statement};

use super::lease;
use super::model::{Event, LeaseHolder, Resolution, RunOptions, RunRecord, Status, now_us};
use super::queue::{self, Queued};
use super::store::{Ack, Backend, Filter, JournalError, Op, WriteError};

/// How long connecting may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A journal in a PostgreSQL database.
pub struct Postgres {
    /// The database, for messages: its URL without any password.
    at: String,
    owner: String,
    lease: Duration,
    writer: queue::Writer,
    /// `None` once dropped (see `Drop`).
    reader: Mutex<Option<Client>>,
}

impl Postgres {
    /// Connects to the database at `url` (blocking: call it off the async
    /// workers), brings its schema up to date, and starts the writer.
    /// This process's runs are held with leases of `lease`.
    pub fn open(url: &str, lease: Duration) -> Result<Postgres, JournalError> {
        let (config, at, tls) = parse(url)?;
        let mut reader = connect(&config, &tls, &at)?;
        let writer = connect(&config, &tls, &at)?;
        let failed = |reason: String| JournalError::Database {
            at: at.clone(),
            reason,
        };
        crate::migrate::migrate(&mut reader).map_err(|e| failed(e.to_string()))?;
        let owner = lease::owner_id();
        let (tx, rx) = mpsc::channel();
        let job = Writer {
            at: at.clone(),
            owner: owner.clone(),
            lease,
        };
        std::thread::Builder::new()
            .name("weft-journal-pg".into())
            .spawn(move || job.run(writer, rx))
            .map_err(|e| failed(format!("cannot start its writer thread: {e}")))?;
        Ok(Postgres {
            at,
            owner,
            lease,
            writer: Mutex::new(Some(tx)),
            reader: Mutex::new(Some(reader)),
        })
    }

    /// The id this process holds leases under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The reading connection.
    fn client(&self) -> Result<parking_lot::MappedMutexGuard<'_, Client>, JournalError> {
        parking_lot::MutexGuard::try_map(self.reader.lock(), Option::as_mut).map_err(|_| {
            JournalError::Database {
                at: self.at.clone(),
                reason: "its connection is closed".into(),
            }
        })
    }

    fn failed(&self, e: postgres::Error) -> JournalError {
        JournalError::Database {
            at: self.at.clone(),
            reason: describe(&e),
        }
    }

    fn unknown(&self, id: &str) -> JournalError {
        JournalError::UnknownRunAt {
            id: id.to_string(),
            at: self.at.clone(),
        }
    }
}

/// Brings the schema of the database at `url` up to date without opening
/// a journal there (blocking: call it off the async workers).
pub fn prepare(url: &str) -> Result<(), JournalError> {
    let (config, at, tls) = parse(url)?;
    let mut client = connect(&config, &tls, &at)?;
    crate::migrate::migrate(&mut client).map_err(|e| JournalError::Database {
        at,
        reason: e.to_string(),
    })?;
    Ok(())
}

/// How messages name the database at `url` (without its password).
pub fn shown_url(url: &str) -> String {
    parse(url).map_or_else(|_| "(settings.state)".to_string(), |(_, at, _)| at)
}

/// The URL's settings (with a connect timeout) and how messages name it.
fn parse(url: &str) -> Result<(postgres::Config, String, crate::pg::Tls), JournalError> {
    let target = crate::pg::parse(url).map_err(|e| JournalError::Database {
        at: "(settings.state)".into(),
        reason: e.to_string(),
    })?;
    let mut config = target.blocking_config();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let at = crate::pg::shown(&config);
    Ok((config, at, target.tls))
}

fn connect(
    config: &postgres::Config,
    tls: &crate::pg::Tls,
    at: &str,
) -> Result<Client, JournalError> {
    crate::pg::connect_blocking(config, tls).map_err(|e| JournalError::Database {
        at: at.to_string(),
        reason: connect_error(&e, config),
    })
}

/// Why connecting failed, and what to do about it.
fn connect_error(e: &postgres::Error, config: &postgres::Config) -> String {
    use postgres::error::SqlState;
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    match e.code() {
        Some(c)
            if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            format!(
                "the server refused user {user:?} ({}); check the user and password in settings.state (or the secret it names)",
                describe(e)
            )
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => format!(
            "there is no database {db:?} on the server; create it (`createdb {db}`) or name another in settings.state"
        ),
        Some(_) => describe(e),
        None if describe(e).contains("TLS handshake") => format!(
            "the TLS handshake with the server failed ({}); with sslmode=require or verify-*, weft checks the server's certificate against the platform's roots and the sslrootcert file: name the CA that issued it there",
            describe(e)
        ),
        None => format!(
            "cannot reach the server ({}); check that PostgreSQL is running and that settings.state names its host and port",
            describe(e)
        ),
    }
}

/// A client error's text with its cause (the `postgres` crate's own text
/// never holds the password).
fn describe(e: &postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{}: {}", db.severity(), db.message()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

/// The writer thread's own state.
struct Writer {
    at: String,
    owner: String,
    lease: Duration,
}

/// The hot statements, prepared once.
struct Prepared {
    event: Statement,
    result: Statement,
}

impl Writer {
    fn run(self, mut client: Client, rx: mpsc::Receiver<Queued>) {
        let mut broken: Option<JournalError> = None;
        let mut prepared = None;
        let beat = (self.lease / 3).max(Duration::from_millis(100));
        let mut next_beat = Instant::now() + beat;
        loop {
            let first = match rx.recv_timeout(next_beat.saturating_duration_since(Instant::now())) {
                Ok(q) => Some(q),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if Instant::now() >= next_beat {
                next_beat = Instant::now() + beat;
                if broken.is_none() {
                    self.heartbeat(&mut client);
                }
            }
            let Some(first) = first else { continue };
            let batch = queue::gather(first, &rx);
            let outcome = match &broken {
                Some(why) => Err(why.clone()),
                None => self
                    .apply(&mut client, &mut prepared, &batch)
                    .map_err(|reason| {
                        let why = JournalError::Database {
                            at: self.at.clone(),
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
    fn heartbeat(&self, client: &mut Client) {
        if let Err(e) = client.execute(lease::RENEW, &[&self.owner, &lease::seconds(self.lease)]) {
            tracing::warn!(target: "weft::journal", at = %self.at, "cannot renew this process's leases: {}", describe(&e));
        }
    }

    fn apply(
        &self,
        client: &mut Client,
        prepared: &mut Option<Prepared>,
        batch: &[Queued],
    ) -> Result<(), WriteError> {
        let sql = |e: postgres::Error| WriteError::Database(describe(&e));
        if prepared.is_none() {
            *prepared = Some(Prepared {
                event: client.prepare(&EVENT_SQL).map_err(sql)?,
                result: client.prepare(&RESULT_SQL).map_err(sql)?,
            });
        }
        let Some(st) = prepared.as_ref() else {
            return Err(WriteError::Unprepared);
        };
        let lost = |run: &str| WriteError::LeaseLost {
            run: run.to_string(),
        };
        let mut tx = client.transaction().map_err(sql)?;
        let owner = self.owner.as_str();
        for (op, _) in batch {
            match op {
                Op::CreateRun(run) => {
                    let options = serde_json::to_string(&run.options).unwrap_or_default();
                    let pid = run.pid.map(i64::from);
                    tx.execute(
                        "INSERT INTO weft_runs (id, policy, spec, digest, input, options, seed, status, pid, started_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                        &[&run.id, &run.policy, &run.spec, &run.digest, &run.input, &options, &run.seed, &run.status.as_str(), &pid, &run.started_at],
                    )
                    .map_err(sql)?;
                    tx.execute(lease::TAKE, &[&run.id, &owner, &lease::seconds(self.lease)])
                        .map_err(sql)?;
                }
                Op::Event { run, event } => {
                    let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
                    let resolution = event.resolution.map(|r| r.as_str());
                    let n = tx
                        .execute(
                            &st.event,
                            &[
                                run,
                                &seq,
                                &event.kind.as_str(),
                                &event.request,
                                &event.result,
                                &event.started_at,
                                &event.finished_at,
                                &owner,
                                &resolution,
                            ],
                        )
                        .map_err(sql)?;
                    if n != 1 {
                        return Err(lost(run));
                    }
                }
                Op::Result {
                    run,
                    seq,
                    result,
                    finished_at,
                } => {
                    let seq = i64::try_from(*seq).unwrap_or(i64::MAX);
                    let n = tx
                        .execute(&st.result, &[run, &seq, result, finished_at, &owner])
                        .map_err(sql)?;
                    if n != 1 {
                        return Err(lost(run));
                    }
                }
                Op::Finish {
                    run,
                    status,
                    output,
                    error,
                } => {
                    let n = tx
                        .execute(
                            &format!(
                                "UPDATE weft_runs SET status = $2, output = $3, error = $4, updated_at = $5
                                 WHERE id = $1 AND {}",
                                lease::held(1, 6)
                            ),
                            &[run, &status.as_str(), output, error, &now_us(), &owner],
                        )
                        .map_err(sql)?;
                    if n != 1 {
                        return Err(lost(run));
                    }
                    tx.execute(lease::RELEASE, &[run, &owner]).map_err(sql)?;
                }
            }
        }
        tx.commit().map_err(sql)
    }
}

/// An event's row (replacing one of the same run and number), stored only
/// while this process holds the run's lease.
static EVENT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO weft_events (run_id, seq, kind, request, result, resolution, started_at, finished_at)
         SELECT $1::text, $2::bigint, $3::text, $4::text, $5::text, $9::text, $6::bigint, $7::bigint
         WHERE {}
         ON CONFLICT (run_id, seq) DO UPDATE SET kind = excluded.kind, request = excluded.request,
             result = excluded.result, resolution = excluded.resolution, started_at = excluded.started_at,
             finished_at = excluded.finished_at",
        lease::held(1, 8).replace("$1", "$1::text").replace("$8", "$8::text")
    )
});

/// A call's result, stored only while this process holds the lease.
static RESULT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE weft_events SET result = $3, finished_at = $4
         WHERE run_id = $1 AND seq = $2 AND {}",
        lease::held(1, 5)
    )
});

const RUN_COLUMNS: &str =
    "r.id, r.policy, r.spec, r.digest, r.input, r.options, r.seed, r.status, r.pid,
     r.started_at, r.updated_at, r.output, r.error, l.owner,
     (extract(epoch FROM l.expires_at) * 1000000)::bigint, COALESCE(l.expires_at > now(), false)";

fn run_row(r: &Row) -> Result<RunRecord, postgres::Error> {
    let options: String = r.try_get(5)?;
    let status: String = r.try_get(7)?;
    let status = Status::parse(&status).unwrap_or(Status::Error);
    let pid: Option<i64> = r.try_get(8)?;
    let owner: Option<String> = r.try_get(13)?;
    let expires_at: Option<i64> = r.try_get(14)?;
    Ok(RunRecord {
        id: r.try_get(0)?,
        policy: r.try_get(1)?,
        spec: r.try_get(2)?,
        digest: r.try_get(3)?,
        input: r.try_get(4)?,
        options: RunOptions::read(&options),
        seed: r.try_get(6)?,
        status,
        pid: pid.and_then(|p| u32::try_from(p).ok()),
        started_at: r.try_get(9)?,
        updated_at: r.try_get(10)?,
        output: r.try_get(11)?,
        error: r.try_get(12)?,
        lease: (!status.finished()).then(|| LeaseHolder {
            owner: owner.unwrap_or_default(),
            expires_at: expires_at.unwrap_or(0),
            live: r.try_get(15).unwrap_or(false),
        }),
    })
}

impl Backend for Postgres {
    fn location(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(&self.at)
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.lease)
    }

    fn submit(&self, op: Op, ack: Option<Ack>) {
        queue::submit(&self.writer, op, ack, || JournalError::Database {
            at: self.at.clone(),
            reason: "its writer has stopped".into(),
        });
    }

    fn list(&self, filter: &Filter) -> Result<Vec<RunRecord>, JournalError> {
        let limit = (filter.limit > 0).then(|| i64::try_from(filter.limit).unwrap_or(i64::MAX));
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM weft_runs r LEFT JOIN weft_leases l ON l.run_id = r.id
             WHERE ($1::text IS NULL OR r.status = $1) AND ($2::text IS NULL OR r.policy = $2)
             ORDER BY r.started_at DESC, r.id LIMIT $3"
        );
        let status = filter.status.map(Status::as_str);
        let rows = self
            .client()?
            .query(&sql, &[&status, &filter.policy, &limit])
            .map_err(|e| self.failed(e))?;
        rows.iter()
            .map(|r| run_row(r).map_err(|e| self.failed(e)))
            .collect()
    }

    fn run(&self, id: &str) -> Result<RunRecord, JournalError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM weft_runs r LEFT JOIN weft_leases l ON l.run_id = r.id WHERE r.id = $1"
        );
        let row = self
            .client()?
            .query_opt(&sql, &[&id])
            .map_err(|e| self.failed(e))?
            .ok_or_else(|| self.unknown(id))?;
        run_row(&row).map_err(|e| self.failed(e))
    }

    fn events(&self, id: &str) -> Result<Vec<Event>, JournalError> {
        let rows = self
            .client()?
            .query(
                "SELECT seq, kind, request, result, resolution, started_at, finished_at
                 FROM weft_events WHERE run_id = $1 ORDER BY seq",
                &[&id],
            )
            .map_err(|e| self.failed(e))?;
        let event = |r: &Row| -> Result<Event, JournalError> {
            let get = |e| self.failed(e);
            let kind: String = r.try_get(1).map_err(get)?;
            let resolution: Option<String> = r.try_get(4).map_err(get)?;
            Event::stored(
                r.try_get(0).map_err(get)?,
                &kind,
                r.try_get(2).map_err(get)?,
                r.try_get(3).map_err(get)?,
                resolution.as_deref(),
                (r.try_get(5).map_err(get)?, r.try_get(6).map_err(get)?),
            )
            .map_err(|why| JournalError::Database {
                at: self.at.clone(),
                reason: format!("run {id} has {why}"),
            })
        };
        rows.iter().map(event).collect()
    }

    fn claim(&self, id: &str, _held_by: Option<u32>, pid: u32) -> Result<bool, JournalError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(|e| self.failed(e))?;
        if !lease::claim(&mut tx, id, &self.owner, self.lease).map_err(|e| self.failed(e))? {
            return Ok(false);
        }
        tx.execute(
            "UPDATE weft_runs SET pid = $2, status = 'running', error = NULL, updated_at = $3 WHERE id = $1",
            &[&id, &i64::from(pid), &now_us()],
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
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(|e| self.failed(e))?;
        tx.execute(
            "UPDATE weft_runs SET status = $2, error = $3, updated_at = $4 WHERE id = $1",
            &[&id, &status.as_str(), &error, &now_us()],
        )
        .map_err(|e| self.failed(e))?;
        // A run stopped outside a run is held by nobody.
        tx.execute(lease::RELEASE, &[&id, &self.owner])
            .map_err(|e| self.failed(e))?;
        tx.commit().map_err(|e| self.failed(e))
    }

    fn resolve(
        &self,
        id: &str,
        seq: u64,
        resolution: Resolution,
        result: Option<&str>,
    ) -> Result<(), JournalError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        let finished = result.map(|_| now_us());
        self.client()?
            .execute(
                "UPDATE weft_events SET resolution = $3, result = $4, finished_at = $5
                 WHERE run_id = $1 AND seq = $2 AND result IS NULL",
                &[&id, &seq, &resolution.as_str(), &result, &finished],
            )
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    fn delete(&self, ids: &[String]) -> Result<usize, JournalError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(|e| self.failed(e))?;
        let mut gone = 0;
        for id in ids {
            for sql in [
                "DELETE FROM weft_events WHERE run_id = $1",
                "DELETE FROM weft_leases WHERE run_id = $1",
            ] {
                tx.execute(sql, &[id]).map_err(|e| self.failed(e))?;
            }
            gone += tx
                .execute("DELETE FROM weft_runs WHERE id = $1", &[id])
                .map_err(|e| self.failed(e))?;
        }
        tx.commit().map_err(|e| self.failed(e))?;
        Ok(usize::try_from(gone).unwrap_or(usize::MAX))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing the channel ends the writer thread once it has applied
        // what was queued; the writer's connection closes there.
        self.writer.lock().take();
        // Closing a connection blocks on the client's own runtime, which
        // must not happen on an async worker: it closes on a thread.
        if let Some(client) = self.reader.lock().take() {
            let _ = std::thread::Builder::new()
                .name("weft-journal-pg-close".into())
                .spawn(move || drop(client));
        }
    }
}
