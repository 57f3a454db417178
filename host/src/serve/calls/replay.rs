//! What a session call's own event stream sent ([`super::own_stream`]),
//! kept so that an agent whose connection dropped can resume the stream
//! with `Last-Event-ID`, as it can on rmcp's path.
//!
//! Such a stream opens with a priming event (an id and a `retry`, no
//! message), as rmcp's do, and each event carries an id
//! `weft-<stream>/<n>`. Each event is recorded as it is written. When the
//! agent's connection drops while the call runs, the call is not
//! cancelled: the rest of it runs on in a task of its own, into the record
//! (the agent's `notifications/cancelled` still ends it). A `GET` in the
//! same session whose `Last-Event-ID` names the stream gets the events
//! after that one, then the rest as they come, and ends with the call
//! (`serve/edge/admit.rs` sends such a `GET` here, not to rmcp).
//!
//! Only the session that made the call finds its record: records are
//! keyed by session and stream, and the edge has already refused a session
//! id of another tenant. A record goes when its stream was written to the
//! end, or [`KEEP_FOR`] after its call ended. A session keeps at most
//! [`MAX_RUNNING`] calls running with no connection, and a record holds
//! at most [`MAX_RECORD`] bytes; past either, a dropped connection
//! cancels its call, as a stateless call's does.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;

/// How long a record is kept after its call ended, for a late resume (as
/// rmcp keeps a finished request's events).
pub const KEEP_FOR: Duration = Duration::from_secs(60);
/// Calls one session may leave running with no connection.
pub const MAX_RUNNING: usize = 16;
/// The most one record holds. A stream that sends more is not recorded
/// further, and cannot be resumed (its call ends with its connection).
pub const MAX_RECORD: usize = 4 << 20;
/// The `retry` (ms) of the priming event, as rmcp's default.
const RETRY_MS: u64 = 3000;
/// What every event id of weft's own streams starts with.
const PREFIX: &str = "weft-";

/// Every session's records.
#[derive(Default)]
pub struct Replays {
    records: Mutex<HashMap<(String, u64), Arc<Record>>>,
    next: AtomicU64,
}

/// One stream's events.
pub struct Record {
    events: Mutex<Events>,
    /// How many events there are, and whether the call ended.
    state: watch::Sender<(usize, bool)>,
    /// Set while the call runs with no connection.
    detached: std::sync::atomic::AtomicBool,
}

/// A record's events, and whether some could not be kept.
#[derive(Default)]
struct Events {
    /// Events numbered so far.
    count: usize,
    kept: Vec<Bytes>,
    bytes: usize,
    overflowed: bool,
}

/// A stream being recorded: the ids of its events, and its record.
pub struct Tape {
    replays: Arc<Replays>,
    key: (String, u64),
    record: Arc<Record>,
    /// Set once the stream was written to its end.
    complete: bool,
}

impl Replays {
    /// A new record for a stream of `session`.
    pub fn open(self: &Arc<Self>, session: &str) -> Tape {
        let key = (
            session.to_string(),
            self.next.fetch_add(1, Ordering::Relaxed),
        );
        let record = Arc::new(Record {
            events: Mutex::default(),
            state: watch::channel((0, false)).0,
            detached: Default::default(),
        });
        self.records.lock().insert(key.clone(), record.clone());
        Tape {
            replays: self.clone(),
            key,
            record,
            complete: false,
        }
    }

    /// How many of `session`'s calls run with no connection.
    fn detached(&self, session: &str) -> usize {
        self.records
            .lock()
            .iter()
            .filter(|((s, _), r)| s == session && r.detached.load(Ordering::Relaxed))
            .count()
    }

