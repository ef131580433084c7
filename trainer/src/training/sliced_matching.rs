//! Sliced feature matching (after Deshpande et al. 2018, "Generative Modeling using the Sliced
//! Wasserstein Distance"): a term for the generator's loss that matches the fakes' discriminator
//! features to the real batch's as whole distributions, not only by their means.
//!
//! Feature matching compares batch means, so a batch may hold a few melted faces as long as the
//! others make up for them on average. Here both batches' features are projected on random unit
//! directions; along each, the fakes' sorted values are pulled towards the reals' sorted values,
//! so each fake answers for its own place in the real distribution.
//!
//! On the 536 painting crops, turned on from step 5,504 to step 8,000 at weights 1 and 5, it did
//! not beat feature matching alone (README: the recipe tables), so it is off by default.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::RngCore;

/// Random directions per step: enough to cover a few hundred features' main axes at a cost that
/// is small beside the discriminator's passes.
pub const DIRECTIONS: usize = 128;

/// `count` random unit directions in a `features`-dimensional space, as the columns of a
/// `[features, count]` matrix.
pub fn random_directions(rng: &mut impl RngCore, features: usize, count: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0f32; features * count];
    atelier_shared::latent::fill_normal(rng, &mut values);
    for column in 0..count {
        let norm = (0..features).map(|row| values[row * count + column].powi(2)).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        for row in 0..features {
            values[row * count + column] /= norm;
        }
    }
    Tensor::from_data(TensorData::new(values, [features, count]), device)
}

/// The mean squared gap between the fakes' and the reals' sorted projections on `directions`
/// (`[batch, features]` each, `[features, count]`): a sliced Wasserstein-2 distance. When the
/// batches differ in size (`--top-k` keeps fewer fakes), each sorted fake meets the real at its
/// own quantile. The gradient flows to the fakes only.
pub fn sliced_matching_loss(fake_features: Tensor<2>, real_features: Tensor<2>, directions: Tensor<2>) -> Tensor<1> {
    let fake = fake_features.matmul(directions.clone());
    let real = real_features.detach().matmul(directions).sort(0);
    let [fakes, count] = fake.dims();
    let reals = real.dims()[0];
    // Sorting by the detached values leaves the gradient to the gather, which every backend has.
    let (_, order) = fake.clone().detach().sort_with_indices(0);
    let fake = fake.gather(0, order);
    let real = if reals == fakes {
        real
    } else {
        let quantiles: Vec<i64> = (0..fakes).map(|i| (((2 * i + 1) * reals) / (2 * fakes)) as i64).collect();
        real.select(0, Tensor::<1, Int>::from_data(TensorData::new(quantiles, [fakes]), &fake.device()))
    };
    let gap = fake - real;
    (gap.clone() * gap).sum() / (fakes * count) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn matrix(rows: usize, cols: usize, values: &[f32], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values.to_vec(), [rows, cols]), device)
    }

    #[test]
    fn directions_are_unit_columns_and_follow_the_rng() {
        let device = Device::flex();
        let draw = |seed| random_directions(&mut ChaCha8Rng::seed_from_u64(seed), 5, 3, &device);
        let a = draw(1);
        let norms: Vec<f32> = (a.clone() * a.clone()).sum_dim(0).into_data().try_to_vec::<f32>().unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
        assert_eq!(a.clone().into_data(), draw(1).into_data());
        assert_ne!(a.into_data(), draw(2).into_data());
    }

    /// Batches with the same means: feature matching sees nothing, sliced matching sees the
    /// spread; the same rows in another order cost nothing.
    #[test]
    fn sliced_matching_sees_more_than_the_means() {
        let device = Device::flex();
        let directions = random_directions(&mut ChaCha8Rng::seed_from_u64(3), 2, DIRECTIONS, &device);
        let real = matrix(4, 2, &[0.0, 0.0, 2.0, 2.0, 0.0, 2.0, 2.0, 0.0], &device);
        let shuffled = matrix(4, 2, &[2.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0], &device);
        let collapsed = matrix(4, 2, &[1.0; 8], &device);
        let same: f32 = sliced_matching_loss(shuffled, real.clone(), directions.clone()).into_scalar();
        assert!(same.abs() < 1e-6, "{same}");
        let mean_only: f32 = super::super::step::feature_matching_loss(collapsed.clone(), real.clone()).into_scalar();
        assert_eq!(mean_only, 0.0);
        // Every projection of the real rows spreads around the collapsed batch's single value.
        let spread: f32 = sliced_matching_loss(collapsed, real, directions).into_scalar();
        assert!(spread > 0.3, "{spread}");
    }

    /// One direction, worked by hand: sorted fakes [0, 1] against sorted reals [1, 3] → gaps 1 and
    /// 2, mean square 2.5. Two fakes against four reals meet the reals at their own quantiles:
    /// positions 1 and 3 of the sorted reals [0, 10, 20, 30].
    #[test]
    fn sorted_projections_meet_in_order_and_at_quantiles() {
        let device = Device::flex();
        let one = matrix(1, 1, &[1.0], &device);
        let loss: f32 = sliced_matching_loss(matrix(2, 1, &[1.0, 0.0], &device), matrix(2, 1, &[3.0, 1.0], &device), one.clone()).into_scalar();
        assert!((loss - 2.5).abs() < 1e-6, "{loss}");
        let reals = matrix(4, 1, &[30.0, 0.0, 20.0, 10.0], &device);
        let loss: f32 = sliced_matching_loss(matrix(2, 1, &[30.0, 10.0], &device), reals, one).into_scalar();
        assert!(loss.abs() < 1e-6, "{loss}");
    }

    /// The gradient moves each fake towards its own partner in the real batch.
    #[test]
    fn the_gradient_pulls_each_fake_towards_its_partner() {
        let device = Device::flex().autodiff();
        let fake = matrix(2, 1, &[0.0, 5.0], &device).require_grad();
        let real = matrix(2, 1, &[4.0, 1.0], &device);
        let loss = sliced_matching_loss(fake.clone(), real, matrix(1, 1, &[1.0], &device));
        let grads = loss.backward();
        let gradient: Vec<f32> = fake.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        // 0 pairs with 1 (pulled up: negative gradient), 5 with 4 (pulled down).
        assert!(gradient[0] < 0.0 && gradient[1] > 0.0, "{gradient:?}");
        assert!((gradient[0] + 1.0).abs() < 1e-5 && (gradient[1] - 1.0).abs() < 1e-5, "{gradient:?}");
    }
}
