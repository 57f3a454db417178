//! A token bucket: `rate` tokens a minute, at most `burst` saved up.
//!
//! Small enough to keep here rather than pull in a rate-limiting crate and
//! its clock machinery; one bucket per tenant, behind a mutex held for a
//! few arithmetic operations.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Bucket {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(per_minute: u32, burst: u32) -> Bucket {
        let burst = f64::from(burst.max(1));
        Bucket {
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.peek(now)?;
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether a token is there, without taking it.
    pub fn peek(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(60, 3);
        for _ in 0..3 {
            assert!(b.take(t0).is_ok());
        }
        let wait = b.take(t0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        // One token a second comes back.
        assert!(b.take(t0 + Duration::from_millis(1010)).is_ok());
        assert!(b.take(t0 + Duration::from_millis(1020)).is_err());
    }
}
