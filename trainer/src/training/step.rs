//! One GAN step: the discriminator learns with an MSE loss (real → 1, or `--real-label`'s
//! [`label_smoothing`]; fake → 0), then the generator by feature matching on the
//! discriminator's 1024-d feature layer (or, with `--g-loss lsgan`, the seed code's
//! MSE(D(G(z)), 1)); each with the [`regularizers`] the options weigh in, the generator from the
//! share of its fakes `--top-k` keeps ([`top_k`]) and, with `--mode-seeking`, from all of them
//! as pairs ([`mode_seeking`]).
//!
//! [`label_smoothing`]: super::label_smoothing
//! [`mode_seeking`]: super::mode_seeking
//! [`regularizers`]: super::regularizers
//! [`top_k`]: super::top_k

use atelier_shared::{Discriminator, Generator};
use burn::module::Module;
use burn::nn::loss::{MseLoss, Reduction};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::checkpoint::TrainingState;
use super::label_smoothing::real_targets;
use super::mode_seeking::mode_seeking_loss;
use super::options::{GeneratorLoss, TrainOptions};
use super::regularizers::{LecamAnchors, consistency_penalty};
use super::schedule::LearningRates;
use super::sliced_matching::{DIRECTIONS, random_directions, sliced_matching_loss};
use super::top_k::best_fakes;
use crate::data::batches::{BatchPlan, STREAM_NOISE};

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
    /// Reads the scalars [`train_step`] left on the device (this waits for the device).
    pub fn read(scalars: Tensor<1>) -> anyhow::Result<Self> {
        let v: Vec<f32> = scalars.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(Self { d_loss: v[0], g_loss: v[1], d_real: v[2], d_fake: v[3] })
    }

    pub fn is_finite(&self) -> bool {
        [self.d_loss, self.g_loss, self.d_real, self.d_fake].iter().all(|v| v.is_finite())
    }
}

/// The parts of a training step, in order, for benchmarks that time each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    GeneratorForward,
    DiscriminatorForward,
    Backward,
    OptimizerStep,
}

