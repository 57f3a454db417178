//! Where pins are kept: a SQLite file beside the journal, or the
//! `weft_pins` table of the shared PostgreSQL database (`settings.state`),
//! so that every replica judges tools against the same pins.
//!
//! Both stores are blocking and run the same SQL (PostgreSQL's `$N`
//! placeholders become SQLite's `?N`). Every write stamps `updated_at`, so
//! a process notices another's writes by the table's count and newest
//! stamp ([`Store::stamp`]) without reading every row.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Def, PinKey, PinRow, Write, now_micros};

/// What went wrong with the pins' store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PinError {
    /// The store could not be opened or used.
    #[error("the tool pins in {at}: {reason}")]
    Failed {
        /// The file, or the database without its password.
        at: String,
        /// What failed.
        reason: String,
    },
    /// Something else about the store failed.
    #[error("{0}")]
    Store(String),
}

/// Which pins an approval or a reset touches; `None` matches any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The tenant of a per-tenant instance (empty: shared servers).
    pub scope: Option<String>,
    /// The server.
    pub server: Option<String>,
    /// The tool's own name.
    pub tool: Option<String>,
}

/// A place pins are kept. Every method blocks.
pub trait Store: Send + Sync {
    /// Where, for messages.
    fn location(&self) -> String;
    /// Every pin.
    fn load(&self) -> Result<Vec<(PinKey, PinRow)>, PinError>;
    /// The rows' count and newest `updated_at`: when it differs from the
    /// last one read, someone wrote.
    fn stamp(&self) -> Result<(i64, i64), PinError>;
    /// Applies writes in order.
    fn write(&self, writes: &[Write]) -> Result<(), PinError>;
    /// Approves what was listed of the matching held pins, as `by`.
    /// Returns how many.
    fn approve(&self, filter: &Filter, by: &str) -> Result<usize, PinError>;
    /// Forgets the matching pins; they are taken again at the next
    /// listing. Returns how many.
    fn reset(&self, filter: &Filter) -> Result<usize, PinError>;
}

/// Opens the store `settings` name: `weft_pins` in `settings.state`'s
/// database, else a file beside the journal; `None` when neither is
/// configured (pins then last as long as the process). Blocking.
pub fn open(settings: &crate::config::Settings) -> Result<Option<Arc<dyn Store>>, PinError> {
    if let Some(url) = &settings.state {
        return Ok(Some(Arc::new(Postgres::open(url.expose())?)));
    }
    match settings.journal.as_deref() {
        Some(journal) => Ok(Some(Arc::new(Sqlite::open(&file_beside(journal))?))),
        None => Ok(None),
    }
}

/// `NAME.pins.db` beside the journal `NAME.db`.
fn file_beside(journal: &Path) -> PathBuf {
    let stem = journal
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "journal".into());
    journal.with_file_name(format!("{stem}.pins.db"))
}

const LOAD: &str = "SELECT scope, server, tool, approved_digest, approved_def, approved_by, \
    seen_digest, seen_def, updated_at FROM weft_pins ORDER BY scope, server, tool";

const STAMP: &str = "SELECT count(*), coalesce(max(updated_at), 0) FROM weft_pins";

const PIN: &str = "INSERT INTO weft_pins \
    (scope, server, tool, approved_digest, approved_def, approved_by, updated_at) \
    VALUES ($1, $2, $3, $4, $5, 'first-use', $6) \
    ON CONFLICT (scope, server, tool) DO UPDATE SET \
    approved_digest = excluded.approved_digest, approved_def = excluded.approved_def, \
    approved_by = excluded.approved_by, seen_digest = NULL, seen_def = NULL, \
    updated_at = excluded.updated_at \
    WHERE weft_pins.approved_digest IS NULL";

const SEEN: &str = "INSERT INTO weft_pins (scope, server, tool, seen_digest, seen_def, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (scope, server, tool) DO UPDATE SET \
    seen_digest = excluded.seen_digest, seen_def = excluded.seen_def, \
    updated_at = excluded.updated_at \
    WHERE weft_pins.approved_digest IS DISTINCT FROM excluded.seen_digest";

