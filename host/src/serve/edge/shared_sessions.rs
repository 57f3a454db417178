//! Sessions any replica can serve: with `settings.state =
//! "postgres://..."`, each handshake-era session is a row of
//! `weft_sessions` (migration 5) in that database, so a request naming a
//! session another replica opened is served here, with no sticky load
//! balancer.
//!
//! The row holds what the session was opened with (the client's
//! `initialize` parameters, written by rmcp through its `SessionStore`
//! before the client learns the id), and whose it is (the tenant and the
//! key id, written by the guard before the answer leaves). A replica that
//! does not know an id asks the row: for another tenant, or no row, the
//! id is unknown (404), as on the replica that made it; for the same
//! tenant, rmcp replays the handshake here from the stored parameters and
//! the request is served. The per-request cost is a map lookup once a
//! replica knows a session; the row is read once per session and replica.
//!
//! Upstream sessions stay each replica's own. A session's row lives
//! [`LIFETIME`] from its last use by a replica that did not know it (a
//! restore), or its opening; a `DELETE` removes it everywhere.
//!
//! When the database cannot be reached, a session is served only where it
//! is known, as without `settings.state`, and a warning says so.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};
use tokio_postgres::{Client, Statement};

use crate::pg::live::{ConnectError, Prepared, Reconnecting, Unreachable};

/// How long a session's row lives after it was opened or last restored.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The most bytes of a session's stored parameters (the client's
/// capabilities and name): a larger `initialize` keeps its session on the
/// replica that opened it.
pub const MAX_STATE: usize = 64 * 1024;

/// The longest session id looked up (rmcp's are 36 characters): a longer
/// one, from an agent, is unknown without a query.
pub const MAX_ID: usize = 256;

/// How often expired rows are removed (by whichever replica opens a
/// session first after that long).
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// How long a row read for the guard waits for rmcp's restore to ask for
/// it, before it is read again.
const HANDED_FOR: Duration = Duration::from_secs(30);

/// The parameters rmcp stores, with the row's expiry set from now.
const STORE: &str = "
    INSERT INTO weft_sessions (id, state, expires_at)
    VALUES ($1, $2, now() + make_interval(secs => $3))
    ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at";

/// Whose the session is.
const OWN: &str = "
    INSERT INTO weft_sessions (id, tenant, key_id, expires_at)
    VALUES ($1, $2, $3, now() + make_interval(secs => $4))
    ON CONFLICT (id) DO UPDATE SET tenant = EXCLUDED.tenant, key_id = EXCLUDED.key_id";

/// A live row, its expiry pushed back: whose it is and its parameters.
const TAKE: &str = "
    UPDATE weft_sessions SET expires_at = now() + make_interval(secs => $2)
    WHERE id = $1 AND expires_at > now()
    RETURNING tenant, key_id, state";

/// [`TAKE`], for the tenant that opened it only: another tenant's probe
/// of a live id neither reads the row nor pushes its expiry back.
const TAKE_OWNED: &str = "
    UPDATE weft_sessions SET expires_at = now() + make_interval(secs => $2)
    WHERE id = $1 AND expires_at > now() AND tenant IS NOT DISTINCT FROM $3
    RETURNING tenant, key_id, state";

const DELETE: &str = "DELETE FROM weft_sessions WHERE id = $1";

/// Every session opened with one of the keys.
const DELETE_KEYS: &str = "DELETE FROM weft_sessions WHERE key_id = ANY($1)";

const SWEEP: &str = "DELETE FROM weft_sessions WHERE expires_at <= now()";

/// The channel on which replicas pass sessions' resource updates.
pub const NOTES: &str = "weft_session_notes";

/// One update to the other replicas.
const NOTIFY: &str = "SELECT pg_notify('weft_session_notes', $1)";

pub(super) struct Statements {
    store: Statement,
    own: Statement,
    take: Statement,
    take_owned: Statement,
    delete: Statement,
    delete_keys: Statement,
    sweep: Statement,
    pub(super) notify: Statement,
}

impl Prepared for Statements {
    async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Statements {
            store: client.prepare(STORE).await?,
            own: client.prepare(OWN).await?,
            take: client.prepare(TAKE).await?,
            take_owned: client.prepare(TAKE_OWNED).await?,
            delete: client.prepare(DELETE).await?,
            delete_keys: client.prepare(DELETE_KEYS).await?,
            sweep: client.prepare(SWEEP).await?,
            notify: client.prepare(NOTIFY).await?,
        })
    }
}

/// Whose a stored session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The tenant that opened it; `None` on a weft without tenants.
    pub tenant: Option<String>,
    pub key_id: Option<String>,
}

/// The sessions of every replica, in one PostgreSQL database.
pub struct SharedSessions {
    pub(super) db: Arc<Reconnecting<Statements>>,
    /// Rows the guard has read, kept for rmcp's restore that follows.
    handed: Mutex<HashMap<String, (Instant, SessionState)>>,
    last_sweep: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SharedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSessions")
    }
}

impl SharedSessions {
    /// Connects to the database at `url`, whose schema is already up to
    /// date.
    pub async fn connect(url: &str) -> Result<Arc<SharedSessions>, ConnectError> {
        let db = Reconnecting::connect(
            url,
            "the agents' shared sessions",
            "a session is served only by the replica that knows it until they are back",
        )
        .await?;
        Ok(Arc::new(SharedSessions {
            db,
            handed: Mutex::default(),
            last_sweep: Mutex::default(),
        }))
    }

