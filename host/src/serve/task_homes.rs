//! Which replica holds each task: with `settings.state = "postgres://..."`
//! and an address the other replicas can reach this one at (`weft serve
//! --advertise`), every task this replica hands an agent (a policy or code
//! run taken as a task, or a task an upstream made through the tasks
//! extension) is a row of `weft_task_homes` (migration 6): the tenant, the
//! task id, and this replica's address. A replica asked about a task it
//! does not hold looks the row up and passes the request on to the
//! replica named there (see the edge's `forward`), so `tasks/get`,
//! `tasks/update` and `tasks/cancel` reach the run or the upstream that
//! has the task, through any load balancer.
//!
//! The row is keyed by tenant and id: a tenant naming another tenant's
//! task finds no row, as for an id that never existed. It is written
//! before the agent learns the id and lives [`LIFETIME`]; expired rows are
//! swept now and then. While the database is out of reach, tasks are
//! answered where they are held and nowhere else, as with one replica.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_postgres::{Client, Statement};

use crate::pg::live::{ConnectError, Prepared, Reconnecting, Unreachable};

/// How long a task's row lives after it was written.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The longest task id recorded or looked up (weft's run ids and the
/// upstreams' are far shorter): a longer one stays where it was made.
pub const MAX_ID: usize = 256;

/// The longest address a replica advertises.
pub const MAX_ADDRESS: usize = 512;

/// How often expired rows are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

const RECORD: &str = "
    INSERT INTO weft_task_homes (tenant, id, replica, expires_at)
    VALUES ($1, $2, $3, now() + make_interval(secs => $4))
    ON CONFLICT (tenant, id) DO UPDATE
    SET replica = EXCLUDED.replica, expires_at = EXCLUDED.expires_at";

const HOME: &str = "
    SELECT replica FROM weft_task_homes
    WHERE tenant = $1 AND id = $2 AND expires_at > now()";

const SWEEP: &str = "DELETE FROM weft_task_homes WHERE expires_at <= now()";

struct Statements {
    record: Statement,
    home: Statement,
    sweep: Statement,
}

impl Prepared for Statements {
    async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Statements {
            record: client.prepare(RECORD).await?,
            home: client.prepare(HOME).await?,
            sweep: client.prepare(SWEEP).await?,
        })
    }
}

/// Why an address cannot be advertised.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// Not an `http` or `https` URL with a host and nothing after it.
    #[error("{0:?} is not an http:// or https:// URL with a host (e.g. http://10.0.0.5:8080)")]
    NotHttp(String),
    /// Over [`MAX_ADDRESS`] bytes.
    #[error("the address is longer than {MAX_ADDRESS} bytes")]
    TooLong,
}

/// Checks an address to advertise: an `http` or `https` URL with a host
/// and no path, query or credentials; returned without a trailing slash.
pub fn advertised(text: &str) -> Result<String, AddressError> {
    if text.len() > MAX_ADDRESS {
        return Err(AddressError::TooLong);
    }
    let shown = || AddressError::NotHttp(text.chars().take(80).collect());
    let url = url::Url::parse(text).map_err(|_| shown())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(shown());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Where this replica is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Me {
    /// Not known until `weft serve --http` has bound.
    Unbound,
    /// Bound to every interface with no address given: no other replica
    /// can be sent here, so nothing is recorded.
    Nowhere,
    At(String),
}

/// The tasks of every replica, in one PostgreSQL database.
pub struct TaskHomes {
    db: Arc<Reconnecting<Statements>>,
    me: tokio::sync::watch::Sender<Me>,
    last_sweep: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for TaskHomes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaskHomes({:?})", *self.me.borrow())
    }
}

/// A tenant's name as the table keys it: "" on a weft without tenants
/// (no tenant is named "").
fn tenant_key(tenant: Option<&str>) -> &str {
    tenant.unwrap_or("")
}

impl TaskHomes {
    /// Connects to the database at `url` (its schema already up to date)
    /// for a replica that others reach at `me` (see [`advertised`]), or,
    /// without one, at the address it binds ([`TaskHomes::bound`]).
    pub async fn connect(url: &str, me: Option<String>) -> Result<Arc<TaskHomes>, ConnectError> {
        let db = Reconnecting::connect(
            url,
            "the replicas' tasks",
            "a task is answered only by the replica that holds it until they are back",
        )
        .await?;
        let me = me.map_or(Me::Unbound, Me::At);
        Ok(Arc::new(TaskHomes {
            db,
            me: tokio::sync::watch::Sender::new(me),
            last_sweep: Mutex::default(),
        }))
    }

