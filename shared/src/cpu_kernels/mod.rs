//! CPU kernels for the layers that dominate the network's time on burn's CPU backend (`flex`):
//! the 4×4, stride-2, padding-1 convolutions (every discriminator convolution and every generator
//! layer but the first), training-mode BatchNorm, LeakyReLU (and ReLU) and tanh, forward and
//! backward; and the Adam optimiser's update.
//!
//! burn runs these convolutions one image at a time, their backward passes through its generic
//! fallback (one narrow matrix product per channel or per image), and BatchNorm, the
//! activations and Adam as chains of whole-tensor operations on one thread. Here each convolution product folds
//! the batch into wide matrix products ([`conv`]), the layers are one pass each way
//! ([`normalize`]) and Adam one pass per parameter ([`adam`]), spread over the cores. They plug
//! into burn as a backend extension: a `flex` implementation, and an autodiff one whose
//! backward passes call the other kernels.
//!
//! Only the CPU backend uses them (see [`applies`]); on a GPU the model keeps burn's layers.

mod adam;
mod conv;
mod machine;
mod normalize;

pub use adam::AdamStep;
pub use machine::{Machine, machine};

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::module::RunningState;
use burn::nn::BatchNorm;
use burn::tensor::{DType, Device, Shape, Tensor, TensorData};
use burn_flex::FlexTensor;
use std::mem::MaybeUninit;

use conv::Geometry;
use normalize::Planes;

/// The kernels, as backend operations.
///
/// Convolutions join a large image `[n, large_channels, 2h, 2w]` and a small one
/// `[n, small_channels, h, w]` through a kernel `[small_channels, large_channels, 4, 4]`.
#[backend_extension(Flex, Autodiff)]
pub trait CpuKernelOps: Backend {
    /// The convolution, large → small (`Conv2d`'s weight layout).
    fn conv_down(large: FloatTensor<Self>, kernel: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The transposed convolution, small → large (`ConvTranspose2d`'s weight layout).
    fn conv_up(small: FloatTensor<Self>, kernel: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The kernel's gradient from the large image and the small one (one of them a gradient).
    fn conv_kernel_gradient(large: FloatTensor<Self>, small: FloatTensor<Self>) -> FloatTensor<Self>;
    /// LeakyReLU (named apart from burn's own `leaky_relu`, as are the BatchNorm operations).
    fn cpu_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;
    /// LeakyReLU's input gradient.
    fn cpu_leaky_relu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;
    /// tanh (named apart from burn's own `tanh`).
    fn cpu_tanh(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// tanh's input gradient, from its output.
    fn cpu_tanh_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Training-mode BatchNorm: (output, batch mean, biased batch variance).
    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// Gradients of [`cpu_batch_norm_train`](Self::cpu_batch_norm_train): (input, gamma, beta).
    fn cpu_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// One Adam step: (parameter, first moment, second moment).
    fn cpu_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// Adam's first step, which has no moments yet.
    fn cpu_adam_first_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether the kernels run for a tensor of `dtype` on `device`: the CPU backend, 32-bit floats.
pub fn applies(device: &Device, dtype: DType) -> bool {
    dtype == DType::F32 && crate::convolutions::on_cpu_backend(device)
}

/// `Conv2d` with a 4×4 kernel, stride 2, padding 1, no bias: `[n, c, 2h, 2w]` → `[n, o, h, w]`
/// with `kernel` `[o, c, 4, 4]`. Differentiable.
pub fn conv_down(large: Tensor<4>, kernel: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuKernelOps>::conv_down(large.into_dispatch(), kernel.into_dispatch()))
}

/// `ConvTranspose2d` with a 4×4 kernel, stride 2, padding 1, no bias: `[n, c, h, w]` →
/// `[n, o, 2h, 2w]` with `kernel` `[c, o, 4, 4]`. Differentiable.
pub fn conv_up(small: Tensor<4>, kernel: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuKernelOps>::conv_up(small.into_dispatch(), kernel.into_dispatch()))
}

/// LeakyReLU with negative slope `slope`. Differentiable.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f32) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as CpuKernelOps>::cpu_leaky_relu(x.into_dispatch(), slope))
}

/// tanh. Differentiable.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as CpuKernelOps>::cpu_tanh(x.into_dispatch()))
}

/// `norm.forward(x)` in training mode (batch statistics; running statistics updated as burn's
/// `BatchNorm` does). Differentiable in `x`, γ and β.
pub fn batch_norm_train<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let (output, mean, variance) = <Dispatch as CpuKernelOps>::cpu_batch_norm_train(
        x.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        norm.beta.val().into_dispatch(),
        norm.epsilon,
    );
    let update = |state: &RunningState<Tensor<1>>, batch: Tensor<1>| {
        let running = state.value_sync().to_device(&batch.device());
        let updated = running.mul_scalar(1.0 - norm.momentum).add(batch.mul_scalar(norm.momentum));
        state.update(updated.detach());
    };
    update(&norm.running_mean, Tensor::from_dispatch(mean).detach());
    update(&norm.running_var, Tensor::from_dispatch(variance).detach());
    Tensor::from_dispatch(output)
}

