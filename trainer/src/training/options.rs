//! What defines a training run: its options (stored in every checkpoint), the recipes that set
//! them, and the checks that refuse unusable values before anything is loaded.

use anyhow::{Result, bail};
use atelier_shared::DiscNorm;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::diffaugment::DiffAugment;
use super::instance_selection;
use super::label_smoothing;
use super::regularizers::Regularizers;
use super::top_k;

/// What drives the generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorLoss {
    /// MSE between batch means of D's 1024-d features on fake and real images (the article).
    FeatureMatching,
    /// MSE(D(G(z)), 1), the seed code's least-squares loss.
    Lsgan,
}

/// Everything that defines a run; stored in its checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainOptions {
    pub data: PathBuf,
    pub epochs: u64,
    pub batch_size: usize,
    pub width: usize,
    pub lr_g: f64,
    pub lr_d: f64,
    pub g_loss: GeneratorLoss,
    pub disc_norm: DiscNorm,
    pub seed: u64,
    pub checkpoint_every: u64,
    pub sample_every: u64,
    /// Steps between reading losses back from the device (each read waits for the device).
    pub log_every: u64,
    /// Augmentations of everything the discriminator sees (none in the article).
    #[serde(default)]
    pub diffaugment: DiffAugment,
    /// Decay of the generator's weight average; `None`: paint with the live generator.
    #[serde(default)]
    pub ema_decay: Option<f64>,
    /// Steps between evaluations of the portraits (0: never).
    #[serde(default)]
    pub eval_every: u64,
    /// The weights of LeCam, consistency and the generator's LSGAN term (all 0 in older runs).
    #[serde(default)]
    pub regularizers: Regularizers,
    /// Steps at the run's end over which both learning rates fall linearly towards 0 (0:
    /// constant rates, as in older runs); see [`schedule`](super::schedule).
    #[serde(default)]
    pub lr_decay: u64,
    /// The share of each batch's fakes, those the discriminator finds most real, that the
    /// generator learns from (1: all, as in older runs); see [`top_k`](super::top_k).
    #[serde(default = "all_fakes")]
    pub top_k: f64,
    /// The discriminator's width when it differs from the generator's (`None`: `width`, as in
    /// older runs); see [`TrainOptions::discriminator_width`].
    #[serde(default)]
    pub disc_width: Option<usize>,
    /// The discriminator's target for real images (1: none, as in older runs); see
    /// [`label_smoothing`](super::label_smoothing).
    #[serde(default = "no_smoothing")]
    pub real_label: f64,
    /// The share of the crops, those most like a face to the detector, that the run trains on
    /// (1: all, as in older runs); see [`instance_selection`](super::instance_selection).
    #[serde(default = "all_crops")]
    pub instance_selection: f64,
    /// Images per group whose spread the discriminator sees before its feature layer (0: none,
    /// as in older runs); see [`atelier_shared::model::with_batch_spread`].
    #[serde(default)]
    pub minibatch_std: usize,
}

fn all_fakes() -> f64 {
    top_k::ALL_FAKES
}

fn no_smoothing() -> f64 {
    label_smoothing::NO_SMOOTHING
}

fn all_crops() -> f64 {
    instance_selection::ALL_CROPS
}

/// A starting point for the options that shape training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Recipe {
    /// For a few hundred paintings: DiffAugment (color, translation, cutout), generator EMA
    /// 0.999, evaluation every 1,000 steps.
    SmallData,
    /// For runs of a few thousand steps or fewer (the demo): the article's loop at three times its
    /// learning rates, painting with a weight average whose decay ramps up with the steps,
    /// evaluation every 1,000 steps.
    /// DiffAugment pays off only over thousands of steps; before that it paints colour blotches.
    Short,
    /// The article's recipe as published: no DiffAugment, no EMA.
    Article,
}

/// Runs shorter than this many steps are short for the small-data recipe: DiffAugment and the
/// weight average had nothing to show at 600 steps on 137 crops (faces 0.01, real 0.97), while
/// the short recipe painted faces.
pub const SHORT_RUN_STEPS: u64 = 3000;

