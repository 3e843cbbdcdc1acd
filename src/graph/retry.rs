//! The one retry policy for every Graph call.
//!
//! Failures fall in two classes with their own limits:
//!
//! - **Graph answered** 429, 503 or 504: honour `Retry-After` (learn: graph/throttling — keep
//!   honouring it on repeated 429s); without one, the wait grows exponentially with jitter, up
//!   to a minute. At most `max_tries` tries and `max_wait` of waiting per request: throttling is
//!   Graph pacing us, and waiting it out is how a large run finishes.
//! - **No answer**: a timeout, a refused or reset connection, a body cut short. Nothing says
//!   when it will get better, and during an incident a Graph that does not answer must fail
//!   fast rather than hold a run for minutes: at most `transport_max_tries` tries (never more
//!   than `max_tries`), backoff capped at `transport_max_delay` and `transport_max_wait` of
//!   waiting per request.
//!
//! The final error says how many tries over how long.
//!
//! Waits are in Graph's seconds. `time_scale` (emulated seconds per real second, 1.0 against a
//! real tenant) lets tests and the benchmark run against the emulator's faster clock.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;
use tracing::warn;

use super::error::GraphError;
use super::Stats;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries per request, the first included (`--max-retries`).
    pub max_tries: u32,
    /// Total waiting per request, in Graph's seconds.
    pub max_wait: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Tries per request when the latest try got no answer, the first included; `max_tries`
    /// still caps it.
    pub transport_max_tries: u32,
    /// The longest single wait after a try that got no answer.
    pub transport_max_delay: Duration,
    /// Total waiting per request when the latest try got no answer.
    pub transport_max_wait: Duration,
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
            transport_max_tries: 3,
            transport_max_delay: Duration::from_secs(4),
            transport_max_wait: Duration::from_secs(15),
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

/// The two kinds of failure that may be retried, each with its own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retryable {
    /// Graph answered 429, 503 or 504.
    Answered,
    /// No usable answer: timeout, connection refused or reset, a torn body.
    NoAnswer,
}

fn classify(error: &GraphError) -> Option<Retryable> {
    if !error.is_transient() {
        return None;
    }
    Some(if error.api().is_some() {
        Retryable::Answered
    } else {
        Retryable::NoAnswer
    })
}

impl RetryPolicy {
    /// `tries` is how many tries have been made so far (1 after the first failure);
    /// `waited` is the waiting already spent on this request. The class of the latest failure
    /// sets the limits: a request throttled for a while that then stops answering gives up
    /// within the no-answer limits, counting the tries and waiting it has already had.
    pub fn decide(&self, error: &GraphError, tries: u32, waited: Duration) -> Decision {
        let Some(class) = classify(error) else {
            return Decision::GiveUp;
        };
        let (max_tries, max_delay, max_wait) = self.limits(class);
        if tries >= max_tries {
            return Decision::GiveUp;
        }
        let delay = match error.api().and_then(|e| e.retry_after) {
            // Graph says when; a zero asks for an immediate retry, which would hammer it.
            Some(after) => after.max(Duration::from_millis(100)),
            None => self.backoff(tries, max_delay),
        };
        if waited + delay > max_wait {
            return Decision::GiveUp;
        }
        Decision::RetryAfter(delay)
    }

    /// The most tries a request that failed with `error` gets, for "try 2 of 3" in warnings.
    pub fn max_tries_for(&self, error: &GraphError) -> u32 {
        match classify(error) {
            Some(class) => self.limits(class).0,
            None => 1,
        }
    }

    /// Tries, longest single wait and total waiting for a class of failure.
    fn limits(&self, class: Retryable) -> (u32, Duration, Duration) {
        match class {
            Retryable::Answered => (self.max_tries, self.max_delay, self.max_wait),
            Retryable::NoAnswer => (
                self.max_tries.min(self.transport_max_tries),
                self.transport_max_delay.min(self.max_delay),
                self.transport_max_wait.min(self.max_wait),
            ),
        }
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so that many users
    /// throttled at once do not come back in lockstep.
    fn backoff(&self, tries: u32, max_delay: Duration) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (tries - 1).min(16))
            .min(max_delay);
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

/// One request's tries under the policy. A plain request and each request inside a `$batch`
/// keep one of these, so deciding, logging, counting and giving up happen in this one place.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    tries: u32,
    waited: Duration,
    started: Option<Instant>,
}