/// One GAN step: the discriminator learns (real → `--real-label`, 1 by default; fake → 0; MSE),
/// then the generator, through the updated discriminator as the reference does. Everything the
/// discriminator sees passes through `--diffaugment` (drawn from `augment_rng`), the generator's
/// fakes with their gradient.
/// Both networks learn at `rates` (the options' rates, or their decayed values late in a run).
/// `lecam` holds LeCam's running averages between steps (untouched when `--lecam` is 0).
/// `after` is called at the end of each phase.
/// Returns the updated parts and [D loss, G loss, mean D(x), mean D(G(z))], left on the device:
/// reading it waits for the device, so the loop reads it only every --log-every steps.
pub fn train_step(
    mut parts: TrainingState<Generator, Discriminator>,
    real: Tensor<4>,
    noise: Tensor<2>,
    options: &TrainOptions,
    rates: LearningRates,
    augment_rng: &mut ChaCha8Rng,
    lecam: &mut LecamAnchors,
    after: &mut dyn FnMut(Phase),
) -> (TrainingState<Generator, Discriminator>, Tensor<1>) {
    let mse = MseLoss::new();
    let weights = options.regularizers;
    let mut augment = |images: Tensor<4>| options.diffaugment.apply(images, &mut *augment_rng);
    let seeking = (weights.mode_seeking > 0.0).then(|| noise.clone());
    let fake = parts.generator.forward(noise);
    after(Phase::GeneratorForward);

    let plain = (weights.consistency > 0.0).then(|| (real.clone(), fake.clone().detach()));
    let seen_real = augment(real);
    let (on_real, real_map) = parts.discriminator.forward_with_map(seen_real.clone());
    let on_fake = parts.discriminator.forward(augment(fake.clone().detach()));
    let (p_real, p_fake) = (on_real.real_probability, on_fake.real_probability);
    let mut d_loss = (mse.forward(p_real.clone(), real_targets(&p_real, options.real_label), Reduction::Mean)
        + mse.forward(p_fake.clone(), p_fake.zeros_like(), Reduction::Mean))
        / 2.0;
    if weights.lecam > 0.0 {
        d_loss = d_loss + lecam.penalty(p_real.clone(), p_fake.clone()) * weights.lecam;
    }
    if let Some((real, fake)) = plain {
        let plain_real = parts.discriminator.forward(real).real_probability;
        let plain_fake = parts.discriminator.forward(fake).real_probability;
        let consistency = consistency_penalty(p_real.clone(), plain_real) + consistency_penalty(p_fake.clone(), plain_fake);
        d_loss = d_loss + consistency * weights.consistency;
    }
    if let Some(self_supervision) = &parts.self_supervision {
        d_loss = d_loss + self_supervision.decoder.reconstruction_loss(real_map, seen_real) * weights.reconstruction;
    }
    after(Phase::DiscriminatorForward);
    let mut grads = d_loss.clone().backward();
    after(Phase::Backward);
    parts.discriminator = learn(&mut grads, parts.discriminator, &mut parts.optimizer_d, rates.discriminator);
    if let Some(mut self_supervision) = parts.self_supervision.take() {
        self_supervision.decoder = learn(&mut grads, self_supervision.decoder, &mut self_supervision.optimizer, rates.discriminator);
        parts.self_supervision = Some(self_supervision);
    }
    after(Phase::OptimizerStep);

    let seeking = seeking.map(|noise| mode_seeking_loss(fake.clone(), noise) * weights.mode_seeking);
    // The discriminator's weights are constants in the generator's step: a frozen copy makes the
    // backward pass skip their gradients, which the generator's optimiser would throw away.
    let judged = parts.discriminator.clone().no_grad().forward(augment(fake));
    let (features, p) = best_fakes(judged.features, judged.real_probability, options.top_k);
    let lsgan = || mse.forward(p.clone(), p.ones_like(), Reduction::Mean);
    let g_loss = match options.g_loss {
        GeneratorLoss::FeatureMatching => {
            let mut matching = feature_matching_loss(features.clone(), on_real.features.clone());
            if weights.lsgan_term > 0.0 {
                matching = matching + lsgan() * weights.lsgan_term;
            }
            if weights.sliced_matching > 0.0 {
                // Drawn after the step's augmentations, so turning the term on changes nothing else.
                let directions = random_directions(&mut *augment_rng, features.dims()[1], DIRECTIONS, &features.device());
                matching = matching + sliced_matching_loss(features, on_real.features, directions) * weights.sliced_matching;
            }
            matching
        }
        GeneratorLoss::Lsgan => lsgan(),
    };
    let g_loss = match seeking {
        Some(seeking) => g_loss + seeking,
        None => g_loss,
    };
    after(Phase::DiscriminatorForward);
    let mut grads = g_loss.clone().backward();
    after(Phase::Backward);
    parts.generator = learn(&mut grads, parts.generator, &mut parts.optimizer_g, rates.generator);
    after(Phase::OptimizerStep);

    let scalars = Tensor::cat(vec![d_loss.detach(), g_loss.detach(), p_real.detach().mean(), p_fake.detach().mean()], 0);
    (parts, scalars)
}

/// An optimiser step on `module`'s parameters, with their gradients taken out of `grads`.
fn learn<M: Module>(grads: &mut Gradients, module: M, optimizer: &mut ModuleOptimizer, lr: f64) -> M {
    let grads = GradientsParams::from_module(grads, &module);
    optimizer.step(lr, module, grads)
}

