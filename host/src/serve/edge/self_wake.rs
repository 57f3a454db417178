//! A connection that wakes itself is polled again at once, not requeued.
//!
//! hyper wakes a connection's task from inside that task's own poll. When
//! the handler takes a request's body, hyper's body channel wakes the
//! sender's waker, and the sender is the connection's dispatcher: the same
//! task. tokio treats a task woken during its own poll as one that yielded.
//! It puts the task at the back of the run queue and wakes an idle worker,
//! with a futex wake, to poll a connection that has nothing left to do.
//! That costs every `POST` a system call. On a machine with few cores it
//! costs more: the woken worker competes for a core with the upstream
//! server that is, at that moment, working on the call.
//!
//! [`SelfWaking`] gives the future it wraps a waker of its own. A wake that
//! comes while the future is being polled (from the future itself, or from
//! another thread at that moment) only marks it, and the future is polled
//! again before the turn ends, at most [`AGAIN`] times; after that it
//! yields to the scheduler as before. A wake that comes between polls goes
//! straight to the task's own waker. No wake is lost: the state moves from
//! "polling" to "idle" in one atomic step, and a wake that finds it idle
//! wakes the task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// Not being polled: a wake goes to the task's waker.
const IDLE: u8 = 0;
/// Being polled: a wake asks for one more poll.
const POLLING: u8 = 1;
/// Being polled, and woken since the poll began.
const WOKEN: u8 = 2;
/// How many times one turn polls again before it yields to the scheduler,
/// so that a future that keeps waking itself cannot hold a worker.
const AGAIN: usize = 4;

/// What the wrapper's waker reaches.
struct Shared {
    state: AtomicU8,
    /// The task's own waker, registered at each poll.
    task: AtomicWaker,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(WOKEN) => {}
            Err(_) => self.task.wake(),
        }
    }
}

/// `F`, polled again within its turn when it wakes itself.
pub(in crate::serve) struct SelfWaking<F> {
    inner: F,
    shared: Arc<Shared>,
    waker: Waker,
}

impl<F: Future + Unpin> SelfWaking<F> {
    pub(in crate::serve) fn new(inner: F) -> Self {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(shared.clone());
        SelfWaking {
            inner,
            shared,
            waker,
        }
    }
}

impl<F: Future + Unpin> Future for SelfWaking<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.shared.task.register(cx.waker());
        let this = &mut *self;
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..=AGAIN {
            this.shared.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(out) = Pin::new(&mut this.inner).poll(&mut inner_cx) {
                this.shared.state.store(IDLE, Ordering::Release);
                return Poll::Ready(out);
            }
            if this
                .shared
                .state
                .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        // Still waking itself: let the scheduler run something else first.
        this.shared.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wakes that reach the task.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wakes itself on each of its first `wakes` polls, then is ready.
    struct WakesItself {
        wakes: usize,
        polls: usize,
    }
    impl Future for WakesItself {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.polls > self.wakes {
                return Poll::Ready(self.polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_wake_during_the_poll_is_a_poll_again_not_a_wake_of_the_task() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        let mut f = SelfWaking::new(WakesItself { wakes: 2, polls: 0 });
        assert_eq!(Pin::new(&mut f).poll(&mut cx), Poll::Ready(3));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_to_the_scheduler() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        let mut f = SelfWaking::new(WakesItself {
            wakes: 100,
            polls: 0,
        });
        assert_eq!(Pin::new(&mut f).poll(&mut cx), Poll::Pending);
        assert_eq!(f.inner.polls, AGAIN + 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the task is woken once");
    }

    #[test]
    fn a_wake_between_polls_reaches_the_task() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut f = SelfWaking::new(rx);
        assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert!(tx.send(7).is_ok());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(Pin::new(&mut f).poll(&mut cx), Poll::Ready(Ok(7))));
    }

    #[test]
    fn a_wake_from_another_thread_is_never_lost() {
        // Many rounds of: poll (pending), then a wake from another thread
        // that races the end of the poll. Each round must reach the task
        // or be served by a poll again; either way the value is seen.
        for _ in 0..2_000 {
            let count = Arc::new(Count(AtomicUsize::new(0)));
            let task = Waker::from(count.clone());
            let mut cx = Context::from_waker(&task);
            let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
            let mut f = SelfWaking::new(rx);
            let sender = std::thread::spawn(move || tx.send(1));
            let mut seen = false;
            for _ in 0..3 {
                if let Poll::Ready(v) = Pin::new(&mut f).poll(&mut cx) {
                    assert!(matches!(v, Ok(1)));
                    seen = true;
                    break;
                }
                // Poll again only once the task has been woken, as a
                // scheduler would.
                let since = std::time::Instant::now();
                while count.0.load(Ordering::SeqCst) == 0 {
                    assert!(since.elapsed().as_secs() < 10, "a wake was lost");
                    std::hint::spin_loop();
                }
                count.0.store(0, Ordering::SeqCst);
            }
            assert!(seen);
            assert!(sender.join().is_ok_and(|sent| sent.is_ok()));
        }
    }
}