const CLEAR: &str = "UPDATE weft_pins SET seen_digest = NULL, seen_def = NULL, updated_at = $5 \
    WHERE scope = $1 AND server = $2 AND tool = $3 AND approved_digest = $4";

const MATCH: &str = "(CAST($1 AS TEXT) IS NULL OR scope = $1) \
    AND (CAST($2 AS TEXT) IS NULL OR server = $2) \
    AND (CAST($3 AS TEXT) IS NULL OR tool = $3)";

fn approve_sql() -> String {
    format!(
        "UPDATE weft_pins SET approved_digest = seen_digest, approved_def = seen_def, \
         approved_by = $4, seen_digest = NULL, seen_def = NULL, updated_at = $5 \
         WHERE seen_digest IS NOT NULL AND {MATCH}"
    )
}

fn reset_sql() -> String {
    format!("DELETE FROM weft_pins WHERE {MATCH}")
}

/// A row's columns, in `LOAD`'s order.
type Columns = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

fn row_of(c: Columns) -> (PinKey, PinRow) {
    let def = |digest: Option<String>, text: Option<String>| {
        digest.map(|digest| Def {
            digest,
            text: text.unwrap_or_default(),
        })
    };
    (
        PinKey {
            scope: c.0,
            server: c.1,
            tool: c.2,
        },
        PinRow {
            approved: def(c.3, c.4),
            approved_by: c.5,
            seen: def(c.6, c.7),
            updated_at: c.8,
        },
    )
}

/// Pins in a SQLite file.
pub struct Sqlite {
    path: PathBuf,
    conn: Mutex<rusqlite::Connection>,
}

impl Sqlite {
    /// Opens (making it if need be) the file at `path`.
    pub fn open(path: &Path) -> Result<Sqlite, PinError> {
        let fail = |reason: String| PinError::Failed {
            at: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot make its folder: {e}")))?;
        }
        let conn = rusqlite::Connection::open(path).map_err(|e| fail(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| fail(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail(e.to_string()))?;
        conn.execute_batch(crate::migrate::PINS_TABLE)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn fail(&self, e: rusqlite::Error) -> PinError {
        PinError::Failed {
            at: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

/// PostgreSQL's placeholders as SQLite's numbered ones.
fn lite(sql: &str) -> String {
    sql.replace('$', "?")
}

impl Store for Sqlite {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self) -> Result<Vec<(PinKey, PinRow)>, PinError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(LOAD).map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(row_of((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                )))
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.fail(e))
    }

    fn stamp(&self) -> Result<(i64, i64), PinError> {
        self.conn
            .lock()
            .query_row(STAMP, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.fail(e))
    }

    fn write(&self, writes: &[Write]) -> Result<(), PinError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.fail(e))?;
        let now = now_micros();
        for w in writes {
            let done = match w {
                Write::Pin(k, d) => tx.execute(
                    &lite(PIN),
                    rusqlite::params![k.scope, k.server, k.tool, d.digest, d.text, now],
                ),
                Write::Seen(k, d) => tx.execute(
                    &lite(SEEN),
                    rusqlite::params![k.scope, k.server, k.tool, d.digest, d.text, now],
                ),
                Write::Clear(k, digest) => tx.execute(
                    &lite(CLEAR),
                    rusqlite::params![k.scope, k.server, k.tool, digest, now],
                ),
            };
            done.map_err(|e| self.fail(e))?;
        }
        tx.commit().map_err(|e| self.fail(e))
    }

    fn approve(&self, f: &Filter, by: &str) -> Result<usize, PinError> {
        self.conn
            .lock()
            .execute(
                &lite(&approve_sql()),
                rusqlite::params![f.scope, f.server, f.tool, by, now_micros()],
            )
            .map_err(|e| self.fail(e))
    }

    fn reset(&self, f: &Filter) -> Result<usize, PinError> {
        self.conn
            .lock()
            .execute(
                &lite(&reset_sql()),
                rusqlite::params![f.scope, f.server, f.tool],
            )
            .map_err(|e| self.fail(e))
    }
}

/// Pins in the shared PostgreSQL database.
pub struct Postgres {
    at: String,
    client: Mutex<postgres::Client>,
}

impl Postgres {
    /// Connects to the database at `url` and brings its schema up to date.
    pub fn open(url: &str) -> Result<Postgres, PinError> {
        let target = crate::pg::parse(url).map_err(|e| PinError::Failed {
            at: "(settings.state)".into(),
            reason: e.to_string(),
        })?;
        let mut config = target.blocking_config();
        let at = crate::pg::shown(&config);
        let fail = |reason: String| PinError::Failed {
            at: at.clone(),
            reason,
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let mut client = crate::pg::connect_blocking(&config, &target.tls)
            .map_err(|e| fail(format!("cannot reach the database ({e})")))?;
        crate::migrate::migrate(&mut client).map_err(|e| fail(e.to_string()))?;
        Ok(Postgres {
            at: at.clone(),
            client: Mutex::new(client),
        })
    }

    fn fail(&self, e: postgres::Error) -> PinError {
        PinError::Failed {
            at: self.at.clone(),
            reason: e.to_string(),
        }
    }
}

impl Store for Postgres {
    fn location(&self) -> String {
        self.at.clone()
    }

