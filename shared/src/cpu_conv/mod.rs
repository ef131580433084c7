//! CPU kernels for the network's 4×4, stride-2, padding-1 convolutions (every discriminator
//! convolution and every generator layer but the first), forward and backward.
//!
//! burn's CPU backend (`flex`) runs these one image at a time, and their backward passes through
//! its generic fallback (one narrow matrix product per channel or per image). Here each of the
//! three products a layer needs folds the whole batch into one wide matrix product
//! ([`kernels`]), plugged into burn as a backend extension: a `flex` implementation and an
//! autodiff one whose backward calls the other two products.
//!
//! Only the CPU backend uses these (see [`applies`]); on a GPU the model keeps burn's layers.

mod kernels;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Device, Shape, Tensor, TensorData};
use burn_flex::FlexTensor;

use kernels::Geometry;

/// The three products of a 4×4, stride-2, padding-1 convolution between a large image
/// `[n, large_channels, 2h, 2w]` and a small one `[n, small_channels, h, w]`, with a kernel
/// `[small_channels, large_channels, 4, 4]`.
#[backend_extension(Flex, Autodiff)]
pub trait StrideTwoConvOps: Backend {
    /// The convolution, large → small (`Conv2d`'s weight layout).
    fn conv_down(large: FloatTensor<Self>, kernel: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The transposed convolution, small → large (`ConvTranspose2d`'s weight layout).
    fn conv_up(small: FloatTensor<Self>, kernel: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The kernel's gradient from the large image and the small one (one of them a gradient).
    fn conv_kernel_gradient(large: FloatTensor<Self>, small: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Whether [`conv_down`] and [`conv_up`] can run for a tensor on `device` with these sizes:
/// the CPU backend, 32-bit floats and even large-image sides.
pub fn applies(device: &Device, dtype: DType) -> bool {
    dtype == DType::F32 && device.clone().without_autodiff() == Device::flex()
}

/// `Conv2d` with a 4×4 kernel, stride 2, padding 1, no bias: `[n, c, 2h, 2w]` → `[n, o, h, w]`
/// with `kernel` `[o, c, 4, 4]`. Differentiable.
pub fn conv_down(large: Tensor<4>, kernel: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as StrideTwoConvOps>::conv_down(large.into_dispatch(), kernel.into_dispatch()))
}

/// `ConvTranspose2d` with a 4×4 kernel, stride 2, padding 1, no bias: `[n, c, h, w]` →
/// `[n, o, 2h, 2w]` with `kernel` `[c, o, 4, 4]`. Differentiable.
pub fn conv_up(small: Tensor<4>, kernel: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as StrideTwoConvOps>::conv_up(small.into_dispatch(), kernel.into_dispatch()))
}

fn geometry(large: &Shape, small: &Shape, kernel: &Shape) -> Geometry {
    let g = Geometry {
        batch: small[0],
        large_channels: large[1],
        small_channels: small[1],
        small_height: small[2],
        small_width: small[3],
    };
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
    g
}

/// The small image's shape for a large image and a kernel.
fn small_shape(large: &Shape, kernel: &Shape) -> Shape {
    assert!(large[2] % 2 == 0 && large[3] % 2 == 0, "stride-2 convolution of {large:?}: sides must be even");
    Shape::new([large[0], kernel[0], large[2] / 2, large[3] / 2])
}

fn large_shape(small: &Shape, kernel: &Shape) -> Shape {
    Shape::new([small[0], kernel[1], 2 * small[2], 2 * small[3]])
}

/// Runs `kernel` on the contiguous `f32` values of `a` and `b`, into a new tensor of `shape`.
fn on_values(
    a: FlexTensor,
    b: FlexTensor,
    shape: Shape,
    kernel: impl FnOnce(&[f32], &[f32]) -> Vec<f32>,
) -> FlexTensor {
    let (a, b) = (a.to_contiguous(), b.to_contiguous());
    let values = |t: &FlexTensor| -> Vec<f32> { t.as_slice::<f32>().expect("stride-2 convolution: f32 tensors only").to_vec() };
    let out = match (a.as_slice::<f32>(), b.as_slice::<f32>()) {
        (Some(a), Some(b)) => kernel(a, b),
        _ => kernel(&values(&a), &values(&b)),
    };
    FlexTensor::from_data(TensorData::new(out, shape))
}

impl StrideTwoConvOps for Flex {
    fn conv_down(large: FlexTensor, kernel: FlexTensor) -> FlexTensor {
        let small = small_shape(&large.shape(), &kernel.shape());
        let g = geometry(&large.shape(), &small, &kernel.shape());
        on_values(large, kernel, small, |large, kernel| kernels::down(large, kernel, g))
    }

    fn conv_up(small: FlexTensor, kernel: FlexTensor) -> FlexTensor {
        let large = large_shape(&small.shape(), &kernel.shape());
        let g = geometry(&large, &small.shape(), &kernel.shape());
        on_values(small, kernel, large, |small, kernel| kernels::up(small, kernel, g))
    }

    fn conv_kernel_gradient(large: FlexTensor, small: FlexTensor) -> FlexTensor {
        let kernel = Shape::new([small.shape()[1], large.shape()[1], 4, 4]);
        let g = geometry(&large.shape(), &small.shape(), &kernel);
        on_values(large, small, kernel, |large, small| kernels::kernel_gradient(large, small, g))
    }
}

/// Backward of [`StrideTwoConvOps::conv_down`]: image gradient through `conv_up`, kernel
/// gradient from the saved large image.
#[derive(Debug)]
struct Down;

impl<B: Backend + StrideTwoConvOps> Backward<B, 2> for Down {
    type State = (NodeId, NodeId);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [large_node, kernel_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (large, kernel) = ops.state;
        let large = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(large);
        let kernel = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(kernel);
        if let Some(node) = large_node {
            grads.register::<B>(node.id, B::conv_up(grad.clone(), kernel));
        }
        if let Some(node) = kernel_node {
            grads.register::<B>(node.id, B::conv_kernel_gradient(large, grad));
        }
    }
}

/// Backward of [`StrideTwoConvOps::conv_up`]: image gradient through `conv_down`, kernel
/// gradient from the saved small image.
#[derive(Debug)]
struct Up;

impl<B: Backend + StrideTwoConvOps> Backward<B, 2> for Up {
    type State = (NodeId, NodeId);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [small_node, kernel_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (small, kernel) = ops.state;
        let small = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(small);
        let kernel = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(kernel);
        if let Some(node) = small_node {
            grads.register::<B>(node.id, B::conv_down(grad.clone(), kernel));
        }
        if let Some(node) = kernel_node {
            grads.register::<B>(node.id, B::conv_kernel_gradient(grad, small));
        }
    }
}

impl<B: Backend + StrideTwoConvOps, C: CheckpointStrategy> StrideTwoConvOps for Autodiff<B, C> {
    fn conv_down(large: FloatTensor<Self>, kernel: FloatTensor<Self>) -> FloatTensor<Self> {
        match Down.prepare::<C>([large.node(), kernel.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&large), prep.checkpoint(&kernel));
                prep.finish(state, B::conv_down(large.into_primitive(), kernel.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_down(large.into_primitive(), kernel.into_primitive())),
        }
    }

    fn conv_up(small: FloatTensor<Self>, kernel: FloatTensor<Self>) -> FloatTensor<Self> {
        match Up.prepare::<C>([small.node(), kernel.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&small), prep.checkpoint(&kernel));
                prep.finish(state, B::conv_up(small.into_primitive(), kernel.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_up(small.into_primitive(), kernel.into_primitive())),
        }
    }

    /// Only ever called inside a backward pass, on plain tensors: second-order gradients of
    /// these layers are not supported.
    fn conv_kernel_gradient(large: FloatTensor<Self>, small: FloatTensor<Self>) -> FloatTensor<Self> {
        assert!(
            !large.is_tracked() && !small.is_tracked(),
            "the stride-2 convolution's kernel gradient is not differentiable"
        );
        FloatTensor::<Self>::new(B::conv_kernel_gradient(large.into_primitive(), small.into_primitive()))
    }
}
