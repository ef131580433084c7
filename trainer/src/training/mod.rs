//! Training: the GAN loop and everything it needs — the [`options`] and recipes, the [`step`],
//! the generator's weight average ([`ema`]), [`diffaugment`], the losses' optional
//! [`regularizers`] (FastGAN's [`decoder`], [`sliced_matching`], [`mode_seeking`]), one-sided
//! [`label_smoothing`], the crops it trains on ([`instance_selection`]), our Adam
//! ([`optimizer`]) and its learning-rate [`schedule`], [`checkpoint`]s, the logs ([`metrics`],
//! [`tensorboard`]), [`samples`] and [`evaluations`] during training — and [`export`], a run's
//! generator out to a file.
//!
//! Two recipes: the article's exactly, and the default one for small data sets, which adds
//! DiffAugment to everything the discriminator sees, paints with an average of the generator's
//! weights and measures the portraits every `--eval-every` steps, keeping the best.

pub mod checkpoint;
pub mod decoder;
pub mod diffaugment;
pub mod ema;
pub mod evaluations;
pub mod export;
mod faults;
pub mod instance_selection;
pub mod label_smoothing;
pub mod metrics;
pub mod mode_seeking;
pub mod optimizer;
pub mod options;
mod progress;
pub mod regularizers;
mod samples;
pub mod schedule;
mod session;
pub mod sliced_matching;
pub mod step;
pub mod tensorboard;
pub mod top_k;

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::data::batches::spawn_batches;
use crate::device::DeviceChoice;
pub use evaluations::BEST_GENERATOR_FILE;
pub use options::{GeneratorLoss, Recipe, TrainOptions};
use session::Session;
use step::StepMetrics;

/// What to train and how to show it.
pub struct TrainRequest {
    pub options: TrainOptions,
    pub run: PathBuf,
    pub resume: bool,
    /// The options given on the command line that may change when a run resumes.
    pub changes: ResumeChanges,
    pub device: DeviceChoice,
    /// Stop after this many steps in this call (tests; the run stays resumable).
    pub max_steps: Option<u64>,
    /// Tests only: the generator's weights become NaN in this step's update.
    pub diverge_at_step: Option<u64>,
    pub progress: bool,
}

/// The options a resumed run may change (each `None` keeps the run's own): how long it goes on,
/// how it learns from here (including which of the crops it learns from and how long a memory
/// the weight average keeps) and how often it reports, never what its saved state depends on
/// (widths, batch size, seed, augmentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct ResumeChanges {
    /// `--epochs`: extends (or ends) the run.
    pub epochs: Option<u64>,
    /// `--lr-decay`: how the learning rates end.
    pub lr_decay: Option<u64>,
    /// `--top-k`: which fakes the generator learns from.
    pub top_k: Option<f64>,
    /// `--lecam`: LeCam's weight (its running averages start afresh when a run turns it on).
    pub lecam: Option<f64>,
    /// `--sliced-matching`: the weight of sliced matching in the generator's loss.
    pub sliced_matching: Option<f64>,
    /// `--mode-seeking`: the weight of mode seeking in the generator's loss.
    pub mode_seeking: Option<f64>,
    /// `--real-label`: the discriminator's target for real images.
    pub real_label: Option<f64>,
    /// `--instance-selection`: the share of the crops trained on.
    pub instance_selection: Option<f64>,
    /// `--ema-decay`: the weight average's decay from here on (0 turns it off); the saved
    /// average goes on with it, or one starts at the live weights if the run had none.
    pub ema_decay: Option<f64>,
    /// `--eval-every`: steps between evaluations (0: none from here on).
    pub eval_every: Option<u64>,
    /// `--checkpoint-every`: steps between checkpoints, e.g. closer together near a run's end.
    pub checkpoint_every: Option<u64>,
    /// `--sample-every`: steps between sample grids.
    pub sample_every: Option<u64>,
    /// `--log-every`: steps between reading the losses back.
    pub log_every: Option<u64>,
}

