//! Tenants' rates shared by replicas: with `settings.state =
//! "postgres://..."`, each rate-limited tenant's token bucket is a row of
//! `weft_rate_buckets` in that database, so a tenant's calls a minute hold
//! across every `weft serve` that shares it, not per process.
//!
//! Taking a token is one statement: the row's tokens are refilled by the
//! time since it was last touched (the database's clock, so replicas'
//! clocks do not matter), capped at the burst, and decremented only if a
//! whole token is there; the row lock serialises replicas. The client is
//! tokio-postgres, so a worker awaits the answer and never blocks on it.
//!
//! When the database cannot be reached, a tenant falls back to its own
//! process-local bucket (the limit then holds per replica, as without
//! `settings.state`), a warning says so, and the connection is made again
//! in the background.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio_postgres::{Client, Statement};

/// How long connecting may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before connecting again after the connection is lost.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// At most one fallback warning in this many seconds.
const WARN_EVERY_SECS: u64 = 30;

/// Takes a token: refills by the time since the row was last touched, caps
/// at the burst ($3), takes one if a whole one is there. No row comes back
/// when none is. ($1 tenant, $2 tokens a second, $3 burst.)
const TAKE: &str = "
    INSERT INTO weft_rate_buckets AS b (tenant, tokens, at)
    VALUES ($1, $3::float8 - 1, now())
    ON CONFLICT (tenant) DO UPDATE
    SET tokens = LEAST($3::float8, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM (now() - b.at))::float8) * $2::float8) - 1,
        at = GREATEST(b.at, now())
    WHERE LEAST($3::float8, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM (now() - b.at))::float8) * $2::float8) >= 1
    RETURNING tokens";

/// The tokens there now, without taking any (no row: a full bucket).
const PEEK: &str = "
    SELECT LEAST($3::float8, tokens + GREATEST(0, EXTRACT(EPOCH FROM (now() - at))::float8) * $2::float8)
    FROM weft_rate_buckets WHERE tenant = $1";

/// Why the shared rates could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SharedRateError {
    #[error("settings.state is not a PostgreSQL URL ({0})")]
    Url(String),
    #[error("cannot reach the database for the tenants' shared rates ({0})")]
    Connect(String),
}

/// The live connection and its prepared statements.
struct Live {
    client: Client,
    take: Statement,
    peek: Statement,
}

/// The rate buckets of every tenant, in one PostgreSQL database.
pub struct SharedRates {
    config: tokio_postgres::Config,
    tls: crate::pg::Tls,
    live: RwLock<Option<Arc<Live>>>,
    reconnecting: AtomicBool,
    last_warning: AtomicU64,
    started: Instant,
}

impl std::fmt::Debug for SharedRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds the password.
        f.write_str("SharedRates")
    }
}

/// A failed statement: the caller falls back to its local bucket.
#[derive(Debug)]
pub(super) struct Unreachable;

impl SharedRates {
    /// Connects to the database at `url`, whose schema the journal has
    /// already brought up to date (`weft_rate_buckets` is migration 2).
    pub async fn connect(url: &str) -> Result<Arc<SharedRates>, SharedRateError> {
        let target = crate::pg::parse(url).map_err(|e| SharedRateError::Url(e.to_string()))?;
        let (mut config, tls) = (target.config, target.tls);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let live = open(&config, &tls)
            .await
            .map_err(|e| SharedRateError::Connect(describe(&e)))?;
        Ok(Arc::new(SharedRates {
            config,
            tls,
            live: RwLock::new(Some(Arc::new(live))),
            reconnecting: AtomicBool::new(false),
            last_warning: AtomicU64::new(0),
            started: Instant::now(),
        }))
    }

    /// Takes a token of `tenant`'s rate: `Ok(Err(wait))` when there is
    /// none, `Err` when the database did not answer.
    pub(super) async fn take(
        self: &Arc<Self>,
        tenant: &str,
        per_sec: f64,
        burst: f64,
    ) -> Result<Result<(), Duration>, Unreachable> {
        let live = self.live()?;
        let taken = live
            .client
            .query_opt(&live.take, &[&tenant, &per_sec, &burst])
            .await;
        match taken {
            Ok(Some(_)) => Ok(Ok(())),
            Ok(None) => {
                let tokens = self.tokens(&live, tenant, per_sec, burst).await?;
                Ok(Err(wait_for(tokens, per_sec)))
            }
            Err(e) => Err(self.lost(&e)),
        }
    }