/// Adam's update of one parameter (see [`adam`]): the parameter and its first and second
/// moments after the step, from the gradient and the moments before it (none on the first step).
pub fn adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<(Tensor<D>, Tensor<D>)>,
    step: AdamStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (param, grad) = (param.into_dispatch(), grad.into_dispatch());
    let (param, m1, m2) = match moments {
        Some((m1, m2)) => <Dispatch as CpuKernelOps>::cpu_adam_step(param, grad, m1.into_dispatch(), m2.into_dispatch(), step),
        None => <Dispatch as CpuKernelOps>::cpu_adam_first_step(param, grad, step),
    };
    (Tensor::from_dispatch(param), Tensor::from_dispatch(m1), Tensor::from_dispatch(m2))
}

fn geometry(large: &Shape, small: &Shape, kernel: &Shape) -> Geometry {
    assert!(
        large[0] == small[0] && large[2] == 2 * small[2] && large[3] == 2 * small[3],
        "stride-2 convolution between {large:?} and {small:?}: the large image must be twice the small one's size"
    );
    assert!(
        kernel.dims::<4>() == [small[1], large[1], 4, 4],
        "stride-2 convolution between {large:?} and {small:?}: kernel {kernel:?} is not [{}, {}, 4, 4]",
        small[1],
        large[1]
    );
    Geometry {
        batch: small[0],
        large_channels: large[1],
        small_channels: small[1],
        small_height: small[2],
        small_width: small[3],
    }
}

/// The small image's shape for a large image and a kernel.
fn small_shape(large: &Shape, kernel: &Shape) -> Shape {
    assert!(large[2] % 2 == 0 && large[3] % 2 == 0, "stride-2 convolution of {large:?}: sides must be even");
    Shape::new([large[0], kernel[0], large[2] / 2, large[3] / 2])
}

fn large_shape(small: &Shape, kernel: &Shape) -> Shape {
    Shape::new([small[0], kernel[1], 2 * small[2], 2 * small[3]])
}

fn planes(x: &Shape) -> Planes {
    Planes { batch: x[0], channels: x[1], pixels: x.num_elements() / (x[0] * x[1]).max(1) }
}

/// Runs `kernel` on the contiguous `f32` values of `inputs`.
fn with_values<const N: usize, R>(inputs: [&FlexTensor; N], kernel: impl FnOnce([&[f32]; N]) -> R) -> R {
    let inputs = inputs.map(|t| t.to_contiguous());
    let slices = inputs.each_ref().map(|t| t.as_slice::<f32>().expect("CPU kernels: f32 tensors only"));
    kernel(slices)
}

/// Values per parallel task of the element-wise kernels (the activations, Adam).
const SPAN: usize = 1 << 14;

