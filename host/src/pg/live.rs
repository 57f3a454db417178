//! A PostgreSQL connection that comes back: what the replicas share at
//! request time (tenants' rate buckets, agents' sessions) goes through one
//! async connection with its statements prepared. A statement that fails
//! because the connection is gone marks it lost; the next use finds it
//! closed and a background task connects again (one attempt at a time,
//! after a pause), while callers fall back to what each one does alone. A
//! warning says so, at most once in [`WARN_EVERY_SECS`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio::sync::mpsc;
use tokio_postgres::Client;

/// How long connecting may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before connecting again after the connection is lost.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// At most one warning in this many seconds.
const WARN_EVERY_SECS: u64 = 30;

/// The statements one user of the connection prepares on it.
pub trait Prepared: Sized + Send + Sync + 'static {
    /// Prepares them on a new connection.
    fn prepare(client: &Client)
    -> impl Future<Output = Result<Self, tokio_postgres::Error>> + Send;
}

/// A live connection and its prepared statements.
pub struct Live<P> {
    pub client: Client,
    pub prepared: P,
}

/// The database did not answer: the caller falls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable;

/// Why the connection could not be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("settings.state is not a PostgreSQL URL ({0})")]
    Url(String),
    #[error("cannot reach the database for {what} ({reason})")]
    Connect { what: &'static str, reason: String },
}

/// One connection, made again when lost.
pub struct Reconnecting<P> {
    config: tokio_postgres::Config,
    tls: super::Tls,
    live: RwLock<Option<Arc<Live<P>>>>,
    reconnecting: AtomicBool,
    last_warning: AtomicU64,
    started: Instant,
    /// What the connection is for ("the tenants' shared rates").
    what: &'static str,
    /// What happens while it is lost, for the warning.
    meanwhile: &'static str,
}

impl<P> std::fmt::Debug for Reconnecting<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds the password.
        write!(f, "Reconnecting({})", self.what)
    }
}

impl<P: Prepared> Reconnecting<P> {
    /// Connects to `url` and prepares the statements. `what` names the
    /// connection's use and `meanwhile` what callers do while it is lost,
    /// in the warnings.
    pub async fn connect(
        url: &str,
        what: &'static str,
        meanwhile: &'static str,
    ) -> Result<Arc<Self>, ConnectError> {
        let target = super::parse(url).map_err(|e| ConnectError::Url(e.to_string()))?;
        let (mut config, tls) = (target.config, target.tls);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let live = open::<P>(&config, &tls)
            .await
            .map_err(|e| ConnectError::Connect {
                what,
                reason: describe(&e),
            })?;
        Ok(Arc::new(Reconnecting {
            config,
            tls,
            live: RwLock::new(Some(Arc::new(live))),
            reconnecting: AtomicBool::new(false),
            last_warning: AtomicU64::new(0),
            started: Instant::now(),
            what,
            meanwhile,
        }))
    }

    /// The connection, or `Unreachable` (and a reconnection under way).
    pub fn live(self: &Arc<Self>) -> Result<Arc<Live<P>>, Unreachable> {
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
    pub fn lost(self: &Arc<Self>, e: &tokio_postgres::Error) -> Unreachable {
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
            tracing::warn!(%reason, "{} are out of reach; {}", self.what, self.meanwhile);
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
            match open::<P>(&this.config, &this.tls).await {
                Ok(live) => {
                    *this.live.write() = Some(Arc::new(live));
                    tracing::info!("{} are back", this.what);
                }
                Err(e) => this.warn(&describe(&e)),
            }
            this.reconnecting.store(false, Ordering::Release);
        });
    }
}

impl<P> Reconnecting<P> {
    /// A connection of its own that `LISTEN`s on `channel` (a fixed name,
    /// not an input).
    pub async fn listen(&self, channel: &'static str) -> Result<Listening, tokio_postgres::Error> {
        let (tx, rx) = mpsc::channel(LISTEN_QUEUE);
        let client = match &self.tls {
            super::Tls::Off(t) => {
                let (client, connection) = self.config.connect(*t).await?;
                forward(connection, tx);
                client
            }
            super::Tls::On(t) => {
                let (client, connection) = self.config.connect(t.clone()).await?;
                forward(connection, tx);
                client
            }
        };
        client.batch_execute(&format!("LISTEN {channel}")).await?;
        Ok(Listening {
            _client: client,
            rx,
        })
    }
}

/// A `LISTEN` connection: the notifications' payloads.
pub struct Listening {
    /// Dropping the client would end the connection.
    _client: Client,
    rx: mpsc::Receiver<String>,
}

impl Listening {
    /// The next payload; `None` once the connection has ended.
    pub async fn next(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

/// How many notifications wait to be read before the connection waits.
const LISTEN_QUEUE: usize = 1024;

/// Runs `connection`, passing each notification's payload to `tx`.
fn forward<T>(
    mut connection: tokio_postgres::Connection<tokio_postgres::Socket, T>,
    tx: mpsc::Sender<String>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = futures::StreamExt::next(&mut messages).await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "a PostgreSQL LISTEN connection ended");
                    return;
                }
            }
        }
    });
}

/// Connects, runs the connection on the current runtime, and prepares the
/// statements.
async fn open<P: Prepared>(
    config: &tokio_postgres::Config,
    tls: &super::Tls,
) -> Result<Live<P>, tokio_postgres::Error> {
    let client = super::connect(config, tls).await?;
    let prepared = P::prepare(&client).await?;
    Ok(Live { client, prepared })
}

/// An error's text with its cause (the database's own message).
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}
