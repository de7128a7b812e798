//! A progress bar on stderr, drawn only when stderr is a terminal and the
//! user did not ask for `--quiet`, so logs and pipes stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress over input bytes (when the size is known) or rows.
pub struct Progress {
    bar: ProgressBar,
    by_bytes: bool,
}

impl Progress {
    /// A bar over `total_bytes` of input, or a row counter when unknown.
    pub fn new(quiet: bool, total_bytes: Option<u64>) -> Self {
        let visible = !quiet && std::io::stderr().is_terminal();
        let bar = match (visible, total_bytes) {
            (false, _) => ProgressBar::hidden(),
            (true, Some(total)) => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                    )
                    .expect("a valid template"),
                );
                bar
            }
            (true, None) => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {pos} rows {per_sec} {msg}")
                        .expect("a valid template"),
                );
                bar
            }
        };
        if visible {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            bar,
            by_bytes: total_bytes.is_some(),
        }
    }

    /// Reports where the reader is; cheap enough to call every row.
    pub fn update(&self, rows: u64, bytes: u64) {
        if self.bar.is_hidden() || !rows.is_multiple_of(1024) {
            return;
        }
        self.bar
            .set_position(if self.by_bytes { bytes } else { rows });
    }

    /// Reports where the reader is, unthrottled (for callers that already
    /// report once per chunk).
    pub fn update_now(&self, rows: u64, bytes: u64) {
        if !self.bar.is_hidden() {
            self.bar
                .set_position(if self.by_bytes { bytes } else { rows });
        }
    }

    /// Text shown after the bar.
    pub fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