/// Latent noise for a training step, from the run's seeded RNG (reproducible, resumable).
pub fn noise_batch(plan: &BatchPlan, step: u64, batch: usize, latent_dim: usize, device: &Device) -> Tensor<2> {
    let mut rng = plan.rng(STREAM_NOISE, step);
    let mut values = vec![0.0; batch * latent_dim];
    atelier_shared::latent::fill_normal(&mut rng, &mut values);
    Tensor::from_data(TensorData::new(values, [batch, latent_dim]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::decoder::SelfSupervision;
    use crate::training::label_smoothing;
    use crate::training::optimizer::adam;
    use crate::training::regularizers::Regularizers;
    use atelier_shared::{DiscriminatorConfig, GeneratorConfig, IMAGE_SIZE};
    use rand::SeedableRng;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// One step from the same networks, images and noise with `regularizers`: its scalars and
    /// LeCam's averages after it.
    fn one_step(regularizers: Regularizers) -> (StepMetrics, Option<[f32; 2]>) {
        one_step_with(regularizers, label_smoothing::NO_SMOOTHING)
    }

    /// [`one_step`] with `real_label` as the discriminator's target for real images.
    fn one_step_with(regularizers: Regularizers, real_label: f64) -> (StepMetrics, Option<[f32; 2]>) {
        // The device's random numbers are shared by every test: seeded steps take turns.
        static SEEDED: Mutex<()> = Mutex::new(());
        let _turn = SEEDED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let device = Device::flex().autodiff();
        device.seed(7);
        let (width, batch) = (4, 4);
        let discriminator_config = DiscriminatorConfig::new(width, Default::default());
        let parts = TrainingState {
            generator: GeneratorConfig::new(width).init(&device),
            discriminator: discriminator_config.init(&device),
            optimizer_g: adam(),
            optimizer_d: adam(),
            self_supervision: SelfSupervision::if_asked(&regularizers, &discriminator_config, &device),
        };
        let pixels: Vec<f32> = (0..batch * 3 * IMAGE_SIZE * IMAGE_SIZE).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let real = Tensor::<4>::from_data(TensorData::new(pixels, [batch, 3, IMAGE_SIZE, IMAGE_SIZE]), &device);
        let plan = BatchPlan { seed: 7, batch_size: batch, dataset_len: 8 };
        let noise = noise_batch(&plan, 0, batch, GeneratorConfig::new(width).latent_dim, &device);
        let options = TrainOptions { regularizers, real_label, ..TrainOptions::recipe(super::super::Recipe::SmallData, PathBuf::new(), width, batch) };
        let mut lecam = LecamAnchors::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (_, scalars) = train_step(parts, real, noise, &options, LearningRates::constant(&options), &mut rng, &mut lecam, &mut |_| {});
        (StepMetrics::read(scalars).unwrap(), lecam.saved().unwrap())
    }

    /// Each regulariser adds its term to its network's loss and leaves the judgements it starts
    /// from alone; with all weights 0 the step is the plain one, and LeCam keeps its averages.
    #[test]
    fn each_regularizer_adds_to_its_own_loss() {
        let (plain, no_averages) = one_step(Regularizers::default());
        assert_eq!(no_averages, None);
        let (lecam, averages) = one_step(Regularizers { lecam: 0.3, ..Default::default() });
        let (consistency, _) = one_step(Regularizers { consistency: 10.0, ..Default::default() });
        let (lsgan, _) = one_step(Regularizers { lsgan_term: 0.2, ..Default::default() });
        let (reconstruction, _) = one_step(Regularizers { reconstruction: 1.0, ..Default::default() });
        let (sliced, _) = one_step(Regularizers { sliced_matching: 1.0, ..Default::default() });
        let (seeking, _) = one_step(Regularizers { mode_seeking: 0.1, ..Default::default() });
        for with in [lecam, consistency, lsgan, reconstruction, sliced, seeking] {
            assert_eq!((with.d_real, with.d_fake), (plain.d_real, plain.d_fake), "{with:?} {plain:?}");
        }
        assert!(lecam.d_loss > plain.d_loss, "{lecam:?} {plain:?}");
        assert!(consistency.d_loss > plain.d_loss, "{consistency:?} {plain:?}");
        assert!(reconstruction.d_loss > plain.d_loss + 0.01, "{reconstruction:?} {plain:?}");
        // The discriminator learns as in the plain step; the generator's loss gains 0.2 × MSE(D(G(z)), 1).
        assert_eq!(lsgan.d_loss, plain.d_loss);
        assert!(lsgan.g_loss > plain.g_loss + 0.01, "{lsgan:?} {plain:?}");
        assert_eq!(sliced.d_loss, plain.d_loss);
        assert!(sliced.g_loss > plain.g_loss, "{sliced:?} {plain:?}");
        assert_eq!(seeking.d_loss, plain.d_loss);
        assert!(seeking.g_loss > plain.g_loss + 0.01, "{seeking:?} {plain:?}");
        let [real, fake] = averages.expect("LeCam keeps its averages");
        assert!((real - plain.d_real).abs() < 1e-6 && (fake - plain.d_fake).abs() < 1e-6, "{real} {fake} {plain:?}");
    }

    /// With real images' target at 0.9 the discriminator's loss on them is MSE(D(x), 0.9): per
    /// image (p − 0.9)² − (p − 1)² = 0.2p − 0.19 more, halved with the fakes' term. The
    /// judgements it learns from are the plain step's; the generator then meets a discriminator
    /// that learned otherwise.
    #[test]
    fn label_smoothing_moves_the_real_images_target_only() {
        let (plain, _) = one_step(Regularizers::default());
        let (smoothed, _) = one_step_with(Regularizers::default(), 0.9);
        assert_eq!((smoothed.d_real, smoothed.d_fake), (plain.d_real, plain.d_fake));
        assert_ne!(smoothed.g_loss, plain.g_loss);
        let expected = plain.d_loss + (0.2 * plain.d_real - 0.19) / 2.0;
        assert!((smoothed.d_loss - expected).abs() < 1e-5, "{smoothed:?} {plain:?} expected D loss {expected}");
    }

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
