//! Sample grids during training: a 4×4 grid of fixed seeds (so the grids of one run are
//! comparable over time) and a grid of the real, augmented batch, as PNG files in `samples/`
//! and as TensorBoard images.

use anyhow::Result;
use atelier_shared::{Generator, IMAGE_SIZE, latent_batch, to_rgb_images};
use burn::module::Module;
use std::path::Path;

use super::tensorboard::EventWriter;
use crate::data::augment::Rgb;
use crate::grid;

/// Fixed seeds of the 4×4 sample grid.
const SAMPLE_SEEDS: std::ops::Range<u64> = 0..16;

/// Writes `samples/{fake,real}-step<step>.png` and `-latest.png`, and logs both grids.
pub fn write_samples(run: &Path, events: &mut EventWriter, step: u64, generator: &Generator, real: &[Rgb]) -> Result<()> {
    let seeds: Vec<u64> = SAMPLE_SEEDS.collect();
    let device = generator.devices().into_iter().next().unwrap_or_default();
    let latent = latent_batch(&seeds, generator.latent_dim(), &device);
    let values: Vec<f32> = generator.forward(latent).into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let fakes = grid::grid(&to_rgb_images(&values, seeds.len(), IMAGE_SIZE, IMAGE_SIZE), 4);
    let reals: Vec<_> = real.iter().take(16).cloned().map(atelier_shared::RgbImage::from).collect();
    let reals = grid::grid(&reals, 4);
    let dir = run.join("samples");
    for (name, image) in [("fake", &fakes), ("real", &reals)] {
        let png = grid::png(image)?;
        crate::atomic::write(&dir.join(format!("{name}-step{step:07}.png")), &png)?;
        crate::atomic::write(&dir.join(format!("{name}-latest.png")), &png)?;
        events.image(&format!("samples/{name}"), step, image.width as u32, image.height as u32, &png)?;
    }
    Ok(())
}
