//! `trainer curate`: picks the seeds the gallery opens with, reproducibly. Each candidate
//! portrait is judged three ways, and a seed ranks by the average of its three standings:
//! - the run's discriminator: its probability that the portrait is real;
//! - the face detector (rustface, at 256 px, as the evaluation runs it): the confidence of the
//!   largest face, none ranking last;
//! - how close the discriminator's 1,024 features of the portrait are to the real crops'
//!   average (with `--data`): the features feature matching steers the painter by.
//!
//! Curation only chooses seeds: a seed keeps its pixels.

use anyhow::{Context, Result, bail};
use atelier_shared::{Discriminator, IMAGE_SIZE, RgbImage};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use std::path::Path;

use crate::evaluation::{self, Evaluation};
use crate::data::batches::pixels_to_nchw;
use crate::generator_files::sample::paint_seeds;
use crate::training::checkpoint;

/// Portraits judged at a time.
const CHUNK: usize = 256;

/// A candidate seed and how it was judged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub seed: u64,
    /// The average of its standings, 0 (worst of the candidates) to 1 (best).
    pub score: f64,
    /// The discriminator's probability that the portrait is real.
    pub realness: f32,
    /// rustface's confidence in the portrait's largest face; `None` where it found none.
    pub face: Option<f64>,
    /// Distance of the portrait's features from the real crops' average, in units of the crops'
    /// own average distance from it; `None` without `--data`.
    pub feature_distance: Option<f32>,
}

/// What curation found.
pub struct Curation {
    /// The best `top` candidates, best first.
    pub best: Vec<Scored>,
    pub candidates: usize,
    /// Candidates in which the face detector found a face.
    pub with_face: usize,
    /// The chosen seeds' portraits and as many seeds `0, 1, …` measured against the crops (with `--data`).
    pub compared: Option<(Evaluation, Evaluation)>,
}

/// Judges seeds `0..candidates` and keeps the best `top`.
pub fn curate(run: &Path, weights: Option<&Path>, data: Option<&Path>, candidates: u64, top: usize) -> Result<Curation> {
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
    let crops = data.map(|dir| evaluation::load_images(dir, true)).transpose()?;
    let real_features = crops.as_deref().map(|crops| FeatureCentre::of(&discriminator, crops, &device)).transpose()?;

    let bar = crate::data::counting_bar(true, candidates as usize, "judging portraits");
    let mut judged = Vec::with_capacity(candidates as usize);
    for first in (0..candidates).step_by(CHUNK) {
        let seeds: Vec<u64> = (first..candidates.min(first + CHUNK as u64)).collect();
        let portraits = paint_seeds(&generator, &seeds, &device)?;
        let (realness, features) = judge(&discriminator, &portraits, &device)?;
        let faces = evaluation::face_scores(&portraits);
        for (i, &seed) in seeds.iter().enumerate() {
            let feature_distance = real_features.as_ref().map(|centre| centre.distance(&features[i * FEATURES..][..FEATURES]));
            judged.push(Scored { seed, score: 0.0, realness: realness[i], face: faces[i], feature_distance });
        }
        bar.inc(seeds.len() as u64);
    }
    bar.finish_and_clear();
    rank(&mut judged);
    let with_face = judged.iter().filter(|s| s.face.is_some()).count();
    judged.truncate(top);

    let compared = match &crops {
        Some(crops) if top >= 2 => {
            eprintln!("measuring the {top} chosen seeds and seeds 0…{} against {} crops", top - 1, crops.len());
            let reference = evaluation::Reference::new(crops)?;
            let chosen: Vec<u64> = judged.iter().map(|s| s.seed).collect();
            let first: Vec<u64> = (0..top as u64).collect();
            Some((reference.evaluate(&paint_seeds(&generator, &chosen, &device)?)?, reference.evaluate(&paint_seeds(&generator, &first, &device)?)?))
        }
        _ => None,
    };
    Ok(Curation { best: judged, candidates: candidates as usize, with_face, compared })
}

