//! The discriminator's stride-2 convolutions: burn's `Conv2d::forward`, or on the CPU backend the
//! batch-wide kernels of [`cpu_kernels`](crate::cpu_kernels) (native builds with the `cpu-kernels`
//! feature). Same weights, and the same results up to float rounding.

use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

/// `conv.forward(x)`, computed the fastest way for `x`'s device.
pub fn strided_conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "cpu-kernels")]
    {
        let [_, _, height, width] = x.dims();
        let even = height % 2 == 0 && width % 2 == 0;
        if even && fits_cpu_kernels(conv) && crate::cpu_kernels::applies(&x.device(), x.dtype()) {
            let y = crate::cpu_kernels::conv_down(x, conv.weight.val());
            return match &conv.bias {
                Some(bias) => {
                    let channels = y.dims()[1];
                    y + bias.val().reshape([1, channels, 1, 1])
                }
                None => y,
            };
        }
    }
    conv.forward(x)
}

/// 4×4 kernel, stride 2, padding 1 on every side, nothing else.
#[cfg(feature = "cpu-kernels")]
fn fits_cpu_kernels(conv: &Conv2d) -> bool {
    use burn::nn::PaddingConfig2d;
    conv.stride == [2, 2]
        && conv.kernel_size == [4, 4]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && conv.padding == PaddingConfig2d::Explicit(1, 1, 1, 1)
}

#[cfg(all(test, feature = "cpu-kernels"))]
mod tests {
    use super::*;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution};

    fn max_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b).abs().max().into_scalar()
    }

    /// Output and all gradients (input, weight, bias) agree with burn's own layer.
    fn check(config: Conv2dConfig, input: [usize; 4]) {
        let device = Device::flex().autodiff();
        let conv = config.init(&device);
        assert!(fits_cpu_kernels(&conv), "the kernels under test would be skipped");
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let reference = conv.forward(x.clone());
        let ours = strided_conv(&conv, x.clone());
        let probe = Tensor::<4>::random(reference.dims(), Distribution::Normal(0.0, 1.0), &device);
        let grads_reference = (reference.clone() * probe.clone()).sum().backward();
        let grads_ours = (ours.clone() * probe).sum().backward();

        let dy = max_difference(reference.inner(), ours.inner());
        assert!(dy < 1e-4, "outputs differ by {dy}");
        let dx = max_difference(x.grad(&grads_reference).unwrap(), x.grad(&grads_ours).unwrap());
        assert!(dx < 1e-4, "input gradients differ by {dx}");
        let weight = &conv.weight;
        let dw = max_difference(weight.grad(&grads_reference).unwrap(), weight.grad(&grads_ours).unwrap());
        assert!(dw < 1e-3, "weight gradients differ by {dw}");
        if let Some(bias) = &conv.bias {
            let db: f32 = (bias.grad(&grads_reference).unwrap() - bias.grad(&grads_ours).unwrap()).abs().max().into_scalar();
            assert!(db < 1e-3, "bias gradients differ by {db}");
        }
    }

    #[test]
    fn cpu_kernels_match_burn() {
        let config = Conv2dConfig::new([5, 7], [4, 4]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
        check(config.clone().with_bias(false), [3, 5, 8, 8]);
        // Not square, a bias, a 1×1 output.
        check(config.clone(), [2, 5, 4, 6]);
        check(config.clone(), [4, 5, 2, 2]);
        // Odd sides: burn's layer.
        check_falls_back_to_burn(config, [2, 5, 5, 7]);
    }

    fn check_falls_back_to_burn(config: Conv2dConfig, input: [usize; 4]) {
        let device = Device::flex();
        let conv = config.init(&device);
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(max_difference(conv.forward(x.clone()), strided_conv(&conv, x)), 0.0);
    }
}
