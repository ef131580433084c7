//! DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
//! Training"): random augmentations applied to every image the discriminator sees, real and
//! generated, in both networks' steps, built from differentiable tensor operations so the
//! generator's gradient flows through them. On a few hundred paintings this keeps the
//! discriminator from memorising the real set.
//!
//! The random choices are drawn on the host from the step's seeded RNG, so a run is
//! reproducible and resumable, and the same on every backend. Ranges follow the paper's
//! reference code, for images in [-1, 1]:
//! - `color`: brightness + U(−0.5, 0.5), then saturation × U(0, 2), then contrast × U(0.5, 1.5);
//! - `translation`: integer shifts of up to 1/8 of the side in x and y, zero fill;
//! - `cutout`: a zeroed square of half the side at a random centre.

use anyhow::{Result, bail};
use burn::tensor::ops::PadMode;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One augmentation family of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    Color,
    Translation,
    Cutout,
}

impl Policy {
    const ALL: [Policy; 3] = [Policy::Color, Policy::Translation, Policy::Cutout];

    fn name(self) -> &'static str {
        match self {
            Policy::Color => "color",
            Policy::Translation => "translation",
            Policy::Cutout => "cutout",
        }
    }
}

/// The policies a run applies, in the paper's order (color, translation, cutout); empty: none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffAugment {
    policies: Vec<Policy>,
}

impl DiffAugment {
    /// No augmentation (the article's recipe).
    pub fn none() -> Self {
        Self::default()
    }

    /// All three policies (the paper's choice for small data sets).
    pub fn all() -> Self {
        Self { policies: Policy::ALL.to_vec() }
    }

    /// Parses `--diffaugment`: `none`, or policies separated by commas (`color,translation`).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("none") || text.is_empty() {
            return Ok(Self::none());
        }
        let mut wanted = Vec::new();
        for name in text.split(',').map(str::trim) {
            let Some(policy) = Policy::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name)) else {
                bail!("unknown DiffAugment policy {name:?} (expected color, translation, cutout or none)");
            };
            wanted.push(policy);
        }
        // Always applied in the paper's order, whatever order they were named in.
        Ok(Self { policies: Policy::ALL.into_iter().filter(|p| wanted.contains(p)).collect() })
    }

    pub fn is_none(&self) -> bool {
        self.policies.is_empty()
    }

    /// Augments a batch `[batch, channels, height, width]` (values in [-1, 1]); the result is
    /// differentiable with respect to `images`.
    pub fn apply(&self, images: Tensor<4>, rng: &mut impl Rng) -> Tensor<4> {
        if self.is_none() {
            return images;
        }
        let [batch, channels, height, width] = images.dims();
        let device = images.device();
        let per_image = |values: Vec<f32>| Tensor::<4>::from_data(TensorData::new(values, [batch, 1, 1, 1]), &device);
        let mut x = images;
        if self.policies.contains(&Policy::Color) {
            let brightness = per_image((0..batch).map(|_| rng.random_range(-0.5..0.5)).collect());
            let saturation = per_image((0..batch).map(|_| rng.random_range(0.0..2.0)).collect());
            let contrast = per_image((0..batch).map(|_| rng.random_range(0.5..1.5)).collect());
            x = x + brightness;
            let grey = x.clone().mean_dim(1);
            x = (x - grey.clone()) * saturation + grey;
            let mean = x.clone().reshape([batch, channels * height * width]).mean_dim(1).reshape([batch, 1, 1, 1]);
            x = (x - mean.clone()) * contrast + mean;
        }
        if self.policies.contains(&Policy::Translation) {
            x = Shifts::draw(batch, height, width, rng).apply(x);
        }
        if self.policies.contains(&Policy::Cutout) {
            let keep = Holes::draw(batch, height, width, rng).keep_mask(height, width);
            x = x * Tensor::<4>::from_data(TensorData::new(keep, [batch, 1, height, width]), &device);
        }
        x
    }
}

