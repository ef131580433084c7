//! The learning rates step by step: constant (the article), or, with `--lr-decay N`, falling
//! linearly towards 0 over the run's last N steps, so that both networks settle instead of
//! circling each other at full speed to the end.
//!
//! The rates depend only on the step and the run's length, so a resumed run learns exactly as the
//! uninterrupted one; a run extended with `--epochs` (and `--lr-decay`) on resume decays over its
//! new end.

use super::options::TrainOptions;

/// The learning rates of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LearningRates {
    pub generator: f64,
    pub discriminator: f64,
}

impl LearningRates {
    /// The options' rates as they are, at every step.
    pub fn constant(options: &TrainOptions) -> Self {
        Self { generator: options.lr_g, discriminator: options.lr_d }
    }

    /// The rates of the step that follows `steps_done` in a run of `total_steps`.
    pub fn at(options: &TrainOptions, steps_done: u64, total_steps: u64) -> Self {
        let factor = decay_factor(steps_done, total_steps, options.lr_decay);
        Self { generator: options.lr_g * factor, discriminator: options.lr_d * factor }
    }
}

/// 1 until the last `decay_steps` steps, then (steps left) / `decay_steps`: the last step learns
/// at 1/`decay_steps` of the rate, never at 0.
fn decay_factor(steps_done: u64, total_steps: u64, decay_steps: u64) -> f64 {
    let left = total_steps.saturating_sub(steps_done);
    if decay_steps == 0 || left >= decay_steps { 1.0 } else { left as f64 / decay_steps as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn without_decay_the_rates_stay_the_options() {
        let options = TrainOptions::article(PathBuf::from("crops"), 16, 64);
        for step in [0, 500, 999] {
            assert_eq!(LearningRates::at(&options, step, 1000), LearningRates::constant(&options));
        }
    }

    #[test]
    fn the_rates_fall_linearly_over_the_last_steps() {
        let options = TrainOptions { lr_decay: 100, ..TrainOptions::article(PathBuf::from("crops"), 16, 64) };
        let full = LearningRates::constant(&options);
        assert_eq!(LearningRates::at(&options, 0, 1000), full);
        assert_eq!(LearningRates::at(&options, 900, 1000), full, "the decay starts with the last 100 steps");
        let halfway = LearningRates::at(&options, 950, 1000);
        assert!((halfway.generator - full.generator / 2.0).abs() < 1e-12, "{halfway:?}");
        assert!((halfway.discriminator - full.discriminator / 2.0).abs() < 1e-12, "{halfway:?}");
        let last = LearningRates::at(&options, 999, 1000);
        assert!((last.generator - full.generator / 100.0).abs() < 1e-12 && last.generator > 0.0, "{last:?}");
        let rates: Vec<f64> = (900..1000).map(|step| LearningRates::at(&options, step, 1000).generator).collect();
        assert!(rates.windows(2).all(|pair| pair[1] < pair[0]), "the rates fall at every step");
    }

    #[test]
    fn a_decay_longer_than_the_run_starts_below_the_full_rate() {
        let options = TrainOptions { lr_decay: 400, ..TrainOptions::article(PathBuf::from("crops"), 16, 64) };
        assert!((LearningRates::at(&options, 0, 200).generator - options.lr_g / 2.0).abs() < 1e-12);
    }
}
