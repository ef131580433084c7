//! `trainer train`: the GAN loop. Each step trains the discriminator with an MSE loss
//! (real → 1, fake → 0), then the generator by feature matching on the discriminator's 1024-d
//! feature layer (or, with `--g-loss lsgan`, the seed code's MSE(D(G(z)), 1)).
//!
//! Two recipes: the article's exactly, and the default one for small data sets, which adds
//! DiffAugment to everything the discriminator sees ([`diffaugment`](crate::diffaugment)),
//! paints with an average of the generator's weights ([`ema`](crate::ema)) and measures the
//! portraits every `--eval-every` steps ([`evaluate`](crate::evaluate)), keeping the best.

use anyhow::{Context, Result, bail};
use atelier_shared::{
    DiscNorm, Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, IMAGE_SIZE, latent_batch, to_rgb_images,
};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::{MseLoss, Reduction};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::checkpoint::{self, CheckpointState, TrainingState};
use crate::data::{BatchPlan, Dataset, STREAM_DIFFAUGMENT, STREAM_NOISE, spawn_batches};
use crate::device::{DeviceChoice, SelectedDevice};
use crate::diffaugment::DiffAugment;
use crate::ema::GeneratorAverage;
use crate::evaluate::{BackgroundEvaluator, Finished};
use crate::metrics::{MetricsCsv, MetricsRow, log_metrics};
use crate::optimizer::adam;
use crate::tensorboard::EventWriter;
use crate::{export, grid};

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
}

/// A starting point for the options that shape training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Recipe {
    /// For a few hundred paintings: DiffAugment (color, translation, cutout), generator EMA
    /// 0.999, evaluation every 1,000 steps.
    SmallData,
    /// The article's recipe as published: no DiffAugment, no EMA.
    Article,
}

/// `--ema-decay`'s value in the small-data recipe.
pub const DEFAULT_EMA_DECAY: f64 = 0.999;
/// `--eval-every`'s value in the small-data recipe.
pub const DEFAULT_EVAL_EVERY: u64 = 1000;
/// Portraits measured by each evaluation during training (`trainer evaluate` defaults to 1,000).
pub const EVAL_PORTRAITS: usize = 256;

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
        }
    }

    /// The options of `recipe` on `data` at `width` and `batch_size`.
    pub fn recipe(recipe: Recipe, data: PathBuf, width: usize, batch_size: usize) -> Self {
        let article = Self::article(data, width, batch_size);
        match recipe {
            Recipe::Article => article,
            Recipe::SmallData => Self {
                diffaugment: DiffAugment::all(),
                ema_decay: Some(DEFAULT_EMA_DECAY),
                eval_every: DEFAULT_EVAL_EVERY,
                ..article
            },
        }
    }
}

/// Fixed seeds of the 4×4 sample grid, so grids of one run are comparable over time.
const SAMPLE_SEEDS: std::ops::Range<u64> = 0..16;

/// Feature matching (Salimans et al. 2016): MSE between the batch means of the features.
pub fn feature_matching_loss(fake_features: Tensor<2>, real_features: Tensor<2>) -> Tensor<1> {
    let fake_mean = fake_features.mean_dim(0);
    let real_mean = real_features.detach().mean_dim(0);
    MseLoss::new().forward(fake_mean, real_mean, Reduction::Mean)
}

/// Scalars of one step, read back from the device.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepMetrics {
    pub d_loss: f32,
    pub g_loss: f32,
    /// Mean D(x) on real images.
    pub d_real: f32,
    /// Mean D(G(z)) on fakes.
    pub d_fake: f32,
}

