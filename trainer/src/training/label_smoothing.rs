//! One-sided label smoothing (Salimans et al. 2016, the paper feature matching comes from): the
//! discriminator learns to score real images at a target below 1 (e.g. 0.9), fakes still at 0,
//! so it is never rewarded for certainty about the real crops. On a few hundred crops the
//! discriminator grows sure of them late in a run (mean D(x) 0.86 up to step 8,000, 0.90 from
//! step 11,000) while the face rate falls; this holds it back where the certainty comes from,
//! without LeCam's running averages. Turned on at step 8,000 of the default run it did (mean D(x)
//! 0.86 at 0.9, 0.76 at 0.8, against 0.88) but painted neither better nor more faces (README: the
//! recipe tables), so it is off by default.

use anyhow::{Result, bail};
use burn::tensor::Tensor;

/// The default target for real images: 1, no smoothing (the article).
pub const NO_SMOOTHING: f64 = 1.0;

/// Refuses a target the discriminator could not tell from the fakes' 0, naming the flag.
pub fn validate(target: f64) -> Result<()> {
    if !(target > 0.5 && target <= 1.0) {
        bail!("--real-label {target} is not a usable target for real images (expected a value above 0.5 and at most 1, e.g. 0.9; 1 turns smoothing off)");
    }
    Ok(())
}

/// The discriminator's targets for its scores of real images, `real_probability` ([batch, 1]).
pub fn real_targets(real_probability: &Tensor<2>, target: f64) -> Tensor<2> {
    real_probability.ones_like() * target
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn targets_are_the_label_and_bad_labels_name_the_flag() {
        let scores = Tensor::<2>::from_data(TensorData::new(vec![0.2f32, 0.7, 1.0], [3, 1]), &Device::flex());
        let targets: Vec<f32> = real_targets(&scores, 0.9).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(targets, vec![0.9f32; 3]);
        assert!(validate(NO_SMOOTHING).is_ok() && validate(0.9).is_ok());
        for bad in [0.5, 0.0, 1.1, f64::NAN] {
            let message = validate(bad).unwrap_err().to_string();
            assert!(message.contains("--real-label"), "{message}");
        }
    }
}
