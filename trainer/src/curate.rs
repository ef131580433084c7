//! `trainer curate`: picks the gallery's opening seeds reproducibly, by letting the trained
//! discriminator judge many candidate portraits and keeping those it finds most convincing.

use anyhow::{Context, Result, bail};
use atelier_shared::latent_batch;
use burn::module::Module;
use burn::tensor::Device;
use std::path::Path;

use crate::training::checkpoint;

/// A candidate seed and the discriminator's probability that its portrait is real.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub seed: u64,
    pub score: f32,
}

/// Scores seeds `0..candidates` and returns the best `top`, best first (ties: lower seed first).
pub fn curate(run: &Path, weights: Option<&Path>, candidates: u64, top: usize) -> Result<Vec<Scored>> {
    if candidates == 0 || top == 0 {
        bail!("--candidates and --top must be at least 1");
    }
    let checkpoint::Found { dir, state } = checkpoint::newest_intact(run)?
        .with_context(|| format!("no checkpoint in {}: curate needs the run's discriminator", run.display()))?;
    let device = Device::flex();
    let discriminator = checkpoint::load_module(state.discriminator.init(&device), &dir, checkpoint::DISCRIMINATOR_FILE)?.valid();
    let generator = match weights {
        Some(path) => crate::generator_files::load_weights(path, &device)?.0,
        None => checkpoint::load_painter(&dir, &state.generator, &device)?.0,
    };
    let seeds: Vec<u64> = (0..candidates).collect();
    let mut scored = Vec::with_capacity(seeds.len());
    for chunk in seeds.chunks(64) {
        let images = generator.forward(latent_batch(chunk, generator.latent_dim(), &device));
        let scores: Vec<f32> = discriminator
            .forward(images)
            .real_probability
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        scored.extend(chunk.iter().zip(scores).map(|(&seed, score)| Scored { seed, score }));
    }
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.seed.cmp(&b.seed)));
    scored.truncate(top);
    Ok(scored)
}

/// Writes the seeds as a JSON array, the file the gallery starts from.
pub fn write_seeds(scored: &[Scored], out: &Path) -> Result<()> {
    let seeds: Vec<u64> = scored.iter().map(|s| s.seed).collect();
    crate::atomic::write(out, format!("{}\n", serde_json::to_string(&seeds)?).as_bytes())
}