/// `--ema-decay`'s value in the small-data recipe.
pub const DEFAULT_EMA_DECAY: f64 = 0.999;

/// The weight average an `--ema-decay` value asks for: 0 turns it off.
pub fn ema_decay_from_flag(decay: f64) -> Option<f64> {
    (decay != 0.0).then_some(decay)
}

/// `--eval-every`'s value in the small-data recipe.
pub const DEFAULT_EVAL_EVERY: u64 = 1000;

/// The seed's learning rates (`--lr-g`, `--lr-d`).
pub const DEFAULT_LR_G: f64 = 1e-4;
pub const DEFAULT_LR_D: f64 = 2e-4;
/// The command line's defaults for `--epochs` and the three intervals, in steps.
pub const DEFAULT_EPOCHS: u64 = 100;
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 500;
pub const DEFAULT_SAMPLE_EVERY: u64 = 200;
pub const DEFAULT_LOG_EVERY: u64 = 10;

impl TrainOptions {
    /// The article's setup (feature matching, BatchNorm, the seed's learning rates, 100 epochs)
    /// on `data` at `width` and `batch_size`, with the command line's default intervals.
    pub fn article(data: PathBuf, width: usize, batch_size: usize) -> Self {
        Self {
            data,
            epochs: DEFAULT_EPOCHS,
            batch_size,
            width,
            lr_g: DEFAULT_LR_G,
            lr_d: DEFAULT_LR_D,
            g_loss: GeneratorLoss::FeatureMatching,
            disc_norm: DiscNorm::Batch,
            seed: 0,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            sample_every: DEFAULT_SAMPLE_EVERY,
            log_every: DEFAULT_LOG_EVERY,
            diffaugment: DiffAugment::none(),
            ema_decay: None,
            eval_every: 0,
            regularizers: Regularizers::default(),
            lr_decay: 0,
            top_k: top_k::ALL_FAKES,
            disc_width: None,
            real_label: label_smoothing::NO_SMOOTHING,
            instance_selection: instance_selection::ALL_CROPS,
            minibatch_std: 0,
        }
    }

    /// The discriminator's width: `--disc-width`, else the generator's. A wider discriminator
    /// grows sure of a few hundred crops sooner (width 24's mean D(x) over steps 4,000–5,000 was
    /// 0.88 against width 16's 0.84), so the generator may be widened alone.
    pub fn discriminator_width(&self) -> usize {
        self.disc_width.unwrap_or(self.width)
    }

    /// The options of `recipe` on `data` at `width` and `batch_size`.
    pub fn recipe(recipe: Recipe, data: PathBuf, width: usize, batch_size: usize) -> Self {
        let article = Self::article(data, width, batch_size);
        match recipe {
            Recipe::Article => article,
            Recipe::Short => Self {
                // Three times the seed's rates: on the bundled crops at width 16, 2,000 steps of 32,
                // face rate 0.50 (twice the rates 0.48, the seed's 0.36) and SWD 56.4 (57.9, 58.2);
                // 4,000 steps of 16 (the demo), face rate 0.66 and SWD 56.2.
                lr_g: 3.0 * DEFAULT_LR_G,
                lr_d: 3.0 * DEFAULT_LR_D,
                ema_decay: Some(DEFAULT_EMA_DECAY),
                eval_every: DEFAULT_EVAL_EVERY,
                ..article
            },
            Recipe::SmallData => Self {
                diffaugment: DiffAugment::all(),
                ema_decay: Some(DEFAULT_EMA_DECAY),
                eval_every: DEFAULT_EVAL_EVERY,
                ..article
            },
        }
    }