    /// The events of `session`'s stream after the one `last_event_id`
    /// names, as a stream that ends with the call; `None` when the id is
    /// not one of weft's, or names no record of this session.
    pub fn resume(&self, session: &str, last_event_id: &str) -> Option<Resumed> {
        let (stream, n) = parse_id(last_event_id)?;
        let record = self
            .records
            .lock()
            .get(&(session.to_string(), stream))?
            .clone();
        if record.events.lock().overflowed {
            return None;
        }
        let state = record.state.subscribe();
        // Event `at` is the at-th recorded (the priming event is 0).
        let from = n.saturating_add(1);
        Some(Box::pin(futures::stream::unfold(
            (record, state, from),
            |(record, mut state, at)| async move {
                loop {
                    let (len, ended) = *state.borrow_and_update();
                    if at <= len {
                        let event = record.events.lock().kept.get(at - 1).cloned()?;
                        return Some((Ok(event), (record, state, at + 1)));
                    }
                    if ended || state.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )))
    }
}

/// A resumed stream's events.
pub type Resumed = futures::stream::BoxStream<'static, Result<Bytes, std::convert::Infallible>>;

/// Whether `id` is an event id of weft's own streams.
pub fn is_ours(id: &str) -> bool {
    id.starts_with(PREFIX)
}

/// The stream and event number of an id weft gave (`weft-<s>/<n>`).
fn parse_id(id: &str) -> Option<(u64, usize)> {
    let (stream, n) = id.strip_prefix(PREFIX)?.split_once('/')?;
    Some((stream.parse().ok()?, n.parse().ok()?))
}

impl Tape {
    /// The priming event: the stream's first id, and the `retry`.
    pub fn priming(&self) -> Bytes {
        format!("id: {PREFIX}{}/0\nretry: {RETRY_MS}\ndata:\n\n", self.key.1).into()
    }

    /// `data` (one `data:` line and its blank line) as the next event,
    /// with its id; recorded.
    pub fn event(&self, data: &[u8]) -> Bytes {
        let mut events = self.record.events.lock();
        events.count += 1;
        let n = events.count;
        let mut event = format!("id: {PREFIX}{}/{n}\n", self.key.1).into_bytes();
        event.extend_from_slice(data);
        let event = Bytes::from(event);
        if events.overflowed || events.bytes + event.len() > MAX_RECORD {
            events.overflowed = true;
            return event;
        }
        events.bytes += event.len();
        events.kept.push(event.clone());
        drop(events);
        self.record.state.send_modify(|(len, _)| *len = n);
        event
    }

    /// Marks the stream written to its end on the agent's connection:
    /// nothing is left to resume. (A call that ran on with no connection
    /// wrote only to its record, which is kept.)
    pub fn complete(&mut self) {
        if !self.record.detached.load(Ordering::Relaxed) {
            self.complete = true;
        }
    }

    /// Whether the call may run on with no connection (its session is
    /// under [`MAX_RUNNING`]); if so, it is counted as such.
    pub fn detach(&self) -> bool {
        if self.record.events.lock().overflowed || self.replays.detached(&self.key.0) >= MAX_RUNNING
        {
            return false;
        }
        self.record.detached.store(true, Ordering::Relaxed);
        true
    }
}

impl Drop for Tape {
    fn drop(&mut self) {
        self.record.detached.store(false, Ordering::Relaxed);
        self.record.state.send_modify(|(_, ended)| *ended = true);
        if self.complete {
            self.replays.records.lock().remove(&self.key);
            return;
        }
        let (replays, key) = (self.replays.clone(), self.key.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(KEEP_FOR).await;
                replays.records.lock().remove(&key);
            });
        } else {
            replays.records.lock().remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn text(events: &[Bytes]) -> Vec<String> {
        events
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_stream_resumes_after_the_id_named_and_only_in_its_session() {
        let replays = Arc::new(Replays::default());
        let tape = replays.open("s1");
        let stream = tape.key.1;
        assert_eq!(
            String::from_utf8_lossy(&tape.priming()),
            format!("id: weft-{stream}/0\nretry: 3000\ndata:\n\n")
        );
        for n in 1..=3 {
            tape.event(format!("data: {n}\n\n").as_bytes());
        }
        // Another session, an id not weft's, one of no stream: nothing.
        let seen = format!("weft-{stream}/1");
        assert!(replays.resume("s2", &seen).is_none());
        assert!(replays.resume("s1", "1/1").is_none());
        assert!(
            replays
                .resume("s1", &format!("weft-{}/1", stream + 1))
                .is_none()
        );
        assert!(replays.resume("s1", "weft-x/1").is_none());
        // The events after the one seen, then the rest as they come.
        let resumed = replays.resume("s1", &seen).expect("its own session");
        let reader = tokio::spawn(resumed.collect::<Vec<_>>());
        tape.event(b"data: 4\n\n");
        drop(tape);
        let events: Vec<Bytes> = reader
            .await
            .expect("read")
            .into_iter()
            .map(|e| e.unwrap_or_default())
            .collect();
        assert_eq!(
            text(&events),
            (2..=4)
                .map(|n| format!("id: weft-{stream}/{n}\ndata: {n}\n\n"))
                .collect::<Vec<_>>()
        );
        // From the priming event: every event.
        let all: Vec<_> = replays
            .resume("s1", &format!("weft-{stream}/0"))
            .expect("kept after the call")
            .collect()
            .await;
        assert_eq!(all.len(), 4);
    }

    #[tokio::test]
    async fn a_stream_written_to_the_end_is_not_kept_but_a_detached_ones_is() {
        let replays = Arc::new(Replays::default());
        let mut written = replays.open("s");
        written.event(b"data: 1\n\n");
        written.complete();
        let id = format!("weft-{}/0", written.key.1);
        drop(written);
        assert!(replays.resume("s", &id).is_none());

        let mut detached = replays.open("s");
        assert!(detached.detach());
        detached.complete();
        let id = format!("weft-{}/0", detached.key.1);
        drop(detached);
        assert!(replays.resume("s", &id).is_some());
    }

    #[tokio::test]
    async fn a_session_leaves_only_so_many_calls_running_without_a_connection() {
        let replays = Arc::new(Replays::default());
        let tapes: Vec<Tape> = (0..=MAX_RUNNING).map(|_| replays.open("s")).collect();
        let detached = tapes.iter().filter(|t| t.detach()).count();
        assert_eq!(detached, MAX_RUNNING);
        // Another session has its own count.
        assert!(replays.open("t").detach());
    }

    #[tokio::test]
    async fn a_record_over_its_cap_is_neither_resumed_nor_left_running() {
        let replays = Arc::new(Replays::default());
        let tape = replays.open("s");
        let big = vec![b'x'; MAX_RECORD / 2];
        for _ in 0..3 {
            // Still written to the agent's connection, with its id.
            assert!(tape.event(&big).len() > big.len());
        }
        assert!(!tape.detach());
        assert!(
            replays
                .resume("s", &format!("weft-{}/0", tape.key.1))
                .is_none()
        );
    }
}
