//! A progress line on stderr while a long run goes: users done, locked, partial, failed,
//! throttled and the rate, and, when one of Graph's throttling limits paces the run, which one
//! and about how long the users left will take at that pace. It appears only when stderr is a terminal (so pipes and logs get no
//! `\r` or escape codes) and only once a run has lasted a second (so a one-user run prints
//! just its result); the final summary line is printed either way.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::Counts;
use crate::graph::pacer::Limit;
use crate::graph::Stats;

const SHOW_AFTER: Duration = Duration::from_secs(1);

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

    /// `pacing` is the limit holding requests back, if one is; `left` the users not finished
    /// and whether that count is all of them (the input is read to its end).
    pub fn update(
        &self,
        tally: &Counts,
        stats: &Stats,
        pacing: Option<Limit>,
        left: (usize, bool),
    ) {
        let elapsed = self.started.elapsed();
        if self.terminal && self.bar.is_hidden() && elapsed >= SHOW_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(200));
        }
        let done = tally.done;
        let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
        let mut line = format!(
            "{done} users ({rate:.1}/s): locked {}, partial {}, failed {}, throttled {}",
            tally.locked,
            tally.partial,
            tally.failed,
            stats.throttled.load(Ordering::Relaxed)
        );
        if let Some(limit) = pacing {
            line.push_str(&pacing_note(limit, rate, left));
        }
        self.bar.set_message(line);
    }

    /// Print something without tearing the progress line.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `; paced by identity and access reports (5 requests per 10 s), about 4m10s left`.
fn pacing_note(limit: Limit, rate: f64, (left, all): (usize, bool)) -> String {
    let mut note = format!("; paced by {}", limit.describe());
    if left > 0 && rate > 0.0 {
        let secs = (left as f64 / rate).ceil() as u64;
        let eta = if secs >= 3_600 {
            format!("{}h{:02}m", secs / 3_600, secs % 3_600 / 60)
        } else if secs >= 60 {
            format!("{}m{:02}s", secs / 60, secs % 60)
        } else {
            format!("{secs}s")
        };
        let at_least = if all { "" } else { "at least " };
        note.push_str(&format!(", {at_least}about {eta} left for {left} user(s)"));
    }
    note
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
    fn the_pacing_note_names_the_limit_and_the_time_left() {
        assert_eq!(
            pacing_note(Limit::Reports, 0.5, (250, true)),
            "; paced by identity and access reports (5 requests per 10 s), about 8m20s left for 250 user(s)"
        );
        assert_eq!(
            pacing_note(Limit::IdentityProtection, 2.0, (10, false)),
            "; paced by identity protection (1 request per second), at least about 5s left for 10 user(s)"
        );
        assert_eq!(
            pacing_note(Limit::AppWrites, 0.0, (10, true)),
            "; paced by writes per app (3,000 per 2 min 30 s)"
        );
    }
}