    /// Whether a token of `tenant`'s rate is there, without taking it.
    pub(super) async fn peek(
        self: &Arc<Self>,
        tenant: &str,
        per_sec: f64,
        burst: f64,
    ) -> Result<Result<(), Duration>, Unreachable> {
        let live = self.live()?;
        let tokens = self.tokens(&live, tenant, per_sec, burst).await?;
        if tokens >= 1.0 {
            Ok(Ok(()))
        } else {
            Ok(Err(wait_for(tokens, per_sec)))
        }
    }

    async fn tokens(
        self: &Arc<Self>,
        live: &Live,
        tenant: &str,
        per_sec: f64,
        burst: f64,
    ) -> Result<f64, Unreachable> {
        match live
            .client
            .query_opt(&live.peek, &[&tenant, &per_sec, &burst])
            .await
        {
            Ok(Some(row)) => row.try_get::<_, f64>(0).map_err(|e| self.lost(&e)),
            Ok(None) => Ok(burst),
            Err(e) => Err(self.lost(&e)),
        }
    }

    /// The connection, or `Unreachable` (and a reconnection under way).
    fn live(self: &Arc<Self>) -> Result<Arc<Live>, Unreachable> {
        if let Some(live) = self.live.read().as_ref()
            && !live.client.is_closed()
        {
            return Ok(live.clone());
        }
        self.reconnect();
        self.warn("its connection is closed");
        Err(Unreachable)
    }

    /// Notes a failed statement; a closed connection is made again.
    fn lost(self: &Arc<Self>, e: &tokio_postgres::Error) -> Unreachable {
        self.warn(&describe(e));
        if e.is_closed() {
            self.reconnect();
        }
        Unreachable
    }

    fn warn(&self, reason: &str) {
        let now = self.started.elapsed().as_secs() + WARN_EVERY_SECS;
        let last = self.last_warning.load(Ordering::Relaxed);
        if (last == 0 || now >= last + WARN_EVERY_SECS)
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let mut reason = reason.to_string();
            crate::util::truncate(&mut reason, 512);
            tracing::warn!(
                %reason,
                "the tenants' shared rates are out of reach; each replica applies its own until they are back"
            );
        }
    }

    /// Connects again in the background (one attempt at a time).
    fn reconnect(self: &Arc<Self>) {
        if self.reconnecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.reconnecting.store(false, Ordering::Release);
            return;
        };
        let this = self.clone();
        handle.spawn(async move {
            tokio::time::sleep(RECONNECT_AFTER).await;
            match open(&this.config, &this.tls).await {
                Ok(live) => {
                    *this.live.write() = Some(Arc::new(live));
                    tracing::info!("the tenants' shared rates are back");
                }
                Err(e) => this.warn(&describe(&e)),
            }
            this.reconnecting.store(false, Ordering::Release);
        });
    }
}

/// Connects, runs the connection on the current runtime, and prepares the
/// statements.
async fn open(
    config: &tokio_postgres::Config,
    tls: &crate::pg::Tls,
) -> Result<Live, tokio_postgres::Error> {
    let client = crate::pg::connect(config, tls).await?;
    let take = client.prepare(TAKE).await?;
    let peek = client.prepare(PEEK).await?;
    Ok(Live { client, take, peek })
}

/// How long until a bucket holding `tokens` has a whole one.
fn wait_for(tokens: f64, per_sec: f64) -> Duration {
    let missing = (1.0 - tokens).max(0.0);
    Duration::from_secs_f64((missing / per_sec.max(f64::MIN_POSITIVE)).min(3600.0))
}

/// An error's text with its cause (the database's own message).
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_the_missing_fraction_of_a_token() {
        assert_eq!(wait_for(0.5, 1.0), Duration::from_millis(500));
        assert_eq!(wait_for(0.0, 2.0), Duration::from_millis(500));
        // Never negative, never unbounded.
        assert_eq!(wait_for(3.0, 1.0), Duration::ZERO);
        assert_eq!(wait_for(0.0, 0.0), Duration::from_secs(3600));
    }
}
