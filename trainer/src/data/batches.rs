//! The batches the training loop consumes: which images each step uses and how they are
//! augmented, derived from the run's seed and the step alone, prepared on a background thread
//! while the device works.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::augment::{Augmentation, Rgb};

/// One training batch: NCHW floats in [-1, 1] plus the raw (augmented) images for previews.
pub struct Batch {
    pub values: Vec<f32>,
    pub images: Vec<Rgb>,
}

/// Which images each step uses and how they are augmented, derived from the run's seed and the
/// step alone, so a resumed run sees exactly the batches the uninterrupted run would have.
#[derive(Clone, Copy, Debug)]
pub struct BatchPlan {
    pub seed: u64,
    pub batch_size: usize,
    pub dataset_len: usize,
}

impl BatchPlan {
    /// Steps in one epoch (the last partial batch is dropped: BatchNorm needs full batches).
    pub fn steps_per_epoch(&self) -> u64 {
        (self.dataset_len / self.batch_size) as u64
    }

    /// An RNG for `purpose` at `index`, independent of every other (purpose, index).
    pub fn rng(&self, purpose: u64, index: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(purpose);
        rng.set_word_pos(index as u128 * (1 << 40));
        rng
    }

    /// Dataset indices of the images in `step`'s batch.
    pub fn indices(&self, step: u64) -> Vec<usize> {
        let epoch = step / self.steps_per_epoch();
        let mut order: Vec<usize> = (0..self.dataset_len).collect();
        order.shuffle(&mut self.rng(STREAM_SHUFFLE, epoch));
        let start = (step % self.steps_per_epoch()) as usize * self.batch_size;
        order[start..start + self.batch_size].to_vec()
    }

    pub fn batch(&self, images: &[Rgb], step: u64) -> Batch {
        let mut rng = self.rng(STREAM_AUGMENT, step);
        let images: Vec<Rgb> = self
            .indices(step)
            .into_iter()
            .map(|i| Augmentation::draw(&mut rng).apply(&images[i]))
            .collect();
        let values = to_nchw(&images);
        Batch { values, images }
    }
}

/// RNG streams: one per purpose so they never overlap.
pub const STREAM_SHUFFLE: u64 = 1;
pub const STREAM_AUGMENT: u64 = 2;
pub const STREAM_NOISE: u64 = 3;
pub const STREAM_DIFFAUGMENT: u64 = 4;

/// Converts RGB images to NCHW floats in [-1, 1].
pub fn to_nchw(images: &[Rgb]) -> Vec<f32> {
    pixels_to_nchw(images.iter().map(|image| image.pixels.as_slice()))
}

/// Converts images given as interleaved RGB bytes to NCHW floats in [-1, 1].
pub fn pixels_to_nchw<'a>(images: impl IntoIterator<Item = &'a [u8]>) -> Vec<f32> {
    let mut values = Vec::new();
    for pixels in images {
        for c in 0..3 {
            values.extend(pixels.iter().skip(c).step_by(3).map(|&v| v as f32 / 127.5 - 1.0));
        }
    }
    values
}

/// Prepares batches `first_step..end_step` on a background thread, two ahead of the consumer.
pub fn spawn_batches(plan: BatchPlan, images: std::sync::Arc<Vec<Rgb>>, first_step: u64, end_step: u64) -> Receiver<Batch> {
    let (sender, receiver): (SyncSender<Batch>, _) = sync_channel(2);
    std::thread::spawn(move || {
        for step in first_step..end_step {
            if sender.send(plan.batch(&images, step)).is_err() {
                return; // training stopped
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_image_is_used_once_per_epoch_and_plans_are_reproducible() {
        let plan = BatchPlan { seed: 9, batch_size: 4, dataset_len: 10 };
        assert_eq!(plan.steps_per_epoch(), 2);
        let mut seen: Vec<usize> = (0..2).flat_map(|s| plan.indices(s)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 8);
        assert_eq!(plan.indices(3), plan.indices(3));
        assert_ne!(plan.indices(0), plan.indices(2), "each epoch reshuffles");
        let images: Vec<Rgb> = (0..10).map(|i| Rgb { size: 2, pixels: vec![i * 20; 12] }).collect();
        assert_eq!(plan.batch(&images, 5).values, plan.batch(&images, 5).values);
    }

    #[test]
    fn nchw_layout_and_range() {
        let image = Rgb { size: 1, pixels: vec![0, 255, 51] };
        let v = to_nchw(&[image.clone(), image]);
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], -1.0);
        assert_eq!(v[1], 1.0);
        assert!((v[2] - -0.6).abs() < 1e-6);
    }
}
