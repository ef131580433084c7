//! Checkpoints: everything needed to continue a run exactly — both networks, both optimiser
//! states, the step count and the options (the data order and augmentation are derived from the
//! seed and the step, so those two are the whole RNG state).
//!
//! With generator EMA it also holds the weight average, ready to paint (its BatchNorm
//! statistics measured), which `export`, `curate` and `evaluate` then use.
//!
//! A checkpoint is a folder of burnpack files plus `state.json`, which holds each file's SHA-256.
//! It is built as `checkpoint.partial/` and swapped in with renames, and the one before it is
//! kept as `checkpoint.previous/`: a crash at any moment leaves a complete checkpoint on disk,
//! and when the newest is damaged later (a file truncated, flipped, emptied or lost), reading
//! falls back to the one before. A checkpoint is never written from weights that are not all
//! numbers.

use anyhow::{Context, Result, bail};
use atelier_shared::{DiscriminatorConfig, Generator, GeneratorConfig, NotFinite, check_finite};
use burn::tensor::Device;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::decoder::SelfSupervision;
use super::options::TrainOptions;

const CURRENT: &str = "checkpoint";
const PREVIOUS: &str = "checkpoint.previous";
const PARTIAL: &str = "checkpoint.partial";
/// Where a damaged newest checkpoint is set aside when a run resumes from the one before it.
const DAMAGED: &str = "checkpoint.damaged";
const STATE_FILE: &str = "state.json";
pub const GENERATOR_FILE: &str = "generator.bpk";
pub const DISCRIMINATOR_FILE: &str = "discriminator.bpk";
/// The generator's weight average (generator EMA), when the run keeps one.
pub const AVERAGE_FILE: &str = "generator-ema.bpk";
const OPTIMIZER_G_FILE: &str = "optimizer-generator.bpk";
const OPTIMIZER_D_FILE: &str = "optimizer-discriminator.bpk";
/// FastGAN's decoder and its optimiser, when the run reconstructs (`--reconstruction`).
const DECODER_FILE: &str = "decoder.bpk";
const OPTIMIZER_DECODER_FILE: &str = "optimizer-decoder.bpk";
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
    /// LeCam's running averages of D's outputs on reals and fakes, where the run uses LeCam.
    #[serde(default)]
    pub lecam_averages: Option<[f32; 2]>,
    /// The SHA-256 of each file of the checkpoint, by name (empty in checkpoints of older
    /// trainers, which are read unchecked).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
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
    /// The decoder that learns with the discriminator, where the run has one.
    pub self_supervision: Option<SelfSupervision>,
}

/// A checkpoint refused because a network's values are not all numbers (the run diverged).
#[derive(Debug)]
pub struct NotFiniteWeights {
    /// Which network: "generator", "discriminator", "generator's weight average".
    pub network: &'static str,
    pub at: NotFinite,
}

impl fmt::Display for NotFiniteWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {}'s {}", self.network, self.at)
    }
}

impl std::error::Error for NotFiniteWeights {}

/// Writes a checkpoint into `run`, replacing the newest one only once the new one is complete;
/// the newest becomes the previous one. `average`: the generator's weight average, ready to
/// paint, where the run keeps one. Weights that are not all finite are refused with
/// [`NotFiniteWeights`], and nothing is written; a save that fails leaves no partial folder.
pub fn save<G: Module + Clone, D: Module + Clone>(
    run: &Path,
    state: &CheckpointState,
    parts: &TrainingState<G, D>,
    average: Option<&G>,
) -> Result<()> {
    check_weights(parts, average)?;
    let partial = run.join(PARTIAL);
    let written = write_partial(&partial, state, parts, average);
    if written.is_err() {
        // Most likely a full disk: leave nothing half-written behind.
        let _ = fs::remove_dir_all(&partial);
    }
    written?;

    let (current, previous) = (run.join(CURRENT), run.join(PREVIOUS));
    if current.exists() {
        if previous.exists() {
            fs::remove_dir_all(&previous).with_context(|| format!("cannot remove {}", previous.display()))?;
        }
        fs::rename(&current, &previous).with_context(|| format!("cannot move {} to {}", current.display(), previous.display()))?;
    }
    fs::rename(&partial, &current).with_context(|| format!("cannot move the checkpoint into {}", current.display()))
}

/// Whether every value of the networks (and of the weight average, if given) is a finite number.
pub fn check_weights<G: Module, D: Module>(parts: &TrainingState<G, D>, average: Option<&G>) -> Result<(), NotFiniteWeights> {
    let finite = |network: &'static str, result: Result<(), NotFinite>| result.map_err(|at| NotFiniteWeights { network, at });
    finite("generator", check_finite(&parts.generator))?;
    finite("discriminator", check_finite(&parts.discriminator))?;
    match average {
        Some(average) => finite("generator's weight average", check_finite(average)),
        None => Ok(()),
    }
}

