//! Leases: who owns a run in a journal several weft processes share.
//!
//! A run being run has a row in `weft_leases`: its owner's id and when the
//! lease expires, by the database's clock (so the replicas' clocks need not
//! agree). The owner renews every lease it holds with one statement, a
//! heartbeat, every third of the lease; a run whose lease has expired is
//! one whose owner died (or lost the database), and another process may
//! [`claim`] it. Every write of a run is fenced by its lease: an intent or
//! result of a process that no longer owns the run is refused, so a stale
//! owner can never send a call behind its successor's back.

use std::time::Duration;

use postgres::GenericClient;

/// The id a process holds leases under: `host:pid:random`.
pub fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let mut host = host;
    crate::util::truncate(&mut host, 64);
    format!(
        "{host}:{}:{}",
        std::process::id(),
        crate::util::request_id()
    )
}

/// A lease's length in seconds, as the SQL below takes it.
pub fn seconds(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

/// Takes (or renews) `owner`'s lease on `run`, inside the caller's
/// transaction.
pub const TAKE: &str = "INSERT INTO weft_leases (run_id, owner, expires_at)
     VALUES ($1, $2, now() + make_interval(secs => $3))
     ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at";

/// Renews every lease `owner` holds.
pub const RENEW: &str = "UPDATE weft_leases SET expires_at = now() + make_interval(secs => $2)
     WHERE owner = $1";

/// Gives up `owner`'s lease on a run.
pub const RELEASE: &str = "DELETE FROM weft_leases WHERE run_id = $1 AND owner = $2";

/// The condition a run's write is fenced by: `owner` still holds its
/// lease (`$run` and `$owner` are the statement's parameter numbers).
pub fn held(run: u8, owner: u8) -> String {
    format!("EXISTS (SELECT 1 FROM weft_leases WHERE run_id = ${run} AND owner = ${owner})")
}

/// Takes `run` for `owner` if nobody holds it or its lease has expired:
/// `false` when a live lease of another process holds it. A finished run
/// is never taken.
pub fn claim(
    client: &mut impl GenericClient,
    run: &str,
    owner: &str,
    lease: Duration,
) -> Result<bool, postgres::Error> {
    let taken = client.execute(
        "INSERT INTO weft_leases (run_id, owner, expires_at)
         SELECT $1::text, $2::text, now() + make_interval(secs => $3::float8)
         WHERE EXISTS (SELECT 1 FROM weft_runs WHERE id = $1::text
                       AND status NOT IN ('ok', 'error', 'limit'))
         ON CONFLICT (run_id) DO UPDATE
             SET owner = excluded.owner, expires_at = excluded.expires_at
             WHERE weft_leases.expires_at < now()",
        &[&run, &owner, &seconds(lease)],
    )?;
    Ok(taken == 1)
}