/// `len` values that `write` fills (on any threads) before they are read. The kernels' outputs
/// and work buffers are each written once, so zeroing them first would be wasted: a pass over
/// memory on the calling thread, while the other cores wait. In the kernels' own tests the
/// memory starts as NaN, so that a value left unwritten shows in their comparisons.
///
/// # Safety
/// `write` must write every one of the `len` values.
unsafe fn written(len: usize, write: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    let memory = &mut values.spare_capacity_mut()[..len];
    #[cfg(test)]
    memory.fill(MaybeUninit::new(f32::NAN));
    write(memory);
    // SAFETY: the caller's `write` has written all `len` values.
    unsafe { values.set_len(len) };
    values
}

/// `t` as a tensor that is its values' only owner, contiguous from their start, so a kernel may
/// update it in place (a copy where it shares them or is a view).
fn owned(t: FlexTensor) -> FlexTensor {
    let whole = t.layout().contiguous_offsets() == Some((0, t.shape().num_elements()));
    if t.is_unique() && whole {
        return t;
    }
    let shape = t.shape();
    with_values([&t], |[values]| tensor(values.to_vec(), shape))
}

/// The values of an [`owned`] tensor.
fn values_mut(t: &mut FlexTensor) -> &mut [f32] {
    let len = t.shape().num_elements();
    &mut t.storage_mut::<f32>()[..len]
}

fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl CpuKernelOps for Flex {
    fn conv_down(large: FlexTensor, kernel: FlexTensor) -> FlexTensor {
        let small = small_shape(&large.shape(), &kernel.shape());
        let g = geometry(&large.shape(), &small, &kernel.shape());
        tensor(with_values([&large, &kernel], |[large, kernel]| conv::down(large, kernel, g)), small)
    }

    fn conv_up(small: FlexTensor, kernel: FlexTensor) -> FlexTensor {
        let large = large_shape(&small.shape(), &kernel.shape());
        let g = geometry(&large, &small.shape(), &kernel.shape());
        tensor(with_values([&small, &kernel], |[small, kernel]| conv::up(small, kernel, g)), large)
    }

    fn conv_kernel_gradient(large: FlexTensor, small: FlexTensor) -> FlexTensor {
        let kernel = Shape::new([small.shape()[1], large.shape()[1], 4, 4]);
        let g = geometry(&large.shape(), &small.shape(), &kernel);
        tensor(with_values([&large, &small], |[large, small]| conv::kernel_gradient(large, small, g)), kernel)
    }

    fn cpu_leaky_relu(x: FlexTensor, slope: f32) -> FlexTensor {
        tensor(with_values([&x], |[x]| normalize::leaky_relu(x, slope)), x.shape())
    }

    fn cpu_leaky_relu_backward(x: FlexTensor, grad: FlexTensor, slope: f32) -> FlexTensor {
        tensor(with_values([&x, &grad], |[x, grad]| normalize::leaky_relu_backward(x, grad, slope)), x.shape())
    }

    fn cpu_tanh(x: FlexTensor) -> FlexTensor {
        tensor(with_values([&x], |[x]| normalize::tanh(x)), x.shape())
    }

    fn cpu_tanh_backward(y: FlexTensor, grad: FlexTensor) -> FlexTensor {
        tensor(with_values([&y, &grad], |[y, grad]| normalize::tanh_backward(y, grad)), y.shape())
    }

    fn cpu_batch_norm_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f64) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (shape, channels) = (x.shape(), Shape::new([x.shape()[1]]));
        let p = planes(&shape);
        let out = with_values([&x, &gamma, &beta], |[x, gamma, beta]| normalize::batch_norm_train(x, gamma, beta, epsilon, p));
        (tensor(out.output, shape), tensor(out.mean, channels.clone()), tensor(out.variance, channels))
    }

    fn cpu_batch_norm_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        grad: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (shape, channels) = (x.shape(), Shape::new([x.shape()[1]]));
        let p = planes(&shape);
        let grads = with_values([&x, &gamma, &mean, &variance, &grad], |[x, gamma, mean, variance, grad]| {
            normalize::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad, p)
        });
        (tensor(grads.x, shape), tensor(grads.gamma, channels.clone()), tensor(grads.beta, channels))
    }

    fn cpu_adam_step(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        step: AdamStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut param, mut m1, mut m2) = (owned(param), owned(moment_1), owned(moment_2));
        with_values([&grad], |[grad]| adam::adam_step(values_mut(&mut param), grad, values_mut(&mut m1), values_mut(&mut m2), step));
        (param, m1, m2)
    }

    fn cpu_adam_first_step(param: FlexTensor, grad: FlexTensor, step: AdamStep) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (shape, mut param) = (param.shape(), owned(param));
        let (m1, m2) = with_values([&grad], |[grad]| adam::adam_first_step(values_mut(&mut param), grad, step));
        (param, tensor(m1, shape.clone()), tensor(m2, shape))
    }
}