impl StepMetrics {
    fn from_values(v: &[f32]) -> Self {
        Self { d_loss: v[0], g_loss: v[1], d_real: v[2], d_fake: v[3] }
    }
    fn is_finite(&self) -> bool {
        [self.d_loss, self.g_loss, self.d_real, self.d_fake].iter().all(|v| v.is_finite())
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

pub struct TrainRequest {
    pub options: TrainOptions,
    pub run: PathBuf,
    pub resume: bool,
    /// `--epochs` given on the command line (on resume it may extend the run).
    pub epochs_override: Option<u64>,
    pub device: DeviceChoice,
    /// Stop after this many steps in this call (tests; the run stays resumable).
    pub max_steps: Option<u64>,
    pub progress: bool,
}

pub fn train(request: TrainRequest) -> Result<TrainOutcome> {
    let run = request.run.clone();
    let resume_from = if request.resume {
        Some(checkpoint::find(&run).with_context(|| {
            format!("there is no checkpoint in {} to resume; start the run without --resume", run.display())
        })?)
    } else {
        if checkpoint::find(&run).is_some() {
            bail!(
                "{} already holds a training run; continue it with --resume or choose another --run folder",
                run.display()
            );
        }
        None
    };
    let saved = resume_from.as_deref().map(checkpoint::read_state).transpose()?;
    let mut options = saved.as_ref().map(|s| s.options.clone()).unwrap_or(request.options.clone());
    if let Some(epochs) = request.epochs_override {
        options.epochs = epochs;
    }
    validate(&options)?;
    std::fs::create_dir_all(&run).with_context(|| format!("cannot create the run folder {}", run.display()))?;

    let dataset = Dataset::load(&options.data, IMAGE_SIZE as u32, request.progress)?;
    report_dataset(&options.data, &dataset);
    if let Some(saved) = &saved
        && saved.dataset_len != dataset.images.len()
    {
        eprintln!(
            "warning: the data folder now has {} images, the run started with {}; the batch order changes",
            dataset.images.len(),
            saved.dataset_len
        );
    }
    if dataset.images.len() < options.batch_size {
        bail!(
            "{} usable images in {}, fewer than one batch of {}; add images or lower --batch-size",
            dataset.images.len(),
            options.data.display(),
            options.batch_size
        );
    }

    if options.eval_every > 0 && dataset.images.len() < 4 {
        bail!("evaluation needs at least 4 images in {}; add images or pass --eval-every 0", options.data.display());
    }

    let SelectedDevice { device, description, .. } = crate::device::select(request.device)?;
    println!("device: {description}");
    println!(
        "recipe: DiffAugment {} · generator EMA {} · evaluation {}",
        options.diffaugment,
        options.ema_decay.map_or("off".to_string(), |d| d.to_string()),
        if options.eval_every == 0 { "off".to_string() } else { format!("every {} steps", options.eval_every) }
    );
    device.seed(options.seed);
    let train_device = device.autodiff();

    let generator_config = GeneratorConfig::new(options.width);
    let discriminator_config = DiscriminatorConfig::new(options.width, options.disc_norm);
    let fresh = TrainingState {
        generator: generator_config.init(&train_device),
        discriminator: discriminator_config.init(&train_device),
        optimizer_g: adam(),
        optimizer_d: adam(),
    };
    let (mut parts, start_step) = match (&resume_from, &saved) {
        (Some(dir), Some(state)) => {
            println!("resuming {} from step {}", run.display(), state.step);
            (checkpoint::load(dir, fresh)?, state.step)
        }
        _ => (fresh, 0),
    };
    initialize_parameters(&parts.generator);
    initialize_parameters(&parts.discriminator);
    let mut average = match (options.ema_decay, &resume_from) {
        (None, _) => None,
        (Some(decay), Some(dir)) => match checkpoint::load_average(dir, generator_config.init(&train_device))? {
            Some(saved) => Some(GeneratorAverage::resume(saved, &generator_config, decay)),
            None => Some(GeneratorAverage::start(&parts.generator, &generator_config, decay)),
        },
        (Some(decay), None) => Some(GeneratorAverage::start(&parts.generator, &generator_config, decay)),
    };
    let mut best = saved.as_ref().and_then(|s| s.best);

    let plan = BatchPlan { seed: options.seed, batch_size: options.batch_size, dataset_len: dataset.images.len() };
    let total_steps = options.epochs * plan.steps_per_epoch();
    let end_step = request.max_steps.map_or(total_steps, |m| (start_step + m).min(total_steps));
    let state_at = |step: u64, options: &TrainOptions, best: Option<checkpoint::Best>| CheckpointState {
        format_version: checkpoint::FORMAT_VERSION,
        step,
        options: options.clone(),
        generator: generator_config.clone(),
        discriminator: discriminator_config.clone(),
        dataset_len: plan.dataset_len,
        best,
    };
    let mut evaluator = (options.eval_every > 0).then(|| {
        BackgroundEvaluator::start(dataset.images.iter().cloned().map(atelier_shared::RgbImage::from).collect())
    });

    let mut events = EventWriter::create(&run)?;
    let mut metrics_csv = MetricsCsv::open(&run)?;
    let images = Arc::new(dataset.images);
    let batches = spawn_batches(plan, images, start_step, end_step);
    STOP.store(false, Ordering::SeqCst);
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));

