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

/// How long the writer keeps looking for the next write after a commit
/// before it sleeps. A run's next journaled call usually follows within
/// this; waking a sleeping thread costs tens of µs on a virtual machine,
/// more than the commit itself, and a yielding poll gives the core away
/// to anything else that wants it meanwhile.
const SPIN: Duration = Duration::from_micros(100);

/// The next write for the writer thread: polled (yielding the core
/// between polls) for [`SPIN`], then waited for until `deadline` (when
/// the writer has something else to do, such as renewing its leases).
/// `Disconnected` once every sender is gone.
pub fn next_until(
    rx: &mpsc::Receiver<Queued>,
    deadline: Instant,
) -> Result<Queued, mpsc::RecvTimeoutError> {
    let spinning = Instant::now();
    while spinning.elapsed() < SPIN {
        match rx.try_recv() {
            Ok(next) => return Ok(next),
            Err(mpsc::TryRecvError::Disconnected) => {
                return Err(mpsc::RecvTimeoutError::Disconnected);
            }
            Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
}

/// Tells everyone waiting on a write of `batch` how it went.
pub fn acknowledge(batch: Vec<Queued>, outcome: &Result<(), JournalError>) {
    for (_, ack) in batch {
        if let Some(ack) = ack {
            let _ = ack.send(outcome.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(n: u64) -> Op {
        Op::Result {
            run: "r".into(),
            seq: n,
            result: String::new(),
            finished_at: 0,
        }
    }

    fn seq(q: &Queued) -> u64 {
        match &q.0 {
            Op::Result { seq, .. } => *seq,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn next_takes_a_write_queued_during_the_spin_or_after_it() {
        let far = || Instant::now() + Duration::from_secs(60);
        let (tx, rx) = mpsc::channel();
        tx.send((op(1), None)).unwrap();
        assert_eq!(next_until(&rx, far()).as_ref().map(seq), Ok(1));
        let late = std::thread::spawn(move || {
            std::thread::sleep(SPIN * 20);
            tx.send((op(2), None)).unwrap();
            tx
        });
        assert_eq!(next_until(&rx, far()).as_ref().map(seq), Ok(2));
        let tx = late.join().unwrap();
        assert_eq!(
            next_until(&rx, Instant::now() + SPIN * 20).map(|q| seq(&q)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "nothing queued by the deadline"
        );
        drop(tx);
        assert_eq!(
            next_until(&rx, far()).map(|q| seq(&q)),
            Err(mpsc::RecvTimeoutError::Disconnected),
            "every sender is gone"
        );
    }
}
