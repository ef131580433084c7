//! `trainer directions`: a painter's main directions in latent space, the gallery's sliders.
//!
//! The generator's first block is affine in z before its ReLU (see
//! [`Generator::first_block_response`]), so the directions that move its output most are the top
//! right-singular vectors of that block's matrix, BatchNorm's scale folded in: closed form, no
//! sampling (SeFa, Shen & Zhou 2021; GANSpace, Härkönen et al. 2020, finds the same by PCA). They
//! are the eigenvectors of the 128×128 Gram matrix, found here by Jacobi rotations in `f64`.
//!
//! The file (`<id>-directions.json`) names its painter; each direction carries a label that a
//! person gives it after looking at the preview this command paints (`--preview`). Computing the
//! directions again for the same painter keeps the labels the file already has.

use anyhow::{Context, Result, bail};
use atelier_shared::edits::{Direction, Directions, MAX_DIRECTIONS};
use atelier_shared::{Edit, Generator, RgbImage, edited_latent};
use burn::tensor::Device;
use std::path::{Path, PathBuf};

use super::load_painter;
use super::sample::paint_latents;

/// Where a painter's directions live by default: in a `painters/` folder beside its weights file
/// (the gallery's layout: `assets/generator.bpk` → `assets/painters/<id>-directions.json`), or
/// beside it when the weights are in such a folder already.
pub fn default_path(weights: &Path, painter: &str) -> PathBuf {
    let folder = weights.parent().unwrap_or(Path::new(""));
    let folder = if folder.file_name().is_some_and(|name| name == "painters") { folder.to_path_buf() } else { folder.join("painters") };
    folder.join(format!("{painter}-directions.json"))
}

/// Reads the directions of painter `painter` (latent of `latent_dim` values) from `path`, with an
/// error that names the file.
pub fn read(path: &Path, painter: &str, latent_dim: usize) -> Result<Directions> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read the directions file {} (make it with `trainer directions --weights …`, or name another with --directions)", path.display())
    })?;
    Directions::parse(&text, painter, latent_dim).with_context(|| format!("{} cannot be used", path.display()))
}

/// What `trainer directions` found and wrote.
pub struct Found {
    pub painter: String,
    pub out: PathBuf,
    pub directions: Directions,
    pub kept_labels: bool,
}

impl Found {
    /// What `trainer directions` prints: each direction's label and share, where the preview is,
    /// and a reminder to label directions that have no label yet.
    pub fn report(&self, preview: Option<&Path>) -> String {
        let mut text = format!("painter {}: {} directions in {}\n", self.painter, self.directions.directions.len(), self.out.display());
        for (i, direction) in self.directions.directions.iter().enumerate() {
            text += &format!("  {:>2}. {:<32} {:>5.1}% of the first layer's response\n", i + 1, direction.label, 100.0 * direction.share);
        }
        if let Some(preview) = preview {
            text += &format!("what each does: {} (a row per direction; seeds 1–3, each from -3 to +3)\n", preview.display());
        }
        if !self.kept_labels {
            text += &format!("label each direction in {} after looking at what it does\n", self.out.display());
        }
        text
    }
}

