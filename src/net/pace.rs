//! Self-paced calls: one adaptive client-side rate limit per provider, so a provider's rate
//! limit is met by sending slower rather than by being refused and retrying.
//!
//! Modelled on the documented behaviour of the AWS SDKs' "adaptive" retry mode: calls go out
//! unpaced until the provider first throttles one; from then on they leave through a token
//! bucket whose rate falls multiplicatively on a throttle (to `BETA` × the rate the provider
//! was accepting) and grows back on success along a cubic curve (CUBIC, as in TCP: fast while
//! far below the rate of the last throttle, flat around it, then probing above it). Two rules
//! of our own keep one burst of refusals from counting as many: a throttle lowers the rate only
//! if its call was sent after the last lowering (the calls already in flight were sent at the
//! old rate, which was already judged), at most once per `WINDOW`, and only with `EVIDENCE`
//! of a rate (enough calls accepted over the last `WINDOW`).
//!
//! [`Pacer`] is the pure arithmetic, with the clock passed in; [`Pace`] wraps it for callers
//! that wait on tokio, and counts the calls ([`crate::net::calls`]), paced or not. No I/O, no
//! printing; what counts as a throttle is each caller's to say.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::calls::{CallCounts, Calls};
use crate::driver::ErrorClass;

/// The share of the accepted rate kept after a throttle.
const BETA: f64 = 0.7;
/// How fast the rate grows back (calls per second per second cubed).
const SCALE: f64 = 0.4;
/// The lowest rate a throttle can bring the bucket down to, in calls per second.
const MIN_RATE: f64 = 0.5;
/// The window the accepted rate is measured over, and the least time between two lowerings.
const WINDOW: Duration = Duration::from_secs(1);
/// A throttle lowers the rate only if at least this many calls were accepted over the last
/// `WINDOW`: fewer are no measure of a rate (one 429 on a provider's first call says nothing
/// about how fast it may be called), and the caller's backoff and `Retry-After` cover it.
const EVIDENCE: usize = 10;
/// At most this many accepted calls are remembered for the measurement (bounds memory at any
/// rate; beyond it the measured rate is an underestimate, which only makes pacing cautious).
const REMEMBERED: usize = 65_536;

/// What a call was sent under: the pacing epoch, so its answer is judged against the rate it
/// was sent at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permit {
    epoch: u64,
}

/// The limiter's arithmetic. Every method takes the current time, so tests drive it with a
/// fake clock.
#[derive(Debug)]
pub struct Pacer {
    /// The bucket's rate in calls per second; `None` until the first throttle (unpaced).
    rate: Option<f64>,
    /// The earliest time the next call may leave.
    next: Instant,
    /// Bumped by every lowering of the rate.
    epoch: u64,
    /// The rate at the last lowering, where the cubic curve flattens.
    last_max: f64,
    /// When the rate was last lowered.
    last_throttle: Option<Instant>,
    /// When recent calls were accepted, oldest first, within `WINDOW` of the latest.
    accepted: VecDeque<Instant>,
}

impl Pacer {
    pub fn new(now: Instant) -> Self {
        Pacer {
            rate: None,
            next: now,
            epoch: 0,
            last_max: 0.0,
            last_throttle: None,
            accepted: VecDeque::new(),
        }
    }

    /// The current rate in calls per second, `None` while unpaced.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Takes the next slot: the permit to send under and how long to wait before sending.
    pub fn reserve(&mut self, now: Instant) -> (Permit, Duration) {
        let permit = Permit { epoch: self.epoch };
        let Some(rate) = self.rate else {
            return (permit, Duration::ZERO);
        };
        let slot = self.next.max(now);
        self.next = slot + Duration::from_secs_f64(1.0 / rate);
        (permit, slot - now)
    }

    /// The provider accepted (or at least did not throttle) a call sent under `permit`.
    pub fn accepted(&mut self, _permit: Permit, now: Instant) {
        self.accepted.push_back(now);
        if self.accepted.len() > REMEMBERED {
            self.accepted.pop_front();
        }
        self.forget_before(now);
        let (Some(rate), Some(since)) = (self.rate, self.last_throttle) else {
            return;
        };
        // Grow along the curve, but never beyond twice what is really being sent.
        let grown = self.cubic(now.saturating_duration_since(since).as_secs_f64());
        let ceiling = 2.0 * self.measured(now).max(rate / 2.0);
        self.rate = Some(grown.min(ceiling).max(MIN_RATE));
    }

