//! The optimiser of both networks: Adam as the seed configured it (β₁ 0.5, β₂ 0.99 and
//! PyTorch's ε 1e-8, not burn's default 1e-5). On the CPU backend each parameter's update is one
//! pass spread over the cores (`cpu_kernels::adam_step`) instead of burn's dozen whole-tensor
//! operations on one thread; elsewhere it is burn's `Adam` itself. The arithmetic is the same
//! operation for operation, and so is the state (burn's `AdamState`), so checkpoints resume
//! either way.

use atelier_shared::cpu_kernels::{self, AdamStep};
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};

const BETA_1: f32 = 0.5;
const BETA_2: f32 = 0.99;
const EPSILON: f32 = 1e-8;

/// A fresh optimiser for one network.
pub fn adam() -> ModuleOptimizer {
    ModuleOptimizer::from(ParallelAdam { burn: burns_adam() })
}

fn burns_adam() -> Adam {
    AdamConfig::new().with_beta_1(BETA_1).with_beta_2(BETA_2).with_epsilon(EPSILON).build()
}

#[derive(Clone)]
struct ParallelAdam {
    /// For tensors the CPU kernel does not take (on a GPU, or not 32-bit floats).
    burn: Adam,
}

impl Optimizer for ParallelAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        if !cpu_kernels::applies(&tensor.device(), tensor.dtype()) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (time, moments) = match state {
            Some(AdamState { momentum }) => (momentum.time + 1, Some((momentum.moment_1, momentum.moment_2))),
            None => (1, None),
        };
        let (tensor, moment_1, moment_2) = cpu_kernels::adam_step(tensor, grad, moments, AdamStep::new(BETA_1, BETA_2, EPSILON, time, lr));
        (tensor, Some(AdamState::new(AdaptiveMomentumState::new(time, moment_1, moment_2))))
    }

    fn to_device<const D: usize>(state: AdamState<D>, device: &Device) -> AdamState<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;

    fn burn_optimizer() -> ModuleOptimizer {
        ModuleOptimizer::from(burns_adam())
    }

    /// `steps` optimiser steps on a small layer, with inputs that change from step to step.
    fn train(mut layer: Linear, optimizer: &mut ModuleOptimizer, steps: usize, device: &Device) -> Linear {
        for step in 0..steps {
            let x: Vec<f32> = (0..16 * 40).map(|i| ((i * 37 + step * 11) as f32 * 0.01).sin()).collect();
            let x = Tensor::<2>::from_data(burn::tensor::TensorData::new(x, [16, 40]), device);
            let loss = layer.forward(x).powf_scalar(2.0).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optimizer.step(2e-3, layer, grads);
        }
        layer
    }

    fn values(layer: &Linear) -> Vec<f32> {
        let mut values = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        values.extend(layer.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap());
        values
    }

    fn layer(device: &Device) -> Linear {
        LinearConfig::new(40, 70).init(device)
    }

    /// The kernel's updates are burn's, value for value, over several steps (the first one too).
    #[test]
    fn the_parallel_update_is_burns() {
        let device = Device::flex().autodiff();
        assert!(cpu_kernels::applies(&Device::flex(), burn::tensor::DType::F32), "the kernel under test would be skipped");
        let start = layer(&device);
        let ours = train(start.clone(), &mut adam(), 4, &device);
        let reference = train(start.clone(), &mut burn_optimizer(), 4, &device);
        assert_ne!(values(&ours), values(&start), "the parameters did not move");
        assert_eq!(values(&ours), values(&reference));
    }

    /// A checkpoint of burn's optimiser resumes with this one (its state is read back, not
    /// started afresh), and the other way round.
    #[test]
    fn checkpoints_resume_across_the_two() {
        let device = Device::flex().autodiff();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("optimizer.bpk");
        let mut burns = burn_optimizer();
        let halfway = train(layer(&device), &mut burns, 3, &device);
        burns.save(&path).unwrap();
        let reference = train(halfway.clone(), &mut burns, 2, &device);
        let mut ours = adam().load(&path).unwrap();
        let resumed = train(halfway.clone(), &mut ours, 2, &device);
        assert_eq!(values(&resumed), values(&reference));
        assert_ne!(values(&train(halfway, &mut adam(), 2, &device)), values(&reference), "the state made no difference");

        ours.save(&path).unwrap();
        let mut back = burn_optimizer().load(&path).unwrap();
        assert_eq!(values(&train(resumed.clone(), &mut back, 1, &device)), values(&train(resumed, &mut ours, 1, &device)));
    }
}
