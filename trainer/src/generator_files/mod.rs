//! Generator files: the one place that reads and writes a generator alone — our weights files
//! (burnpack, at full, half or 8-bit precision) and, through [`pytorch`], the article's PyTorch
//! names both ways; [`sample`] paints portraits out of a weights file and [`directions`] finds
//! the painter's main directions in latent space, the gallery's sliders.

pub mod directions;
pub mod pytorch;
pub mod sample;

use anyhow::{Context, Result};
use atelier_shared::{Generator, GeneratorConfig, Precision, generator_to_bytes, load_generator};
use burn::tensor::Device;
use clap::ValueEnum;
use std::path::Path;

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
        Format::Safetensors => pytorch::to_safetensors(generator, config, precision)?,
    };
    crate::atomic::write(out, &bytes)
}

/// `trainer import`: the article's PyTorch generator in `source` as our weights file. Nothing is
/// written unless every tensor fits.
pub fn import(source: &Path, out: &Path, precision: Precision) -> Result<GeneratorConfig> {
    let (generator, config) = pytorch::read_article_generator(source)?;
    write_generator(&generator, &config, out, precision, Format::Burnpack)?;
    Ok(config)
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
    load_painter(path, device).map(|(generator, config, _)| (generator, config))
}

/// Reads a weights file (once) with an error that names it: the generator and its painter id.
pub fn load_painter(path: &Path, device: &Device) -> Result<(Generator, GeneratorConfig, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the weights file {}", path.display()))?;
    let (generator, config) = load_generator(&bytes, device).with_context(|| format!("{} cannot be used", path.display()))?;
    Ok((generator, config, atelier_shared::painter_id(&bytes)))
}

