//! The portrait DCGAN at 64×64: a generator and a discriminator whose 1024-d feature layer
//! drives the generator by feature matching (Salimans et al. 2016).
//!
//! Layer by layer this is the seed article's network (see the PyTorch reference); `width`
//! scales every hidden layer, 64 being the article's.

use burn::module::{Initializer, Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, InstanceNorm, InstanceNormConfig, Linear, LinearConfig,
    PaddingConfig2d,
};
use burn::tensor::activation::{leaky_relu, relu, sigmoid};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::convolutions::{strided_conv, transposed_conv};

/// Length of the latent vector the article's generator takes.
pub const LATENT_DIM: usize = 128;
/// Side of the square images the network makes and judges.
pub const IMAGE_SIZE: usize = 64;
/// Size of the discriminator's feature layer used for feature matching.
pub const FEATURE_DIM: usize = 1024;
/// Negative slope of every LeakyReLU in the discriminator.
const LEAKY_SLOPE: f64 = 0.2;

/// DCGAN initialisation: conv weights and BatchNorm scales drawn around these values.
const INIT_CONV: Initializer = Initializer::Normal { mean: 0.0, std: 0.02 };
const INIT_NORM_SCALE: Initializer = Initializer::Normal { mean: 1.0, std: 0.02 };

/// The architecture of a generator, stored inside every weights file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    /// Length of the latent vector.
    pub latent_dim: usize,
    /// Width multiplier `w`: hidden layers have 16w, 8w, 4w and 2w channels.
    pub width: usize,
}

impl GeneratorConfig {
    pub fn new(width: usize) -> Self {
        Self { latent_dim: LATENT_DIM, width }
    }

    /// A freshly initialised generator (weights N(0, 0.02), BatchNorm γ N(1, 0.02), β 0).
    pub fn init(&self, device: &Device) -> Generator {
        let w = self.width;
        let channels = [self.latent_dim, 16 * w, 8 * w, 4 * w, 2 * w];
        let blocks = channels
            .windows(2)
            .enumerate()
            .map(|(i, pair)| {
                // The first layer grows 1×1 to 4×4; the others double the size.
                let (stride, padding) = if i == 0 { (1, 0) } else { (2, 1) };
                GenBlock {
                    conv: ConvTranspose2dConfig::new([pair[0], pair[1]], [4, 4])
                        .with_stride([stride, stride])
                        .with_padding([padding, padding])
                        .with_bias(false)
                        .with_initializer(INIT_CONV)
                        .init(device),
                    norm: batch_norm(pair[1], device),
                }
            })
            .collect();
        let output = ConvTranspose2dConfig::new([2 * w, 3], [4, 4])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .with_initializer(INIT_CONV)
            .init(device);
        Generator { blocks, output, latent_dim: self.latent_dim }
    }
}

/// How the discriminator normalises its hidden layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiscNorm {
    /// BatchNorm, as in the DCGAN paper and the article.
    #[default]
    Batch,
    /// Affine InstanceNorm, as in the seed's code.
    Instance,
}

/// The architecture of a discriminator, stored in checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscriminatorConfig {
    /// Width multiplier `w`: conv layers have w, 2w, 4w and 8w channels.
    pub width: usize,
    pub norm: DiscNorm,
    /// Images per group of the batch-spread feature ([`with_batch_spread`]); 0: none, as in
    /// older checkpoints.
    #[serde(default)]
    pub minibatch_std: usize,
}

impl DiscriminatorConfig {
    pub fn new(width: usize, norm: DiscNorm) -> Self {
        Self { width, norm, minibatch_std: 0 }
    }

    /// The same discriminator, shown each group of `group` images' spread before its feature
    /// layer (0: not).
    pub fn with_minibatch_std(self, group: usize) -> Self {
        Self { minibatch_std: group, ..self }
    }

