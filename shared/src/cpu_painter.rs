//! The generator's forward pass on one CPU thread, on plain `f32` slices: what the gallery's CPU
//! fallback paints with in WebAssembly, where burn's CPU backend runs each transposed convolution
//! image by image, then BatchNorm, ReLU and tanh as one pass over the whole tensor each.
//!
//! Here activations stay pixel-major (`[image, row, column, channel]`), so that:
//! - every transposed convolution is a wide matrix product ([`Panels`]), each input pixel's row of
//!   channels times the kernel laid out as `[in channels, 4·4 taps · out channels]` (a *patch
//!   row*: what the pixel adds to the 4×4 output pixels it reaches), a few pixels at a time, each
//!   followed at once (still in the cache) by a scatter that adds each tap's run of output
//!   channels where it lands, a contiguous vector add;
//! - BatchNorm with its running statistics is a scale and a shift per channel, folded with the
//!   ReLU (or the output layer's bias and tanh) into one pass;
//! - the last layer's pixels are already in the order an RGBA image wants, and go to bytes
//!   through a table rather than tanh ([`TanhBytes`]: the same bytes).
//!
//! Same weights and the same arithmetic as [`Generator::forward`] in inference mode, summed in
//! another order: portraits agree with it to float rounding (a byte now and then differs by one).

use crate::model::Generator;
use crate::panel_product::{Panels, TILE_ROWS};
use crate::tanh_bytes::TanhBytes;
use burn::nn::BatchNorm;
use burn::nn::conv::ConvTranspose2d;
use burn::tensor::Tensor;

/// Kernel taps of every layer: 4×4.
const TAPS: usize = 16;

/// What follows a layer's convolution, per output channel: `x · scale + shift`, then `finish`.
struct Affine {
    scale: Vec<f32>,
    shift: Vec<f32>,
    finish: Finish,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Finish {
    Relu,
    Tanh,
}

/// One transposed convolution (4×4 kernel, no bias: the bias is in [`Affine`]) and what follows it.
struct Layer {
    /// `[in_channels, TAPS · out_channels]`: for each input channel, the taps in row-major order,
    /// each a run of `out_channels` weights; in panels for the product.
    kernel: Panels,
    in_channels: usize,
    out_channels: usize,
    after: Affine,
}

/// The generator, ready to paint on the calling thread.
pub struct CpuPainter {
    /// 1×1 → 4×4 (stride 1, no padding: a plain matrix product).
    first: Layer,
    /// Each doubles the image (stride 2, padding 1); the last paints the RGB portrait.
    doubling: Vec<Layer>,
    latent_dim: usize,
    bytes: TanhBytes,
}

impl CpuPainter {
    /// Reads `generator`'s weights (asynchronously, as a browser requires) and lays them out.
    pub async fn from_generator(generator: &Generator) -> Result<Self, String> {
        let mut first = None;
        let mut doubling = Vec::new();
        for (index, block) in generator.blocks.iter().enumerate() {
            // The first layer grows 1×1 to 4×4; the others double the image.
            check_geometry(&block.conv, if index == 0 { (1, 0) } else { (2, 1) })?;
            let layer = Layer::read(&block.conv, batch_norm_affine(&block.norm).await?).await?;
            if index == 0 {
                first = Some(layer);
            } else {
                doubling.push(layer);
            }
        }
        let output = &generator.output;
        check_geometry(output, (2, 1))?;
        let channels = output.weight.dims()[1];
        let shift = match &output.bias {
            Some(bias) => values(bias.val()).await?,
            None => vec![0.0; channels],
        };
        let after = Affine { scale: vec![1.0; channels], shift, finish: Finish::Tanh };
        doubling.push(Layer::read(output, after).await?);
        let first = first.ok_or("the generator has no layers")?;
        Ok(CpuPainter { first, doubling, latent_dim: generator.latent_dim(), bytes: TanhBytes::new() })
    }

    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// `latents` (`count` rows of `latent_dim`) → portraits, pixel-major: `[count, side, side, 3]`
    /// values in [-1, 1].
    pub fn paint(&self, latents: &[f32], count: usize) -> (Vec<f32>, usize) {
        self.forward(latents, count, true)
    }