    /// Refuses values training cannot use, naming the flag.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("--epochs", self.epochs),
            ("--batch-size", self.batch_size as u64),
            ("--width", self.width as u64),
            ("--disc-width", self.discriminator_width() as u64),
            ("--checkpoint-every", self.checkpoint_every),
            ("--sample-every", self.sample_every),
            ("--log-every", self.log_every),
        ];
        for (flag, value) in positive {
            if value == 0 {
                bail!("{flag} must be at least 1");
            }
        }
        if self.batch_size < 2 {
            bail!("--batch-size must be at least 2 (BatchNorm needs more than one image)");
        }
        if self.minibatch_std == 1 || self.minibatch_std > self.batch_size {
            bail!(
                "--minibatch-std {} is not usable: a group is 2 to --batch-size ({}) images, e.g. 4; 0 turns it off",
                self.minibatch_std,
                self.batch_size
            );
        }
        if let Some(decay) = self.ema_decay
            && !(decay > 0.0 && decay < 1.0)
        {
            bail!("--ema-decay {decay} is not usable (expected a value between 0 and 1, e.g. 0.999; 0 turns the average off)");
        }
        for (flag, lr) in [("--lr-g", self.lr_g), ("--lr-d", self.lr_d)] {
            if !(lr.is_finite() && lr > 0.0 && lr < 1.0) {
                bail!("{flag} {lr} is not a usable learning rate (expected a value between 0 and 1, e.g. 2e-4)");
            }
        }
        top_k::validate(self.top_k)?;
        label_smoothing::validate(self.real_label)?;
        instance_selection::validate(self.instance_selection)?;
        self.regularizers.validate()
    }

    /// A warning for a run of `total_steps` whose recipe needs many more.
    pub fn length_warning(&self, total_steps: u64) -> Option<String> {
        (!self.diffaugment.is_none() && total_steps < SHORT_RUN_STEPS).then(|| {
            format!(
                "warning: DiffAugment pays off over thousands of steps and this run has {total_steps}; \
                 it may paint colour blotches. For a short run, --recipe short paints faces sooner."
            )
        })
    }

    /// One line saying how this run trains beyond the article's loop.
    pub fn recipe_line(&self) -> String {
        format!(
            "recipe: DiffAugment {} · generator EMA {} · regularisers {} · evaluation {}{}{}{}{}{}{}",
            self.diffaugment,
            self.ema_decay.map_or("off".to_string(), |d| d.to_string()),
            self.regularizers.describe(),
            if self.eval_every == 0 { "off".to_string() } else { format!("every {} steps", self.eval_every) },
            if self.lr_decay == 0 { String::new() } else { format!(" · learning rates decay over the last {} steps", self.lr_decay) },
            if self.top_k == top_k::ALL_FAKES { String::new() } else { format!(" · the generator learns from the best {} of its fakes", self.top_k) },
            match self.disc_width {
                Some(width) if width != self.width => format!(" · discriminator width {width}"),
                _ => String::new(),
            },
            if self.real_label == label_smoothing::NO_SMOOTHING { String::new() } else { format!(" · real images' target {}", self.real_label) },
            if self.instance_selection == instance_selection::ALL_CROPS {
                String::new()
            } else {
                format!(" · trains on the most face-like {} of the crops", self.instance_selection)
            },
            if self.minibatch_std == 0 {
                String::new()
            } else {
                format!(" · the discriminator sees the spread of each {} images", self.minibatch_std)
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_runs_of_the_small_data_recipe_are_warned_about() {
        let options = |recipe| TrainOptions::recipe(recipe, PathBuf::from("crops"), 16, 32);
        let warning = options(Recipe::SmallData).length_warning(600).expect("600 steps is short for DiffAugment");
        assert!(warning.contains("600") && warning.contains("--recipe short"), "{warning}");
        assert_eq!(options(Recipe::SmallData).length_warning(SHORT_RUN_STEPS), None);
        assert_eq!(options(Recipe::Short).length_warning(600), None);
        assert_eq!(options(Recipe::Article).length_warning(600), None);
        let short = options(Recipe::Short);
        assert!(short.diffaugment.is_none() && short.ema_decay == Some(DEFAULT_EMA_DECAY));
    }
}
