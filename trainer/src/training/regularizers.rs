//! What the losses may add for a few hundred paintings, each weighed by its own option (0: off):
//!
//! - **LeCam** (Tseng et al. 2021): the discriminator's outputs on real images are pulled towards
//!   the running average of its outputs on fakes, and those on fakes towards the running average
//!   on reals, so that it cannot drift into certainty about a small set it has memorised.
//! - **Consistency** (bCR, Zhao et al. 2021): the discriminator should judge an image the same
//!   with and without DiffAugment's changes, real and fake alike.
//! - **Reconstruction** (FastGAN, Liu et al. 2021): a [decoder](super::decoder) paints each
//!   real image back from the discriminator's 8×8 map, and its error joins the discriminator's loss.
//! - **An LSGAN term** for the generator: MSE(D(G(z)), 1) added to feature matching, so the
//!   generator is also pushed towards what the discriminator calls real, not only towards the
//!   real batch's mean features.
//! - **Sliced matching** for the generator: the fakes' features matched to the reals' as whole
//!   distributions ([`sliced_matching`](super::sliced_matching)), added to feature matching.
//! - **Mode seeking** for the generator: pairs of portraits kept as far apart as their latents
//!   ([`mode_seeking`](super::mode_seeking)), added to whichever loss it learns by.
//!
//! The discriminator's outputs here are its probabilities (our losses are MSE on them), not
//! logits as in the papers, so the weights differ from theirs.

