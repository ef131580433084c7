//! Faults a test can inject into a run, to check what a user sees when training goes wrong.
//! Adam bounds each update, so even absurd learning rates rarely make a small run diverge on
//! its own; the divergence tests make it happen at a chosen step instead.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;

/// Turns every weight of `module` into NaN, as a diverged update would.
pub fn spoil<M: Module>(module: M) -> M {
    struct ToNan;
    impl ModuleMapper for ToNan {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|tensor| tensor.mul_scalar(f32::NAN))
        }
    }
    module.map(&mut ToNan)
}