/// Orders `judged` best first by the average of each candidate's standings (ties: lower seed).
fn rank(judged: &mut [Scored]) {
    let n = judged.len();
    let mut totals = vec![0.0; n];
    let mut criteria = 0;
    let mut add_standing = |key: &dyn Fn(&Scored) -> f64| {
        // Standing: the share of the other candidates this one beats (equals count half).
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| key(&judged[a]).total_cmp(&key(&judged[b])));
        let mut i = 0;
        while i < n {
            let mut j = i;
            while j + 1 < n && key(&judged[order[j + 1]]) == key(&judged[order[i]]) {
                j += 1;
            }
            let standing = if n > 1 { (i + j) as f64 / 2.0 / (n - 1) as f64 } else { 1.0 };
            for &k in &order[i..=j] {
                totals[k] += standing;
            }
            i = j + 1;
        }
        criteria += 1;
    };
    add_standing(&|s| s.realness as f64);
    add_standing(&|s| s.face.unwrap_or(f64::NEG_INFINITY));
    if judged.iter().any(|s| s.feature_distance.is_some()) {
        add_standing(&|s| -(s.feature_distance.unwrap_or(f32::INFINITY) as f64));
    }
    for (scored, total) in judged.iter_mut().zip(totals) {
        scored.score = total / criteria as f64;
    }
    judged.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.seed.cmp(&b.seed)));
}

/// Length of the discriminator's feature layer.
const FEATURES: usize = atelier_shared::model::FEATURE_DIM;

/// The discriminator's probability that each image is real, and its features (`FEATURES` per
/// image), judging the 8-bit pixels as it judged the crops in training.
fn judge(discriminator: &Discriminator, images: &[RgbImage], device: &Device) -> Result<(Vec<f32>, Vec<f32>)> {
    let (mut realness, mut features) = (Vec::with_capacity(images.len()), Vec::with_capacity(images.len() * FEATURES));
    for chunk in images.chunks(64) {
        let values = pixels_to_nchw(chunk.iter().map(|image| image.pixels.as_slice()));
        let batch = Tensor::<4>::from_data(TensorData::new(values, [chunk.len(), 3, IMAGE_SIZE, IMAGE_SIZE]), device);
        let judgement = discriminator.forward(batch);
        let read = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"));
        realness.extend(read(judgement.real_probability)?);
        features.extend(read(judgement.features)?);
    }
    Ok((realness, features))
}

/// The real crops' average features, and their average distance from it (the unit distances are
/// measured in).
struct FeatureCentre {
    mean: Vec<f32>,
    spread: f32,
}

impl FeatureCentre {
    fn of(discriminator: &Discriminator, crops: &[RgbImage], device: &Device) -> Result<Self> {
        if crops.is_empty() {
            bail!("no crops to compare the portraits' features with");
        }
        let (_, features) = judge(discriminator, crops, device)?;
        let mut mean = vec![0.0f32; FEATURES];
        for row in features.chunks_exact(FEATURES) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / crops.len() as f32;
            }
        }
        let raw = FeatureCentre { mean, spread: 1.0 };
        let spread = features.chunks_exact(FEATURES).map(|row| raw.distance(row)).sum::<f32>() / crops.len() as f32;
        Ok(FeatureCentre { spread: spread.max(f32::MIN_POSITIVE), ..raw })
    }

    fn distance(&self, features: &[f32]) -> f32 {
        self.mean.iter().zip(features).map(|(m, f)| (m - f).powi(2)).sum::<f32>().sqrt() / self.spread
    }
}

/// Writes the seeds as a JSON array, the file the gallery starts from.
pub fn write_seeds(scored: &[Scored], out: &Path) -> Result<()> {
    let seeds: Vec<u64> = scored.iter().map(|s| s.seed).collect();
    crate::atomic::write(out, format!("{}\n", serde_json::to_string(&seeds)?).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(seed: u64, realness: f32, face: Option<f64>, feature_distance: Option<f32>) -> Scored {
        Scored { seed, score: 0.0, realness, face, feature_distance }
    }

    #[test]
    fn a_seed_ranks_by_its_average_standing() {
        let mut judged = vec![
            scored(0, 0.9, None, Some(1.0)),      // D's favourite, but no face
            scored(1, 0.5, Some(5.0), Some(0.5)), // a clear face, close to the crops
            scored(2, 0.1, Some(3.0), Some(2.0)),
            scored(3, 0.5, Some(5.0), Some(0.5)), // the same as seed 1: the lower seed first
        ];
        rank(&mut judged);
        let order: Vec<u64> = judged.iter().map(|s| s.seed).collect();
        assert_eq!(order, vec![1, 3, 0, 2]);
        // Seed 1: realness tied 2nd–3rd (0.5), face tied best (5/6), closest tied (5/6).
        assert!((judged[0].score - (0.5 + 5.0 / 6.0 + 5.0 / 6.0) / 3.0).abs() < 1e-12, "{}", judged[0].score);
        // Without features, two criteria.
        let mut judged = vec![scored(0, 0.9, None, None), scored(1, 0.1, Some(2.0), None)];
        rank(&mut judged);
        assert!(judged.iter().all(|s| (s.score - 0.5).abs() < 1e-12));
        assert_eq!(judged[0].seed, 0);
    }
}
