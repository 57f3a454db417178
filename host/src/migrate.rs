//! The shared database's schema in PostgreSQL (the journal's runs, the
//! audit log, the rate buckets, pins, agents' sessions): versioned migrations, run at start-up.
//! It imports nothing of the crate, so the journal and the audit log can
//! both bring the schema up to date.
//!
//! `weft_schema_version` holds one row per migration applied. Every weft
//! process that opens the database takes a transaction-scoped advisory
//! lock, applies the migrations it knows and the database lacks, in order,
//! and commits; two processes starting at once apply each migration once.
//! A database whose version is newer than this weft knows is refused (an
//! older weft must not write rows a newer one reads differently).

use postgres::Client;

/// The advisory lock every weft takes while migrating (an arbitrary
/// constant, "weft" in ASCII).
const MIGRATION_LOCK: i64 = 0x7765_6674;

/// The pins' table: migration 4 here, and the whole schema of the SQLite
/// file the pins use without a shared database.
pub(crate) const PINS_TABLE: &str = "
    CREATE TABLE IF NOT EXISTS weft_pins (
        scope TEXT NOT NULL,
        server TEXT NOT NULL,
        tool TEXT NOT NULL,
        approved_digest TEXT,
        approved_def TEXT,
        approved_by TEXT,
        seen_digest TEXT,
        seen_def TEXT,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (scope, server, tool)
    );
    ";

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, their events, and the leases that say who owns a run.
    "
    CREATE TABLE weft_runs (
        id TEXT PRIMARY KEY,
        policy TEXT NOT NULL,
        spec TEXT NOT NULL,
        digest TEXT NOT NULL,
        input TEXT NOT NULL,
        options TEXT NOT NULL,
        seed TEXT NOT NULL,
        status TEXT NOT NULL,
        pid BIGINT,
        started_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        output TEXT,
        error TEXT
    );
    CREATE INDEX weft_runs_by_time ON weft_runs (started_at);
    CREATE TABLE weft_events (
        run_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        request TEXT NOT NULL,
        result TEXT,
        resolution TEXT,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE weft_leases (
        run_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX weft_leases_by_owner ON weft_leases (owner);
    ",
    // 2: the tenants' rate buckets, shared by replicas (tenant::shared).
    "
    CREATE TABLE weft_rate_buckets (
        tenant TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        at TIMESTAMPTZ NOT NULL
    );
    ",
    // 3: the audit log shared by replicas, and the salt of its hashes.
    "
    CREATE TABLE weft_audit (
        id BIGSERIAL PRIMARY KEY,
        record TEXT NOT NULL
    );
    CREATE TABLE weft_audit_salt (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        salt TEXT NOT NULL
    );
    ",
    // 4: tool pins shared by replicas (pins::store).
    PINS_TABLE,
    // 5: agents' sessions any replica can serve
    // (serve::edge::shared_sessions).
    "
    CREATE TABLE weft_sessions (
        id TEXT PRIMARY KEY,
        tenant TEXT,
        key_id TEXT,
        state TEXT,
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX weft_sessions_by_expiry ON weft_sessions (expires_at);
    ",
    // 6: which replica holds each task (serve::edge::task_homes).
    "
    CREATE TABLE weft_task_homes (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        replica TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE INDEX weft_task_homes_by_expiry ON weft_task_homes (expires_at);
    ",
];

/// The schema version this build writes.
pub const LATEST: i32 = MIGRATIONS.len() as i32;

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "its schema is version {found}, newer than this weft knows ({LATEST}): upgrade weft, or point settings.state at another database"
    )]
    Newer { found: i32 },
    #[error("applying its schema failed: {0}")]
    Sql(#[from] postgres::Error),
}

/// Brings the database's schema up to [`LATEST`]; returns the version it
/// was at before (0: a new database).
pub fn migrate(client: &mut Client) -> Result<i32, MigrateError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS weft_schema_version (
            version INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )?;
    let found: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM weft_schema_version",
            &[],
        )?
        .get(0);
    if found > LATEST {
        return Err(MigrateError::Newer { found });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO weft_schema_version (version) VALUES ($1)",
            &[&version],
        )?;
        tracing::info!(target: "weft::journal", version, "journal schema migrated");
    }
    tx.commit()?;
    Ok(found)
}
