//! The network's convolutions, each computed in the fastest form for its input's device and
//! shape. Same weights, and the same results up to float rounding, as burn's
//! `ConvTranspose2d::forward` and `Conv2d::forward`.
//!
//! burn's CPU backend (`flex`) runs a convolution one image at a time, and a transposed one as a
//! matrix product per image whose width is the image's pixel count: 1 for the generator's first
//! layer, 16 for its second. Such thin products use a fraction of the CPU's vector units. So:
//! - a 1×1 input through an unpadded kernel is exactly a matrix product (every backend);
//! - on the CPU backend, the 4×4, stride-2 layers of both networks run as batch-wide matrix
//!   products ([`cpu_kernels`](crate::cpu_kernels), native builds with the `cpu-kernels`
//!   feature); without those kernels (the browser's WebAssembly), the generator's small images
//!   are laid side by side as one wide image, with a zero column between neighbours so that no
//!   kernel reaches across (stride 2, kernel 4, padding 1).

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};

/// Images with at most this many pixels are laid side by side on the CPU backend. Measured on
/// burn 0.22 `flex` at width 64, batch 64: the 4×4 layer runs ~2× faster forward and ~1.4×
/// forward + backward; at 8×8 and above the extra copies cost more than they save.
const SIDE_BY_SIDE_MAX_PIXELS: usize = 16;

/// `conv.forward(x)`, computed in the fastest arrangement for `x`'s shape and device.
pub fn transposed_conv(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let [batch, _, height, width] = x.dims();
    let plain = conv.dilation == [1, 1] && conv.groups == 1 && conv.padding_out == [0, 0];
    if plain && height == 1 && width == 1 && conv.padding == [0, 0] {
        return one_pixel(conv, x);
    }
    let halo_free = conv.stride == [2, 2] && conv.kernel_size == [4, 4] && conv.padding == [1, 1];
    #[cfg(feature = "cpu-kernels")]
    if plain && halo_free && crate::cpu_kernels::applies(&x.device(), x.dtype()) {
        return with_bias(crate::cpu_kernels::conv_up(x, conv.weight.val()), &conv.bias);
    }
    if plain && halo_free && batch > 1 && height * width <= SIDE_BY_SIDE_MAX_PIXELS && on_cpu_backend(&x.device()) {
        return side_by_side(conv, x);
    }
    conv.forward(x)
}

/// Whether `device` is burn's CPU backend (`flex`), with or without autodiff.
pub(crate) fn on_cpu_backend(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

/// A 1×1 input: each output pixel is one weight column times the input vector.
fn one_pixel(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let [batch, channels_in, _, _] = x.dims();
    let weight = conv.weight.val();
    let [_, channels_out, kernel_h, kernel_w] = weight.dims();
    let y = x
        .reshape([batch, channels_in])
        .matmul(weight.reshape([channels_in, channels_out * kernel_h * kernel_w]))
        .reshape([batch, channels_out, kernel_h, kernel_w]);
    with_bias(y, &conv.bias)
}

/// `[batch, c, h, w]` → one image `[1, c, h, batch·(w+1)]`, transposed convolution, and back.
///
/// With stride 2, kernel 4 and padding 1, input column `i` reaches output columns `2i-1 ..= 2i+2`.
/// A zero column after every image means that each image's own output columns
/// (`2k(w+1) .. 2k(w+1)+2w` for image `k`) receive nothing from its neighbours; the two columns
/// in between are discarded.
fn side_by_side(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let [batch, channels_in, height, width] = x.dims();
    let channels_out = conv.weight.dims()[1];
    let row = x
        .pad([(0, 0), (0, 1)], PadMode::Constant(0.0))
        .permute([1, 2, 0, 3])
        .reshape([1, channels_in, height, batch * (width + 1)]);
    let y = conv.forward(row);
    let y: Tensor<4> = y
        .reshape([channels_out, 2 * height, batch, 2 * (width + 1)])
        .slice([0..channels_out, 0..2 * height, 0..batch, 0..2 * width]);
    y.permute([2, 0, 1, 3])
}

/// `conv.forward(x)` for the discriminator's convolutions.
pub fn strided_conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "cpu-kernels")]
    {
        let [_, _, height, width] = x.dims();
        let even = height % 2 == 0 && width % 2 == 0;
        if even && fits_cpu_kernels(conv) && crate::cpu_kernels::applies(&x.device(), x.dtype()) {
            return with_bias(crate::cpu_kernels::conv_down(x, conv.weight.val()), &conv.bias);
        }
    }
    conv.forward(x)
}

/// A 4×4 kernel, stride 2, padding 1 on every side, nothing else.
#[cfg(feature = "cpu-kernels")]
fn fits_cpu_kernels(conv: &Conv2d) -> bool {
    use burn::nn::PaddingConfig2d;
    conv.stride == [2, 2]
        && conv.kernel_size == [4, 4]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && conv.padding == PaddingConfig2d::Explicit(1, 1, 1, 1)
}

