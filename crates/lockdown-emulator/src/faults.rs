//! Fault injection: rules checked in order; the first matching rule that fires applies.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::errors::Reply;
use super::{FaultKind, FaultRule};

#[derive(Debug)]
pub(crate) struct FaultEngine {
    rules: Vec<FaultRule>,
    rng: StdRng,
}

impl FaultEngine {
    pub fn new(rules: Vec<FaultRule>, seed: u64) -> FaultEngine {
        FaultEngine {
            rules,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn set(&mut self, rules: Vec<FaultRule>) {
        self.rules = rules;
    }

    /// The fault to inject for this request, if any. Batch items only take the status-type
    /// faults (throttle, 503, 504): the others act on the HTTP connection.
    pub fn pick(&mut self, method: &str, path: &str, in_batch: bool) -> Option<FaultKind> {
        for rule in self.rules.iter_mut() {
            if rule.times == Some(0) {
                continue;
            }
            if in_batch
                && !matches!(
                    rule.kind,
                    FaultKind::Throttle { .. }
                        | FaultKind::ServiceUnavailable { .. }
                        | FaultKind::GatewayTimeout
                )
            {
                continue;
            }
            if rule
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(method))
            {
                continue;
            }
            if rule
                .path_contains
                .as_deref()
                .is_some_and(|p| !path.contains(p))
            {
                continue;
            }
            let fires = rule.probability >= 1.0 || self.rng.random::<f64>() < rule.probability;
            if !fires {
                continue;
            }
            if let Some(t) = rule.times.as_mut() {
                *t -= 1;
            }
            return Some(rule.kind.clone());
        }
        None
    }
}

/// The reply for a status-type fault (None for connection-level ones).
pub(crate) fn status_reply(kind: &FaultKind) -> Option<Reply> {
    match kind {
        // learn: graph/throttling — 429 with Retry-After (seconds).
        FaultKind::Throttle { retry_after_secs } => Some(
            Reply::error(429, "TooManyRequests", "Please retry again later.")
                .header("Retry-After", retry_after_secs.to_string()),
        ),
        // learn: graph/errors — 503 serviceNotAvailable, "There may be a Retry-After header".
        FaultKind::ServiceUnavailable { retry_after_secs } => {
            let r = Reply::error(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry after a delay.",
            );
            Some(match retry_after_secs {
                Some(s) => r.header("Retry-After", s.to_string()),
                None => r,
            })
        }
        // learn: graph/errors — 504 Gateway Timeout (no documented code; `gatewayTimeout` used).
        FaultKind::GatewayTimeout => Some(Reply::error(
            504,
            "gatewayTimeout",
            "The gateway did not receive a timely response from the upstream server.",
        )),
        // Not Graph's behaviour: what a hijacked proxy or a misconfigured gateway would answer.
        // Clients must not follow it with the bearer token.
        FaultKind::Redirect { location } => Some(Reply {
            status: 302,
            headers: vec![("Location".into(), location.clone())],
            body: None,
            error: None,
        }),
        _ => None,
    }
}