    /// `weft serve --http` has bound `addr`: without an advertised
    /// address, the other replicas are sent to `http://ADDR`, unless it is
    /// every interface (then a warning says to pass `--advertise`).
    pub fn bound(&self, addr: std::net::SocketAddr) {
        self.me.send_if_modified(|me| {
            if *me != Me::Unbound {
                return false;
            }
            *me = if addr.ip().is_unspecified() {
                tracing::warn!(
                    "weft serve --http {addr} binds every interface: pass --advertise URL (the address the other replicas reach this one at), or a task is answered only by the replica that holds it"
                );
                Me::Nowhere
            } else {
                advertised(&format!("http://{addr}")).map_or(Me::Nowhere, Me::At)
            };
            true
        });
    }

    /// The `Host` the other replicas send this one (the advertised
    /// address's host and port), once known: accepted beside the
    /// `--allow-host` names.
    pub fn host(&self) -> Option<String> {
        let Me::At(at) = &*self.me.borrow() else {
            return None;
        };
        let url = url::Url::parse(at).ok()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        })
    }

    /// This replica's address, once known.
    async fn me(&self) -> Option<String> {
        let mut me = self.me.subscribe();
        let known = me.wait_for(|m| *m != Me::Unbound).await.ok()?;
        match &*known {
            Me::At(at) => Some(at.clone()),
            _ => None,
        }
    }

    /// Records that this replica holds `tenant`'s task `id`.
    pub async fn record(&self, tenant: Option<&str>, id: &str) -> Result<(), Unreachable> {
        if id.len() > MAX_ID {
            return Ok(());
        }
        let Some(me) = self.me().await else {
            return Ok(());
        };
        let live = self.db.live()?;
        let secs = LIFETIME.as_secs_f64();
        live.client
            .execute(
                &live.prepared.record,
                &[&tenant_key(tenant), &id, &me, &secs],
            )
            .await
            .map_err(|e| self.db.lost(&e))?;
        let due = {
            let mut last = self.last_sweep.lock();
            let due = last.is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due && let Err(e) = live.client.execute(&live.prepared.sweep, &[]).await {
            self.db.lost(&e);
        }
        Ok(())
    }

    /// The address of the replica that holds `tenant`'s task `id`, when
    /// that is another replica. An address a row holds is one a replica
    /// advertised (checked by [`advertised`] or made from a bound one).
    pub async fn elsewhere(
        &self,
        tenant: Option<&str>,
        id: &str,
    ) -> Result<Option<String>, Unreachable> {
        if id.len() > MAX_ID {
            return Ok(None);
        }
        let live = self.db.live()?;
        let row = live
            .client
            .query_opt(&live.prepared.home, &[&tenant_key(tenant), &id])
            .await
            .map_err(|e| self.db.lost(&e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let replica: String = row.try_get(0).map_err(|e| self.db.lost(&e))?;
        let mine = matches!(&*self.me.borrow(), Me::At(me) if *me == replica);
        Ok((!mine).then_some(replica))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_a_plain_http_url() {
        assert_eq!(
            advertised("http://10.0.0.5:8080/").unwrap(),
            "http://10.0.0.5:8080"
        );
        assert_eq!(
            advertised("https://weft-0.weft:8443").unwrap(),
            "https://weft-0.weft:8443"
        );
        for bad in [
            "",
            "10.0.0.5:8080",
            "ftp://host",
            "http://",
            "http://u:p@host",
            "http://host/mcp",
            "http://host/?x=1",
            "http://host/#f",
            "unix:/run/weft.sock",
        ] {
            assert!(advertised(bad).is_err(), "{bad:?} was taken");
        }
        assert!(matches!(
            advertised(&format!("http://{}", "h".repeat(600))),
            Err(AddressError::TooLong)
        ));
    }

    #[test]
    fn a_spelling_of_the_same_address_is_one_address() {
        // The row holds what `advertised` returns: every spelling of one
        // address is stored, and compared, as one.
        for spelling in [
            "http://Weft-0.Weft:8080",
            "http://weft-0.weft:8080/",
            "HTTP://weft-0.weft:8080",
        ] {
            assert_eq!(advertised(spelling).unwrap(), "http://weft-0.weft:8080");
        }
        assert_eq!(advertised("http://[::1]:80/").unwrap(), "http://[::1]");
    }
}