    /// RGBA bytes of the portraits of `latents`, one after the other, as a canvas wants them.
    pub fn paint_rgba(&self, latents: &[f32], count: usize) -> Vec<u8> {
        // The output layer's sums, which its scale, shift and tanh turn into bytes below.
        let (values, _) = self.forward(latents, count, false);
        let output = &self.doubling.last().expect("the painter has an output layer").after;
        let (scale, shift) = (&output.scale, &output.shift);
        let mut rgba = vec![u8::MAX; values.len() / 3 * 4];
        for (pixel, bytes) in values.chunks_exact(3).zip(rgba.chunks_exact_mut(4)) {
            for channel in 0..3 {
                // The arithmetic of `Affine::apply`, then the byte tanh would give.
                bytes[channel] = self.bytes.byte(pixel[channel] * scale[channel] + shift[channel]);
            }
        }
        rgba
    }

    /// The forward pass; with `finish_output`, the output layer's bias and tanh too.
    fn forward(&self, latents: &[f32], count: usize, finish_output: bool) -> (Vec<f32>, usize) {
        assert_eq!(latents.len(), count * self.latent_dim, "{count} latents of {} values", self.latent_dim);
        if count == 0 {
            return (Vec::new(), crate::IMAGE_SIZE);
        }
        let first = &self.first;
        let mut image = vec![0.0; count * TAPS * first.out_channels];
        // The 1×1 input reaches each of the 4×4 output pixels through one tap: a patch row is
        // already the image's 16 pixels.
        first.kernel.multiply(latents, &mut image);
        first.after.apply(&mut image);
        let mut side = 4;
        let layers = self.doubling.len();
        for (index, layer) in self.doubling.iter().enumerate() {
            image = layer.double(&image, count, side, finish_output || index + 1 < layers);
            side *= 2;
        }
        (image, side)
    }
}

impl Layer {
    /// `conv`'s kernel `[in, out, 4, 4]` rearranged into patch-row order.
    async fn read(conv: &ConvTranspose2d, after: Affine) -> Result<Self, String> {
        let [in_channels, out_channels, kh, kw] = conv.weight.dims();
        if kh * kw != TAPS || after.scale.len() != out_channels {
            return Err(format!("a layer with a {kh}×{kw} kernel and {out_channels} channels is not the portrait generator's"));
        }
        let weight = values(conv.weight.val()).await?;
        let mut kernel = vec![0.0; weight.len()];
        for (i, value) in weight.iter().enumerate() {
            let (input, output, tap) = (i / (out_channels * TAPS), (i / TAPS) % out_channels, i % TAPS);
            kernel[input * TAPS * out_channels + tap * out_channels + output] = *value;
        }
        Ok(Layer { kernel: Panels::new(&kernel, in_channels, TAPS * out_channels), in_channels, out_channels, after })
    }

