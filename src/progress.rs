//! A progress line on stderr while a long run goes. For `block`: users contained (their
//! account closed: the figure that matters in an incident) and finished, out of how many when
//! the input size is known, the limit pacing each part when one does, and about how long the
//! rest will take, e.g. `contained 812/1000 · finished 340/1000 · clean-up paced by identity
//! and access reports (5 requests per 10 s) · about 12m00s left`. Other commands show users
//! done, locked, partial and failed. It appears only when stderr is a terminal (so pipes and
//! logs get no `\r` or escape codes) and only once a run has lasted a second (so a one-user run
//! prints just its result); the final summary line is printed either way.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::graph::pacer::Limit;

const SHOW_AFTER: Duration = Duration::from_secs(1);

/// What the line shows.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Users with a result.
    pub finished: usize,
    /// Users whose containment took effect.
    pub contained: usize,
    pub locked: usize,
    pub partial: usize,
    pub failed: usize,
    /// All the users, when the input is read to its end.
    pub total: Option<usize>,
    /// Users without a result yet (as far as the input is read).
    pub left: usize,
    /// The run contains accounts (`block`): show containment apart.
    pub containment: bool,
    pub throttled: u64,
    /// The limit holding back containment requests, if one is.
    pub contain_paced_by: Option<Limit>,
    /// The limit holding back the rest (clean-up, reads), if one is.
    pub clean_up_paced_by: Option<Limit>,
}

pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    terminal: bool,
}

impl Progress {
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"),
        );
        Progress {
            bar,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&self, counts: &Counts) {
        let elapsed = self.started.elapsed();
        if self.terminal && self.bar.is_hidden() && elapsed >= SHOW_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(200));
        }
        self.bar.set_message(line(counts, elapsed));
    }

    /// Print something without tearing the progress line.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The line for `counts` after `elapsed`.
fn line(c: &Counts, elapsed: Duration) -> String {
    let of = |n: usize| match c.total {
        Some(total) => format!("{n}/{total}"),
        None => n.to_string(),
    };
    let rate = c.finished as f64 / elapsed.as_secs_f64().max(0.001);
    let mut parts = Vec::new();
    if c.containment {
        parts.push(format!("contained {}", of(c.contained)));
        parts.push(format!("finished {}", of(c.finished)));
        parts.push(format!(
            "locked {}, partial {}, failed {}",
            c.locked, c.partial, c.failed
        ));
        if let Some(limit) = c.contain_paced_by {
            parts.push(format!("containment paced by {}", limit.describe()));
        }
        if let Some(limit) = c.clean_up_paced_by {
            parts.push(format!("clean-up paced by {}", limit.describe()));
        }
    } else {
        parts.push(format!("{} users ({rate:.1}/s)", of(c.finished)));
        parts.push(format!(
            "locked {}, partial {}, failed {}",
            c.locked, c.partial, c.failed
        ));
        if let Some(limit) = c.clean_up_paced_by.or(c.contain_paced_by) {
            parts.push(format!("paced by {}", limit.describe()));
        }
    }
    if c.throttled > 0 {
        parts.push(format!("throttled {}", c.throttled));
    }
    if let Some(eta) = time_left(c.left, rate, c.total.is_some()) {
        parts.push(eta);
    }
    parts.join(" · ")
}

/// `about 4m10s left` at the rate users finish so far (`at least` while the input is still
/// being read).
fn time_left(left: usize, rate: f64, all: bool) -> Option<String> {
    if left == 0 || rate <= 0.0 {
        return None;
    }
    let secs = (left as f64 / rate).ceil() as u64;
    let eta = if secs >= 3_600 {
        format!("{}h{:02}m", secs / 3_600, secs % 3_600 / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    };
    let at_least = if all { "" } else { "at least " };
    Some(format!("{at_least}about {eta} left"))
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_and_completion_show_apart_with_what_paces_each() {
        let counts = Counts {
            finished: 340,
            contained: 812,
            locked: 330,
            partial: 10,
            failed: 0,
            total: Some(1_000),
            left: 660,
            containment: true,
            throttled: 0,
            contain_paced_by: None,
            clean_up_paced_by: Some(Limit::Reports),
        };
        assert_eq!(
            line(&counts, Duration::from_secs(34)),
            "contained 812/1000 · finished 340/1000 · locked 330, partial 10, failed 0 · clean-up paced by identity and access reports (5 requests per 10 s) · about 1m06s left"
        );
        let streaming = Counts {
            total: None,
            ..counts
        };
        assert!(line(&streaming, Duration::from_secs(34))
            .starts_with("contained 812 · finished 340 · "));
        assert!(line(&streaming, Duration::from_secs(34)).ends_with("at least about 1m06s left"));
    }

    #[test]
    fn other_commands_show_users_done_and_the_pace() {
        let counts = Counts {
            finished: 10,
            left: 10,
            total: Some(20),
            contain_paced_by: Some(Limit::IdentityProtection),
            ..Counts::default()
        };
        assert_eq!(
            line(&counts, Duration::from_secs(5)),
            "10/20 users (2.0/s) · locked 0, partial 0, failed 0 · paced by identity protection (1 request per second) · about 5s left"
        );
    }
}
