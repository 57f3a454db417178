//! The audit log in PostgreSQL: with `settings.state = "postgres://..."`
//! and `settings.audit` set, records go to the `weft_audit` table of that
//! database instead of the file, so the replicas that share it keep one
//! log, and `weft audit tail` in any of them reads it whole.
//!
//! The salt that keys the arguments' HMAC is the database's too
//! (`weft_audit_salt`, made by the first process to open it), so the same
//! arguments hash the same on every replica. Rows are written by the audit
//! writer thread, a batch (everything queued so far) in one statement; the
//! connection is the blocking `postgres` client, which never runs on an
//! async worker.

use std::time::Duration;

use postgres::Client;

/// How long connecting may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The audit table, named in messages.
pub(super) const TABLE: &str = "weft_audit";

/// A connection the writer thread stores records through.
pub(super) struct Db {
    client: Client,
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Connects to the database at `url` (blocking).
fn connect(url: &str) -> std::io::Result<Client> {
    let target = crate::pg::parse(url).map_err(|e| io(e.to_string()))?;
    let mut config = target.blocking_config();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    crate::pg::connect_blocking(&config, &target.tls)
        .map_err(|e| io(format!("cannot reach the audit database ({e})")))
}

/// Brings the schema up to date, connects, and reads the shared salt (or
/// makes it, if this is the first process to open the database).
/// Blocking: call it off the async workers.
pub(super) fn open(url: &str) -> std::io::Result<(Db, [u8; 32])> {
    let mut client = connect(url)?;
    crate::migrate::migrate(&mut client).map_err(|e| io(format!("the audit database: {e}")))?;
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(io)?;
    client
        .execute(
            "INSERT INTO weft_audit_salt (id, salt) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            &[&hex::encode(fresh)],
        )
        .map_err(io)?;
    let text: String = client
        .query_one("SELECT salt FROM weft_audit_salt WHERE id = 1", &[])
        .and_then(|row| row.try_get(0))
        .map_err(io)?;
    let mut salt = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut salt)
        .map_err(|e| io(format!("the shared audit salt is not 64 hex digits ({e})")))?;
    Ok((Db { client }, salt))
}

impl Db {
    /// Stores `lines` (JSON records, secrets already masked) in order, in
    /// one statement.
    pub(super) fn store(&mut self, lines: &[String]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let records: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
        self.client
            .execute(
                "INSERT INTO weft_audit (record)
                 SELECT r FROM unnest($1::text[]) WITH ORDINALITY AS t(r, n) ORDER BY n",
                &[&records],
            )
            .map(|_| ())
            .map_err(io)
    }
}

/// A reading connection, for `weft audit tail`.
pub struct Reader {
    client: Client,
}

impl Reader {
    /// Connects to the database at `url` (blocking).
    pub fn open(url: &str) -> std::io::Result<Reader> {
        Ok(Reader {
            client: connect(url)?,
        })
    }

    /// The records after row `after` (0: from the start), at most the
    /// last `n` of them (all for `n == 0`), oldest first, each with its
    /// row id. Blocking: call it off the async workers.
    pub fn after(&mut self, after: i64, n: usize) -> std::io::Result<Vec<(i64, String)>> {
        let limit = if n == 0 { i64::MAX } else { n as i64 };
        let rows = self
            .client
            .query(
                "SELECT id, record FROM weft_audit WHERE id > $1 ORDER BY id DESC LIMIT $2",
                &[&after, &limit],
            )
            .map_err(|e| io(format!("cannot read the audit table ({e})")))?;
        let mut out = rows
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?)))
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(io)?;
        out.reverse();
        Ok(out)
    }
}