    pub fn init(&self, device: &Device) -> Discriminator {
        let w = self.width;
        let conv = |from: usize, to: usize, bias: bool| {
            Conv2dConfig::new([from, to], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(bias)
                .with_initializer(INIT_CONV)
                .init(device)
        };
        let blocks = [w, 2 * w, 4 * w, 8 * w]
            .windows(2)
            .map(|pair| DiscBlock {
                conv: conv(pair[0], pair[1], false),
                norm: match self.norm {
                    DiscNorm::Batch => Norm2d::Batch(batch_norm(pair[1], device)),
                    DiscNorm::Instance => {
                        let mut norm = InstanceNormConfig::new(pair[1]).init(device);
                        norm.gamma = Some(INIT_NORM_SCALE.init([pair[1]], device));
                        Norm2d::Instance(norm)
                    }
                },
            })
            .collect();
        let spread_channels = usize::from(self.minibatch_std > 0);
        let flat = (8 * w + spread_channels) * 4 * 4;
        Discriminator {
            input: conv(3, w, true),
            blocks,
            features: LinearConfig::new(flat, FEATURE_DIM).init(device),
            head: LinearConfig::new(FEATURE_DIM, 1).init(device),
            minibatch_std: self.minibatch_std,
        }
    }
}

fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    let mut norm = BatchNormConfig::new(channels).init(device);
    norm.gamma = INIT_NORM_SCALE.init([channels], device);
    norm
}

/// ConvTranspose → BatchNorm → ReLU.
#[derive(Module, Debug)]
pub struct GenBlock {
    pub(crate) conv: ConvTranspose2d,
    pub(crate) norm: BatchNorm,
}

/// Latent vector → 64×64 RGB image in [-1, 1].
#[derive(Module, Debug)]
pub struct Generator {
    pub(crate) blocks: Vec<GenBlock>,
    pub(crate) output: ConvTranspose2d,
    latent_dim: usize,
}

impl Generator {
    /// `[batch, latent_dim]` → `[batch, 3, 64, 64]`, values in [-1, 1].
    pub fn forward(&self, latent: Tensor<2>) -> Tensor<4> {
        let [batch, dim] = latent.dims();
        assert_eq!(dim, self.latent_dim, "latent has {dim} values, the generator takes {}", self.latent_dim);
        let mut x = latent.reshape([batch, dim, 1, 1]);
        for block in &self.blocks {
            x = rectify(normalize(&block.norm, transposed_conv(&block.conv, x)));
        }
        tanh(transposed_conv(&self.output, x))
    }

    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// How the first block, before its ReLU, answers the latent: a `[latent_dim, channels·4·4]`
    /// matrix whose row i is what latent value i adds to the block's output. The block is affine
    /// in z (a transposed convolution from 1×1, then BatchNorm with its running statistics, which
    /// scales channel c by γ_c/√(σ²_c+ε) and shifts it), so this matrix is all of its dependence on
    /// z: its top singular vectors are the painter's main directions (SeFa, Shen & Zhou 2021).
    pub fn first_block_response(&self) -> Tensor<2> {
        let block = &self.blocks[0];
        let weight = block.conv.weight.val();
        let [latent, channels, kh, kw] = weight.dims();
        let norm = &block.norm;
        let scale = norm.gamma.val() / norm.running_var.value().add_scalar(norm.epsilon).sqrt();
        (weight * scale.reshape([1, channels, 1, 1])).reshape([latent, channels * kh * kw])
    }

    /// Sets every BatchNorm's running statistics to the plain average of the batch statistics
    /// over `latents` (one forward pass per batch, outputs discarded).
    ///
    /// For weights that were not trained as they are, such as an exponential moving average of
    /// a generator's weights: the live generator's running statistics do not fit them. The
    /// generator must be on an autodiff device in training mode, where BatchNorm measures its
    /// batches.
    pub fn recalibrate_batch_norm(mut self, latents: impl IntoIterator<Item = Tensor<2>>) -> Self {
        let momentum = self.blocks.first().map_or(0.1, |block| block.norm.momentum);
        for (batches_seen, latent) in latents.into_iter().enumerate() {
            // Weight 1/k on the k-th batch keeps the running value the mean of all k.
            for block in &mut self.blocks {
                block.norm.momentum = 1.0 / (batches_seen + 1) as f64;
            }
            let _ = self.forward(latent);
        }
        for block in &mut self.blocks {
            block.norm.momentum = momentum;
        }
        self
    }
}