impl ResumeChanges {
    /// `options` with these changes made.
    pub fn apply(&self, mut options: TrainOptions) -> TrainOptions {
        options.epochs = self.epochs.unwrap_or(options.epochs);
        options.lr_decay = self.lr_decay.unwrap_or(options.lr_decay);
        options.top_k = self.top_k.unwrap_or(options.top_k);
        options.regularizers.lecam = self.lecam.unwrap_or(options.regularizers.lecam);
        options.regularizers.sliced_matching = self.sliced_matching.unwrap_or(options.regularizers.sliced_matching);
        options.regularizers.mode_seeking = self.mode_seeking.unwrap_or(options.regularizers.mode_seeking);
        options.real_label = self.real_label.unwrap_or(options.real_label);
        options.instance_selection = self.instance_selection.unwrap_or(options.instance_selection);
        options.ema_decay = self.ema_decay.map_or(options.ema_decay, options::ema_decay_from_flag);
        options.eval_every = self.eval_every.unwrap_or(options.eval_every);
        options.checkpoint_every = self.checkpoint_every.unwrap_or(options.checkpoint_every);
        options.sample_every = self.sample_every.unwrap_or(options.sample_every);
        options.log_every = self.log_every.unwrap_or(options.log_every);
        options
    }
}

/// How a call to [`train`] ended.
#[derive(Debug)]
pub struct TrainOutcome {
    pub run: PathBuf,
    pub steps_done: u64,
    pub total_steps: u64,
    pub last: StepMetrics,
    pub images_per_second: f64,
    pub device: String,
    /// The best evaluation so far, if the run evaluates.
    pub best: Option<checkpoint::Best>,
}

/// Set by Ctrl-C: the loop saves a checkpoint and stops at the next step boundary.
static STOP: AtomicBool = AtomicBool::new(false);

/// `trainer train`: trains (or resumes) the run in `request.run` until its last step, `--max-steps`
/// or Ctrl-C, whichever comes first.
pub fn train(request: TrainRequest) -> Result<TrainOutcome> {
    let mut session = Session::open(&request)?;
    let batches = spawn_batches(session.plan, session.images.clone(), session.step, session.end_step);
    STOP.store(false, Ordering::SeqCst);
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));

    while session.step < session.end_step {
        if STOP.load(Ordering::SeqCst) {
            return session.finish(true);
        }
        let mut batch = batches.recv().context("the batch preparation thread stopped unexpectedly")?;
        let scalars = session.train_on(&mut batch);
        let due = session.due();
        if due.log {
            session.log(scalars, due)?;
        }
        session.after_step(due, &batch, STOP.load(Ordering::SeqCst))?;
    }
    session.finish(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed run keeps its own options but for those changed on the command line.
    #[test]
    fn resume_changes_only_what_was_given() {
        let saved = TrainOptions { lr_decay: 100, top_k: 0.5, ..TrainOptions::recipe(Recipe::SmallData, PathBuf::from("crops"), 16, 64) };
        let kept = ResumeChanges::default().apply(saved.clone());
        assert_eq!(format!("{kept:?}"), format!("{saved:?}"));
        let changed = ResumeChanges { epochs: Some(7), lecam: Some(0.3), sliced_matching: Some(1.0), mode_seeking: Some(0.1), real_label: Some(0.9), instance_selection: Some(0.8), ema_decay: Some(0.995), ..Default::default() }.apply(saved.clone());
        assert_eq!((changed.epochs, changed.regularizers.lecam, changed.lr_decay, changed.top_k), (7, 0.3, 100, 0.5));
        assert_eq!((changed.regularizers.sliced_matching, changed.real_label, changed.instance_selection), (1.0, 0.9, 0.8));
        assert_eq!((changed.regularizers.mode_seeking, changed.ema_decay), (0.1, Some(0.995)));
        let reporting = ResumeChanges { eval_every: Some(250), checkpoint_every: Some(250), sample_every: Some(50), log_every: Some(5), ..Default::default() }.apply(saved.clone());
        assert_eq!((reporting.eval_every, reporting.checkpoint_every, reporting.sample_every, reporting.log_every), (250, 250, 50, 5));
        assert_ne!((saved.eval_every, saved.checkpoint_every, saved.sample_every, saved.log_every), (250, 250, 50, 5));
        let unaveraged = ResumeChanges { ema_decay: Some(0.0), ..Default::default() }.apply(saved.clone());
        assert_eq!((saved.ema_decay, unaveraged.ema_decay), (Some(options::DEFAULT_EMA_DECAY), None));
    }
}