    let bar = progress_bar(request.progress, total_steps, start_step);
    let mut last = StepMetrics::default();
    let (mut window_start, mut window_images) = (Instant::now(), 0usize);
    let mut images_per_second = 0.0;
    let mut step = start_step;
    let mut interrupted = false;

    while step < end_step {
        if STOP.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let batch = batches.recv().context("the batch preparation thread stopped unexpectedly")?;
        let real = Tensor::<4>::from_data(
            TensorData::new(batch.values, [options.batch_size, 3, IMAGE_SIZE, IMAGE_SIZE]),
            &train_device,
        );
        let noise = noise_batch(&plan, step, options.batch_size, generator_config.latent_dim, &train_device);
        let mut augment_rng = plan.rng(STREAM_DIFFAUGMENT, step);

        let scalars;
        (parts, scalars) = train_step(parts, real, noise, &options, &mut augment_rng, &mut |_| {});
        step += 1;
        window_images += options.batch_size;
        if let Some(average) = &mut average {
            average.update(&parts.generator, step);
        }

        let sample_now = step % options.sample_every == 0 || step == end_step;
        let checkpoint_now = step % options.checkpoint_every == 0 || step == end_step;
        let evaluate_now = evaluator.is_some() && (step % options.eval_every == 0 || step == end_step);
        let mut row = MetricsRow::default();
        if step % options.log_every == 0 || sample_now || checkpoint_now || evaluate_now {
            let values: Vec<f32> = scalars.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            last = StepMetrics::from_values(&values);
            if !last.is_finite() {
                bar.abandon();
                let kept = checkpoint::find(&run).map(|d| checkpoint::read_state(&d).map(|s| s.step)).transpose()?;
                bail!(
                    "training diverged at step {step}: D loss {}, G loss {}. {} Try lower learning rates (--lr-d, --lr-g).",
                    last.d_loss,
                    last.g_loss,
                    match kept {
                        Some(s) => format!("The last good checkpoint (step {s}) is kept in {}.", run.display()),
                        None => "No checkpoint was written yet.".to_string(),
                    }
                );
            }
            let seconds = window_start.elapsed().as_secs_f64();
            images_per_second = window_images as f64 / seconds.max(1e-9);
            (window_start, window_images) = (Instant::now(), 0);
            let epoch = step.div_ceil(plan.steps_per_epoch()).max(1);
            row = MetricsRow { step, epoch, metrics: last, images_per_second, evaluation: None };
            let message = format!(
                "epoch {epoch}/{} · D {:.4} · G {:.4} · D(x) {:.3} · D(G(z)) {:.3} · {images_per_second:.1} img/s{}",
                options.epochs,
                last.d_loss,
                last.g_loss,
                last.d_real,
                last.d_fake,
                best.map(|b| format!(" · best SWD {:.1} (step {})", b.swd, b.step)).unwrap_or_default()
            );
            if request.progress && bar.is_hidden() && sample_now {
                // Not a terminal (a log file, say): a plain line now and then instead of the bar.
                println!("step {step}/{total_steps} · {message}");
            }
            bar.set_position(step);
            bar.set_message(message);
        }
        // What the run paints with: the weight average where there is one.
        let painter = (sample_now || checkpoint_now || evaluate_now).then(|| painter_of(average.as_ref(), &parts.generator));
        if row.step > 0 {
            metrics_csv.write(&row)?;
            log_metrics(&mut events, &row)?;
        }
        if let (Some(evaluator), Some(painter)) = (&mut evaluator, painter.as_ref().filter(|_| evaluate_now)) {
            // Painted here, on the training device; measured on the evaluation thread.
            let device = painter.devices().into_iter().next().unwrap_or_default();
            let weights = atelier_shared::generator_to_bytes(painter, &generator_config, atelier_shared::Precision::Full)?;
            evaluator.submit(step, export::generate(painter, 0, EVAL_PORTRAITS, &device)?, weights)?;
        }
        if let Some(evaluator) = &mut evaluator {
            let finished = if step == end_step || STOP.load(Ordering::SeqCst) { evaluator.finish()? } else { evaluator.ready()? };
            for done in finished {
                record_evaluation(&run, &mut events, &mut metrics_csv, &bar, &mut best, plan.steps_per_epoch(), done)?;
            }
        }
        if sample_now && let Some(painter) = &painter {
            write_samples(&run, &mut events, step, painter, &batch.images)?;
        }
        if checkpoint_now {
            let average_painter = average.as_ref().and(painter.as_ref());
            checkpoint::save(&run, &state_at(step, &options, best), &parts, average_painter)?;
        }
    }
    if interrupted {
        if let Some(evaluator) = &mut evaluator {
            for done in evaluator.finish()? {
                record_evaluation(&run, &mut events, &mut metrics_csv, &bar, &mut best, plan.steps_per_epoch(), done)?;
            }
        }
        let painter = average.as_ref().map(GeneratorAverage::painter);
        checkpoint::save(&run, &state_at(step, &options, best), &parts, painter.as_ref())?;
        bar.abandon_with_message(format!("stopped at step {step}; checkpoint saved, continue with --resume"));
    } else {
        bar.finish();
    }
    events.flush()?;
    if step == total_steps && step > start_step {
        let generator = painter_of(average.as_ref(), &parts.generator);
        let out = run.join("generator.bpk");
        export::write_generator(&generator, &generator_config, &out, atelier_shared::Precision::Full, export::Format::Burnpack)?;
    }
    Ok(TrainOutcome {
        run,
        steps_done: step,
        total_steps,
        last,
        images_per_second,
        device: description,
        best,
    })
}