/// The discriminator's hidden-layer normalisation (see [`DiscNorm`]).
#[derive(Module, Debug)]
pub enum Norm2d {
    Batch(BatchNorm),
    Instance(InstanceNorm),
}

impl Norm2d {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Norm2d::Batch(norm) => normalize(norm, x),
            Norm2d::Instance(norm) => norm.forward(x),
        }
    }
}

/// Conv (no bias) → norm → LeakyReLU(0.2).
#[derive(Module, Debug)]
pub struct DiscBlock {
    conv: Conv2d,
    norm: Norm2d,
}

/// What the discriminator says about a batch.
pub struct Judgement {
    /// The 1024-d feature layer (before its activation): what feature matching compares.
    pub features: Tensor<2>,
    /// Probability that each image is real, `[batch, 1]`.
    pub real_probability: Tensor<2>,
}

/// 64×64 RGB image → (features, probability of being real).
#[derive(Module, Debug)]
pub struct Discriminator {
    input: Conv2d,
    blocks: Vec<DiscBlock>,
    features: Linear,
    head: Linear,
    minibatch_std: usize,
}

impl Discriminator {
    pub fn forward(&self, images: Tensor<4>) -> Judgement {
        self.forward_with_map(images).0
    }

    /// The judgement, and the hidden layer's 8×8 map of each image (`[batch, 4w, 8, 8]`): what
    /// a self-supervised decoder reconstructs the image from during training (FastGAN).
    pub fn forward_with_map(&self, images: Tensor<4>) -> (Judgement, Tensor<4>) {
        let mut x = leaky(strided_conv(&self.input, images));
        let mut map = None;
        for block in &self.blocks {
            x = leaky(block.norm.forward(strided_conv(&block.conv, x)));
            if x.dims()[2] == MAP_SIZE {
                map = Some(x.clone());
            }
        }
        if self.minibatch_std > 0 {
            x = with_batch_spread(x, self.minibatch_std);
        }
        let features = self.features.forward(x.flatten(1, 3));
        let logit = self.head.forward(leaky(features.clone()));
        let map = map.expect("a 64×64 input passes through an 8×8 layer");
        (Judgement { features, real_probability: sigmoid(logit) }, map)
    }
}

/// Side of the discriminator's hidden map that [`Discriminator::forward_with_map`] returns.
pub const MAP_SIZE: usize = 8;

/// `x` with one more channel: the minibatch standard deviation (ProGAN, Karras et al. 2018).
/// The batch is split into groups of `group` images (images i, i + n/group, …, as ProGAN's
/// code does; fewer when `group` does not divide the batch); each image's new channel holds its
/// group's standard deviation across images, averaged over every channel and position.
///
/// Why: a generator that paints a few faces for many latents shows the discriminator a spread
/// well below the real batches'. With it among the features the generator matches, feature
/// matching asks for the real crops' variety too, and the shipped generator is unchanged.
/// Measured on the 536 crops (README), it lowered a run's SWD but not its diversity.
/// A discriminator with it judges each image within its batch, so `trainer curate`'s scores of
/// such a run depend on which candidates share a batch.
pub fn with_batch_spread(x: Tensor<4>, group: usize) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let group = (1..=group.min(batch)).rev().find(|size| batch % size == 0).unwrap_or(1);
    let groups = batch / group;
    let members = x.clone().reshape([group, groups, channels * height * width]);
    let centred = members.clone() - members.mean_dim(0);
    // ε inside the root keeps its gradient finite where a group's images agree exactly.
    let spread = (centred.clone() * centred).mean_dim(0).add_scalar(1e-8).sqrt().mean_dim(2);
    let spread = spread.repeat_dim(0, group).repeat_dim(2, height * width).reshape([batch, 1, height, width]);
    Tensor::cat(vec![x, spread], 1)
}

