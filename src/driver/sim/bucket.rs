//! The rate limit: a token bucket per driver (per process), refilled continuously.

use std::time::{Duration, Instant};

/// A token bucket: bursts of up to `rate` calls (at least one), refilled at `rate` per second.
#[derive(Debug)]
pub(super) struct Bucket {
    pub rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: f64) -> Self {
        let burst = rate.max(1.0);
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Take a token; if there is none, how long until there is one.
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}
