//! `trainer export` and `trainer sample`: the generator alone, out of a run (or another weights
//! file), and portraits out of a weights file.

use anyhow::{Context, Result, bail};
use atelier_shared::{Generator, GeneratorConfig, IMAGE_SIZE, Precision, generator_to_bytes, latent_batch, load_generator, to_rgb_images};
use burn::tensor::Device;
use clap::ValueEnum;
use std::path::Path;

use crate::checkpoint;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Burn's record format, with the architecture inside (what `sample` and the web page read).
    Burnpack,
    /// safetensors under the article's tensor names, which its PyTorch generator loads as is.
    Safetensors,
}

/// Writes a generator (already in eval mode) to `out`, atomically.
pub fn write_generator(generator: &Generator, config: &GeneratorConfig, out: &Path, precision: Precision, format: Format) -> Result<()> {
    let bytes = match format {
        Format::Burnpack => generator_to_bytes(generator, config, precision)?,
        Format::Safetensors => crate::pytorch::to_safetensors(generator, config, precision)?,
    };
    crate::atomic::write(out, &bytes)
}

/// `trainer export --run DIR --out FILE`: the generator the run paints with (its weight average
/// where it keeps one), or with `live` the generator as it trains.
pub fn export(run: &Path, out: &Path, precision: Precision, format: Format, live: bool) -> Result<u64> {
    let dir = checkpoint::find(run).with_context(|| format!("no checkpoint found in {}: is it a training run folder?", run.display()))?;
    let state = checkpoint::read_state(&dir)?;
    let device = Device::flex();
    let (generator, which) = if live {
        (checkpoint::load_live(&dir, &state.generator, &device)?, "the live generator")
    } else {
        checkpoint::load_painter(&dir, &state.generator, &device)?
    };
    println!("exporting {which} at step {}", state.step);
    write_generator(&generator, &state.generator, out, precision, format)?;
    Ok(state.step)
}

/// `trainer export --weights FILE --out FILE`: a weights file in another format or precision.
pub fn convert(weights: &Path, out: &Path, precision: Precision, format: Format) -> Result<()> {
    let (generator, config) = load_weights(weights, &Device::flex())?;
    write_generator(&generator, &config, out, precision, format)
}

/// The painter id of a weights file, as share links carry it.
pub fn painter_id_of(weights: &Path) -> Result<String> {
    let bytes = std::fs::read(weights).with_context(|| format!("cannot read the weights file {}", weights.display()))?;
    Ok(atelier_shared::painter_id(&bytes))
}

/// The line `export` and `import` print about the file they wrote: its size, `what` it holds and,
/// for a weights file the gallery can load, its painter id.
pub fn written_line(out: &Path, what: &str, format: Format) -> Result<String> {
    let size = std::fs::metadata(out).with_context(|| format!("cannot read {}", out.display()))?.len();
    let painter = match format {
        Format::Burnpack => format!(", painter {}", painter_id_of(out)?),
        Format::Safetensors => String::new(),
    };
    Ok(format!("wrote {} ({:.1} MB, {what}{painter})", out.display(), size as f64 / 1e6))
}

/// Reads a weights file with an error that names it.
pub fn load_weights(path: &Path, device: &Device) -> Result<(Generator, GeneratorConfig)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the weights file {}", path.display()))?;
    load_generator(&bytes, device).with_context(|| format!("{} cannot be used", path.display()))
}

/// Portraits for consecutive seeds `first_seed..first_seed + count`.
pub fn generate(generator: &Generator, first_seed: u64, count: usize, device: &Device) -> Result<Vec<atelier_shared::RgbImage>> {
    let seeds: Vec<u64> = (0..count as u64)
        .map(|i| first_seed.checked_add(i).context("seed range goes beyond the largest seed (2^64 - 1)"))
        .collect::<Result<_>>()?;
    let mut images = Vec::with_capacity(count);
    for chunk in seeds.chunks(64) {
        let values: Vec<f32> = generator
            .forward(latent_batch(chunk, generator.latent_dim(), device))
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        images.extend(to_rgb_images(&values, chunk.len(), IMAGE_SIZE, IMAGE_SIZE));
    }
    Ok(images)
}

/// `trainer sample`: one PNG (`--count 1` or `--grid`), or a folder of `seed-N.png` files.
pub fn sample(weights: &Path, seed: u64, count: usize, as_grid: bool, out: &Path) -> Result<Vec<std::path::PathBuf>> {
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let device = Device::flex();
    let (generator, _) = load_weights(weights, &device)?;
    let images = generate(&generator, seed, count, &device)?;
    if as_grid || count == 1 {
        let image = if as_grid { crate::grid::grid(&images, crate::grid::square_columns(count)) } else { images[0].clone() };
        crate::grid::save_png(&image, out)?;
        return Ok(vec![out.to_path_buf()]);
    }
    let mut written = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let path = out.join(format!("seed-{}.png", seed + i as u64));
        crate::grid::save_png(image, &path)?;
        written.push(path);
    }
    Ok(written)
}