/// Writes every file of a checkpoint into `partial`, `state.json` (with the files' checksums) last.
fn write_partial<G: Module + Clone, D: Module + Clone>(
    partial: &Path,
    state: &CheckpointState,
    parts: &TrainingState<G, D>,
    average: Option<&G>,
) -> Result<()> {
    if partial.exists() {
        fs::remove_dir_all(partial).with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    fs::create_dir_all(partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let saved = |what: &str, result: Result<(), burn::store::RecordError>| {
        result.map_err(|e| anyhow::anyhow!("cannot save the {what} into {}: {e}", partial.display()))
    };
    saved("generator", parts.generator.clone().save_file(partial.join(GENERATOR_FILE)))?;
    saved("discriminator", parts.discriminator.clone().save_file(partial.join(DISCRIMINATOR_FILE)))?;
    saved("generator's optimiser", parts.optimizer_g.save(partial.join(OPTIMIZER_G_FILE)))?;
    saved("discriminator's optimiser", parts.optimizer_d.save(partial.join(OPTIMIZER_D_FILE)))?;
    let mut files = vec![GENERATOR_FILE, DISCRIMINATOR_FILE, OPTIMIZER_G_FILE, OPTIMIZER_D_FILE];
    if let Some(self_supervision) = &parts.self_supervision {
        saved("decoder", self_supervision.decoder.clone().save_file(partial.join(DECODER_FILE)))?;
        saved("decoder's optimiser", self_supervision.optimizer.save(partial.join(OPTIMIZER_DECODER_FILE)))?;
        files.extend([DECODER_FILE, OPTIMIZER_DECODER_FILE]);
    }
    if let Some(average) = average {
        saved("generator's weight average", average.clone().save_file(partial.join(AVERAGE_FILE)))?;
        files.push(AVERAGE_FILE);
    }
    let mut state = state.clone();
    state.files = files.into_iter().map(|name| Ok((name.to_string(), sha256_of(&partial.join(name))?))).collect::<Result<_>>()?;
    crate::atomic::write(&partial.join(STATE_FILE), serde_json::to_string_pretty(&state)?.as_bytes())
}

/// A file's SHA-256, in hex.
fn sha256_of(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(atelier_shared::sha256_hex(&bytes))
}

/// The newest checkpoint of a run that is intact.
pub struct Found {
    pub dir: PathBuf,
    pub state: CheckpointState,
}

/// The newest intact checkpoint in `run` (its `state.json` readable, every file there with the
/// checksum it lists); a damaged newer one is passed over with a warning. `None` when the
/// folder has no checkpoint at all; an error naming each damaged file when none is intact.
pub fn newest_intact(run: &Path) -> Result<Option<Found>> {
    let mut damaged = Vec::new();
    for dir in [CURRENT, PREVIOUS].map(|name| run.join(name)).into_iter().filter(|dir| dir.exists()) {
        match verify(&dir) {
            Ok(state) => {
                for why in &damaged {
                    eprintln!("warning: {why}; using the checkpoint before it ({}, step {})", dir.display(), state.step);
                }
                return Ok(Some(Found { dir, state }));
            }
            Err(why) => damaged.push(format!("{why:#}")),
        }
    }
    if damaged.is_empty() {
        return Ok(None);
    }
    bail!("no intact checkpoint in {}:\n  {}", run.display(), damaged.join("\n  "))
}

/// The checkpoint to resume `run` from: the newest intact one. A damaged newer one is moved
/// aside to `checkpoint.damaged/` (for a look; the next save would otherwise push the intact one
/// out) and the run goes on from the one before.
pub fn for_resume(run: &Path) -> Result<Option<Found>> {
    let Some(found) = newest_intact(run)? else { return Ok(None) };
    let current = run.join(CURRENT);
    if found.dir != current && current.exists() {
        let aside = run.join(DAMAGED);
        if aside.exists() {
            fs::remove_dir_all(&aside).with_context(|| format!("cannot remove {}", aside.display()))?;
        }
        fs::rename(&current, &aside).with_context(|| format!("cannot move {} aside", current.display()))?;
        eprintln!("the damaged checkpoint is kept in {} for a look; training goes on from step {}", aside.display(), found.state.step);
    }
    Ok(Some(found))
}

/// A checkpoint's state, once every file it lists has its checksum.
fn verify(checkpoint: &Path) -> Result<CheckpointState> {
    let state = read_state(checkpoint)?;
    for (name, expected) in &state.files {
        let path = checkpoint.join(name);
        if !path.is_file() {
            bail!("{} is missing", path.display());
        }
        if sha256_of(&path)? != *expected {
            bail!("{} is damaged: its SHA-256 is not the one state.json lists", path.display());
        }
    }
    Ok(state)
}

/// Whether `run` holds a checkpoint, intact or not (a new run must not start there).
pub fn holds_checkpoint(run: &Path) -> bool {
    [CURRENT, PREVIOUS].into_iter().any(|name| run.join(name).exists())
}

pub fn read_state(checkpoint: &Path) -> Result<CheckpointState> {
    let path = checkpoint.join(STATE_FILE);
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_state(&text, &path)
}

/// A checkpoint's state from the text of its `state.json` (`path` names it in errors).
fn parse_state(text: &str, path: &Path) -> Result<CheckpointState> {
    let state: CheckpointState =
        serde_json::from_str(text).with_context(|| format!("{} is not a valid checkpoint state", path.display()))?;
    if state.format_version != FORMAT_VERSION {
        bail!("{} has checkpoint format {}, this trainer reads {FORMAT_VERSION}", path.display(), state.format_version);
    }
    Ok(state)
}

/// Loads a module's weights from a checkpoint file into `module`; weights that are not all
/// finite are refused.
pub fn load_module<M: Module>(module: M, checkpoint: &Path, file: &str) -> Result<M> {
    let path = checkpoint.join(file);
    let module = module.try_load_file(&path).map_err(|e| anyhow::anyhow!("cannot load {}: {e}", path.display()))?;
    check_finite(&module).map_err(|at| anyhow::anyhow!("cannot use {}: {at}", path.display()))?;
    Ok(module)
}

/// Restores everything `save` wrote onto freshly initialised parts.
pub fn load<G: Module, D: Module>(checkpoint: &Path, fresh: TrainingState<G, D>) -> Result<TrainingState<G, D>> {
    let optimizer = |optimizer: ModuleOptimizer, file: &str| {
        let path = checkpoint.join(file);
        optimizer.load(&path).map_err(|e| anyhow::anyhow!("cannot load {}: {e}", path.display()))
    };
    let self_supervision = match fresh.self_supervision {
        Some(fresh) => Some(SelfSupervision {
            decoder: load_module(fresh.decoder, checkpoint, DECODER_FILE)?,
            optimizer: optimizer(fresh.optimizer, OPTIMIZER_DECODER_FILE)?,
        }),
        None => None,
    };
    Ok(TrainingState {
        generator: load_module(fresh.generator, checkpoint, GENERATOR_FILE)?,
        discriminator: load_module(fresh.discriminator, checkpoint, DISCRIMINATOR_FILE)?,
        optimizer_g: optimizer(fresh.optimizer_g, OPTIMIZER_G_FILE)?,
        optimizer_d: optimizer(fresh.optimizer_d, OPTIMIZER_D_FILE)?,
        self_supervision,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::{Recipe, TrainOptions};
    use proptest::prelude::*;

    fn any_state() -> impl Strategy<Value = CheckpointState> {
        let recipes = prop_oneof![Just(Recipe::Article), Just(Recipe::SmallData), Just(Recipe::Short)];
        let best = proptest::option::of((any::<u64>(), (0u32..8_000_000).prop_map(|v| f64::from(v) / 8.0)).prop_map(|(step, swd)| Best { step, swd }));
        let files = proptest::collection::btree_map("[a-z.-]{1,24}", "[0-9a-f]{64}", 0..6);
        let lecam = proptest::option::of((-1e3f32..1e3, -1e3f32..1e3).prop_map(|(real, fake)| [real, fake]));
        (recipes, 1..=64usize, 1..=256usize, any::<u64>(), any::<usize>(), best, lecam, files).prop_map(
            |(recipe, width, batch_size, step, dataset_len, best, lecam_averages, files)| CheckpointState {
                format_version: FORMAT_VERSION,
                step,
                options: TrainOptions::recipe(recipe, PathBuf::from("data/crops"), width, batch_size),
                generator: GeneratorConfig::new(width),
                discriminator: DiscriminatorConfig::new(width, Default::default()),
                dataset_len,
                best,
                lecam_averages,
                files,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_text_is_a_state_or_an_error(text in "\\PC{0,200}") {
            let _ = parse_state(&text, Path::new("state.json"));
        }

        #[test]
        fn a_state_round_trips_through_its_json(state in any_state()) {
            let text = serde_json::to_string_pretty(&state).unwrap();
            let parsed = parse_state(&text, Path::new("state.json")).unwrap();
            prop_assert_eq!(serde_json::to_string_pretty(&parsed).unwrap(), text);
        }

        /// A state.json cut short anywhere is an error, never a state.
        #[test]
        fn a_cut_state_is_an_error(state in any_state(), cut in any::<prop::sample::Index>()) {
            let text = serde_json::to_string_pretty(&state).unwrap();
            let cut = cut.index(text.len().saturating_sub(1));
            let cut = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            prop_assert!(parse_state(&text[..cut], Path::new("state.json")).is_err());
        }
    }
}
