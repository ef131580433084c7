//! Weights that are numbers. A run that diverged saves NaN or infinite values, which load
//! without complaint and paint nothing; every place that reads or writes weights asks
//! [`check_finite`] first, so such a file is refused with the tensor it is in.

use burn::module::Module;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleSnapshot, bridge};
use std::fmt;

/// Where a module's values stop being numbers: the first tensor with NaN or infinite values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotFinite {
    /// The tensor's path in the module, e.g. `blocks.0.conv.weight`.
    pub tensor: String,
    /// How many of its values are NaN or infinite.
    pub bad: usize,
    /// How many values it has.
    pub values: usize,
    /// How many tensors of the module have such values (this one included).
    pub tensors: usize,
}

impl fmt::Display for NotFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tensor `{}` has {} of its {} values NaN or infinite", self.tensor, self.bad, self.values)?;
        if self.tensors > 1 {
            write!(f, " ({} tensors have such values)", self.tensors)?;
        }
        Ok(())
    }
}

impl std::error::Error for NotFinite {}

/// Every float tensor of `module` (parameters and BatchNorm's running statistics) checked for
/// NaN and infinities; the first tensor that has any, if one does. This reads the values back
/// synchronously: in a browser, check a file's tensors with [`check_finite_tensors`] instead.
pub fn check_finite<M: Module>(module: &M) -> Result<(), NotFinite> {
    check_finite_tensors(&module.collect(None, None, false))
}

/// [`check_finite`] for tensors as a weights file or a module's snapshot holds them.
pub fn check_finite_tensors(tensors: &[PackTensor]) -> Result<(), NotFinite> {
    let mut first: Option<NotFinite> = None;
    let mut affected = 0;
    for tensor in tensors.iter().filter(|t| t.dtype.is_float()) {
        // A tensor whose bytes cannot be read back is left to the loader's own checks.
        let Ok(data) = bridge::to_data(tensor) else { continue };
        let Ok(values) = data.convert::<f32>().try_to_vec::<f32>() else { continue };
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            affected += 1;
            first.get_or_insert(NotFinite { tensor: tensor.name.clone(), bad, values: values.len(), tensors: 0 });
        }
    }
    match first {
        Some(not_finite) => Err(NotFinite { tensors: affected, ..not_finite }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GeneratorConfig;
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::{Device, Tensor, TensorData};

    /// Sets the first `count` values of every tensor to `value`.
    struct Spoil {
        count: usize,
        value: f32,
    }

    impl ModuleMapper for Spoil {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (count, value) = (self.count, self.value);
            param.map(|tensor| {
                let (shape, device) = (tensor.shape(), tensor.device());
                let mut values = tensor.into_data().try_to_vec::<f32>().unwrap();
                values.iter_mut().take(count).for_each(|v| *v = value);
                Tensor::from_data(TensorData::new(values, shape), &device)
            })
        }
    }

    #[test]
    fn fresh_weights_are_finite_and_spoiled_ones_name_their_tensor() {
        let device = Device::flex();
        let generator = GeneratorConfig::new(4).init(&device);
        assert_eq!(check_finite(&generator), Ok(()));
        for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let spoiled = generator.clone().map(&mut Spoil { count: 3, value });
            let error = check_finite(&spoiled).unwrap_err();
            assert_eq!(error.bad, 3, "{value}: {error}");
            assert!(error.values > 3 && error.tensors > 1, "{error}");
            assert!(error.to_string().contains(&format!("`{}`", error.tensor)), "{error}");
        }
    }
}
