//! The one retry policy for every Graph call.
//!
//! 429, 503 and 504 honour `Retry-After` (learn: graph/throttling — keep honouring it on
//! repeated 429s); without one, and for connection failures and timeouts, the wait grows
//! exponentially with jitter. Each request gets at most `max_tries` tries and `max_wait` of
//! waiting in all; the final error says how many tries over how long.
//!
//! Waits are in Graph's seconds. `time_scale` (emulated seconds per real second, 1.0 against a
//! real tenant) lets tests and the benchmark run against the emulator's faster clock.

use std::time::Duration;

use rand::Rng;

use super::error::GraphError;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries per request, the first included.
    pub max_tries: u32,
    /// Total waiting per request, in Graph's seconds.
    pub max_wait: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Emulated seconds per real second; every sleep is divided by it.
    pub time_scale: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 8,
            max_wait: Duration::from_secs(300),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            time_scale: 1.0,
        }
    }
}

/// What to do after a failed try.
#[derive(Debug, PartialEq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// `tries` is how many tries have been made so far (1 after the first failure);
    /// `waited` is the waiting already spent on this request.
    pub fn decide(&self, error: &GraphError, tries: u32, waited: Duration) -> Decision {
        if !error.is_transient() || tries >= self.max_tries {
            return Decision::GiveUp;
        }
        let delay = match error.api().and_then(|e| e.retry_after) {
            // Graph says when; a zero asks for an immediate retry, which would hammer it.
            Some(after) => after.max(Duration::from_millis(100)),
            None => self.backoff(tries),
        };
        if waited + delay > self.max_wait {
            return Decision::GiveUp;
        }
        Decision::RetryAfter(delay)
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so that many users
    /// throttled at once do not come back in lockstep.
    fn backoff(&self, tries: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (tries - 1).min(16))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }

    /// The real time to sleep for a wait of `delay` Graph seconds.
    pub fn real(&self, delay: Duration) -> Duration {
        if self.time_scale > 0.0 && self.time_scale.is_finite() {
            delay.div_f64(self.time_scale)
        } else {
            delay
        }
    }

    pub async fn sleep(&self, delay: Duration) {
        tokio::time::sleep(self.real(delay)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::ApiError;
    use super::*;

    fn api(status: u16, retry_after: Option<u64>) -> GraphError {
        GraphError::Api(ApiError {
            status,
            code: "x".into(),
            message: String::new(),
            request_id: None,
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[test]
    fn honours_retry_after_and_gives_up_on_permanent_errors() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(&api(429, Some(7)), 1, Duration::ZERO),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            p.decide(&api(404, None), 1, Duration::ZERO),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(&api(400, Some(1)), 1, Duration::ZERO),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(&api(403, None), 1, Duration::ZERO),
            Decision::GiveUp
        );
    }

    #[test]
    fn bounded_by_tries_and_total_wait() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(&api(503, None), 8, Duration::ZERO),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(&api(429, Some(30)), 2, Duration::from_secs(290)),
            Decision::GiveUp
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let p = RetryPolicy::default();
        for tries in 1..8 {
            let Decision::RetryAfter(d) = p.decide(&api(503, None), tries, Duration::ZERO) else {
                panic!("503 must be retried");
            };
            let full = Duration::from_secs(1 << (tries - 1)).min(p.max_delay);
            assert!(
                d >= full / 2 && d <= full,
                "try {tries}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[test]
    fn time_scale_shrinks_real_sleeps() {
        let p = RetryPolicy {
            time_scale: 100.0,
            ..RetryPolicy::default()
        };
        assert_eq!(p.real(Duration::from_secs(2)), Duration::from_millis(20));
    }
}
