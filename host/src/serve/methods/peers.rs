//! Each handshake-era HTTP session's peer on this replica, by session id,
//! so that a resource update reaches the agent's stream on whichever
//! replica it is open.
//!
//! A session any replica serves (`settings.state`; see the edge's shared
//! sessions) subscribes to a resource on the replica its
//! `resources/subscribe` reached, and that replica's upstream sends the
//! updates; the agent's stream (its `GET`) may be open on another one.
//! So a replica that sends a session an update also hands it to
//! [`Peers::publish`], which the edge relays to the other replicas
//! (PostgreSQL `NOTIFY`); each of them gives it to its own peer of that
//! session, if it has one ([`Peers::deliver`]). The progress of a run a
//! session's call handed over as a task travels the same way
//! ([`Peers::progress`]). Only the replica holding
//! the stream gets it to the agent: elsewhere rmcp has nowhere to send it.
//! A session the agent ends on one replica is announced the same way
//! ([`Peers::ended`]), and the others end it too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rmcp::model::{ProgressNotificationParam, ResourceUpdatedNotificationParam};
use rmcp::{Peer, RoleServer};
use tokio::sync::mpsc;

/// The most updates waiting to be relayed; more are dropped, with a
/// warning (the agent's list can be read again).
pub const RELAY_QUEUE: usize = 1024;

/// The longest URI relayed (PostgreSQL's `NOTIFY` payload is under 8000
/// bytes).
pub const MAX_RELAYED_URI: usize = 4096;

/// What one replica tells the others about a session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Relayed {
    /// A resource the session subscribed to was updated; `uri` as the
    /// agent sees it.
    Updated { session: String, uri: String },
    /// The agent ended the session (`DELETE`): the replicas that hold it
    /// end it too.
    Ended { session: String },
    /// Progress of a run the session's call handed over as a task, with
    /// the call's progress token.
    Progress {
        session: String,
        params: ProgressNotificationParam,
    },
}

/// The longest progress message relayed, in characters; a longer one is
/// cut.
pub const MAX_RELAYED_MESSAGE: usize = 1024;

/// One session's peer here, and the log level it asked for.
struct Joined {
    peer: Peer<RoleServer>,
    /// The session's `logging/setLevel` as a rank (`u8::MAX`: unset).
    min_log: Arc<AtomicU8>,
}

/// The sessions' peers on this replica, and the way out to the others.
#[derive(Default)]
pub struct Peers {
    by_id: Mutex<HashMap<String, Joined>>,
    out: OnceLock<mpsc::Sender<Relayed>>,
}

impl Peers {
    /// Session `id` is served here through `peer`, with its log level
    /// in `min_log`.
    pub fn join(&self, id: String, peer: Peer<RoleServer>, min_log: Arc<AtomicU8>) {
        self.by_id.lock().insert(id, Joined { peer, min_log });
    }

    /// Session `id`'s peer here and its log level's rank (`None`: the
    /// agent set none), if the session is served here.
    pub fn agent(&self, id: &str) -> Option<(Peer<RoleServer>, Option<u8>)> {
        let by_id = self.by_id.lock();
        let joined = by_id.get(id)?;
        let rank = joined.min_log.load(Ordering::Relaxed);
        Some((joined.peer.clone(), (rank != u8::MAX).then_some(rank)))
    }

    /// Session `id`'s peer here has closed.
    pub fn leave(&self, id: &str) {
        self.by_id.lock().remove(id);
    }

    /// Updates handed to [`Peers::publish`] go to `out` from now on.
    pub fn relay_to(&self, out: mpsc::Sender<Relayed>) {
        let _ = self.out.set(out);
    }

    /// Hands an update sent to `session` here to the other replicas too.
    pub fn publish(&self, session: &str, uri: &str) {
        if self.out.get().is_none() {
            return;
        }
        if uri.len() > MAX_RELAYED_URI {
            tracing::warn!(
                bytes = uri.len(),
                "a resource update's URI is too long to pass to the other replicas"
            );
            return;
        }
        let relayed = Relayed::Updated {
            session: session.to_string(),
            uri: uri.to_string(),
        };
        self.send(relayed);
    }

