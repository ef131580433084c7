//! `trainer export --run`: the generator a training run paints with, out of its newest
//! checkpoint and into a generator file.

use anyhow::{Context, Result};
use atelier_shared::Precision;
use burn::tensor::Device;
use std::path::Path;

use super::checkpoint;
use crate::generator_files::{Format, write_generator};

/// Writes the generator the run paints with (its weight average where it keeps one), or with
/// `live` the generator as it trains, to `out`. Returns the step it was taken at.
pub fn export(run: &Path, out: &Path, precision: Precision, format: Format, live: bool) -> Result<u64> {
    let checkpoint::Found { dir, state } = checkpoint::newest_intact(run)?
        .with_context(|| format!("no checkpoint found in {}: is it a training run folder?", run.display()))?;
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
