//! What a person watching a run sees: a progress bar with the latest losses and throughput on a
//! terminal, a plain line now and then when the output goes to a file.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

pub struct Progress {
    bar: ProgressBar,
    /// Whether the caller asked to show progress at all (tests do not).
    visible: bool,
    /// Images trained on since `window_start`, for the throughput.
    window_start: Instant,
    window_images: usize,
    /// The throughput over the last window that was read.
    pub images_per_second: f64,
}

impl Progress {
    pub fn new(visible: bool, total_steps: u64, position: u64) -> Self {
        let bar = if visible {
            let bar = ProgressBar::new(total_steps).with_style(
                ProgressStyle::with_template("{bar:25} step {pos}/{len} · {msg} · ETA {eta}")
                    .expect("valid template")
                    .progress_chars("█▉▊▋▌▍▎▏ "),
            );
            bar.set_position(position);
            bar.set_message("starting (the first steps compile GPU kernels)");
            bar
        } else {
            ProgressBar::hidden()
        };
        Self { bar, visible, window_start: Instant::now(), window_images: 0, images_per_second: 0.0 }
    }

    /// Counts the images of a finished step.
    pub fn trained(&mut self, images: usize) {
        self.window_images += images;
    }

    /// Updates the throughput from the images trained since the last call.
    pub fn measure_throughput(&mut self) -> f64 {
        let seconds = self.window_start.elapsed().as_secs_f64();
        self.images_per_second = self.window_images as f64 / seconds.max(1e-9);
        (self.window_start, self.window_images) = (Instant::now(), 0);
        self.images_per_second
    }

    /// Shows `message` at `step`; `plain_line`: also print it where there is no bar to show it.
    pub fn show(&self, step: u64, total_steps: u64, message: String, plain_line: bool) {
        if self.visible && self.bar.is_hidden() && plain_line {
            println!("step {step}/{total_steps} · {message}");
        }
        self.bar.set_position(step);
        self.bar.set_message(message);
    }

    /// A line of its own, above the bar where there is one.
    pub fn println(&self, line: String) {
        if self.bar.is_hidden() {
            println!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    pub fn abandon(&self) {
        self.bar.abandon();
    }

    pub fn stopped(&self, message: String) {
        self.bar.abandon_with_message(message);
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}