/// LeakyReLU(0.2), through the one-pass CPU kernel where it applies.
fn leaky<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "cpu-kernels")]
    if crate::cpu_kernels::applies(&x.device(), x.dtype()) {
        return crate::cpu_kernels::leaky_relu(x, LEAKY_SLOPE as f32);
    }
    leaky_relu(x, LEAKY_SLOPE)
}

/// ReLU, through the CPU kernel of LeakyReLU (with slope 0) where it applies: burn's ReLU and
/// its gradient run on one thread while the other cores wait.
fn rectify<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "cpu-kernels")]
    if crate::cpu_kernels::applies(&x.device(), x.dtype()) {
        return crate::cpu_kernels::leaky_relu(x, 0.0);
    }
    relu(x)
}

/// tanh, through the CPU kernel where it applies (burn's runs on one thread, and its gradient
/// computes tanh a second time).
fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "cpu-kernels")]
    if crate::cpu_kernels::applies(&x.device(), x.dtype()) {
        return crate::cpu_kernels::tanh(x);
    }
    x.tanh()
}

/// `norm.forward(x)`, through the one-pass CPU kernel when training where it applies.
fn normalize<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "cpu-kernels")]
    if x.device().is_autodiff() && norm.training.is_enabled() && crate::cpu_kernels::applies(&x.device(), x.dtype()) {
        return crate::cpu_kernels::batch_norm_train(norm, x);
    }
    norm.forward(x)
}

