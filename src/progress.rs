//! A progress line on stderr while a run goes: done, failed, throttled and the rate. It is
//! drawn only when stderr is a terminal (indicatif hides it otherwise), so pipes and logs get
//! no `\r` or escape codes; the final summary line is printed either way.

use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::commands::block::Tally;
use crate::graph::Stats;

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} users ({per_sec}) {msg} [{elapsed}]")
                .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    pub(crate) fn update(&self, tally: &Tally, stats: &Stats) {
        self.bar.set_position(tally.total() as u64);
        self.bar.set_message(format!(
            "locked {}, partial {}, failed {}, throttled {}",
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
