//! Top-k training (Sinha et al. 2020, "Top-k Training of GANs"): the generator learns only from
//! the fakes in its batch that the discriminator finds most real. The paper's argument: the worst
//! fakes' gradients point towards wherever the discriminator is least sure, not towards the
//! images; leaving them out lets the generator refine what already looks real. On the 536
//! painting crops it did not beat learning from every fake (README: the recipe tables), so it is
//! off by default.

use anyhow::{Result, bail};
use burn::tensor::Tensor;

/// The default share of fakes the generator learns from: all of them (the article).
pub const ALL_FAKES: f64 = 1.0;

/// Refuses a share of the batch that keeps no fake or more than all of them, naming the flag.
pub fn validate(share: f64) -> Result<()> {
    if !(share > 0.0 && share <= 1.0) {
        bail!("--top-k {share} is not a usable share of the batch (expected a value above 0 and at most 1, e.g. 0.5; 1 keeps every fake)");
    }
    Ok(())
}

/// How many of `batch` fakes a `share` keeps: at least one.
pub fn kept(batch: usize, share: f64) -> usize {
    ((batch as f64 * share).round() as usize).clamp(1, batch)
}

/// The rows of `features` and of `real_probability` ([batch, 1]) for the fakes the discriminator
/// scores highest, `share` of the batch; both unchanged when the share keeps every fake.
pub fn best_fakes(features: Tensor<2>, real_probability: Tensor<2>, share: f64) -> (Tensor<2>, Tensor<2>) {
    let [batch, _] = real_probability.dims();
    let keep = kept(batch, share);
    if keep == batch {
        return (features, real_probability);
    }
    // The choice itself is not differentiated: only the kept fakes' losses reach the generator.
    let order = real_probability.clone().detach().reshape([batch]).argsort_descending(0);
    let best = order.slice(0..keep);
    (features.select(0, best.clone()), real_probability.select(0, best))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn the_kept_count_rounds_and_never_empties_the_batch() {
        assert_eq!(kept(64, 0.5), 32);
        assert_eq!(kept(64, 0.75), 48);
        assert_eq!(kept(4, 0.01), 1);
        assert_eq!(kept(64, ALL_FAKES), 64);
        assert!(validate(0.5).is_ok() && validate(1.0).is_ok());
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            let error = validate(bad).unwrap_err().to_string();
            assert!(error.contains("--top-k"), "{error}");
        }
    }

    /// The rows kept are those with the highest probabilities, features and scores alike.
    #[test]
    fn the_best_judged_fakes_are_kept() {
        let device = Device::flex();
        let features = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], [4, 2]), &device);
        let probability = Tensor::<2>::from_data(TensorData::new(vec![0.1f32, 0.9, 0.3, 0.7], [4, 1]), &device);
        let (kept_features, kept_probability) = best_fakes(features.clone(), probability.clone(), 0.5);
        assert_eq!(kept_probability.into_data().try_to_vec::<f32>().unwrap(), vec![0.9, 0.7]);
        assert_eq!(kept_features.into_data().try_to_vec::<f32>().unwrap(), vec![1.0, 1.5, 3.0, 3.5]);
        let (all_features, _) = best_fakes(features.clone(), probability, ALL_FAKES);
        assert_eq!(all_features.into_data(), features.into_data());
    }
}
