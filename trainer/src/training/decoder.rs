//! FastGAN's self-supervised decoder (Liu et al. 2021), with `--reconstruction`: a small network
//! that paints each real image back, at 32×32, from the discriminator's 8×8 hidden map of it.
//! Its error joins the discriminator's loss, so the discriminator must keep in that map what
//! the image looks like rather than only what tells the training set apart — the features our
//! generator then matches are shaped by it. Used in training only; never exported.

use atelier_shared::DiscriminatorConfig;
use burn::module::{Initializer, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::loss::{MseLoss, Reduction};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::optim::ModuleOptimizer;
use burn::tensor::activation::{relu, tanh};
use burn::tensor::{Device, Tensor};

use super::optimizer::adam;
use super::regularizers::Regularizers;

const INIT: Initializer = Initializer::Normal { mean: 0.0, std: 0.02 };

/// Doubles the map's size: transposed convolution (4×4, stride 2) → BatchNorm → ReLU.
#[derive(Module, Debug)]
struct UpBlock {
    conv: ConvTranspose2d,
    norm: BatchNorm,
}

/// The discriminator's 8×8 map (4w channels) → a 32×32 RGB image in [-1, 1].
#[derive(Module, Debug)]
pub struct Decoder {
    blocks: Vec<UpBlock>,
    output: Conv2d,
}

impl Decoder {
    /// A fresh decoder for the discriminator `config` describes (4w → 2w → w channels → RGB).
    pub fn new(config: &DiscriminatorConfig, device: &Device) -> Self {
        let w = config.width;
        let blocks = [4 * w, 2 * w, w]
            .windows(2)
            .map(|pair| UpBlock {
                conv: ConvTranspose2dConfig::new([pair[0], pair[1]], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_bias(false)
                    .with_initializer(INIT)
                    .init(device),
                norm: BatchNormConfig::new(pair[1]).init(device),
            })
            .collect();
        let output = Conv2dConfig::new([w, 3], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_initializer(INIT)
            .init(device);
        Self { blocks, output }
    }

    pub fn forward(&self, map: Tensor<4>) -> Tensor<4> {
        let mut x = map;
        for block in &self.blocks {
            x = relu(block.norm.forward(block.conv.forward(x)));
        }
        tanh(self.output.forward(x))
    }

    /// The MSE between the reconstruction of `map` and `images` (`[batch, 3, 64, 64]`, what the
    /// discriminator saw) averaged down to 32×32.
    pub fn reconstruction_loss(&self, map: Tensor<4>, images: Tensor<4>) -> Tensor<1> {
        MseLoss::new().forward(self.forward(map), halve(images.detach()), Reduction::Mean)
    }
}

/// `[batch, c, 2h, 2w]` → `[batch, c, h, w]`, each pixel the mean of its 2×2 block.
fn halve(images: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = images.dims();
    images
        .reshape([batch, channels, height / 2, 2, width / 2, 2])
        .mean_dim(5)
        .mean_dim(3)
        .reshape([batch, channels, height / 2, width / 2])
}

/// The decoder and its own optimiser (the discriminator's learning rate), kept with the
/// networks in every checkpoint of a run that uses it.
pub struct SelfSupervision {
    pub decoder: Decoder,
    pub optimizer: ModuleOptimizer,
}

impl SelfSupervision {
    /// A fresh decoder and optimiser for the discriminator `config` describes, where
    /// `regularizers` ask for reconstruction.
    pub fn if_asked(regularizers: &Regularizers, config: &DiscriminatorConfig, device: &Device) -> Option<Self> {
        (regularizers.reconstruction > 0.0).then(|| Self { decoder: Decoder::new(config, device), optimizer: adam() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atelier_shared::IMAGE_SIZE;
    use burn::tensor::TensorData;

    #[test]
    fn halving_averages_each_two_by_two_block() {
        let device = Device::flex();
        let values: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let image = Tensor::<4>::from_data(TensorData::new(values, [1, 1, 4, 4]), &device);
        let half: Vec<f32> = halve(image).into_data().try_to_vec::<f32>().unwrap();
        // Rows 0–1 of columns 0–1: 0, 1, 4, 5 → 2.5; and so on.
        assert_eq!(half, vec![2.5, 4.5, 10.5, 12.5]);
    }

    #[test]
    fn the_decoder_paints_the_discriminators_map_back_at_32_pixels() {
        let device = Device::flex().autodiff();
        let config = DiscriminatorConfig::new(4, Default::default());
        let discriminator = config.init(&device);
        let decoder = Decoder::new(&config, &device);
        let images = Tensor::<4>::random([2, 3, IMAGE_SIZE, IMAGE_SIZE], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
        let (_, map) = discriminator.forward_with_map(images.clone());
        assert_eq!(map.dims(), [2, 16, 8, 8]);
        assert_eq!(decoder.forward(map.clone()).dims(), [2, 3, 32, 32]);
        let loss: f32 = decoder.reconstruction_loss(map, images).into_scalar();
        // Uniform pixels averaged by four have variance 1/12; a fresh decoder paints near 0.
        assert!(loss > 0.03 && loss < 0.3, "{loss}");
    }
}
