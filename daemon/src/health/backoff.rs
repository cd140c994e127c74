//! Reconnect backoff, as gRPC's connection-backoff spec describes it: 1 s initial, ×1.6,
//! ±20 % jitter, 120 s at most, each attempt given at least 20 s to connect, and back to
//! the start after a success. tonic has none of this; the daemon owns it.

use std::time::Duration;

/// The spec's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub multiplier: f64,
    /// Fraction of the delay added or removed at random.
    pub jitter: f64,
    pub max: Duration,
    pub min_connect_timeout: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max: Duration::from_secs(120),
            min_connect_timeout: Duration::from_secs(20),
        }
    }
}

/// One attempt's bounds: how long it may take, and how long to wait after it fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    pub connect_timeout: Duration,
    pub retry_after: Duration,
}

/// The backoff state of one channel.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    current: Duration,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            current: policy.initial,
            policy,
        }
    }

    /// The next attempt; `random` is uniform in [0, 1) and picks the jitter.
    pub fn next_attempt(&mut self, random: f64) -> Attempt {
        let base = self.current;
        let factor = 1.0 + self.policy.jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        let retry_after = base.mul_f64(factor);
        self.current = base.mul_f64(self.policy.multiplier).min(self.policy.max);
        Attempt {
            connect_timeout: base.max(self.policy.min_connect_timeout),
            retry_after,
        }
    }

    /// After a success the next failure starts from the initial delay again.
    pub fn reset(&mut self) {
        self.current = self.policy.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_multiplier_up_to_the_cap() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        let delays: Vec<f64> = (0..15)
            .map(|_| backoff.next_attempt(0.5).retry_after.as_secs_f64())
            .collect();
        let want = [1.0, 1.6, 2.56, 4.096, 6.5536, 10.48576];
        for (got, want) in delays.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert!(delays.iter().all(|d| *d <= 120.0));
        assert_eq!(delays[14], 120.0, "capped at 120 s");
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let mut low = Backoff::new(BackoffPolicy::default());
        let mut high = Backoff::new(BackoffPolicy::default());
        for step in 0..20 {
            let lo = low.next_attempt(0.0).retry_after.as_secs_f64();
            let hi = high.next_attempt(0.999_999).retry_after.as_secs_f64();
            let base = (1.6f64.powi(step)).min(120.0);
            assert!((lo - base * 0.8).abs() < 1e-6, "step {step}: {lo}");
            assert!((hi - base * 1.2).abs() < 1e-3, "step {step}: {hi}");
        }
    }

    #[test]
    fn every_attempt_gets_the_minimum_connect_timeout_and_reset_starts_over() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        for _ in 0..8 {
            assert!(backoff.next_attempt(0.5).connect_timeout >= Duration::from_secs(20));
        }
        backoff.reset();
        assert_eq!(
            backoff.next_attempt(0.5).retry_after,
            Duration::from_secs(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_loop_under_a_paused_clock_waits_the_schedule() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            tokio::time::sleep(backoff.next_attempt(0.5).retry_after).await;
        }
        // 1 + 1.6 + 2.56 + 4.096 + 6.5536 s, exactly, without sleeping for real.
        let waited = start.elapsed().as_secs_f64();
        assert!((waited - 15.8096).abs() < 1e-3, "{waited}");
    }
}