/// Backward of both convolution directions: each direction's input gradient is the other
/// direction, and both share the kernel gradient (large image first).
#[derive(Debug)]
struct ConvBackward {
    /// Whether the forward was [`CpuKernelOps::conv_up`] (else `conv_down`).
    transposed: bool,
}

impl<B: Backend + CpuKernelOps> Backward<B, 2> for ConvBackward {
    type State = (NodeId, NodeId);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [input_node, kernel_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (input, kernel) = ops.state;
        let input = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(input);
        let kernel = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(kernel);
        if let Some(node) = input_node {
            let input_grad = match self.transposed {
                true => B::conv_down(grad.clone(), kernel),
                false => B::conv_up(grad.clone(), kernel),
            };
            grads.register::<B>(node.id, input_grad);
        }
        if let Some(node) = kernel_node {
            let kernel_grad = match self.transposed {
                true => B::conv_kernel_gradient(grad, input),
                false => B::conv_kernel_gradient(input, grad),
            };
            grads.register::<B>(node.id, kernel_grad);
        }
    }
}

/// `conv_down` or (`transposed`) `conv_up` with autodiff: the input and kernel are saved for the
/// backward pass when either is tracked.
fn tracked_conv<B: Backend + CpuKernelOps, C: CheckpointStrategy>(
    input: FloatTensor<Autodiff<B, C>>,
    kernel: FloatTensor<Autodiff<B, C>>,
    transposed: bool,
) -> FloatTensor<Autodiff<B, C>> {
    let forward = |input, kernel| match transposed {
        true => B::conv_up(input, kernel),
        false => B::conv_down(input, kernel),
    };
    match (ConvBackward { transposed }).prepare::<C>([input.node(), kernel.node()]).compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let state = (prep.checkpoint(&input), prep.checkpoint(&kernel));
            prep.finish(state, forward(input.into_primitive(), kernel.into_primitive()))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(input.into_primitive(), kernel.into_primitive())),
    }
}

/// Backward of [`CpuKernelOps::cpu_leaky_relu`], from the saved input.
#[derive(Debug)]
struct LeakyRelu;

impl<B: Backend + CpuKernelOps> Backward<B, 1> for LeakyRelu {
    type State = (NodeId, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [x_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, slope) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x);
        if let Some(node) = x_node {
            grads.register::<B>(node.id, B::cpu_leaky_relu_backward(x, grad, slope));
        }
    }
}

/// Backward of [`CpuKernelOps::cpu_tanh`], from the saved output.
#[derive(Debug)]
struct Tanh;

impl<B: Backend + CpuKernelOps> Backward<B, 1> for Tanh {
    type State = B::FloatTensorPrimitive;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [x_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = x_node {
            grads.register::<B>(node.id, B::cpu_tanh_backward(ops.state, grad));
        }
    }
}

/// Backward of [`CpuKernelOps::cpu_batch_norm_train`], from the saved input and batch statistics.
#[derive(Debug)]
struct BatchNormTrain;