/// The generator a run paints with, in inference mode: its weight average where it keeps one.
fn painter_of(average: Option<&GeneratorAverage>, live: &Generator) -> Generator {
    average.map_or_else(|| live.valid(), GeneratorAverage::painter)
}

/// Creates every parameter of `module` now. burn creates parameters lazily, at their first use;
/// on wgpu, one created in the middle of a step (the discriminator's linear layers, after
/// DiffAugment's first kernels) can wait forever on a kernel autotune still in flight.
fn initialize_parameters<M: Module>(module: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}

/// The generator with the best SWD so far, in the run folder.
pub const BEST_GENERATOR_FILE: &str = "generator-best.bpk";

/// Logs a finished evaluation (a metrics.csv row of its own, TensorBoard, a line for people)
/// and keeps its generator if it is the best so far.
fn record_evaluation(
    run: &Path,
    events: &mut EventWriter,
    metrics_csv: &mut MetricsCsv,
    bar: &ProgressBar,
    best: &mut Option<checkpoint::Best>,
    steps_per_epoch: u64,
    done: Finished,
) -> Result<()> {
    let Finished { step, evaluation: e, weights } = done;
    if best.is_none_or(|b| e.swd.average < b.swd) {
        *best = Some(checkpoint::Best { step, swd: e.swd.average });
        crate::atomic::write(&run.join(BEST_GENERATOR_FILE), &weights)?;
    }
    let line = format!(
        "evaluation at step {step}: SWD {:.1} (real floor {:.1}) · faces {:.2} (real {:.2}) · nearest crop {:.3} (crops' {:.3}) · high frequencies {:.2}× real",
        e.swd.average, e.swd_floor.average, e.face_rate, e.real_face_rate, e.nearest_crop, e.crops_nearest_crop, e.high_frequency
    );
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
    let epoch = step.div_ceil(steps_per_epoch).max(1);
    let row = MetricsRow { step, epoch, evaluation: Some(e), ..MetricsRow::default() };
    metrics_csv.write(&row)?;
    log_metrics(events, &row)
}