impl fmt::Display for DiffAugment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.policies.iter().map(|p| p.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// Per-image translations in pixels: output pixel (y, x) shows input pixel (y + dy, x + dx).
struct Shifts {
    dy: Vec<i64>,
    dx: Vec<i64>,
    reach_y: i64,
    reach_x: i64,
}

impl Shifts {
    fn draw(batch: usize, height: usize, width: usize, rng: &mut impl Rng) -> Self {
        // The reference's int(side · 1/8 + 0.5): 8 px at 64.
        let reach = |side: usize| (side as f64 * 0.125 + 0.5) as i64;
        let (ry, rx) = (reach(height), reach(width));
        let (mut dy, mut dx) = (Vec::with_capacity(batch), Vec::with_capacity(batch));
        for _ in 0..batch {
            dx.push(rng.random_range(-rx..=rx));
            dy.push(rng.random_range(-ry..=ry));
        }
        Self { dy, dx, reach_y: ry, reach_x: rx }
    }

    /// Shifts every image by its own (dy, dx): the batch is padded with zeros by the reach on
    /// every side and each image is cut out of the padding at its offset. Only padding, slices
    /// and a concatenation, whose gradients are slices and padding again: no gather, whose
    /// scatter-add gradient stalls kernel autotuning on some GPU drivers.
    fn apply(&self, images: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = images.dims();
        let (ry, rx) = (self.reach_y as usize, self.reach_x as usize);
        let padded = images.pad([(0, 0), (0, 0), (ry, ry), (rx, rx)], PadMode::Constant(0.0));
        let moved = (0..batch)
            .map(|b| {
                let top = (self.reach_y + self.dy[b]) as usize;
                let left = (self.reach_x + self.dx[b]) as usize;
                padded.clone().slice([b..b + 1, 0..channels, top..top + height, left..left + width])
            })
            .collect();
        Tensor::cat(moved, 0)
    }
}

/// Per-image cutout squares: rows `top..top + side`, columns `left..left + side`, clipped.
struct Holes {
    top: Vec<i64>,
    left: Vec<i64>,
    side_y: i64,
    side_x: i64,
}

impl Holes {
    fn draw(batch: usize, height: usize, width: usize, rng: &mut impl Rng) -> Self {
        // Half the side; the centre anywhere in 0..=side (as the reference), so the square
        // may hang over an edge.
        let half_side = |side: usize| (side as f64 * 0.5 + 0.5) as i64;
        let (side_y, side_x) = (half_side(height), half_side(width));
        let (mut top, mut left) = (Vec::with_capacity(batch), Vec::with_capacity(batch));
        for _ in 0..batch {
            let centre_x = rng.random_range(0..=width as i64 + (1 - side_x % 2));
            let centre_y = rng.random_range(0..=height as i64 + (1 - side_y % 2));
            left.push(centre_x - side_x / 2);
            top.push(centre_y - side_y / 2);
        }
        Self { top, left, side_y, side_x }
    }

    /// `[batch, height · width]`: 0 inside each image's square, 1 elsewhere.
    fn keep_mask(&self, height: usize, width: usize) -> Vec<f32> {
        let mut keep = Vec::with_capacity(self.top.len() * height * width);
        for (&top, &left) in self.top.iter().zip(&self.left) {
            for y in 0..height as i64 {
                for x in 0..width as i64 {
                    let cut = (top..top + self.side_y).contains(&y) && (left..left + self.side_x).contains(&x);
                    keep.push(if cut { 0.0 } else { 1.0 });
                }
            }
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ramp(batch: usize, side: usize, device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (0..batch * 3 * side * side).map(|i| ((i % 97) as f32 / 48.0) - 1.0).collect();
        Tensor::from_data(TensorData::new(values, [batch, 3, side, side]), device)
    }

    fn values(x: Tensor<4>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn parsing_names_policies_and_refuses_unknown_ones() {
        assert!(DiffAugment::parse("none").unwrap().is_none());
        assert_eq!(DiffAugment::parse("cutout, color").unwrap().to_string(), "color,cutout");
        assert_eq!(DiffAugment::parse("color,translation,cutout").unwrap(), DiffAugment::all());
        let err = DiffAugment::parse("color,zoom").unwrap_err().to_string();
        assert!(err.contains("zoom"), "{err}");
    }

    #[test]
    fn none_is_the_identity_and_draws_nothing() {
        let device = Device::flex();
        let x = ramp(2, 8, &device);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let before = rng.clone().random::<u64>();
        assert_eq!(values(DiffAugment::none().apply(x.clone(), &mut rng)), values(x));
        assert_eq!(rng.random::<u64>(), before);
    }

    /// Translation alone moves pixels by whole steps and fills with zero: each output image is
    /// its input shifted by one (dy, dx) within the reference's reach.
    #[test]
    fn translation_shifts_whole_images_with_zero_fill() {
        let device = Device::flex();
        let (batch, side) = (4, 16);
        let x = ramp(batch, side, &device);
        let input = values(x.clone());
        let out = values(DiffAugment::parse("translation").unwrap().apply(x, &mut ChaCha8Rng::seed_from_u64(3)));
        let at = |v: &[f32], b: usize, c: usize, y: i64, xx: i64| v[((b * 3 + c) * side + y as usize) * side + xx as usize];
        let mut moved = 0;
        for b in 0..batch {
            let fits = |dy: i64, dx: i64| {
                (0..3).all(|c| {
                    (0..side as i64).all(|y| {
                        (0..side as i64).all(|xx| {
                            let (sy, sx) = (y + dy, xx + dx);
                            let expected = if (0..side as i64).contains(&sy) && (0..side as i64).contains(&sx) { at(&input, b, c, sy, sx) } else { 0.0 };
                            at(&out, b, c, y, xx) == expected
                        })
                    })
                })
            };
            let found: Vec<(i64, i64)> = (-2..=2).flat_map(|dy| (-2..=2).map(move |dx| (dy, dx))).filter(|&(dy, dx)| fits(dy, dx)).collect();
            assert_eq!(found.len(), 1, "image {b}: not one shift within ±2 px explains it: {found:?}");
            moved += (found[0] != (0, 0)) as usize;
        }
        assert!(moved > 0, "no image was moved");
    }

    /// Cutout zeroes one axis-aligned square of at most half the side per image, and leaves
    /// every other pixel as it was.
    #[test]
    fn cutout_zeroes_one_square_per_image() {
        let device = Device::flex();
        let (batch, side) = (6, 16);
        let x = ramp(batch, side, &device) + 2.0; // no zeros in the input
        let input = values(x.clone());
        let out = values(DiffAugment::parse("cutout").unwrap().apply(x, &mut ChaCha8Rng::seed_from_u64(5)));
        for b in 0..batch {
            let plane = |c: usize| &out[(b * 3 + c) * side * side..(b * 3 + c + 1) * side * side];
            let zeros: Vec<usize> = (0..side * side).filter(|&i| plane(0)[i] == 0.0).collect();
            assert!(zeros.len() <= (side / 2) * (side / 2), "image {b}: {} zeros", zeros.len());
            for c in 0..3 {
                for i in 0..side * side {
                    let original = input[(b * 3 + c) * side * side + i];
                    assert!(plane(c)[i] == 0.0 || plane(c)[i] == original, "image {b} pixel {i} changed");
                    assert_eq!(plane(c)[i] == 0.0, zeros.contains(&i), "channels disagree at pixel {i}");
                }
            }
            if let (Some(&first), Some(&last)) = (zeros.first(), zeros.last()) {
                let (rows, cols) = ((first / side)..=(last / side), (first % side)..=(last % side));
                assert_eq!(rows.clone().count() * cols.clone().count(), zeros.len(), "image {b}: the hole is not a rectangle");
            }
        }
    }

    /// Colour: brightness, saturation and contrast are per image, so a flat grey image stays
    /// flat (only brightness moves it), and the gradient flows back to the input.
    #[test]
    fn color_is_per_image_and_differentiable() {
        let device = Device::flex().autodiff();
        let flat = Tensor::<4>::zeros([3, 3, 8, 8], &device).require_grad();
        let out = DiffAugment::parse("color").unwrap().apply(flat.clone(), &mut ChaCha8Rng::seed_from_u64(7));
        let v = values(out.clone().inner());
        for image in v.chunks_exact(3 * 64) {
            assert!(image.iter().all(|&p| (p - image[0]).abs() < 1e-6), "a flat image stays flat");
            assert!(image[0].abs() <= 0.5 + 1e-6);
        }
        assert!(v[0] != v[3 * 64], "images get different brightness");
        let x = ramp(2, 8, &device).require_grad();
        let out = DiffAugment::all().apply(x.clone(), &mut ChaCha8Rng::seed_from_u64(8));
        let grads = out.sum().backward();
        let grad = x.grad(&grads).expect("a gradient reaches the input");
        let g: Vec<f32> = grad.into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().any(|&v| v != 0.0) && g.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn the_same_rng_gives_the_same_augmentation() {
        let device = Device::flex();
        let x = ramp(3, 16, &device);
        let run = |seed| values(DiffAugment::all().apply(x.clone(), &mut ChaCha8Rng::seed_from_u64(seed)));
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }
}