/// `y` plus a per-channel bias, if the layer has one.
fn with_bias(y: Tensor<4>, bias: &Option<Param<Tensor<1>>>) -> Tensor<4> {
    match bias {
        Some(bias) => {
            let channels = y.dims()[1];
            y + bias.val().reshape([1, channels, 1, 1])
        }
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::ConvTranspose2dConfig;
    use burn::tensor::Distribution;

    fn max_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b).abs().max().into_scalar()
    }

    /// `ours` agrees with burn's own layer `reference` (weights `weight` and `bias`, on the CPU
    /// backend with autodiff): output, and the gradients of the input, weight and bias.
    fn assert_same_layer(
        reference: impl Fn(Tensor<4>) -> Tensor<4>,
        ours: impl Fn(Tensor<4>) -> Tensor<4>,
        weight: &Param<Tensor<4>>,
        bias: &Option<Param<Tensor<1>>>,
        input: [usize; 4],
    ) {
        let device = weight.val().device();
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let expected = reference(x.clone());
        let actual = ours(x.clone());
        // A random probe makes every output element matter to the gradients.
        let probe = Tensor::<4>::random(expected.dims(), Distribution::Normal(0.0, 1.0), &device);
        let grads_reference = (expected.clone() * probe.clone()).sum().backward();
        let grads_ours = (actual.clone() * probe).sum().backward();

        let dy = max_difference(expected.inner(), actual.inner());
        assert!(dy < 1e-4, "outputs differ by {dy}");
        let dx = max_difference(x.grad(&grads_reference).unwrap(), x.grad(&grads_ours).unwrap());
        assert!(dx < 1e-4, "input gradients differ by {dx}");
        let dw = max_difference(weight.grad(&grads_reference).unwrap(), weight.grad(&grads_ours).unwrap());
        assert!(dw < 1e-3, "weight gradients differ by {dw}");
        if let Some(bias) = bias {
            let db = max_difference(bias.grad(&grads_reference).unwrap(), bias.grad(&grads_ours).unwrap());
            assert!(db < 1e-3, "bias gradients differ by {db}");
        }
    }

    /// `layer` against `ConvTranspose2d::forward`.
    fn check_transposed(layer: fn(&ConvTranspose2d, Tensor<4>) -> Tensor<4>, config: ConvTranspose2dConfig, input: [usize; 4]) {
        let conv = config.init(&Device::flex().autodiff());
        assert_same_layer(|x| conv.forward(x), |x| layer(&conv, x), &conv.weight, &conv.bias, input);
    }

    fn check(config: ConvTranspose2dConfig, input: [usize; 4]) {
        check_transposed(transposed_conv, config, input);
    }

    #[test]
    fn one_pixel_layer_matches_burn() {
        check(ConvTranspose2dConfig::new([16, 8], [4, 4]).with_bias(false), [3, 16, 1, 1]);
        check(ConvTranspose2dConfig::new([16, 8], [4, 4]), [3, 16, 1, 1]);
    }

    #[test]
    fn side_by_side_layer_matches_burn() {
        let config = ConvTranspose2dConfig::new([8, 4], [4, 4]).with_stride([2, 2]).with_padding([1, 1]);
        check_transposed(side_by_side, config.clone().with_bias(false), [5, 8, 4, 4]);
        // Not square, and with a bias.
        check_transposed(side_by_side, config, [3, 8, 2, 4]);
    }

    #[cfg(feature = "cpu-kernels")]
    #[test]
    fn cpu_kernels_match_burns_transposed_convolution() {
        let device = Device::flex().autodiff();
        assert!(crate::cpu_kernels::applies(&device, burn::tensor::DType::F32), "the kernels under test would be skipped");
        let config = ConvTranspose2dConfig::new([8, 4], [4, 4]).with_stride([2, 2]).with_padding([1, 1]);
        check(config.clone().with_bias(false), [5, 8, 4, 4]);
        // Not square, a bias, a 1×1 input.
        check(config.clone(), [3, 8, 2, 4]);
        check(config, [2, 8, 1, 1]);
    }

    /// Shapes outside the 1×1 and side-by-side rearrangements: burn's layer (or the CPU kernels,
    /// when compiled in).
    #[test]
    fn other_shapes_match_burn() {
        let config = ConvTranspose2dConfig::new([8, 4], [4, 4]).with_stride([2, 2]).with_padding([1, 1]);
        check(config.clone(), [2, 8, 8, 8]);
        check(config, [1, 8, 4, 4]);
    }

    #[cfg(feature = "cpu-kernels")]
    #[test]
    fn cpu_kernels_match_burns_convolution() {
        use burn::nn::PaddingConfig2d;
        use burn::nn::conv::Conv2dConfig;
        let config = Conv2dConfig::new([5, 7], [4, 4]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
        let check = |config: Conv2dConfig, input| {
            let conv = config.init(&Device::flex().autodiff());
            assert!(fits_cpu_kernels(&conv), "the kernels under test would be skipped");
            assert_same_layer(|x| conv.forward(x), |x| strided_conv(&conv, x), &conv.weight, &conv.bias, input);
        };
        check(config.clone().with_bias(false), [3, 5, 8, 8]);
        // Not square, a bias, a 1×1 output.
        check(config.clone(), [2, 5, 4, 6]);
        check(config.clone(), [4, 5, 2, 2]);
        // Odd sides: burn's layer, exactly.
        let conv = config.init(&Device::flex());
        let x = Tensor::<4>::random([2, 5, 5, 7], Distribution::Normal(0.0, 1.0), &Device::flex());
        assert_eq!(max_difference(conv.forward(x.clone()), strided_conv(&conv, x)), 0.0);
    }
}