/// `trainer directions`: the `count` main directions of the generator in `weights`, written to
/// `out` (default: [`default_path`]); with `preview`, a picture of what each does.
pub fn directions(weights: &Path, count: usize, out: Option<&Path>, preview: Option<&Path>) -> Result<Found> {
    if count == 0 || count > MAX_DIRECTIONS {
        bail!("--count {count}: a painter has 1 to {MAX_DIRECTIONS} directions");
    }
    let device = Device::flex();
    let (generator, _, painter) = load_painter(weights, &device)?;
    let out = out.map_or_else(|| default_path(weights, &painter), Path::to_path_buf);
    let (vectors, shares) = main_directions(&generator, count)?;
    // Labels are words a person chose: the same painter's earlier file keeps them.
    let earlier = std::fs::read_to_string(&out).ok().and_then(|text| Directions::parse(&text, &painter, generator.latent_dim()).ok());
    let unlabelled = |i: usize| format!("direction {}", i + 1);
    let label = |i: usize| earlier.as_ref().and_then(|e| e.directions.get(i)).map(|d| d.label.clone()).filter(|l| *l != unlabelled(i));
    let kept_labels = (0..count).any(|i| label(i).is_some());
    let directions = Directions {
        about: format!(
            "The main directions in latent space of painter {painter}, strongest first (`trainer directions`): the gallery's sliders. An edit #…&edit=2:1.5 adds 1.5 times direction 2's vector to the seed's latent."
        ),
        painter: painter.clone(),
        directions: vectors
            .into_iter()
            .zip(shares)
            .enumerate()
            .map(|(i, (vector, share))| Direction { label: label(i).unwrap_or_else(|| unlabelled(i)), share: round(share, 4), vector })
            .collect(),
    };
    crate::atomic::write(&out, file_text(&directions)?.as_bytes())?;
    if let Some(preview) = preview {
        crate::grid::save_png(&preview_grid(&generator, &directions, &device)?, preview)?;
    }
    Ok(Found { painter, out, directions, kept_labels })
}

/// The file's text: JSON with one line per direction, so a person can find and edit the labels.
fn file_text(directions: &Directions) -> Result<String> {
    let lines: Vec<String> = directions.directions.iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
    Ok(format!(
        "{{\n  \"about\": {},\n  \"painter\": {},\n  \"directions\": [\n    {}\n  ]\n}}\n",
        serde_json::to_string(&directions.about)?,
        serde_json::to_string(&directions.painter)?,
        lines.join(",\n    ")
    ))
}

/// The seeds and amounts of the preview: each direction a row, each seed seven portraits from
/// α = -3 to 3.
const PREVIEW_SEEDS: [u64; 3] = [1, 2, 3];
const PREVIEW_TENTHS: [i32; 7] = [-30, -20, -10, 0, 10, 20, 30];

fn preview_grid(generator: &Generator, directions: &Directions, device: &Device) -> Result<RgbImage> {
    let dim = generator.latent_dim();
    let mut latents = Vec::new();
    for number in 1..=directions.directions.len() {
        for seed in PREVIEW_SEEDS {
            for tenths in PREVIEW_TENTHS {
                latents.extend(edited_latent(seed, dim, &[Edit { direction: number, tenths }], Some(directions))?);
            }
        }
    }
    let images = paint_latents(generator, latents, device)?;
    Ok(crate::grid::grid(&images, PREVIEW_SEEDS.len() * PREVIEW_TENTHS.len()))
}

/// The `count` strongest unit directions of the first block's response, with the share of the
/// response's energy each carries. Signs are fixed so each vector's largest value is positive, and
/// values are rounded to 3 decimals (what the file keeps; both the gallery and `sample` read it).
fn main_directions(generator: &Generator, count: usize) -> Result<(Vec<Vec<f32>>, Vec<f64>)> {
    let response = generator.first_block_response();
    let [dim, outputs] = response.dims();
    let values: Vec<f32> = response.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // Gram matrix M·Mᵀ (latent × latent) in f64.
    let mut gram = vec![0.0f64; dim * dim];
    for i in 0..dim {
        for j in i..dim {
            let (a, b) = (&values[i * outputs..(i + 1) * outputs], &values[j * outputs..(j + 1) * outputs]);
            let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
            gram[i * dim + j] = dot;
            gram[j * dim + i] = dot;
        }
    }
    let (eigenvalues, eigenvectors) = symmetric_eigen(gram, dim);
    let total: f64 = eigenvalues.iter().map(|v| v.max(0.0)).sum();
    if total <= 0.0 {
        bail!("the generator's first layer does not respond to its latent (all its weights are zero)");
    }
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| eigenvalues[b].total_cmp(&eigenvalues[a]));
    let mut vectors = Vec::with_capacity(count);
    let mut shares = Vec::with_capacity(count);
    for &k in order.iter().take(count) {
        let column: Vec<f64> = (0..dim).map(|i| eigenvectors[i * dim + k]).collect();
        let largest = column.iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap_or(1.0);
        let sign = if largest < 0.0 { -1.0 } else { 1.0 };
        vectors.push(column.iter().map(|v| round(sign * v, 3)).collect());
        shares.push(eigenvalues[k].max(0.0) / total);
    }
    Ok((vectors, shares))
}