use anyhow::{Result, bail};
use burn::nn::loss::{MseLoss, Reduction};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The weight of each added term; 0 leaves it out (and costs nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Regularizers {
    /// LeCam's weight on the discriminator's loss.
    #[serde(default)]
    pub lecam: f64,
    /// bCR's weight on the discriminator's loss (one more discriminator pass on reals and fakes).
    #[serde(default)]
    pub consistency: f64,
    /// The LSGAN term's weight on the generator's loss (with feature matching).
    #[serde(default)]
    pub lsgan_term: f64,
    /// The weight of the decoder's reconstruction error on the discriminator's loss.
    #[serde(default)]
    pub reconstruction: f64,
    /// Sliced matching's weight on the generator's loss (with feature matching).
    #[serde(default)]
    pub sliced_matching: f64,
    /// Mode seeking's weight on the generator's loss.
    #[serde(default)]
    pub mode_seeking: f64,
}

/// The decay of LeCam's running averages (the papers' 0.99).
pub const LECAM_DECAY: f32 = 0.99;

impl Regularizers {
    /// Refuses weights that are negative or not numbers, naming the flag.
    pub fn validate(&self) -> Result<()> {
        for (flag, _, weight) in self.each() {
            if !(weight.is_finite() && weight >= 0.0) {
                bail!("{flag} {weight} is not a usable weight (expected 0 to turn it off, or a positive number such as 0.3)");
            }
        }
        Ok(())
    }

    /// How the recipe line names them: "off", or e.g. "LeCam 0.3 · LSGAN term 0.2".
    pub fn describe(&self) -> String {
        let on: Vec<String> = self.each().iter().filter(|(_, _, w)| *w > 0.0).map(|(_, name, w)| format!("{name} {w}")).collect();
        if on.is_empty() { "off".to_string() } else { on.join(" · ") }
    }

    /// Each regulariser's flag, its name in the recipe line, and its weight.
    fn each(&self) -> [(&'static str, &'static str, f64); 6] {
        [
            ("--lecam", "LeCam", self.lecam),
            ("--consistency", "consistency", self.consistency),
            ("--lsgan-term", "LSGAN term", self.lsgan_term),
            ("--reconstruction", "reconstruction", self.reconstruction),
            ("--sliced-matching", "sliced matching", self.sliced_matching),
            ("--mode-seeking", "mode seeking", self.mode_seeking),
        ]
    }
}

/// LeCam's running averages of the discriminator's mean output on real images and on fakes.
/// They are kept on the device (reading them each step would wait for it) and stored in
/// checkpoints, so a resumed run regularises exactly as the uninterrupted one.
#[derive(Clone, Debug, Default)]
pub struct LecamAnchors {
    /// `[real, fake]`; `None` before the first step.
    averages: Option<Tensor<1>>,
}

impl LecamAnchors {
    /// Averages saved by [`LecamAnchors::saved`].
    pub fn restore(saved: Option<[f32; 2]>, device: &Device) -> Self {
        Self { averages: saved.map(|values| Tensor::from_data(TensorData::new(values.to_vec(), [2]), device)) }
    }

    /// The averages as numbers, for a checkpoint (this waits for the device).
    pub fn saved(&self) -> Result<Option<[f32; 2]>> {
        let Some(averages) = &self.averages else { return Ok(None) };
        let values: Vec<f32> = averages.clone().into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(Some([values[0], values[1]]))
    }

    /// Follows this step's outputs (`[batch, 1]` probabilities), then returns the penalty
    /// mean(relu(D(x) − average on fakes)²) + mean(relu(average on reals − D(G(z)))²).
    /// The first step's outputs start the averages.
    pub fn penalty(&mut self, on_real: Tensor<2>, on_fake: Tensor<2>) -> Tensor<1> {
        let means = Tensor::cat(vec![on_real.clone().detach().mean(), on_fake.clone().detach().mean()], 0);
        let averages = match self.averages.take() {
            Some(previous) => previous * LECAM_DECAY + means * (1.0 - LECAM_DECAY),
            None => means,
        };
        let real_average = averages.clone().slice(0..1).unsqueeze::<2>();
        let fake_average = averages.clone().slice(1..2).unsqueeze::<2>();
        self.averages = Some(averages);
        let above = (on_real - fake_average).clamp_min(0.0);
        let below = (real_average - on_fake).clamp_min(0.0);
        (above.clone() * above).mean() + (below.clone() * below).mean()
    }
}

/// bCR's term for one kind of image: the MSE between the discriminator's outputs on the images
/// as DiffAugment changed them and as they are.
pub fn consistency_penalty(augmented: Tensor<2>, plain: Tensor<2>) -> Tensor<1> {
    MseLoss::new().forward(augmented, plain, Reduction::Mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[f32], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len(), 1]), device)
    }

    #[test]
    fn lecam_pulls_each_side_towards_the_other_sides_average() {
        let device = Device::flex();
        let mut anchors = LecamAnchors::default();
        // First step: the averages are this step's means, real 0.75 and fake 0.25.
        let penalty: f32 = anchors.penalty(column(&[0.5, 1.0], &device), column(&[0.0, 0.5], &device)).into_scalar();
        // Reals above the fake average 0.25: 0.25² and 0.75², mean 0.3125; fakes below the
        // real average 0.75: 0.75² and 0.25², mean 0.3125.
        assert!((penalty - 0.625).abs() < 1e-6, "{penalty}");
        assert_eq!(anchors.saved().unwrap(), Some([0.75, 0.25]));

        // Second step: the averages move 1% of the way to the new means (real 0.25, fake 0.75).
        let penalty: f32 = anchors.penalty(column(&[0.25], &device), column(&[0.75], &device)).into_scalar();
        let [real, fake] = anchors.saved().unwrap().unwrap();
        assert!((real - 0.745).abs() < 1e-6 && (fake - 0.255).abs() < 1e-6, "{real} {fake}");
        // Only the part of each output past the other side's average counts: 0.25 is 0.005 below
        // 0.255 (nothing), 0.75 is 0.005 above 0.745 (nothing).
        assert_eq!(penalty, 0.0);
    }

    #[test]
    fn lecam_averages_survive_a_checkpoint() {
        let device = Device::flex();
        let mut anchors = LecamAnchors::default();
        assert_eq!(anchors.saved().unwrap(), None);
        let _ = anchors.penalty(column(&[0.9], &device), column(&[0.1], &device));
        let mut restored = LecamAnchors::restore(anchors.saved().unwrap(), &device);
        let a: f32 = anchors.penalty(column(&[0.3], &device), column(&[0.6], &device)).into_scalar();
        let b: f32 = restored.penalty(column(&[0.3], &device), column(&[0.6], &device)).into_scalar();
        assert_eq!(a, b);
        assert!(a > 0.0);
    }

    #[test]
    fn weights_must_be_numbers_of_zero_or_more() {
        assert!(Regularizers::default().validate().is_ok());
        assert_eq!(Regularizers::default().describe(), "off");
        let some = Regularizers { lecam: 0.3, lsgan_term: 0.2, ..Default::default() };
        assert_eq!(some.describe(), "LeCam 0.3 · LSGAN term 0.2");
        let error = Regularizers { consistency: -1.0, ..Default::default() }.validate().unwrap_err().to_string();
        assert!(error.contains("--consistency -1"), "{error}");
        assert!(Regularizers { lecam: f64::NAN, ..Default::default() }.validate().is_err());
    }
}