    fn load(&self) -> Result<Vec<(PinKey, PinRow)>, PinError> {
        let rows = self
            .client
            .lock()
            .query(LOAD, &[])
            .map_err(|e| self.fail(e))?;
        rows.iter()
            .map(|r| {
                Ok(row_of((
                    r.try_get(0).map_err(|e| self.fail(e))?,
                    r.try_get(1).map_err(|e| self.fail(e))?,
                    r.try_get(2).map_err(|e| self.fail(e))?,
                    r.try_get(3).map_err(|e| self.fail(e))?,
                    r.try_get(4).map_err(|e| self.fail(e))?,
                    r.try_get(5).map_err(|e| self.fail(e))?,
                    r.try_get(6).map_err(|e| self.fail(e))?,
                    r.try_get(7).map_err(|e| self.fail(e))?,
                    r.try_get(8).map_err(|e| self.fail(e))?,
                )))
            })
            .collect()
    }

    fn stamp(&self) -> Result<(i64, i64), PinError> {
        let row = self
            .client
            .lock()
            .query_one(STAMP, &[])
            .map_err(|e| self.fail(e))?;
        Ok((
            row.try_get(0).map_err(|e| self.fail(e))?,
            row.try_get(1).map_err(|e| self.fail(e))?,
        ))
    }

    fn write(&self, writes: &[Write]) -> Result<(), PinError> {
        let mut client = self.client.lock();
        let mut tx = client.transaction().map_err(|e| self.fail(e))?;
        let now = now_micros();
        for w in writes {
            let done = match w {
                Write::Pin(k, d) => tx.execute(
                    PIN,
                    &[&k.scope, &k.server, &k.tool, &d.digest, &d.text, &now],
                ),
                Write::Seen(k, d) => tx.execute(
                    SEEN,
                    &[&k.scope, &k.server, &k.tool, &d.digest, &d.text, &now],
                ),
                Write::Clear(k, digest) => {
                    tx.execute(CLEAR, &[&k.scope, &k.server, &k.tool, digest, &now])
                }
            };
            done.map_err(|e| self.fail(e))?;
        }
        tx.commit().map_err(|e| self.fail(e))
    }

    fn approve(&self, f: &Filter, by: &str) -> Result<usize, PinError> {
        let n = self
            .client
            .lock()
            .execute(
                &approve_sql(),
                &[&f.scope, &f.server, &f.tool, &by, &now_micros()],
            )
            .map_err(|e| self.fail(e))?;
        Ok(n as usize)
    }

    fn reset(&self, f: &Filter) -> Result<usize, PinError> {
        let n = self
            .client
            .lock()
            .execute(&reset_sql(), &[&f.scope, &f.server, &f.tool])
            .map_err(|e| self.fail(e))?;
        Ok(n as usize)
    }
}