/// Counts a module's learned parameters: [`Module::num_params`] minus BatchNorm's running
/// statistics, which burn visits as tensors too. This is the number PyTorch reports.
pub fn trainable_params<M: Module>(module: &M) -> usize {
    #[derive(Default)]
    struct Counter {
        path: Vec<String>,
        total: usize,
    }
    impl ModuleVisitor for Counter {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if !self.path.last().is_some_and(|name| name.starts_with("running_")) {
                self.total += param.lazy_shape().num_elements();
            }
        }
    }
    let mut counter = Counter::default();
    module.visit(&mut counter);
    counter.total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PyTorch reference of this exact design has these parameter counts at width 64.
    #[test]
    fn parameter_counts_match_the_reference_at_width_64() {
        let device = Device::flex();
        let g = GeneratorConfig::new(64).init(&device);
        let d = DiscriminatorConfig::new(64, DiscNorm::Batch).init(&device);
        assert_eq!(trainable_params(&g), 13_117_187);
        assert_eq!(trainable_params(&d), 11_148_097);
        let d_instance = DiscriminatorConfig::new(64, DiscNorm::Instance).init(&device);
        assert_eq!(trainable_params(&d_instance), 11_148_097);
    }

    /// The one-pass CPU BatchNorm, LeakyReLU, ReLU and tanh give burn's outputs, gradients and
    /// running statistics.
    #[cfg(feature = "cpu-kernels")]
    #[test]
    fn cpu_kernels_match_burns_layers() {
        use burn::tensor::Distribution;
        let device = Device::flex().autodiff();
        assert!(crate::cpu_kernels::applies(&device, burn::tensor::DType::F32), "the kernels under test would be skipped");
        let max_difference = |a: Tensor<1>, b: Tensor<1>| -> f32 { (a - b).abs().max().into_scalar() };
        let ours = batch_norm(6, &device);
        // Through a record, so that the two layers do not share their running statistics.
        let reference = BatchNormConfig::new(6).init(&device).load_record(ours.clone().into_record());
        let x = Tensor::<4>::random([5, 6, 3, 4], Distribution::Normal(0.5, 2.0), &device).require_grad();
        let probe = Tensor::<4>::random([5, 6, 3, 4], Distribution::Normal(0.0, 1.0), &device);
        let (out_ours, out_reference) = (leaky(normalize(&ours, x.clone())), leaky_relu(reference.forward(x.clone()), LEAKY_SLOPE));
        let difference = max_difference(out_ours.clone().inner().flatten(0, 3), out_reference.clone().inner().flatten(0, 3));
        assert!(difference < 1e-5, "outputs differ by {difference}");
        let grads_ours = (out_ours * probe.clone()).sum().backward();
        let grads_reference = (out_reference * probe).sum().backward();
        let dx = max_difference(x.grad(&grads_ours).unwrap().flatten(0, 3), x.grad(&grads_reference).unwrap().flatten(0, 3));
        assert!(dx < 1e-4, "input gradients differ by {dx}");
        for (name, a, b) in [("gamma", &ours.gamma, &reference.gamma), ("beta", &ours.beta, &reference.beta)] {
            let d = max_difference(a.grad(&grads_ours).unwrap(), b.grad(&grads_reference).unwrap());
            assert!(d < 1e-4, "{name} gradients differ by {d}");
        }
        let d = max_difference(ours.running_mean.value_sync(), reference.running_mean.value_sync());
        assert!(d < 1e-6, "running means differ by {d}");
        let d = max_difference(ours.running_var.value_sync(), reference.running_var.value_sync());
        assert!(d < 1e-5, "running variances differ by {d}");
        assert!(max_difference(ours.running_mean.value_sync(), Tensor::zeros([6], &device)) > 1e-3, "running mean not updated");

        let exactly_burns = |name: &str, ours: &dyn Fn(Tensor<4>) -> Tensor<4>, burns: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let probe = Tensor::<4>::random([5, 6, 3, 4], Distribution::Normal(0.0, 1.0), &device);
            let (out_ours, out_reference) = (ours(x.clone()), burns(x.clone()));
            let difference = max_difference(out_ours.clone().inner().flatten(0, 3), out_reference.clone().inner().flatten(0, 3));
            assert!(difference == 0.0, "{name} outputs differ by {difference}");
            let grads_ours = (out_ours * probe.clone()).sum().backward();
            let grads_reference = (out_reference * probe).sum().backward();
            let dx = max_difference(x.grad(&grads_ours).unwrap().flatten(0, 3), x.grad(&grads_reference).unwrap().flatten(0, 3));
            assert!(dx == 0.0, "{name} input gradients differ by {dx}");
        };
        exactly_burns("ReLU", &rectify, &relu);
        exactly_burns("tanh", &tanh, &|x| x.tanh());
    }

    /// After recalibration every BatchNorm holds the mean of its per-batch statistics, and the
    /// layer's momentum is as before.
    #[test]
    fn recalibration_averages_the_batch_statistics() {
        let device = Device::flex().autodiff();
        let config = GeneratorConfig::new(2);
        let generator = config.init(&device).no_grad();
        let copy = || config.init(&device).load_record(generator.clone().into_record());
        let batch = |seeds: &[u64]| crate::latent_batch(seeds, LATENT_DIM, &device);
        let statistics = |g: &Generator| -> Vec<Vec<f32>> {
            g.blocks
                .iter()
                .flat_map(|b| [b.norm.running_mean.value_sync(), b.norm.running_var.value_sync()])
                .map(|t| t.into_data().try_to_vec::<f32>().unwrap())
                .collect()
        };
        let first = statistics(&copy().recalibrate_batch_norm([batch(&[1, 2, 3])]));
        let second = statistics(&copy().recalibrate_batch_norm([batch(&[4, 5, 6])]));
        let both = copy().recalibrate_batch_norm([batch(&[1, 2, 3]), batch(&[4, 5, 6])]);
        assert!(both.blocks.iter().all(|b| b.norm.momentum == 0.1));
        for ((a, b), mean) in first.iter().zip(&second).zip(statistics(&both)) {
            for ((a, b), m) in a.iter().zip(b).zip(mean) {
                assert!((m - (a + b) / 2.0).abs() < 1e-5, "{m} is not the mean of {a} and {b}");
            }
        }
        assert_ne!(first, second, "different batches, different statistics");
    }

    /// The spread channel holds each group's standard deviation across its images (groups of
    /// images i, i + n/group, …), the same at every position; the discriminator that sees it
    /// judges an image by its group, the one without it by the image alone.
    #[test]
    fn the_batch_spread_is_each_groups_standard_deviation() {
        let device = Device::flex();
        // Four images of one channel at 1×2: groups {0, 2} and {1, 3}.
        let values = [0.0f32, 0.0, 1.0, 3.0, 2.0, 4.0, 5.0, 3.0];
        let x = Tensor::<4>::from_data(burn::tensor::TensorData::new(values.to_vec(), [4, 1, 1, 2]), &device);
        let out: Vec<f32> = with_batch_spread(x.clone(), 2).into_data().try_to_vec().unwrap();
        assert_eq!(&out[..2], &values[..2], "the image itself comes first");
        // Group {0, 2}: positions (0, 2) and (0, 4), population deviations 1 and 2 → 1.5.
        // Group {1, 3}: positions (1, 5) and (3, 3) → 2 and 0 → 1.
        let spread_of = |image: usize| &out[image * 4 + 2..image * 4 + 4];
        for (image, expected) in [(0, 1.5), (1, 1.0), (2, 1.5), (3, 1.0)] {
            for value in spread_of(image) {
                assert!((value - expected).abs() < 1e-3, "image {image}: spread {value}, expected {expected}");
            }
        }
        // A group that does not divide the batch shrinks to the largest that does (3 → 2 for 4
        // images; 5 → 3 for 3 images); a batch of one image has a spread of ~0.
        let shrunk: Vec<f32> = with_batch_spread(x.clone(), 3).into_data().try_to_vec().unwrap();
        assert_eq!(shrunk, out);
        let alone: Vec<f32> = with_batch_spread(x.slice([0..3]), 5).into_data().try_to_vec().unwrap();
        assert!(alone.chunks(4).all(|image| image[2].abs() > 0.5), "3 images, groups of 5 → one group of 3: {alone:?}");
        let single: Vec<f32> = with_batch_spread(Tensor::<4>::ones([1, 1, 1, 2], &device), 2).into_data().try_to_vec().unwrap();
        assert!(single[2].abs() < 1e-3, "{single:?}");

        let images = Tensor::<4>::random([4, 3, IMAGE_SIZE, IMAGE_SIZE], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
        let other_neighbour = images.clone().slice_assign([2..3], Tensor::zeros([1, 3, IMAGE_SIZE, IMAGE_SIZE], &device));
        let first_features = |d: &Discriminator, batch: Tensor<4>| -> Vec<f32> { d.forward(batch).features.slice([0..1]).into_data().try_to_vec().unwrap() };
        let spread = DiscriminatorConfig::new(4, DiscNorm::Batch).with_minibatch_std(2).init(&device);
        assert_ne!(first_features(&spread, images.clone()), first_features(&spread, other_neighbour.clone()), "image 0's group mate changed, its features did not");
        let plain = DiscriminatorConfig::new(4, DiscNorm::Batch).init(&device);
        assert_eq!(first_features(&plain, images), first_features(&plain, other_neighbour), "without the spread an image is judged alone");
    }

    #[test]
    fn shapes_flow_through_both_networks() {
        let device = Device::flex();
        let g = GeneratorConfig::new(4).init(&device);
        let d = DiscriminatorConfig::new(4, DiscNorm::Instance).init(&device);
        let z = crate::latent_batch(&[1, 2, 3], LATENT_DIM, &device);
        let images = g.forward(z);
        assert_eq!(images.dims(), [3, 3, IMAGE_SIZE, IMAGE_SIZE]);
        let values: Vec<f32> = images.clone().into_data().try_to_vec::<f32>().unwrap();
        assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
        let judgement = d.forward(images);
        assert_eq!(judgement.features.dims(), [3, FEATURE_DIM]);
        assert_eq!(judgement.real_probability.dims(), [3, 1]);
        let p: Vec<f32> = judgement.real_probability.into_data().try_to_vec::<f32>().unwrap();
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