    /// The provider throttled a call sent under `permit`.
    pub fn throttled(&mut self, permit: Permit, now: Instant) {
        if permit.epoch != self.epoch {
            return; // sent before the last lowering: already accounted for
        }
        if self
            .last_throttle
            .is_some_and(|at| now.saturating_duration_since(at) < WINDOW)
        {
            return;
        }
        self.forget_before(now);
        if self.accepted.len() < EVIDENCE {
            return;
        }
        let measured = self.measured(now);
        let base = match self.rate {
            Some(rate) => rate.min(measured),
            None => measured,
        }
        .max(MIN_RATE);
        self.last_max = base;
        self.last_throttle = Some(now);
        self.epoch += 1;
        let rate = (base * BETA).max(MIN_RATE);
        self.rate = Some(rate);
        // The calls already reserved keep their slots; the next one waits a full interval.
        self.next = self.next.max(now) + Duration::from_secs_f64(1.0 / rate);
    }

    /// The cubic curve `t` seconds after the last lowering: `BETA × last_max` at 0, flat at
    /// `last_max` after `k` seconds, rising beyond it after that.
    fn cubic(&self, t: f64) -> f64 {
        let k = (self.last_max * (1.0 - BETA) / SCALE).cbrt();
        SCALE * (t - k).powi(3) + self.last_max
    }

    /// Calls accepted per second over the last `WINDOW`.
    fn measured(&self, now: Instant) -> f64 {
        let within = self
            .accepted
            .iter()
            .rev()
            .take_while(|at| now.saturating_duration_since(**at) < WINDOW)
            .count();
        within as f64 / WINDOW.as_secs_f64()
    }

    fn forget_before(&mut self, now: Instant) {
        while self
            .accepted
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW)
        {
            self.accepted.pop_front();
        }
    }
}

/// A [`Pacer`] shared by one provider's calls, on the real clock. `Pace::off()` never waits
/// (for comparing with the limiter off, and for tests of a provider's own limit).
#[derive(Debug)]
pub struct Pace {
    pacer: Option<Mutex<Pacer>>,
    /// Every call that asked for its slot, and how it ended.
    calls: Calls,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::new()
    }
}

impl Pace {
    /// Pacing on, unless the environment says `OSS_PACE=off` (read once, here: the switch
    /// benchmarks use to show the limiter off and on in one run).
    pub fn new() -> Self {
        if std::env::var("OSS_PACE").is_ok_and(|v| v == "off") {
            return Pace::off();
        }
        Pace {
            pacer: Some(Mutex::new(Pacer::new(Instant::now()))),
            calls: Calls::default(),
        }
    }

    pub fn off() -> Self {
        Pace {
            pacer: None,
            calls: Calls::default(),
        }
    }

    /// Waits for this call's slot; send the call after this returns. Counts the call.
    pub async fn ready(&self) -> Permit {
        self.calls.sent();
        let Some(pacer) = &self.pacer else {
            return Permit { epoch: 0 };
        };
        let (permit, wait) = lock(pacer).reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        permit
    }

    /// Reports the answer to a call sent under `permit`: throttled or not. (A call that got
    /// no answer at all, a transport failure, is reported by not calling this.)
    pub fn answered(&self, permit: Permit, throttled: bool) {
        if throttled {
            self.calls.throttled();
        }
        let Some(pacer) = &self.pacer else { return };
        let mut pacer = lock(pacer);
        if throttled {
            pacer.throttled(permit, Instant::now());
        } else {
            pacer.accepted(permit, Instant::now());
        }
    }

    /// Counts a call that failed as `class` (answered with an error or not answered at all).
    pub fn failed(&self, class: ErrorClass) {
        self.calls.failed(class);
    }

    /// The calls counted so far.
    pub fn counts(&self) -> CallCounts {
        self.calls.counts()
    }

    /// The current rate, `None` while unpaced or off.
    pub fn rate(&self) -> Option<f64> {
        self.pacer.as_ref().and_then(|p| lock(p).rate())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn unpaced_until_the_first_throttle() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        for n in 0..1000 {
            let (permit, wait) = pacer.reserve(start + ms(n / 10));
            assert_eq!(wait, Duration::ZERO);
            pacer.accepted(permit, start + ms(n / 10));
        }
        assert_eq!(pacer.rate(), None);
    }

