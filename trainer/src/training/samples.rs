//! Sample grids during training: a 4×4 grid of fixed seeds (so the grids of one run are
//! comparable over time) and a grid of the real, augmented batch, as PNG files in `samples/`
//! and as TensorBoard images.

use anyhow::Result;
use atelier_shared::Generator;
use burn::module::Module;
use std::path::Path;

use super::tensorboard::EventWriter;
use crate::data::augment::Rgb;
use crate::grid;

/// Fixed seeds of the 4×4 sample grid.
const SAMPLE_SEEDS: std::ops::Range<u64> = 0..16;

/// Writes `samples/{fake,real}-step<step>.png` and `-latest.png`, and logs both grids.
pub fn write_samples(run: &Path, events: &mut EventWriter, step: u64, generator: &Generator, real: &[Rgb]) -> Result<()> {
    let device = generator.devices().into_iter().next().unwrap_or_default();
    let count = (SAMPLE_SEEDS.end - SAMPLE_SEEDS.start) as usize;
    let fakes = grid::grid(&crate::generator_files::sample::generate(generator, SAMPLE_SEEDS.start, count, &device)?, 4);
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