    /// The stride-2, padding-1 transposed convolution and, with `finish`, what follows it:
    /// `image` (`[count, side, side, in]`) → `[count, 2·side, 2·side, out]`.
    fn double(&self, image: &[f32], count: usize, side: usize, finish: bool) -> Vec<f32> {
        let (inputs, outputs) = (self.in_channels, self.out_channels);
        let row_len = TAPS * outputs;
        let pixels = count * side * side;
        let large = 2 * side;
        let mut out = vec![0.0; count * large * large * outputs];
        let mut patches = vec![0.0; TILE_ROWS * row_len];
        for (tile, pixels_in) in image[..pixels * inputs].chunks(TILE_ROWS * inputs).enumerate() {
            let patches = &mut patches[..pixels_in.len() / inputs * row_len];
            self.kernel.multiply_tile(pixels_in, patches);
            for (row, patch) in patches.chunks_exact(row_len).enumerate() {
                let pixel = tile * TILE_ROWS + row;
                let (picture, y, x) = (pixel / (side * side), (pixel / side) % side, pixel % side);
                // Input pixel (y, x) reaches output rows 2y−1 ..= 2y+2 and the same columns.
                for ky in 0..4 {
                    let Some(out_y) = (2 * y + ky).checked_sub(1).filter(|&r| r < large) else { continue };
                    let out_row = (picture * large + out_y) * large;
                    for kx in 0..4 {
                        let Some(out_x) = (2 * x + kx).checked_sub(1).filter(|&c| c < large) else { continue };
                        let tap = &patch[(ky * 4 + kx) * outputs..][..outputs];
                        let target = &mut out[(out_row + out_x) * outputs..][..outputs];
                        for (sum, value) in target.iter_mut().zip(tap) {
                            *sum += value;
                        }
                    }
                }
            }
        }
        if finish {
            self.after.apply(&mut out);
        }
        out
    }
}

impl Affine {
    /// In place over pixel-major values (channels innermost).
    fn apply(&self, values: &mut [f32]) {
        match self.finish {
            // Not `f32::max`: its rule for NaN has no WebAssembly instruction, so it is not
            // vectorised there. The same value for every `y`.
            Finish::Relu => self.each(values, |y| if y > 0.0 { y } else { 0.0 }),
            Finish::Tanh => self.each(values, f32::tanh),
        }
    }

    /// `value = finish(value · scale + shift)` channel by channel; generic in `finish` so that
    /// each kind is its own loop, simple enough for the compiler to vectorise.
    #[inline(always)]
    fn each(&self, values: &mut [f32], finish: impl Fn(f32) -> f32) {
        let channels = self.scale.len();
        let (scale, shift) = (&self.scale[..channels], &self.shift[..channels]);
        for pixel in values.chunks_exact_mut(channels) {
            for c in 0..channels {
                pixel[c] = finish(pixel[c] * scale[c] + shift[c]);
            }
        }
    }
}

/// Refuses a layer the painter's arithmetic does not cover (`(stride, padding)` on both axes).
fn check_geometry(conv: &ConvTranspose2d, (stride, padding): (usize, usize)) -> Result<(), String> {
    let plain = conv.dilation == [1, 1] && conv.groups == 1 && conv.padding_out == [0, 0];
    if plain && conv.stride == [stride, stride] && conv.padding == [padding, padding] {
        Ok(())
    } else {
        Err(format!("a transposed convolution with stride {:?} and padding {:?} is not the portrait generator's", conv.stride, conv.padding))
    }
}

/// BatchNorm with its running statistics as a scale and a shift per channel:
/// `(x − μ) / √(σ² + ε) · γ + β = x · s + (β − μ · s)` with `s = γ / √(σ² + ε)`.
async fn batch_norm_affine(norm: &BatchNorm) -> Result<Affine, String> {
    let gamma = values(norm.gamma.val()).await?;
    let beta = values(norm.beta.val()).await?;
    let mean = values(norm.running_mean.value()).await?;
    let variance = values(norm.running_var.value()).await?;
    let epsilon = norm.epsilon as f32;
    let scale: Vec<f32> = gamma.iter().zip(&variance).map(|(g, v)| g / (v + epsilon).sqrt()).collect();
    let shift = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    Ok(Affine { scale, shift, finish: Finish::Relu })
}

async fn values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, String> {
    let data = tensor.into_data_async().await.map_err(|e| format!("{e:?}"))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GeneratorConfig;
    use crate::pixels::to_byte;
    use crate::{latent_for_seed, to_rgb_images};
    use burn::tensor::{Device, Distribution, TensorData};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// The CPU backend's reads are ready at once: the painter is built without an executor.
    fn ready<T>(future: impl Future<Output = T>) -> T {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("a read on the CPU backend was not ready"),
        }
    }

