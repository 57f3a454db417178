//! The clock behind a connection's header-read timeout, armed once per
//! timeout period rather than once per request.
//!
//! hyper starts a new sleep each time it waits for a request's head, and
//! drops it when the head has come. With tokio's own timer that is a new
//! entry in tokio's timer wheel per request. When an entry is due sooner
//! than the runtime's I/O driver planned to wake, tokio wakes the driver
//! (an `eventfd` write) in case a parked worker holds it, even when the
//! worker asking is the one that will park next. On a kept-alive
//! connection that is every request: while weft waits for the upstream's
//! answer the only timer left is the call's (a minute), and the next head's
//! 30 s deadline is sooner. The wake costs a system call, and the driver's
//! next `epoll_wait` returns at once for it: two system calls on every
//! call, on a path that makes six.
//!
//! A [`HeadTimer`] belongs to one connection and keeps one tokio sleep for
//! all its requests. Each head's deadline is later than the last, so the
//! sleep already armed is due no later than the new deadline: it is left
//! as it is. When it fires before the current deadline (the head it was
//! armed for came long ago), it is re-armed for the current one, at most
//! once per `header_timeout`. The deadline hyper asked for is kept exactly;
//! only the number of times the wheel is touched changes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One connection's header-read clock (see the module docs).
#[derive(Default)]
pub(in crate::serve) struct HeadTimer {
    armed: Arc<Mutex<Armed>>,
}

/// The one tokio sleep the connection's heads share.
#[derive(Default)]
struct Armed {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// How many times the sleep was put into tokio's timer wheel.
    arms: u64,
}

impl HeadTimer {
    /// How many times this connection's sleep was armed in tokio's wheel.
    #[cfg(test)]
    fn arms(&self) -> u64 {
        self.armed.lock().arms
    }
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = self.now();
        let deadline = now.checked_add(duration).unwrap_or(now);
        self.sleep_until(deadline)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            deadline: tokio::time::Instant::from_std(deadline),
            armed: self.armed.clone(),
        })
    }

    /// tokio's clock, so that a test with paused time sees the same one.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HeadSleep>() {
            Some(mut head) => head.deadline = tokio::time::Instant::from_std(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// One head's deadline, on the connection's shared sleep.
struct HeadSleep {
    deadline: tokio::time::Instant,
    armed: Arc<Mutex<Armed>>,
}

impl hyper::rt::Sleep for HeadSleep {}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let mut armed = self.armed.lock();
        let armed = &mut *armed;
        // One armed for a deadline no later than this one wakes the
        // connection in time, and is checked again then. One due later
        // than asked (hyper's deadlines only grow, but a reset may move
        // one earlier) is replaced.
        if armed
            .sleep
            .as_ref()
            .is_some_and(|s| s.deadline() > deadline)
        {
            armed.sleep = None;
        }
        if armed.sleep.is_none() {
            armed.arms += 1;
        }
        let sleep = armed
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if sleep.deadline() >= deadline {
            return Poll::Ready(());
        }
        // It fired for an older head: wait on for this one.
        armed.arms += 1;
        sleep.as_mut().reset(deadline);
        sleep.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    fn pending(sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> bool {
        let waker = futures::task::noop_waker();
        sleep
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    }

    /// Waits for `head` and returns when it timed out, from `start`.
    async fn timed_out(head: Pin<Box<dyn hyper::rt::Sleep>>, start: Instant) -> Duration {
        head.await;
        start.elapsed()
    }

    #[tokio::test]
    async fn heads_in_one_period_share_one_arming() {
        let timer = HeadTimer::default();
        // A hundred requests, each head waited for and then received
        // (hyper drops the sleep when the head is in).
        for _ in 0..100 {
            let mut head = timer.sleep(Duration::from_secs(30));
            assert!(pending(&mut head));
        }
        assert_eq!(timer.arms(), 1, "one arming for a hundred heads");
    }

    #[tokio::test]
    async fn a_head_after_the_armed_one_times_out_at_its_own_deadline() {
        let timer = HeadTimer::default();
        let start = Instant::now();
        // Armed for 100 ms from now by a head that then came in.
        let mut first = timer.sleep(Duration::from_millis(100));
        assert!(pending(&mut first));
        drop(first);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The next head's deadline is 50 ms after the armed one's: the
        // armed sleep fires first, and must not end this head early.
        let head = timer.sleep(Duration::from_millis(100));
        let took = timed_out(head, start).await;
        assert!(
            took >= Duration::from_millis(150),
            "timed out after {took:?}"
        );
        assert_eq!(
            timer.arms(),
            2,
            "re-armed once, when the old deadline passed"
        );
    }

    #[tokio::test]
    async fn a_reset_moves_the_deadline_either_way() {
        let timer = HeadTimer::default();
        let start = Instant::now();
        let mut head = timer.sleep(Duration::from_secs(30));
        assert!(pending(&mut head));
        timer.reset(&mut head, timer.now() + Duration::from_millis(50));
        let took = timed_out(head, start).await;
        assert!(
            took >= Duration::from_millis(50),
            "timed out after {took:?}"
        );
        assert!(
            took < Duration::from_secs(30),
            "an earlier deadline is honoured"
        );

        let start = Instant::now();
        let mut head = timer.sleep(Duration::from_millis(10));
        assert!(pending(&mut head));
        timer.reset(&mut head, timer.now() + Duration::from_millis(120));
        let took = timed_out(head, start).await;
        assert!(
            took >= Duration::from_millis(120),
            "timed out after {took:?}"
        );
    }
}
