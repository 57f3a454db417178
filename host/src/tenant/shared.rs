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
use std::time::Duration;

use tokio_postgres::{Client, Statement};

use crate::pg::live::{ConnectError, Live, Prepared, Reconnecting, Unreachable};

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

/// The prepared statements.
struct Statements {
    take: Statement,
    peek: Statement,
}

impl Prepared for Statements {
    async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Statements {
            take: client.prepare(TAKE).await?,
            peek: client.prepare(PEEK).await?,
        })
    }
}

/// The rate buckets of every tenant, in one PostgreSQL database.
#[derive(Debug)]
pub struct SharedRates(Arc<Reconnecting<Statements>>);

impl SharedRates {
    /// Connects to the database at `url`, whose schema the journal has
    /// already brought up to date (`weft_rate_buckets` is migration 2).
    pub async fn connect(url: &str) -> Result<Arc<SharedRates>, ConnectError> {
        let db = Reconnecting::connect(
            url,
            "the tenants' shared rates",
            "each replica applies its own until they are back",
        )
        .await?;
        Ok(Arc::new(SharedRates(db)))
    }

    /// Takes a token of `tenant`'s rate: `Ok(Err(wait))` when there is
    /// none, `Err` when the database did not answer.
    pub(super) async fn take(
        self: &Arc<Self>,
        tenant: &str,
        per_sec: f64,
        burst: f64,
    ) -> Result<Result<(), Duration>, Unreachable> {
        let live = self.0.live()?;
        let taken = live
            .client
            .query_opt(&live.prepared.take, &[&tenant, &per_sec, &burst])
            .await;
        match taken {
            Ok(Some(_)) => Ok(Ok(())),
            Ok(None) => {
                let tokens = self.tokens(&live, tenant, per_sec, burst).await?;
                Ok(Err(wait_for(tokens, per_sec)))
            }
            Err(e) => Err(self.0.lost(&e)),
        }
    }

    /// Whether a token of `tenant`'s rate is there, without taking it.
    pub(super) async fn peek(
        self: &Arc<Self>,
        tenant: &str,
        per_sec: f64,
        burst: f64,
    ) -> Result<Result<(), Duration>, Unreachable> {
        let live = self.0.live()?;
        let tokens = self.tokens(&live, tenant, per_sec, burst).await?;
        if tokens >= 1.0 {
            Ok(Ok(()))
        } else {
            Ok(Err(wait_for(tokens, per_sec)))
        }
    }

    async fn tokens(
        self: &Arc<Self>,
        live: &Live<Statements>,
        tenant: &str,
        per_sec: f64,
        burst: f64,
    ) -> Result<f64, Unreachable> {
        match live
            .client
            .query_opt(&live.prepared.peek, &[&tenant, &per_sec, &burst])
            .await
        {
            Ok(Some(row)) => row.try_get::<_, f64>(0).map_err(|e| self.0.lost(&e)),
            Ok(None) => Ok(burst),
            Err(e) => Err(self.0.lost(&e)),
        }
    }
}

/// How long until a bucket holding `tokens` has a whole one.
fn wait_for(tokens: f64, per_sec: f64) -> Duration {
    let missing = (1.0 - tokens).max(0.0);
    Duration::from_secs_f64((missing / per_sec.max(f64::MIN_POSITIVE)).min(3600.0))
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
