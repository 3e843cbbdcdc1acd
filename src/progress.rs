//! A progress line on stderr while a long run goes: users done, locked, partial, failed,
//! throttled and the rate. It appears only when stderr is a terminal (so pipes and logs get no
//! `\r` or escape codes) and only once a run has lasted a second (so a one-user run prints
//! just its result); the final summary line is printed either way.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::Counts;
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

    pub fn update(&self, tally: &Counts, stats: &Stats) {
        let elapsed = self.started.elapsed();
        if self.terminal && self.bar.is_hidden() && elapsed >= SHOW_AFTER {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(200));
        }
        let done = tally.done;
        self.bar.set_message(format!(
            "{done} users ({:.1}/s): locked {}, partial {}, failed {}, throttled {}",
            done as f64 / elapsed.as_secs_f64().max(0.001),
            tally.locked,
            tally.partial,
            tally.failed,
            stats.throttled.load(Ordering::Relaxed)
        ));
    }

    /// Print something without tearing the progress line.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
