//! The write queue every journal backend shares: writes go over a channel
//! to the backend's writer thread, which takes every write queued so far
//! (group commit), stores them in one transaction and then tells each
//! waiter. Writes nobody waits on (clock reads, logs) are held until one
//! that somebody waits on arrives, or `LINGER` passes, so they add no
//! commit of their own; urgent writes whose waiter went away (a call's
//! result) are held for `URGENT_LINGER` at most.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::store::{Ack, JournalError, Op};

/// How many queued writes one transaction takes at most.
const MAX_BATCH: usize = 512;

/// How long writes nobody waits on may wait for one that somebody does.
const LINGER: Duration = Duration::from_millis(20);

/// A queued write and who hears when it is stored.
pub type Queued = (Op, Option<Ack>);

/// The sending end of a writer thread's channel (`None` once closed).
pub type Writer = Mutex<Option<mpsc::Sender<Queued>>>;

/// Queues a write for the writer thread; if the thread has stopped, `ack`
/// hears `stopped()` at once.
pub fn submit(writer: &Writer, op: Op, ack: Option<Ack>, stopped: impl FnOnce() -> JournalError) {
    let refused = match writer.lock().as_ref() {
        Some(tx) => tx.send((op, ack)).err().and_then(|e| (e.0).1),
        None => ack,
    };
    if let Some(ack) = refused {
        let _ = ack.send(Err(stopped()));
    }
}

/// How long an urgent write that nobody waits for (a call's result: the
/// guest went on; its acknowledgement's receiver is gone) may wait for the
/// next write, so that a run's result and its next intent are one commit.
const URGENT_LINGER: Duration = Duration::from_micros(50);

/// The first write and whatever else is queued, in order. A batch with a
/// write somebody waits on is stored at once; one whose urgent writes
/// nobody waits on any more, within [`URGENT_LINGER`]; one of writes that
/// were never urgent, within [`LINGER`].
pub fn gather(first: Queued, rx: &mpsc::Receiver<Queued>) -> Vec<Queued> {
    let mut batch = vec![first];
    let lingering = Instant::now();
    while batch.len() < MAX_BATCH {
        let acks = || batch.iter().filter_map(|(_, ack)| ack.as_ref());
        let next = if acks().any(|ack| !ack.is_closed()) {
            rx.try_recv().ok()
        } else {
            let linger = match acks().next() {
                Some(_) => URGENT_LINGER,
                None => LINGER,
            };
            rx.recv_timeout(linger.saturating_sub(lingering.elapsed()))
                .ok()
        };
        match next {
            Some(next) => batch.push(next),
            None => break,
        }
    }
    batch
}

/// Tells everyone waiting on a write of `batch` how it went.
pub fn acknowledge(batch: Vec<Queued>, outcome: &Result<(), JournalError>) {
    for (_, ack) in batch {
        if let Some(ack) = ack {
            let _ = ack.send(outcome.clone());
        }
    }
}
