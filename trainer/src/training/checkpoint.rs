//! Checkpoints: everything needed to continue a run exactly — both networks, both optimiser
//! states, the step count and the options (the data order and augmentation are derived from the
//! seed and the step, so those two are the whole RNG state).
//!
//! With generator EMA it also holds the weight average, ready to paint (its BatchNorm
//! statistics measured), which `export`, `curate` and `evaluate` then use.
//!
//! A checkpoint is a folder of burnpack files plus `state.json`. It is built as
//! `checkpoint.partial/` and swapped in with renames, so a crash at any moment leaves either the
//! new or the previous checkpoint complete on disk, never a torn one.

use anyhow::{Context, Result, bail};
use atelier_shared::{DiscriminatorConfig, Generator, GeneratorConfig};
use burn::tensor::Device;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

use super::options::TrainOptions;

const CURRENT: &str = "checkpoint";
const PREVIOUS: &str = "checkpoint.previous";
const PARTIAL: &str = "checkpoint.partial";
const STATE_FILE: &str = "state.json";
pub const GENERATOR_FILE: &str = "generator.bpk";
pub const DISCRIMINATOR_FILE: &str = "discriminator.bpk";
/// The generator's weight average (generator EMA), when the run keeps one.
pub const AVERAGE_FILE: &str = "generator-ema.bpk";
const OPTIMIZER_G_FILE: &str = "optimizer-generator.bpk";
const OPTIMIZER_D_FILE: &str = "optimizer-discriminator.bpk";
pub const FORMAT_VERSION: u32 = 1;

/// The small part of a checkpoint, as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointState {
    pub format_version: u32,
    /// Optimiser steps completed.
    pub step: u64,
    pub options: TrainOptions,
    pub generator: GeneratorConfig,
    pub discriminator: DiscriminatorConfig,
    /// Images in the training set when the run started (the batch order depends on it).
    pub dataset_len: usize,
    /// The best evaluation so far (its generator is the run's `generator-best.bpk`).
    #[serde(default)]
    pub best: Option<Best>,
}

/// The step whose portraits had the lowest SWD so far.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub step: u64,
    pub swd: f64,
}

/// The networks and optimisers a checkpoint stores.
pub struct TrainingState<G, D> {
    pub generator: G,
    pub discriminator: D,
    pub optimizer_g: ModuleOptimizer,
    pub optimizer_d: ModuleOptimizer,
}

/// Writes a checkpoint into `run`, replacing the previous one only once the new one is complete.
/// `average`: the generator's weight average, ready to paint, where the run keeps one.
pub fn save<G: Module + Clone, D: Module + Clone>(
    run: &Path,
    state: &CheckpointState,
    parts: &TrainingState<G, D>,
    average: Option<&G>,
) -> Result<()> {
    let partial = run.join(PARTIAL);
    if partial.exists() {
        fs::remove_dir_all(&partial).with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    fs::create_dir_all(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let saved = |what: &str, result: Result<(), burn::store::RecordError>| {
        result.map_err(|e| anyhow::anyhow!("cannot save the {what} into {}: {e}", partial.display()))
    };
    saved("generator", parts.generator.clone().save_file(partial.join(GENERATOR_FILE)))?;
    saved("discriminator", parts.discriminator.clone().save_file(partial.join(DISCRIMINATOR_FILE)))?;
    saved("generator's optimiser", parts.optimizer_g.save(partial.join(OPTIMIZER_G_FILE)))?;
    saved("discriminator's optimiser", parts.optimizer_d.save(partial.join(OPTIMIZER_D_FILE)))?;
    if let Some(average) = average {
        saved("generator's weight average", average.clone().save_file(partial.join(AVERAGE_FILE)))?;
    }
    crate::atomic::write(&partial.join(STATE_FILE), serde_json::to_string_pretty(state)?.as_bytes())?;

    let (current, previous) = (run.join(CURRENT), run.join(PREVIOUS));
    if previous.exists() {
        fs::remove_dir_all(&previous)?;
    }
    if current.exists() {
        fs::rename(&current, &previous)?;
    }
    fs::rename(&partial, &current).with_context(|| format!("cannot move the checkpoint into {}", current.display()))?;
    if previous.exists() {
        fs::remove_dir_all(&previous)?;
    }
    Ok(())
}

/// The folder of the newest complete checkpoint in `run`, if any.
pub fn find(run: &Path) -> Option<PathBuf> {
    [CURRENT, PREVIOUS].into_iter().map(|name| run.join(name)).find(|dir| dir.join(STATE_FILE).is_file())
}

pub fn read_state(checkpoint: &Path) -> Result<CheckpointState> {
    let path = checkpoint.join(STATE_FILE);
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let state: CheckpointState =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid checkpoint state", path.display()))?;
    if state.format_version != FORMAT_VERSION {
        bail!("{} has checkpoint format {}, this trainer reads {FORMAT_VERSION}", path.display(), state.format_version);
    }
    Ok(state)
}

/// Loads a module's weights from a checkpoint file into `module`.
pub fn load_module<M: Module>(module: M, checkpoint: &Path, file: &str) -> Result<M> {
    let path = checkpoint.join(file);
    module.try_load_file(&path).map_err(|e| anyhow::anyhow!("cannot load {}: {e}", path.display()))
}

/// Restores everything `save` wrote onto freshly initialised parts.
pub fn load<G: Module, D: Module>(checkpoint: &Path, fresh: TrainingState<G, D>) -> Result<TrainingState<G, D>> {
    let optimizer = |optimizer: ModuleOptimizer, file: &str| {
        let path = checkpoint.join(file);
        optimizer.load(&path).map_err(|e| anyhow::anyhow!("cannot load {}: {e}", path.display()))
    };
    Ok(TrainingState {
        generator: load_module(fresh.generator, checkpoint, GENERATOR_FILE)?,
        discriminator: load_module(fresh.discriminator, checkpoint, DISCRIMINATOR_FILE)?,
        optimizer_g: optimizer(fresh.optimizer_g, OPTIMIZER_G_FILE)?,
        optimizer_d: optimizer(fresh.optimizer_d, OPTIMIZER_D_FILE)?,
    })
}

/// The checkpoint's weight average loaded into `module`, if it has one.
pub fn load_average<M: Module>(checkpoint: &Path, module: M) -> Result<Option<M>> {
    if !checkpoint.join(AVERAGE_FILE).is_file() {
        return Ok(None);
    }
    load_module(module, checkpoint, AVERAGE_FILE).map(Some)
}

/// The generator a checkpoint paints with, in inference mode: the weight average where the run
/// keeps one, else the generator itself. Also says which one it is.
pub fn load_painter(checkpoint: &Path, config: &GeneratorConfig, device: &Device) -> Result<(Generator, &'static str)> {
    Ok(match load_average(checkpoint, config.init(device))? {
        Some(average) => (average.valid(), "the generator's weight average (EMA)"),
        None => (load_live(checkpoint, config, device)?, "the generator"),
    })
}

/// The checkpoint's generator as it trains, in inference mode.
pub fn load_live(checkpoint: &Path, config: &GeneratorConfig, device: &Device) -> Result<Generator> {
    Ok(load_module(config.init(device), checkpoint, GENERATOR_FILE)?.valid())
}