impl<B: Backend + CpuKernelOps> Backward<B, 3> for BatchNormTrain {
    type State = (NodeId, NodeId, B::FloatTensorPrimitive, B::FloatTensorPrimitive, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [x_node, gamma_node, beta_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, mean, variance, epsilon) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x);
        let gamma = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma);
        let (x_grad, gamma_grad, beta_grad) = B::cpu_batch_norm_backward(x, gamma, mean, variance, epsilon, grad);
        for (node, grad) in [(x_node, x_grad), (gamma_node, gamma_grad), (beta_node, beta_grad)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

/// Panics on a tracked input: the backward-only kernels are not themselves differentiable.
fn untracked<B: Backend>(inputs: &[&FloatTensor<Autodiff<B>>], what: &str) {
    assert!(inputs.iter().all(|t| !t.is_tracked()), "{what} is not differentiable (no second-order gradients)");
}

impl<B: Backend + CpuKernelOps, C: CheckpointStrategy> CpuKernelOps for Autodiff<B, C> {
    fn conv_down(large: FloatTensor<Self>, kernel: FloatTensor<Self>) -> FloatTensor<Self> {
        tracked_conv::<B, C>(large, kernel, false)
    }

    fn conv_up(small: FloatTensor<Self>, kernel: FloatTensor<Self>) -> FloatTensor<Self> {
        tracked_conv::<B, C>(small, kernel, true)
    }

    fn conv_kernel_gradient(large: FloatTensor<Self>, small: FloatTensor<Self>) -> FloatTensor<Self> {
        untracked::<B>(&[&large, &small], "the convolution's kernel gradient");
        FloatTensor::<Self>::new(B::conv_kernel_gradient(large.into_primitive(), small.into_primitive()))
    }

    fn cpu_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self> {
        match LeakyRelu.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), slope);
                prep.finish(state, B::cpu_leaky_relu(x.into_primitive(), slope))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_leaky_relu(x.into_primitive(), slope)),
        }
    }

    fn cpu_leaky_relu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, slope: f32) -> FloatTensor<Self> {
        untracked::<B>(&[&x, &grad], "LeakyReLU's gradient");
        FloatTensor::<Self>::new(B::cpu_leaky_relu_backward(x.into_primitive(), grad.into_primitive(), slope))
    }

    fn cpu_tanh(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match Tanh.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::cpu_tanh(x.into_primitive());
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_tanh(x.into_primitive())),
        }
    }

    fn cpu_tanh_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        untracked::<B>(&[&y, &grad], "tanh's gradient");
        FloatTensor::<Self>::new(B::cpu_tanh_backward(y.into_primitive(), grad.into_primitive()))
    }

    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        match BatchNormTrain.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let (x_state, gamma_state) = (prep.checkpoint(&x), prep.checkpoint(&gamma));
                let (output, mean, variance) =
                    B::cpu_batch_norm_train(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), epsilon);
                let state = (x_state, gamma_state, mean.clone(), variance.clone(), epsilon);
                (prep.finish(state, output), FloatTensor::<Self>::new(mean), FloatTensor::<Self>::new(variance))
            }
            OpsKind::UnTracked(prep) => {
                let (output, mean, variance) =
                    B::cpu_batch_norm_train(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), epsilon);
                (prep.finish(output), FloatTensor::<Self>::new(mean), FloatTensor::<Self>::new(variance))
            }
        }
    }

    fn cpu_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        untracked::<B>(&[&x, &gamma, &grad], "BatchNorm's gradient");
        let (x, gamma, beta) = B::cpu_batch_norm_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            mean.into_primitive(),
            variance.into_primitive(),
            epsilon,
            grad.into_primitive(),
        );
        (FloatTensor::<Self>::new(x), FloatTensor::<Self>::new(gamma), FloatTensor::<Self>::new(beta))
    }

    fn cpu_adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        untracked::<B>(&[&param, &grad, &moment_1, &moment_2], "Adam's step");
        let (param, m1, m2) =
            B::cpu_adam_step(param.into_primitive(), grad.into_primitive(), moment_1.into_primitive(), moment_2.into_primitive(), step);
        (FloatTensor::<Self>::new(param), FloatTensor::<Self>::new(m1), FloatTensor::<Self>::new(m2))
    }

    fn cpu_adam_first_step(param: FloatTensor<Self>, grad: FloatTensor<Self>, step: AdamStep) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        untracked::<B>(&[&param, &grad], "Adam's step");
        let (param, m1, m2) = B::cpu_adam_first_step(param.into_primitive(), grad.into_primitive(), step);
        (FloatTensor::<Self>::new(param), FloatTensor::<Self>::new(m1), FloatTensor::<Self>::new(m2))
    }
}