/// The parts of a training step, in order, for benchmarks that time each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    GeneratorForward,
    DiscriminatorForward,
    Backward,
    OptimizerStep,
}

/// One GAN step: the discriminator learns (real → 1, fake → 0, MSE), then the generator, through
/// the updated discriminator as the reference does. Everything the discriminator sees passes
/// through `--diffaugment` (drawn from `augment_rng`), the generator's fakes with their gradient.
/// `after` is called at the end of each phase.
/// Returns the updated parts and [D loss, G loss, mean D(x), mean D(G(z))], left on the device: reading it waits for the
/// device, so the loop reads it only every --log-every steps.
pub fn train_step(
    mut parts: TrainingState<Generator, Discriminator>,
    real: Tensor<4>,
    noise: Tensor<2>,
    options: &TrainOptions,
    augment_rng: &mut ChaCha8Rng,
    after: &mut dyn FnMut(Phase),
) -> (TrainingState<Generator, Discriminator>, Tensor<1>) {
    let mse = MseLoss::new();
    let mut augment = |images: Tensor<4>| options.diffaugment.apply(images, &mut *augment_rng);
    let fake = parts.generator.forward(noise);
    after(Phase::GeneratorForward);

    let on_real = parts.discriminator.forward(augment(real));
    let on_fake = parts.discriminator.forward(augment(fake.clone().detach()));
    let (p_real, p_fake) = (on_real.real_probability, on_fake.real_probability);
    let d_loss = (mse.forward(p_real.clone(), p_real.ones_like(), Reduction::Mean)
        + mse.forward(p_fake.clone(), p_fake.zeros_like(), Reduction::Mean))
        / 2.0;
    after(Phase::DiscriminatorForward);
    parts.discriminator = learn(d_loss.clone(), parts.discriminator, &mut parts.optimizer_d, options.lr_d, after);

    // The discriminator's weights are constants in the generator's step: a frozen copy makes the
    // backward pass skip their gradients, which the generator's optimiser would throw away.
    let judged = parts.discriminator.clone().no_grad().forward(augment(fake));
    let g_loss = match options.g_loss {
        GeneratorLoss::FeatureMatching => feature_matching_loss(judged.features, on_real.features),
        GeneratorLoss::Lsgan => {
            let p = judged.real_probability;
            mse.forward(p.clone(), p.ones_like(), Reduction::Mean)
        }
    };
    after(Phase::DiscriminatorForward);
    parts.generator = learn(g_loss.clone(), parts.generator, &mut parts.optimizer_g, options.lr_g, after);

    let scalars = Tensor::cat(vec![d_loss.detach(), g_loss.detach(), p_real.detach().mean(), p_fake.detach().mean()], 0);
    (parts, scalars)
}

/// Backward pass from `loss` and an optimiser step on `module`'s parameters only.
fn learn<M: Module>(loss: Tensor<1>, module: M, optimizer: &mut ModuleOptimizer, lr: f64, after: &mut dyn FnMut(Phase)) -> M {
    let grads = loss.backward();
    after(Phase::Backward);
    let grads = GradientsParams::from_grads(grads, &module);
    let module = optimizer.step(lr, module, grads);
    after(Phase::OptimizerStep);
    module
}