    /// Sends `session` (whose peer here is `peer`, if it has one) the
    /// progress of a run its call handed over as a task, and hands it to
    /// the other replicas: the agent's stream may be open on any of them.
    pub async fn progress(
        &self,
        session: Option<&str>,
        peer: &Peer<RoleServer>,
        params: ProgressNotificationParam,
    ) {
        let params = self.send_progress(session, params);
        let _ = peer.notify_progress(params).await;
    }

    /// Hands progress for `session` to the other replicas, its message
    /// cut to [`MAX_RELAYED_MESSAGE`] characters: what the agent gets.
    fn send_progress(
        &self,
        session: Option<&str>,
        mut params: ProgressNotificationParam,
    ) -> ProgressNotificationParam {
        if let Some(message) = &mut params.message
            && message.chars().count() > MAX_RELAYED_MESSAGE
        {
            *message = message.chars().take(MAX_RELAYED_MESSAGE).collect();
        }
        if let Some(session) = session
            && self.out.get().is_some()
        {
            self.send(Relayed::Progress {
                session: session.to_string(),
                params: params.clone(),
            });
        }
        params
    }

    /// Tells the other replicas that the agent ended `session` here.
    pub fn ended(&self, session: &str) {
        self.send(Relayed::Ended {
            session: session.to_string(),
        });
    }

    fn send(&self, relayed: Relayed) {
        let Some(out) = self.out.get() else {
            return;
        };
        if out.try_send(relayed).is_err() {
            tracing::warn!(
                "{RELAY_QUEUE} notes are waiting for the other replicas: one is dropped"
            );
        }
    }

    /// An update another replica relayed: sent to the session's peer here,
    /// if it has one.
    pub async fn deliver(&self, session: &str, uri: String) {
        let peer = self.by_id.lock().get(session).map(|j| j.peer.clone());
        if let Some(peer) = peer {
            let _ = peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await;
        }
    }
}

impl Peers {
    /// Progress another replica relayed: sent to the session's peer here,
    /// if it has one.
    pub async fn deliver_progress(&self, session: &str, params: ProgressNotificationParam) {
        let peer = self.by_id.lock().get(session).map(|j| j.peer.clone());
        if let Some(peer) = peer {
            let _ = peer.notify_progress(params).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_note_keeps_its_token_and_numbers() {
        let mut params = ProgressNotificationParam::new(
            rmcp::model::ProgressToken(rmcp::model::NumberOrString::String("t-7".into())),
            2.0,
        );
        params.total = Some(3.0);
        params.message = Some("step 2".into());
        let note = Relayed::Progress {
            session: "s-1".into(),
            params,
        };
        let text = serde_json::to_string(&note).unwrap();
        assert_eq!(serde_json::from_str::<Relayed>(&text).unwrap(), note);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["kind"], "progress");
        assert_eq!(value["params"]["progressToken"], "t-7");
    }

    #[tokio::test]
    async fn a_long_message_is_cut_before_it_is_relayed() {
        let peers = Peers::default();
        let (tx, mut rx) = mpsc::channel(4);
        peers.relay_to(tx);
        let mut params = ProgressNotificationParam::new(
            rmcp::model::ProgressToken(rmcp::model::NumberOrString::Number(1)),
            1.0,
        );
        params.message = Some("é".repeat(5000));
        let kept = peers.send_progress(Some("s"), params);
        assert_eq!(kept.message.unwrap().chars().count(), MAX_RELAYED_MESSAGE);
        let Some(Relayed::Progress { params, .. }) = rx.recv().await else {
            panic!("no note");
        };
        assert_eq!(params.message.unwrap().chars().count(), MAX_RELAYED_MESSAGE);
    }
}
