//! Notes about sessions passed between replicas: a resource update one
//! replica sends a session (see the methods' `peers`), or the agent's end
//! of a session, goes out as a PostgreSQL `NOTIFY` on [`NOTES`]. Every
//! replica `LISTEN`s there: it gives an update to its own peer of that
//! session, and ends a session that was ended elsewhere. Each note names
//! the replica that sent it, which skips its own.
//!
//! A lost `LISTEN` connection is made again after a pause; updates sent
//! meanwhile are lost (the agent can read the resource again). A note
//! that is not one of weft's is ignored.

use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio::sync::mpsc;

use super::shared_sessions::{NOTES, SharedSessions};
use crate::serve::Gateway;
use crate::serve::peers::{RELAY_QUEUE, Relayed};

/// How long to wait before listening again after the connection ended.
const LISTEN_AGAIN_AFTER: Duration = Duration::from_secs(2);

/// The most bytes of a note read (PostgreSQL caps a payload under 8000).
const MAX_NOTE: usize = 8000;

/// A note on the channel.
#[derive(serde::Serialize, serde::Deserialize)]
struct Note {
    /// The replica that sent it.
    from: String,
    #[serde(flatten)]
    relayed: Relayed,
}

/// Starts passing notes about `gw`'s sessions (rmcp's are `sessions`) to
/// and from the other replicas through `shared`'s database.
pub fn start(shared: &Arc<SharedSessions>, gw: &Arc<Gateway>, sessions: Arc<LocalSessionManager>) {
    let me = crate::util::random_hex(8).unwrap_or_else(|_| crate::util::request_id());
    let (tx, rx) = mpsc::channel(RELAY_QUEUE);
    gw.peers.relay_to(tx);
    tokio::spawn(send(shared.clone(), rx, me.clone()));
    tokio::spawn(receive(shared.clone(), gw.clone(), sessions, me));
}

/// Sends this replica's updates.
async fn send(shared: Arc<SharedSessions>, mut rx: mpsc::Receiver<Relayed>, me: String) {
    while let Some(relayed) = rx.recv().await {
        let note = Note {
            from: me.clone(),
            relayed,
        };
        let Ok(payload) = serde_json::to_string(&note) else {
            continue;
        };
        // PostgreSQL refuses a longer payload (an agent's long progress
        // token, say), and the refusal would cost the connection.
        if payload.len() >= MAX_NOTE {
            tracing::warn!(
                bytes = payload.len(),
                "a note is too long to pass to the other replicas"
            );
            continue;
        }
        let Ok(live) = shared.db.live() else {
            continue;
        };
        if let Err(e) = live
            .client
            .execute(&live.prepared.notify, &[&payload])
            .await
        {
            shared.db.lost(&e);
        }
    }
}

/// Gives the other replicas' updates to this replica's peers, and ends
/// here the sessions ended elsewhere.
async fn receive(
    shared: Arc<SharedSessions>,
    gw: Arc<Gateway>,
    sessions: Arc<LocalSessionManager>,
    me: String,
) {
    loop {
        match shared.db.listen(NOTES).await {
            Ok(mut listening) => {
                while let Some(payload) = listening.next().await {
                    if payload.len() > MAX_NOTE {
                        continue;
                    }
                    let Ok(note) = serde_json::from_str::<Note>(&payload) else {
                        continue;
                    };
                    if note.from == me {
                        continue;
                    }
                    match note.relayed {
                        Relayed::Updated { session, uri } => {
                            gw.peers.deliver(&session, uri).await;
                        }
                        Relayed::Progress { session, params } => {
                            gw.peers.deliver_progress(&session, params).await;
                        }
                        Relayed::Ended { session } => {
                            let _ = sessions.close_session(&session.clone().into()).await;
                            gw.sessions.end(&session);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(
                reason = %crate::pg::live::describe(&e),
                "cannot listen for the other replicas' resource updates; trying again"
            ),
        }
        tokio::time::sleep(LISTEN_AGAIN_AFTER).await;
    }
}