fn validate(options: &TrainOptions) -> Result<()> {
    let positive = [
        ("--epochs", options.epochs),
        ("--batch-size", options.batch_size as u64),
        ("--width", options.width as u64),
        ("--checkpoint-every", options.checkpoint_every),
        ("--sample-every", options.sample_every),
        ("--log-every", options.log_every),
    ];
    for (flag, value) in positive {
        if value == 0 {
            bail!("{flag} must be at least 1");
        }
    }
    if options.batch_size < 2 {
        bail!("--batch-size must be at least 2 (BatchNorm needs more than one image)");
    }
    if let Some(decay) = options.ema_decay
        && !(decay > 0.0 && decay < 1.0)
    {
        bail!("--ema-decay {decay} is not usable (expected a value between 0 and 1, e.g. 0.999; 0 turns the average off)");
    }
    for (flag, lr) in [("--lr-g", options.lr_g), ("--lr-d", options.lr_d)] {
        if !(lr.is_finite() && lr > 0.0 && lr < 1.0) {
            bail!("{flag} {lr} is not a usable learning rate (expected a value between 0 and 1, e.g. 2e-4)");
        }
    }
    Ok(())
}

fn report_dataset(root: &Path, dataset: &Dataset) {
    println!("data: {} images from {}", dataset.images.len(), root.display());
    if !dataset.unreadable.is_empty() {
        println!("skipped {} unreadable files:", dataset.unreadable.len());
        for (path, why) in dataset.unreadable.iter().take(20) {
            println!("  {}: {why}", path.display());
        }
        if dataset.unreadable.len() > 20 {
            println!("  … and {} more", dataset.unreadable.len() - 20);
        }
    }
}

/// Latent noise for a training step, from the run's seeded RNG (reproducible, resumable).
pub fn noise_batch(plan: &BatchPlan, step: u64, batch: usize, latent_dim: usize, device: &Device) -> Tensor<2> {
    let mut rng = plan.rng(STREAM_NOISE, step);
    let mut values = vec![0.0; batch * latent_dim];
    atelier_shared::latent::fill_normal(&mut rng, &mut values);
    Tensor::from_data(TensorData::new(values, [batch, latent_dim]), device)
}

fn progress_bar(visible: bool, total: u64, position: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:25} step {pos}/{len} · {msg} · ETA {eta}")
            .unwrap()
            .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    bar.set_position(position);
    bar.set_message("starting (the first steps compile GPU kernels)");
    bar
}

/// A 4×4 grid of fixed-seed samples and a grid of the real (augmented) batch, as PNG files in
/// `samples/` and as TensorBoard images.
fn write_samples(run: &Path, events: &mut EventWriter, step: u64, generator: &atelier_shared::Generator, real: &[crate::augment::Rgb]) -> Result<()> {
    let seeds: Vec<u64> = SAMPLE_SEEDS.collect();
    let device = generator.devices().into_iter().next().unwrap_or_default();
    let latent = latent_batch(&seeds, generator.latent_dim(), &device);
    let values: Vec<f32> = generator.forward(latent).into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let fakes = grid::grid(&to_rgb_images(&values, seeds.len(), IMAGE_SIZE, IMAGE_SIZE), 4);
    let reals: Vec<_> = real.iter().take(16).cloned().map(atelier_shared::RgbImage::from).collect();
    let reals = grid::grid(&reals, 4);
    let dir = run.join("samples");
    for (name, image) in [("fake", &fakes), ("real", &reals)] {
        let png = grid::png(image)?;
        crate::atomic::write(&dir.join(format!("{name}-step{step:07}.png")), &png)?;
        crate::atomic::write(&dir.join(format!("{name}-latest.png")), &png)?;
        events.image(&format!("samples/{name}"), step, image.width as u32, image.height as u32, &png)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_matching_is_zero_for_equal_batch_means_and_positive_otherwise() {
        let device = Device::flex();
        let a = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]), &device);
        // Different rows, same column means ([2, 3]): feature matching only sees the means.
        let b = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0, 1.0, 2.0], [2, 2]), &device);
        let zero: f32 = feature_matching_loss(a.clone(), b).into_scalar();
        assert_eq!(zero, 0.0);
        let c = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, 2.0, 4.0, 4.0], [2, 2]), &device);
        // means [2, 3] vs [3, 3] → MSE = (1 + 0) / 2
        let half: f32 = feature_matching_loss(a, c).into_scalar();
        assert!((half - 0.5).abs() < 1e-6, "{half}");
    }
}