fn round(value: f64, decimals: i32) -> f32 {
    let scale = 10f64.powi(decimals);
    ((value * scale).round() / scale) as f32
}

/// Eigenvalues and eigenvectors (row-major `n×n`, one eigenvector per column) of the symmetric
/// matrix `a`, by cyclic Jacobi rotations: accurate to the last bits for the small matrices here.
fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i * n + j].powi(2)).sum();
        if off <= scale * 1e-26 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, the symmetric Schur decomposition).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atelier_shared::GeneratorConfig;
    use burn::tensor::{Tensor, TensorData};

    #[test]
    fn jacobi_finds_the_eigenpairs_of_a_symmetric_matrix() {
        // A = Q diag(5, 2, -1) Qᵀ for a rotation Q: its eigenvalues are 5, 2, -1.
        let n = 3;
        let b = [2.0, -1.0, 0.5, 0.3, 1.5, -2.0, 1.0, 0.2, 0.7f64];
        let a: Vec<f64> = (0..n * n).map(|k| (0..n).map(|m| b[(k / n) * n + m] * b[(k % n) * n + m]).sum()).collect();
        let (values, vectors) = symmetric_eigen(a.clone(), n);
        for k in 0..n {
            for i in 0..n {
                let av: f64 = (0..n).map(|j| a[i * n + j] * vectors[j * n + k]).sum();
                assert!((av - values[k] * vectors[i * n + k]).abs() < 1e-9, "A v = λ v for pair {k}");
            }
            for l in 0..n {
                let dot: f64 = (0..n).map(|i| vectors[i * n + k] * vectors[i * n + l]).sum();
                assert!((dot - if k == l { 1.0 } else { 0.0 }).abs() < 1e-12, "orthonormal {k} {l}");
            }
        }
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!((values.iter().sum::<f64>() - trace).abs() < 1e-9);
    }

    /// The first direction moves the first block's output more than any other unit vector; the
    /// directions are orthonormal (up to the file's rounding) and ordered by their share.
    #[test]
    fn the_first_direction_moves_the_first_block_most() {
        let device = Device::flex();
        let generator = GeneratorConfig::new(4).init(&device);
        let (vectors, shares) = main_directions(&generator, 6).unwrap();
        assert!(shares.windows(2).all(|w| w[0] >= w[1]) && shares[0] > 0.0 && shares.iter().sum::<f64>() <= 1.0, "{shares:?}");
        for (k, a) in vectors.iter().enumerate() {
            for (l, b) in vectors.iter().enumerate() {
                let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                assert!((dot - if k == l { 1.0 } else { 0.0 }).abs() < 1e-2, "{k}·{l} = {dot}");
            }
        }
        let response = generator.first_block_response();
        let moved = |v: &[f32]| -> f32 {
            let z = Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, v.len()]), &device);
            let out: Vec<f32> = z.matmul(response.clone()).into_data().try_to_vec::<f32>().unwrap();
            out.iter().map(|x| x * x).sum::<f32>()
        };
        let best = moved(&vectors[0]);
        for seed in 0..20 {
            let mut u = atelier_shared::latent_for_seed(seed, 128);
            let norm = u.iter().map(|x| x * x).sum::<f32>().sqrt();
            u.iter_mut().for_each(|x| *x /= norm);
            assert!(moved(&u) <= best * 1.001, "seed {seed}: a random direction moves it {} > {best}", moved(&u));
        }
        assert!(moved(&vectors[5]) < best);
    }

    #[test]
    fn directions_live_in_the_painters_folder() {
        assert_eq!(default_path(Path::new("web/assets/generator.bpk"), "abc123"), Path::new("web/assets/painters/abc123-directions.json"));
        assert_eq!(default_path(Path::new("web/assets/painters/d60c91.bpk"), "d60c91"), Path::new("web/assets/painters/d60c91-directions.json"));
        assert_eq!(default_path(Path::new("g.bpk"), "abc123"), Path::new("painters/abc123-directions.json"));
    }
}