    /// A generator whose BatchNorm statistics, scales and shifts are far from their initial
    /// 0, 1, 1, 0, so that a mix-up of any of them shows.
    fn trained_looking(width: usize, device: &Device) -> Generator {
        let mut generator = GeneratorConfig::new(width).init(device);
        for (i, block) in generator.blocks.iter_mut().enumerate() {
            let channels = block.norm.gamma.dims()[0];
            let random = |low: f64, high: f64| Tensor::<1>::random([channels], Distribution::Uniform(low, high), device);
            block.norm.gamma = burn::module::Param::from_tensor(random(0.5, 1.5));
            block.norm.beta = burn::module::Param::from_tensor(random(-0.3, 0.3));
            block.norm.running_mean = burn::module::RunningState::new(random(-0.1, 0.1) * (i + 1) as f32);
            block.norm.running_var = burn::module::RunningState::new(random(0.001, 0.01));
        }
        if let Some(bias) = &mut generator.output.bias {
            *bias = burn::module::Param::from_tensor(Tensor::random([3], Distribution::Uniform(-0.5, 0.5), device));
        }
        generator
    }

    #[test]
    fn paints_what_the_generator_paints() {
        let device = Device::flex();
        device.seed(7);
        for (width, count) in [(4, 1), (8, 5), (16, 16)] {
            let generator = trained_looking(width, &device);
            let painter = ready(CpuPainter::from_generator(&generator)).unwrap();
            let seeds: Vec<u64> = (0..count as u64).map(|s| s * 7 + 1).collect();
            let latents: Vec<f32> = seeds.iter().flat_map(|&s| latent_for_seed(s, painter.latent_dim())).collect();
            let expected: Vec<f32> = generator
                .forward(Tensor::from_data(TensorData::new(latents.clone(), [count, painter.latent_dim()]), &device))
                .into_data()
                .try_to_vec()
                .unwrap();
            let (ours, side) = painter.paint(&latents, count);
            assert_eq!((side, ours.len()), (64, expected.len()));
            // ours is pixel-major, the generator's channel-major.
            let mut worst = 0.0f32;
            for (i, value) in ours.iter().enumerate() {
                let (picture, pixel, channel) = (i / (3 * 4096), (i / 3) % 4096, i % 3);
                worst = worst.max((value - expected[(picture * 3 + channel) * 4096 + pixel]).abs());
            }
            // The tiny variances above multiply rounding differences by ~20 per layer.
            assert!(worst < 1e-3, "width {width}: values differ by up to {worst}");
            assert!(ours.iter().any(|v| v.abs() > 0.05), "width {width}: a portrait, not a blank");

            let rgba = painter.paint_rgba(&latents, count);
            // The table's bytes are exactly tanh's.
            let through_tanh: Vec<u8> = ours.chunks_exact(3).flat_map(|p| [to_byte(p[0]), to_byte(p[1]), to_byte(p[2]), 255]).collect();
            assert!(rgba == through_tanh, "width {width}: the RGBA path paints other bytes than paint()");
            let reference: Vec<u8> = to_rgb_images(&expected, count, 64, 64).iter().flat_map(|i| i.to_rgba()).collect();
            let bytes_off = rgba.iter().zip(&reference).filter(|(a, b)| a != b).count();
            let worst_byte = rgba.iter().zip(&reference).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            assert!(worst_byte <= 1 && bytes_off * 1000 < rgba.len(), "width {width}: {bytes_off} bytes differ, by up to {worst_byte}");
        }
    }

    #[test]
    fn each_portrait_depends_on_its_own_latent_alone() {
        let device = Device::flex();
        let painter = ready(CpuPainter::from_generator(&trained_looking(8, &device))).unwrap();
        let latents: Vec<f32> = [3, 9, 27].iter().flat_map(|&s| latent_for_seed(s, painter.latent_dim())).collect();
        let together = painter.paint_rgba(&latents, 3);
        let alone = painter.paint_rgba(&latents[128..256], 1);
        assert_eq!(&together[64 * 64 * 4..2 * 64 * 64 * 4], &alone[..]);
        assert_ne!(&together[..64 * 64 * 4], &alone[..]);
        assert!(painter.paint_rgba(&[], 0).is_empty());
    }
}