    /// Records that session `id` is `owner`'s (after its `initialize`).
    pub async fn own(&self, id: &str, owner: &Owner) -> Result<(), Unreachable> {
        let live = self.db.live()?;
        let secs = LIFETIME.as_secs_f64();
        live.client
            .execute(
                &live.prepared.own,
                &[&id, &owner.tenant, &owner.key_id, &secs],
            )
            .await
            .map_err(|e| self.db.lost(&e))?;
        self.sweep_now_and_then(&live).await;
        Ok(())
    }

    /// Whose session `id` is, if `tenant` (`None` on a weft without
    /// tenants) opened it on a replica, it has not expired or ended, and it
    /// can be restored here. Its parameters are kept for rmcp's restore.
    /// Another tenant's session is as unknown as one that never was.
    pub async fn owner(
        &self,
        id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<Owner>, Unreachable> {
        let Some((owner, Some(state))) = self.take(id, Some(tenant)).await? else {
            return Ok(None);
        };
        let mut handed = self.handed.lock();
        handed.retain(|_, (at, _)| at.elapsed() < HANDED_FOR);
        handed.insert(id.to_string(), (Instant::now(), state));
        Ok(Some(owner))
    }

    /// Ends session `id` on every replica.
    pub async fn forget(&self, id: &str) -> Result<(), Unreachable> {
        self.handed.lock().remove(id);
        let live = self.db.live()?;
        live.client
            .execute(&live.prepared.delete, &[&id])
            .await
            .map_err(|e| self.db.lost(&e))?;
        Ok(())
    }

    /// Ends, on every replica, the sessions opened with any of `key_ids`
    /// (revoked keys).
    pub async fn forget_keys(&self, key_ids: &[String]) -> Result<(), Unreachable> {
        let live = self.db.live()?;
        live.client
            .execute(&live.prepared.delete_keys, &[&key_ids])
            .await
            .map_err(|e| self.db.lost(&e))?;
        Ok(())
    }

    /// The live row of `id`, its expiry pushed back; with `tenant`, only
    /// if that tenant opened it.
    async fn take(
        &self,
        id: &str,
        tenant: Option<Option<&str>>,
    ) -> Result<Option<(Owner, Option<SessionState>)>, Unreachable> {
        if id.len() > MAX_ID {
            return Ok(None);
        }
        let live = self.db.live()?;
        let secs = LIFETIME.as_secs_f64();
        let row = match tenant {
            None => {
                live.client
                    .query_opt(&live.prepared.take, &[&id, &secs])
                    .await
            }
            Some(tenant) => {
                live.client
                    .query_opt(&live.prepared.take_owned, &[&id, &secs, &tenant])
                    .await
            }
        }
        .map_err(|e| self.db.lost(&e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let owner = Owner {
            tenant: row.try_get(0).map_err(|e| self.db.lost(&e))?,
            key_id: row.try_get(1).map_err(|e| self.db.lost(&e))?,
        };
        let text: Option<String> = row.try_get(2).map_err(|e| self.db.lost(&e))?;
        // A row another weft wrote that this one cannot read is a session
        // this one cannot restore: rmcp then answers 404.
        let state = text.and_then(|t| serde_json::from_str::<SessionState>(&t).ok());
        Ok(Some((owner, state)))
    }

    async fn sweep_now_and_then(&self, live: &crate::pg::live::Live<Statements>) {
        {
            let mut last = self.last_sweep.lock();
            if last.is_some_and(|at| at.elapsed() < SWEEP_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Err(e) = live.client.execute(&live.prepared.sweep, &[]).await {
            self.db.lost(&e);
        }
    }
}

/// rmcp's view of the rows: it stores a session's parameters after the
/// handshake, loads them to restore a session this replica does not know
/// (counted in `weft_sessions_restored_total`), and deletes them on the
/// agent's `DELETE`.
pub struct Store {
    pub shared: Arc<SharedSessions>,
    pub hub: crate::Hub,
}

#[async_trait::async_trait]
impl SessionStore for Store {
    async fn load(&self, id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let handed = self.shared.handed.lock().remove(id);
        let state = match handed {
            Some((at, state)) if at.elapsed() < HANDED_FOR => Some(state),
            _ => match self.shared.take(id, None).await {
                Ok(row) => row.and_then(|(_, state)| state),
                Err(Unreachable) => {
                    return Err("the shared sessions' database is out of reach".into());
                }
            },
        };
        if state.is_some() {
            self.hub.metrics().session_restored();
        }
        Ok(state)
    }

    async fn store(&self, id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let text = serde_json::to_string(state)?;
        if text.len() > MAX_STATE {
            tracing::warn!(
                bytes = text.len(),
                "a session's initialize parameters are over {MAX_STATE} bytes: only this replica serves it"
            );
            return Ok(());
        }
        let live = self
            .shared
            .db
            .live()
            .map_err(|_| "the shared sessions' database is out of reach")?;
        live.client
            .execute(&live.prepared.store, &[&id, &text, &LIFETIME.as_secs_f64()])
            .await
            .map_err(|e| {
                self.shared.db.lost(&e);
                Box::new(e) as SessionStoreError
            })?;
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), SessionStoreError> {
        self.shared
            .forget(id)
            .await
            .map_err(|_| "the shared sessions' database is out of reach".into())
    }
}
