//! The journal file's schema, and its migration from an older weft's.
//!
//! `meta.schema` holds the version. Version 1 (weft before leases) has the
//! runs and their events; version 2 adds a run's lease to its row
//! (`holder`, `holder_process`, `lease_until`: see `file_lease`). A file
//! of version 1 is migrated when weft opens it, inside one write
//! transaction, so two processes opening it at once migrate it once. A
//! file of a newer version than this weft knows is refused: an older weft
//! must not write rows a newer one reads differently (and a weft of
//! version 1 refuses a file of version 2 the same way).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// The schema version this build writes.
pub const VERSION: &str = "2";

/// The tables of a new file, at [`VERSION`].
const TABLES: &str = "
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
    error TEXT,
    holder TEXT,
    holder_process TEXT,
    lease_until INTEGER
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

/// From version 1 to 2: the lease columns (a run of version 1 keeps none,
/// and its process id decides who holds it, as it did).
const TO_2: &str = "
ALTER TABLE runs ADD COLUMN holder TEXT;
ALTER TABLE runs ADD COLUMN holder_process TEXT;
ALTER TABLE runs ADD COLUMN lease_until INTEGER;
";

/// The indexes of version 2 (renewing a holder's leases finds its runs).
const INDEXES: &str = "CREATE INDEX IF NOT EXISTS runs_by_holder ON runs (holder);";

/// Why a file cannot be used as a journal.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("it is an SQLite database, but not a weft journal")]
    NotAJournal,
    #[error(
        "it has schema version {0}, newer than this weft knows ({VERSION}): upgrade weft, or point settings.journal at another file"
    )]
    Newer(String),
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Makes the tables of a new journal, migrates an older one, or checks
/// that the file is at [`VERSION`].
pub fn prepare(conn: &mut Connection) -> Result<(), Refused> {
    if version(conn)?.as_deref() == Some(VERSION) {
        return Ok(());
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !tables.is_empty() && !tables.iter().any(|t| t == "meta") {
        return Err(Refused::NotAJournal);
    }
    // Another process may be making or migrating it right now: the write
    // lock is taken first, and the version read again under it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(TABLES)?;
    let found: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
            r.get(0)
        })
        .optional()?;
    match found.as_deref() {
        None => {}
        Some("1") => tx.execute_batch(TO_2)?,
        Some(VERSION) => return Ok(()),
        Some(other) => return Err(Refused::Newer(other.to_string())),
    }
    tx.execute_batch(INDEXES)?;
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?1)",
        [VERSION],
    )?;
    tx.commit()?;
    Ok(())
}

/// The file's schema version; `None` for a new file.
fn version(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(None);
    }
    conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
        r.get(0)
    })
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT name FROM pragma_table_info('runs')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_version_1_file_gains_the_lease_columns_and_a_newer_one_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('schema', '1');
             CREATE TABLE runs (id TEXT PRIMARY KEY, pid INTEGER, started_at INTEGER);
             INSERT INTO runs VALUES ('r1', 7, 0);",
        )
        .unwrap();
        prepare(&mut conn).unwrap();
        assert_eq!(
            columns(&conn),
            [
                "id",
                "pid",
                "started_at",
                "holder",
                "holder_process",
                "lease_until"
            ]
        );
        assert_eq!(version(&conn).unwrap().as_deref(), Some("2"));
        // Prepared twice: nothing more happens.
        prepare(&mut conn).unwrap();
        assert_eq!(columns(&conn).len(), 6);
        conn.execute("UPDATE meta SET value = '3'", []).unwrap();
        assert_eq!(
            prepare(&mut conn).unwrap_err().to_string(),
            "it has schema version 3, newer than this weft knows (2): upgrade weft, or point settings.journal at another file"
        );
    }

    #[test]
    fn a_database_of_something_else_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE notes (x TEXT);").unwrap();
        assert!(matches!(prepare(&mut conn), Err(Refused::NotAJournal)));
    }
}