/// After a failed try: wait this long (Graph seconds) and try again, or the final error.
#[derive(Debug)]
pub enum Next {
    Retry(Duration),
    Fail(GraphError),
}

impl Attempts {
    /// A try is going out.
    pub fn begin(&mut self) {
        self.tries += 1;
        self.started.get_or_insert_with(Instant::now);
    }

    /// The try did not run (a batch item whose dependency failed, a refused `$batch`): it does
    /// not count.
    pub fn not_run(&mut self) {
        self.tries = self.tries.saturating_sub(1);
    }

    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// Decide after a failed try; a retry is logged (naming `label`, the user and step) and
    /// counted, and the final error says how many tries over how long.
    pub fn failed(
        &mut self,
        policy: &RetryPolicy,
        err: GraphError,
        label: &str,
        stats: &Stats,
    ) -> Next {
        // A lone request in a batch run went through its own attempts already.
        if matches!(err, GraphError::Exhausted { .. }) {
            return Next::Fail(err);
        }
        match policy.decide(&err, self.tries, self.waited) {
            Decision::RetryAfter(delay) => {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                warn!(
                    "{label}: {}; retrying in {:.1}s (try {} of {})",
                    super::short_reason(&err),
                    delay.as_secs_f64(),
                    self.tries + 1,
                    policy.max_tries_for(&err)
                );
                self.waited += delay;
                Next::Retry(delay)
            }
            Decision::GiveUp if self.tries > 1 => Next::Fail(GraphError::Exhausted {
                last: Box::new(err),
                tries: self.tries,
                elapsed: self.started.map(|s| s.elapsed()).unwrap_or_default(),
            }),
            Decision::GiveUp => Next::Fail(err),
        }
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

    fn timeout() -> GraphError {
        GraphError::Transport {
            message: "the request timed out after 1s".into(),
            timed_out: true,
        }
    }

    fn refused() -> GraphError {
        GraphError::Transport {
            message: "connection refused".into(),
            timed_out: false,
        }
    }

    fn torn() -> GraphError {
        GraphError::Decode {
            message: "the response body is not valid JSON".into(),
        }
    }

    /// What `decide` must answer: a wait within a range (jitter), or give up.
    #[derive(Debug)]
    enum Want {
        Wait(f64, f64),
        GiveUp,
    }

    /// Ask the default policy a few times (the backoff has jitter) and check every answer.
    fn check(name: &str, err: GraphError, tries: u32, waited_secs: u64, want: Want) {
        let p = RetryPolicy::default();
        for _ in 0..20 {
            match (
                p.decide(&err, tries, Duration::from_secs(waited_secs)),
                &want,
            ) {
                (Decision::GiveUp, Want::GiveUp) => {}
                (Decision::RetryAfter(d), Want::Wait(lo, hi))
                    if d.as_secs_f64() >= *lo && d.as_secs_f64() <= *hi => {}
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    #[rustfmt::skip] // a table reads best one row per line
    fn decision_table() {
        use Want::*;
        // Graph answered: its Retry-After, today's limits (8 tries, 5 minutes of waiting).
        check("429 with Retry-After",   api(429, Some(7)),  1, 0,   Wait(7.0, 7.0));
        check("429 with Retry-After 0", api(429, Some(0)),  1, 0,   Wait(0.1, 0.1));
        check("429 on try 7",           api(429, Some(2)),  7, 0,   Wait(2.0, 2.0));
        check("429 on try 8",           api(429, Some(2)),  8, 0,   GiveUp);
        check("429 within the budget",  api(429, Some(30)), 2, 270, Wait(30.0, 30.0));
        check("429 past the budget",    api(429, Some(30)), 2, 290, GiveUp);
        check("503, no Retry-After",    api(503, None),     1, 0,   Wait(0.5, 1.0));
        check("503 on try 7",           api(503, None),     7, 0,   Wait(30.0, 60.0));
        check("503 on try 8",           api(503, None),     8, 0,   GiveUp);
        check("504 on try 3",           api(504, None),     3, 0,   Wait(2.0, 4.0));
        // No answer: 3 tries, at most 4 s per wait and 15 s in all.
        check("timeout on try 1",       timeout(),          1, 0,   Wait(0.5, 1.0));
        check("timeout on try 2",       timeout(),          2, 1,   Wait(1.0, 2.0));
        check("timeout on try 3",       timeout(),          3, 3,   GiveUp);
        check("refused on try 2",       refused(),          2, 0,   Wait(1.0, 2.0));
        check("refused on try 3",       refused(),          3, 0,   GiveUp);
        check("torn body on try 1",     torn(),             1, 0,   Wait(0.5, 1.0));
        check("torn body on try 3",     torn(),             3, 0,   GiveUp);
        // Throttled for a while, then no answer: the no-answer limits, counting it all.
        check("timeout after 2 x 429",  timeout(),          3, 4,   GiveUp);
        check("timeout after 15 s 429", timeout(),          1, 15,  GiveUp);
        check("429 after timeouts",     api(429, Some(1)),  4, 3,   Wait(1.0, 1.0));
        // Never retried.
        check("400 with Retry-After",   api(400, Some(1)),  1, 0,   GiveUp);
        check("401",                    api(401, None),     1, 0,   GiveUp);
        check("403",                    api(403, None),     1, 0,   GiveUp);
        check("404",                    api(404, None),     1, 0,   GiveUp);
        check("500",                    api(500, None),     1, 0,   GiveUp);
        let exhausted = GraphError::Exhausted { last: Box::new(timeout()), tries: 3, elapsed: Duration::from_secs(5) };
        check("exhausted",              exhausted,          1, 0,   GiveUp);
        let refused_here = GraphError::Refused { message: "redirect".into() };
        check("refused before sending", refused_here,       1, 0,   GiveUp);
        let no_token = GraphError::Auth { message: "no token".into(), expired: false };
        check("no token",               no_token,           1, 0,   GiveUp);
        let expired = GraphError::Auth { message: "expired".into(), expired: true };
        check("expired token",          expired,            1, 0,   GiveUp);
    }

    #[test]
    fn fewer_tries_asked_for_caps_the_no_answer_tries_too() {
        let p = RetryPolicy {
            max_tries: 2,
            ..RetryPolicy::default()
        };
        assert_eq!(p.decide(&timeout(), 2, Duration::ZERO), Decision::GiveUp);
        assert_eq!(p.max_tries_for(&timeout()), 2);
        let p = RetryPolicy {
            max_tries: 50,
            ..RetryPolicy::default()
        };
        assert_eq!(p.max_tries_for(&timeout()), 3);
        assert_eq!(p.max_tries_for(&api(429, Some(1))), 50);
        assert_eq!(p.max_tries_for(&api(404, None)), 1);
    }

    #[test]
    fn no_answer_backoff_caps_at_a_few_seconds_and_the_budget_holds() {
        let p = RetryPolicy {
            transport_max_tries: 20,
            max_tries: 20,
            ..RetryPolicy::default()
        };
        let mut waited = Duration::ZERO;
        let mut tries = 1;
        while let Decision::RetryAfter(d) = p.decide(&timeout(), tries, waited) {
            assert!(d <= p.transport_max_delay, "try {tries}: {d:?}");
            waited += d;
            tries += 1;
        }
        assert!(waited <= p.transport_max_wait, "{waited:?}");
        assert!(tries < 20, "the wait budget, not the tries, ended it");
    }

    #[test]
    fn a_dead_graph_costs_a_request_little_waiting_by_default() {
        // Against a Graph that never answers, each request gets 3 tries and at most 1 s + 2 s
        // of waiting: with --timeout T, about 3 T + 3 s per request, not minutes.
        let p = RetryPolicy::default();
        let mut waited = Duration::ZERO;
        let mut tries = 1;
        while let Decision::RetryAfter(d) = p.decide(&timeout(), tries, waited) {
            waited += d;
            tries += 1;
        }
        assert_eq!(tries, 3);
        assert!(waited <= Duration::from_secs(3), "{waited:?}");
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