    #[test]
    fn a_throttle_lowers_the_rate_to_beta_times_what_was_accepted() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        // 300 calls accepted over the last second, then a refusal.
        for n in 0..300 {
            let (permit, _) = pacer.reserve(start + ms(n * 3));
            pacer.accepted(permit, start + ms(n * 3));
        }
        let now = start + ms(900);
        let (permit, _) = pacer.reserve(now);
        pacer.throttled(permit, now);
        let rate = pacer.rate().expect("paced");
        assert!((rate - 0.7 * 300.0).abs() < 1e-9, "{rate}");
        // From then on calls leave 1/rate apart.
        let (_, first) = pacer.reserve(now);
        let (_, second) = pacer.reserve(now);
        let gap = (second - first).as_secs_f64();
        assert!((gap - 1.0 / rate).abs() < 1e-6, "{gap}");
    }

    #[test]
    fn one_burst_of_refusals_lowers_the_rate_once() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        for _ in 0..100 {
            let (permit, _) = pacer.reserve(start);
            pacer.accepted(permit, start);
        }
        // 50 calls in flight, all sent before any refusal came back, all refused.
        let in_flight: Vec<Permit> = (0..50).map(|_| pacer.reserve(start).0).collect();
        for permit in &in_flight {
            pacer.throttled(*permit, start + ms(100));
        }
        assert_eq!(pacer.rate(), Some(70.0));
        // A call sent after the lowering, refused within the window: still no second cut.
        let (permit, _) = pacer.reserve(start + ms(200));
        pacer.throttled(permit, start + ms(300));
        assert_eq!(pacer.rate(), Some(70.0));
        // Refused again a window later with nothing accepted since: no measure, no cut.
        let (permit, _) = pacer.reserve(start + ms(1200));
        pacer.throttled(permit, start + ms(1200));
        assert_eq!(
            pacer.rate(),
            Some(70.0),
            "nothing was accepted in the last second"
        );
        // With 35 accepted in the last second: cut to 0.7 × 35.
        for n in 0..35 {
            let (permit, wait) = pacer.reserve(start + ms(1300 + n * 20));
            pacer.accepted(permit, start + ms(1300 + n * 20) + wait);
        }
        let (permit, _) = pacer.reserve(start + ms(2100));
        pacer.throttled(permit, start + ms(2100));
        assert!(
            (pacer.rate().unwrap() - 0.7 * 35.0).abs() < 1e-9,
            "{:?}",
            pacer.rate()
        );
    }

    #[test]
    fn a_throttle_without_evidence_of_a_rate_changes_nothing() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        for _ in 0..(EVIDENCE - 1) {
            let (permit, _) = pacer.reserve(start);
            pacer.accepted(permit, start);
        }
        let (permit, _) = pacer.reserve(start);
        pacer.throttled(permit, start + ms(5));
        assert_eq!(
            pacer.rate(),
            None,
            "a provider's first refusals are the backoff's"
        );
    }

    #[test]
    fn success_grows_the_rate_back_along_the_cubic_curve() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        for n in 0..200 {
            let (permit, _) = pacer.reserve(start + ms(n * 5));
            pacer.accepted(permit, start + ms(n * 5));
        }
        let at = start + ms(999);
        let (permit, _) = pacer.reserve(at);
        pacer.throttled(permit, at);
        assert!((pacer.rate().unwrap() - 140.0).abs() < 1e-9);
        // Keep sending at the paced rate and watch the rate climb: below 200 for a while,
        // flat near it around k = cbrt(200 × 0.3 / 0.4) ≈ 5.3 s, above it later.
        let mut now = at;
        let mut rates = Vec::new();
        for second in 1..=9 {
            while now < at + Duration::from_secs(second) {
                let (permit, wait) = pacer.reserve(now);
                now += wait;
                pacer.accepted(permit, now);
            }
            rates.push(pacer.rate().unwrap());
        }
        assert!(rates.windows(2).all(|w| w[1] >= w[0]), "{rates:?}");
        assert!(rates[0] > 140.0 && rates[0] < 200.0, "{rates:?}");
        assert!((rates[4] - 200.0).abs() < 2.0, "{rates:?}");
        assert!(rates[8] > 210.0, "{rates:?}");
    }

    #[test]
    fn growth_stops_at_twice_what_is_really_sent() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        for _ in 0..100 {
            let (permit, _) = pacer.reserve(start);
            pacer.accepted(permit, start);
        }
        let (permit, _) = pacer.reserve(start);
        pacer.throttled(permit, start + ms(10));
        // Ten seconds later, one call every second: the rate stays near 2 × 1 (not 100+).
        for s in 10..20 {
            let now = start + Duration::from_secs(s);
            let (permit, _) = pacer.reserve(now);
            pacer.accepted(permit, now);
        }
        assert!(pacer.rate().unwrap() <= 70.0, "{:?}", pacer.rate());
    }

    #[test]
    fn repeated_throttles_hold_the_rate_at_beta_times_what_was_accepted() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        // Ten calls accepted in a burst, then a refusal, every six seconds (time to grow back):
        // each refusal cuts the rate to 0.7 × the 10 a second accepted (0.7ⁿ if cuts compounded).
        for s in 0..20u64 {
            let now = start + Duration::from_secs(s * 6);
            for _ in 0..EVIDENCE {
                let (permit, _) = pacer.reserve(now);
                pacer.accepted(permit, now);
            }
            let later = now + ms(999);
            let (permit, _) = pacer.reserve(later);
            pacer.throttled(permit, later);
            let rate = pacer.rate().unwrap();
            assert!((rate - 7.0).abs() < 1e-9, "{rate}");
        }
    }

    #[tokio::test]
    async fn off_never_waits() {
        let pace = Pace::off();
        for _ in 0..10 {
            let permit = pace.ready().await;
            pace.answered(permit, true);
        }
        assert_eq!(pace.rate(), None);
    }
}
