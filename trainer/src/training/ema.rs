//! Generator EMA: an exponential moving average of the generator's weights, which paints
//! steadier portraits than the live generator whose weights jump with every step (Karras et
//! al. 2018; Yazıcı et al. 2019).
//!
//! Two traps with BatchNorm, both measured on our paintings: early in a run a plain average
//! still holds much of the random initial weights, so the decay ramps up as
//! `min(decay, (1 + t) / (10 + t))`; and the live generator's running statistics do not fit
//! averaged weights, so before the average paints (samples, evaluation, checkpoints, export)
//! its BatchNorm statistics are measured afresh on fixed latents ([`GeneratorAverage::painter`]).

use atelier_shared::{Generator, GeneratorConfig, latent_batch};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Batches of 64 latents measured when recalibrating BatchNorm (1,024 portraits).
const RECALIBRATION_BATCHES: u64 = 16;
const RECALIBRATION_BATCH: u64 = 64;
/// Recalibration latents come from seeds far from the gallery's and the sample grid's.
const RECALIBRATION_FIRST_SEED: u64 = 1 << 62;

/// The averaged weights, on the training device, never tracked by autodiff.
pub struct GeneratorAverage {
    average: Generator,
    config: GeneratorConfig,
    decay: f64,
}

impl GeneratorAverage {
    /// Starts the average at the live generator's weights.
    pub fn start(live: &Generator, config: &GeneratorConfig, decay: f64) -> Self {
        Self { average: independent_copy(live, config), config: config.clone(), decay }
    }

    /// Continues an average saved in a checkpoint.
    pub fn resume(saved: Generator, config: &GeneratorConfig, decay: f64) -> Self {
        Self { average: saved.no_grad(), config: config.clone(), decay }
    }

    /// The decay used after `steps` optimiser steps: ramped up early in a run.
    pub fn decay_at(&self, steps: u64) -> f64 {
        self.decay.min((1.0 + steps as f64) / (10.0 + steps as f64))
    }

    /// Moves the average towards the live weights after optimiser step `step` (1-based).
    pub fn update(&mut self, live: &Generator, step: u64) {
        let decay = self.decay_at(step);
        let mut collect = CollectWeights::default();
        live.visit(&mut collect);
        let mut blend = BlendWeights { live: collect.weights.into_iter(), decay };
        self.average = self.average.clone().map(&mut blend);
        assert!(blend.live.next().is_none(), "the average and the live generator have different layers");
    }

    /// The average ready to paint: BatchNorm statistics measured for its own weights, in
    /// inference mode. Deterministic: the same weights give the same painter.
    pub fn painter(&self) -> Generator {
        let device = self.average.devices().into_iter().next().unwrap_or_default();
        let latents = (0..RECALIBRATION_BATCHES).map(|batch| {
            let first = RECALIBRATION_FIRST_SEED + batch * RECALIBRATION_BATCH;
            let seeds: Vec<u64> = (first..first + RECALIBRATION_BATCH).collect();
            latent_batch(&seeds, self.config.latent_dim, &device)
        });
        let measured = independent_copy(&self.average, &self.config).recalibrate_batch_norm(latents);
        measured.valid()
    }
}

/// A copy that shares nothing with `generator` (burn's `clone` shares BatchNorm's running
/// statistics, which recalibration writes), with no gradient tracking.
fn independent_copy(generator: &Generator, config: &GeneratorConfig) -> Generator {
    let device = generator.devices().into_iter().next().unwrap_or_default();
    config.init(&device).load_record(generator.clone().into_record()).no_grad()
}

/// Every float tensor of a module in visiting order, detached and flattened.
#[derive(Default)]
struct CollectWeights {
    weights: Vec<Tensor<1>>,
}

impl ModuleVisitor for CollectWeights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().detach();
        let count = value.shape().num_elements();
        self.weights.push(value.reshape([count]));
    }
}

/// `average ← decay · average + (1 − decay) · live`, tensor by tensor in visiting order.
/// Running statistics are blended too; [`GeneratorAverage::painter`] replaces them anyway.
struct BlendWeights<I: Iterator<Item = Tensor<1>>> {
    live: I,
    decay: f64,
}

impl<I: Iterator<Item = Tensor<1>>> ModuleMapper for BlendWeights<I> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let live = self.live.next().expect("the live generator has as many tensors as the average");
        let decay = self.decay;
        param.map(|average| {
            let shape = average.shape();
            (average * decay + live.reshape(shape) * (1.0 - decay)).detach()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn values(generator: &Generator) -> Vec<f32> {
        let mut collect = CollectWeights::default();
        generator.visit(&mut collect);
        collect.weights.into_iter().flat_map(|t| t.into_data().try_to_vec::<f32>().unwrap()).collect()
    }

    #[test]
    fn the_average_moves_towards_the_live_weights_by_the_ramped_decay() {
        let device = Device::flex().autodiff();
        let config = GeneratorConfig::new(2);
        let start = config.init(&device);
        let mut average = GeneratorAverage::start(&start, &config, 0.999);
        assert!((average.decay_at(0) - 0.1).abs() < 1e-12);
        assert_eq!(average.decay_at(1_000_000), 0.999);
        let live = config.init(&device); // other random weights
        average.update(&live, 1);
        let decay = average.decay_at(1) as f32; // 2/11
        let (a, s, l) = (values(&average.average), values(&start), values(&live));
        for ((a, s), l) in a.iter().zip(&s).zip(&l) {
            let expected = decay * s + (1.0 - decay) * l;
            assert!((a - expected).abs() < 1e-5, "{a} vs {expected}");
        }
        // The live generator's weights and statistics are untouched.
        assert_eq!(values(&live), l);
    }

    /// The painter's BatchNorm statistics are its own: painting with them equals painting in
    /// training mode on the same batch of latents, which the live statistics would not.
    #[test]
    fn the_painter_is_deterministic_and_leaves_the_average_alone() {
        let device = Device::flex().autodiff();
        let config = GeneratorConfig::new(2);
        let average = GeneratorAverage::start(&config.init(&device), &config, 0.99);
        let before = values(&average.average);
        let paint = |g: &Generator| g.forward(latent_batch(&[1, 2], 128, &g.devices()[0])).into_data().try_to_vec::<f32>().unwrap();
        let (first, second) = (average.painter(), average.painter());
        assert_eq!(paint(&first), paint(&second));
        assert_eq!(values(&average.average), before, "recalibration works on a copy");
        assert_ne!(values(&first), before, "the painter has measured statistics, not the initial ones");
    }
}
