//! `trainer evaluate`: how good a generator's portraits are, in numbers, offline, against the
//! real face crops it learned from. Everything it needs ships with the trainer (no downloaded
//! networks), and fixed RNGs make two evaluations of one file print the same numbers.
//!
//! - **Sliced Wasserstein distance** (SWD) as in ProGAN (Karras et al. 2018): a Laplacian
//!   pyramid of each image (64, 32 and 16 px), 128 random 7×7 neighbourhoods per image and
//!   level, descriptors normalised per channel within each set, then the mean 1-d Wasserstein
//!   distance of their projections on 4 × 128 random unit directions, ×1e3. Printed beside the
//!   floor: the same distance between two halves of the real crops.
//! - **Face rate**: the share of images in which rustface finds a face once upscaled to 256 px.
//! - **Diversity**: the mean distance between two portraits; **memorisation**: the median
//!   distance from a portrait to its nearest training crop (mirrored crops included, as
//!   training mirrors them), beside the crops' own median nearest-neighbour distance. A
//!   generator that copies its data shows up as a ratio far below 1. Distances are RMS
//!   differences of the 32-px pyramid level, in units of the full pixel range.
//! - **High-frequency energy**: the mean square of the 64-px Laplacian level, relative to the
//!   real crops' (colour noise shows up as > 1, blur as < 1).

use anyhow::{Result, bail};
use atelier_shared::{IMAGE_SIZE, RgbImage};
use burn::tensor::{Device, Tensor, TensorData};
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Pyramid levels measured, finest first (64, 32 and 16 px).
pub const LEVELS: usize = 3;
const NEIGHBOURHOOD: usize = 7;
const NEIGHBOURHOODS_PER_IMAGE: usize = 128;
const DIRECTION_REPEATS: usize = 4;
const DIRECTIONS_PER_REPEAT: usize = 128;
const DESCRIPTOR_LEN: usize = 3 * NEIGHBOURHOOD * NEIGHBOURHOOD;
/// Side the face detector sees.
const FACE_DETECTION_SIDE: u32 = 256;
/// The pyramid level whose pixels the distances compare (32 px: structure, not grain).
const DISTANCE_LEVEL: usize = 1;

/// RNG seeds: one for the directions, one per image set's neighbourhood positions.
const SEED_DIRECTIONS: u64 = 0x5eed_d1;
const SEED_NEIGHBOURHOODS: u64 = 0x5eed_0b;

/// Sliced Wasserstein distances ×1e3 per level (64, 32, 16 px) and their mean.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Swd {
    pub levels: [f64; LEVELS],
    pub average: f64,
}

impl Swd {
    fn new(levels: [f64; LEVELS]) -> Self {
        Self { levels, average: levels.iter().sum::<f64>() / LEVELS as f64 }
    }
}

/// Everything `evaluate` measures of a set of portraits, with the real crops' figures beside.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub portraits: usize,
    pub crops: usize,
    pub swd: Swd,
    /// Real vs real: one half of the crops against the other.
    pub swd_floor: Swd,
    pub face_rate: f64,
    pub real_face_rate: f64,
    /// Mean distance between two portraits, and between two crops.
    pub diversity: f64,
    pub real_diversity: f64,
    /// Median distance from a portrait to its nearest crop, and from a crop to its nearest other crop.
    pub nearest_crop: f64,
    pub crops_nearest_crop: f64,
    /// High-frequency energy of the portraits relative to the crops' (1 = same).
    pub high_frequency: f64,
}

impl Evaluation {
    /// SWD average relative to the floor.
    pub fn swd_ratio(&self) -> f64 {
        self.swd.average / self.swd_floor.average
    }
    pub fn face_rate_ratio(&self) -> f64 {
        self.face_rate / self.real_face_rate.max(1e-9)
    }
    pub fn memorisation_ratio(&self) -> f64 {
        self.nearest_crop / self.crops_nearest_crop.max(1e-9)
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let levels = |swd: &Swd| format!("{:.0} / {:.0} / {:.0}", swd.levels[0], swd.levels[1], swd.levels[2]);
        let _ = writeln!(s, "{} portraits against {} real crops", self.portraits, self.crops);
        let _ = writeln!(s, "{:<42} {:>16} {:>16} {:>9}", "", "portraits", "real crops", "ratio");
        let _ = writeln!(s, "{:<42} {:>16} {:>16}", "SWD ×1e3, 64 / 32 / 16 px", levels(&self.swd), levels(&self.swd_floor));
        let _ = writeln!(s, "{:<42} {:>16.1} {:>16.1} {:>9.2}", "SWD ×1e3, average (real: half vs half)", self.swd.average, self.swd_floor.average, self.swd_ratio());
        let _ = writeln!(s, "{:<42} {:>16.3} {:>16.3} {:>9.2}", "face rate", self.face_rate, self.real_face_rate, self.face_rate_ratio());
        let _ = writeln!(s, "{:<42} {:>16.4} {:>16.4} {:>9.2}", "diversity (mean pairwise distance)", self.diversity, self.real_diversity, self.diversity / self.real_diversity.max(1e-9));
        let _ = writeln!(s, "{:<42} {:>16.4} {:>16.4} {:>9.2}", "median distance to the nearest crop", self.nearest_crop, self.crops_nearest_crop, self.memorisation_ratio());
        let _ = writeln!(s, "{:<42} {:>16.3} {:>16.3}", "high-frequency energy (64 px), vs real", self.high_frequency, 1.0);
        s
    }
}

/// One image's Laplacian pyramid: per level, 3 planes of side 64 >> level, pixel values 0..=255.
struct Pyramid {
    levels: [Vec<f32>; LEVELS],
}

impl Pyramid {
    fn of(image: &RgbImage) -> Self {
        assert_eq!((image.width, image.height), (IMAGE_SIZE, IMAGE_SIZE), "evaluation works on 64×64 images");
        let side = IMAGE_SIZE;
        let mut planes = vec![0.0f32; 3 * side * side];
        for (i, px) in image.pixels.chunks_exact(3).enumerate() {
            for c in 0..3 {
                planes[c * side * side + i] = px[c] as f32;
            }
        }
        // Gaussian levels g0 (64), g1 (32), g2 (16); Laplacian levels g0 − up(g1), g1 − up(g2), g2.
        let gaussian1 = per_plane(&planes, side, down);
        let gaussian2 = per_plane(&gaussian1, side / 2, down);
        let minus = |fine: &[f32], coarse: &[f32], coarse_side: usize| -> Vec<f32> {
            let up = per_plane(coarse, coarse_side, up);
            fine.iter().zip(up).map(|(f, u)| f - u).collect()
        };
        let level0 = minus(&planes, &gaussian1, side / 2);
        let level1 = minus(&gaussian1, &gaussian2, side / 4);
        Self { levels: [level0, level1, gaussian2] }
    }

    fn side(level: usize) -> usize {
        IMAGE_SIZE >> level
    }
}

/// Applies `f` (side → plane) to each of the 3 planes of `planes`.
fn per_plane(planes: &[f32], side: usize, f: fn(&[f32], usize) -> Vec<f32>) -> Vec<f32> {
    planes.chunks_exact(side * side).flat_map(|plane| f(plane, side)).collect()
}

/// The 5×5 binomial kernel of `cv2.pyrDown` (separable: [1, 4, 6, 4, 1] / 16).
const BINOMIAL: [f32; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];

/// Index into 0..n with mirror boundaries (scipy's `mode='mirror'`: −1 → 1, n → n − 2).
fn mirror(i: isize, n: usize) -> usize {
    let n = n as isize;
    let i = if i < 0 { -i } else { i };
    (if i >= n { 2 * (n - 1) - i } else { i }) as usize
}

/// Separable 5×5 binomial blur of a `side`×`side` plane, times `gain`, mirror boundaries.
fn blur(plane: &[f32], side: usize, gain: f32) -> Vec<f32> {
    let mut rows = vec![0.0f32; side * side];
    for y in 0..side {
        for x in 0..side {
            rows[y * side + x] = (0..5).map(|k| BINOMIAL[k] * plane[y * side + mirror(x as isize + k as isize - 2, side)]).sum();
        }
    }
    let mut out = vec![0.0f32; side * side];
    for y in 0..side {
        for x in 0..side {
            out[y * side + x] = gain * (0..5).map(|k| BINOMIAL[k] * rows[mirror(y as isize + k as isize - 2, side) * side + x]).sum::<f32>();
        }
    }
    out
}

/// `pyr_down`: blur, keep every second pixel.
fn down(plane: &[f32], side: usize) -> Vec<f32> {
    let blurred = blur(plane, side, 1.0);
    let half = side / 2;
    (0..half * half).map(|i| blurred[(2 * (i / half)) * side + 2 * (i % half)]).collect()
}

/// `pyr_up`: zeros between the pixels, blur with the kernel × 4.
fn up(plane: &[f32], side: usize) -> Vec<f32> {
    let double = 2 * side;
    let mut spread = vec![0.0f32; double * double];
    for y in 0..side {
        for x in 0..side {
            spread[2 * y * double + 2 * x] = plane[y * side + x];
        }
    }
    blur(&spread, double, 4.0)
}

/// 7×7×3 neighbourhoods at random positions of one level, `NEIGHBOURHOODS_PER_IMAGE` per image,
/// laid out `[neighbourhood][channel][y][x]`.
fn descriptors(pyramids: &[&Pyramid], level: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let side = Pyramid::side(level);
    let half = NEIGHBOURHOOD / 2;
    let mut out = Vec::with_capacity(pyramids.len() * NEIGHBOURHOODS_PER_IMAGE * DESCRIPTOR_LEN);
    for pyramid in pyramids {
        let planes = &pyramid.levels[level];
        for _ in 0..NEIGHBOURHOODS_PER_IMAGE {
            let cx = rng.random_range(half..side - half);
            let cy = rng.random_range(half..side - half);
            for c in 0..3 {
                for y in cy - half..=cy + half {
                    let row = c * side * side + y * side;
                    out.extend_from_slice(&planes[row + cx - half..=row + cx + half]);
                }
            }
        }
    }
    out
}

/// Subtracts each channel's mean and divides by its standard deviation, over the whole set.
fn normalise(descriptors: &mut [f32]) {
    let per_channel = NEIGHBOURHOOD * NEIGHBOURHOOD;
    for c in 0..3 {
        let values = || descriptors.chunks_exact(DESCRIPTOR_LEN).flat_map(|d| &d[c * per_channel..(c + 1) * per_channel]);
        let count = (descriptors.len() / DESCRIPTOR_LEN * per_channel) as f64;
        let mean = values().map(|&v| v as f64).sum::<f64>() / count;
        let variance = values().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / count;
        let std = variance.sqrt().max(1e-8);
        for d in descriptors.chunks_exact_mut(DESCRIPTOR_LEN) {
            for v in &mut d[c * per_channel..(c + 1) * per_channel] {
                *v = ((*v as f64 - mean) / std) as f32;
            }
        }
    }
}

/// Random unit directions for one repeat, `[direction][component]`.
fn directions(level: usize, repeat: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED_DIRECTIONS);
    rng.set_stream((level * DIRECTION_REPEATS + repeat) as u64);
    let mut values = vec![0.0f32; DIRECTIONS_PER_REPEAT * DESCRIPTOR_LEN];
    atelier_shared::latent::fill_normal(&mut rng, &mut values);
    for direction in values.chunks_exact_mut(DESCRIPTOR_LEN) {
        let norm = direction.iter().map(|v| v * v).sum::<f32>().sqrt();
        direction.iter_mut().for_each(|v| *v /= norm);
    }
    values
}

/// Projections of all descriptors on each direction, sorted: `[direction][descriptor]`.
fn sorted_projections(descriptors: &[f32], directions: &[f32]) -> Vec<Vec<f32>> {
    let count = descriptors.len() / DESCRIPTOR_LEN;
    let device = Device::flex();
    let d = Tensor::<2>::from_data(TensorData::new(directions.to_vec(), [DIRECTIONS_PER_REPEAT, DESCRIPTOR_LEN]), &device);
    let x = Tensor::<2>::from_data(TensorData::new(descriptors.to_vec(), [count, DESCRIPTOR_LEN]), &device);
    let projected: Vec<f32> = d.matmul(x.transpose()).into_data().try_to_vec::<f32>().expect("f32 projections");
    let mut rows: Vec<Vec<f32>> = projected.chunks_exact(count).map(<[f32]>::to_vec).collect();
    rows.par_iter_mut().for_each(|row| row.sort_unstable_by(f32::total_cmp));
    rows
}

/// The 1-d Wasserstein-1 distance between two empirical distributions given sorted: the
/// integral of the difference of their quantile functions. For sets of equal size this is
/// ProGAN's mean absolute difference of the sorted values.
fn wasserstein_1d(a: &[f32], b: &[f32]) -> f64 {
    let (n, m) = (a.len() as u64, b.len() as u64);
    let (mut i, mut j, mut t, mut total) = (0u64, 0u64, 0.0f64, 0.0f64);
    while i < n && j < m {
        // The quantile steps end at (i + 1)/n and (j + 1)/m; compare them exactly in integers.
        let (end_a, end_b) = ((i + 1) * m, (j + 1) * n);
        let end = end_a.min(end_b) as f64 / (n * m) as f64;
        total += (end - t) * (a[i as usize] as f64 - b[j as usize] as f64).abs();
        t = end;
        if end_a <= end_b {
            i += 1;
        }
        if end_b <= end_a {
            j += 1;
        }
    }
    total
}

/// SWD ×1e3 between two descriptor sets of one level (both normalised).
fn sliced_wasserstein(a: &[f32], b: &[f32], level: usize) -> f64 {
    let mut total = 0.0;
    for repeat in 0..DIRECTION_REPEATS {
        let dirs = directions(level, repeat);
        let (pa, pb) = (sorted_projections(a, &dirs), sorted_projections(b, &dirs));
        let mean: f64 = pa.par_iter().zip(&pb).map(|(x, y)| wasserstein_1d(x, y)).sum::<f64>() / DIRECTIONS_PER_REPEAT as f64;
        total += mean;
    }
    total / DIRECTION_REPEATS as f64 * 1e3
}

/// Normalised descriptors of a set of pyramids at one level, neighbourhoods drawn from `stream`.
fn normalised_descriptors(pyramids: &[&Pyramid], level: usize, stream: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED_NEIGHBOURHOODS);
    rng.set_stream(stream * LEVELS as u64 + level as u64);
    let mut d = descriptors(pyramids, level, &mut rng);
    normalise(&mut d);
    d
}

/// RNG streams of the neighbourhood positions, one per image set.
const STREAM_PORTRAITS: u64 = 1;
const STREAM_CROPS: u64 = 2;
const STREAM_FIRST_HALF: u64 = 3;
const STREAM_SECOND_HALF: u64 = 4;

fn swd(a: &[&Pyramid], stream_a: u64, b: &[&Pyramid], stream_b: u64) -> Swd {
    let mut levels = [0.0; LEVELS];
    for (level, out) in levels.iter_mut().enumerate() {
        let da = normalised_descriptors(a, level, stream_a);
        let db = normalised_descriptors(b, level, stream_b);
        *out = sliced_wasserstein(&da, &db, level);
    }
    Swd::new(levels)
}

/// Whether rustface finds a face in each image, upscaled to 256 px.
fn faces_found(images: &[RgbImage]) -> Vec<bool> {
    face_scores(images).iter().map(Option::is_some).collect()
}

/// rustface's confidence in the largest face of each image, upscaled to 256 px; `None` where it
/// finds none.
pub fn face_scores(images: &[RgbImage]) -> Vec<Option<f64>> {
    face_scores_counted(images, &ProgressBar::hidden())
}

/// [`face_scores`], advancing `bar` by one per image (a few hundred images take about a second).
pub fn face_scores_counted(images: &[RgbImage], bar: &ProgressBar) -> Vec<Option<f64>> {
    let scores = images
        .par_iter()
        .map_init(crate::preprocess::detector, |detector, image| {
            let rgb = image::RgbImage::from_raw(image.width as u32, image.height as u32, image.pixels.clone()).expect("a whole image");
            let big = image::imageops::resize(&rgb, FACE_DETECTION_SIDE, FACE_DETECTION_SIDE, image::imageops::FilterType::Triangle);
            let grey = image::DynamicImage::ImageRgb8(big).to_luma8();
            let score = crate::preprocess::largest_face(detector.as_mut(), &grey).map(|face| face.score);
            bar.inc(1);
            score
        })
        .collect();
    bar.finish_and_clear();
    scores
}

fn share(flags: &[bool]) -> f64 {
    flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64
}

/// The distance level of each pyramid, as rows of a matrix, values scaled to 0..=1.
fn distance_rows(pyramids: &[&Pyramid]) -> Vec<f32> {
    pyramids.iter().flat_map(|p| p.levels[DISTANCE_LEVEL].iter().map(|v| v / 255.0)).collect()
}

/// The same rows for the mirrored images (left and right swapped).
fn mirrored_rows(pyramids: &[&Pyramid]) -> Vec<f32> {
    let side = Pyramid::side(DISTANCE_LEVEL);
    pyramids
        .iter()
        .flat_map(|p| {
            let plane = &p.levels[DISTANCE_LEVEL];
            (0..3 * side * side).map(move |i| plane[i - i % side + (side - 1 - i % side)] / 255.0)
        })
        .collect()
}

/// RMS distances between every row of `a` and every row of `b`: `[a][b]`.
fn rms_distances(a: &[f32], b: &[f32]) -> Vec<Vec<f32>> {
    let len = Pyramid::side(DISTANCE_LEVEL).pow(2) * 3;
    let (n, m) = (a.len() / len, b.len() / len);
    let device = Device::flex();
    let ta = Tensor::<2>::from_data(TensorData::new(a.to_vec(), [n, len]), &device);
    let tb = Tensor::<2>::from_data(TensorData::new(b.to_vec(), [m, len]), &device);
    let squares = |t: Tensor<2>| t.clone().powi_scalar(2).sum_dim(1);
    let (sa, sb) = (squares(ta.clone()), squares(tb.clone()).transpose());
    let d2 = sa + sb - ta.matmul(tb.transpose()) * 2.0;
    let values: Vec<f32> = d2.into_data().try_to_vec::<f32>().expect("f32 distances");
    values.chunks_exact(m).map(|row| row.iter().map(|v| (v.max(0.0) / len as f32).sqrt()).collect()).collect()
}

fn median(mut values: Vec<f32>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable_by(f32::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] as f64 } else { (values[mid - 1] as f64 + values[mid] as f64) / 2.0 }
}

/// Mean over pairs i < j of a set's distances to itself.
fn mean_pairwise(distances: &[Vec<f32>]) -> f64 {
    let n = distances.len();
    let total: f64 = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).map(|(i, j)| distances[i][j] as f64).sum();
    total / (n * (n - 1) / 2).max(1) as f64
}

fn mean_square(pyramids: &[&Pyramid], level: usize) -> f64 {
    let total: f64 = pyramids.iter().map(|p| p.levels[level].iter().map(|&v| (v as f64).powi(2)).sum::<f64>()).sum();
    total / (pyramids.len() * level_len(level)).max(1) as f64
}

/// Values in one image's pyramid level (3 planes).
fn level_len(level: usize) -> usize {
    3 * Pyramid::side(level).pow(2)
}

/// What the real crops contribute to every evaluation, measured once.
pub struct Reference {
    pyramids: Vec<Pyramid>,
    /// Distance rows of the crops and of the mirrored crops, for nearest-crop searches.
    rows: Vec<f32>,
    mirrored: Vec<f32>,
    swd_floor: Swd,
    face_rate: f64,
    diversity: f64,
    nearest_crop: f64,
    high_frequency: f64,
}

impl Reference {
    /// Measures the real crops (64×64). At least 4 are needed (two halves of two).
    pub fn new(crops: &[RgbImage]) -> Result<Self> {
        if crops.len() < 4 {
            bail!("evaluation needs at least 4 real crops, found {}", crops.len());
        }
        let pyramids: Vec<Pyramid> = crops.par_iter().map(Pyramid::of).collect();
        let all: Vec<&Pyramid> = pyramids.iter().collect();
        // Interleaved halves, so both hold every source folder (crops are sorted by name).
        let first: Vec<&Pyramid> = all.iter().copied().step_by(2).collect();
        let second: Vec<&Pyramid> = all.iter().copied().skip(1).step_by(2).collect();
        let swd_floor = swd(&first, STREAM_FIRST_HALF, &second, STREAM_SECOND_HALF);
        let rows = distance_rows(&all);
        let mirrored = mirrored_rows(&all);
        let to_crops = rms_distances(&rows, &rows);
        let to_mirrored = rms_distances(&rows, &mirrored);
        // Nearest other crop, either way round; a crop and its own mirror do not count.
        let nearest: Vec<f32> = (0..crops.len())
            .map(|i| {
                (0..crops.len()).filter(|&j| j != i).map(|j| to_crops[i][j].min(to_mirrored[i][j])).fold(f32::INFINITY, f32::min)
            })
            .collect();
        Ok(Self {
            swd_floor,
            face_rate: share(&faces_found(crops)),
            diversity: mean_pairwise(&to_crops),
            nearest_crop: median(nearest),
            high_frequency: mean_square(&all, 0),
            rows,
            mirrored,
            pyramids,
        })
    }

    pub fn crops(&self) -> usize {
        self.pyramids.len()
    }

    /// Measures `portraits` (64×64) against the crops.
    pub fn evaluate(&self, portraits: &[RgbImage]) -> Result<Evaluation> {
        if portraits.len() < 2 {
            bail!("evaluation needs at least 2 portraits, got {}", portraits.len());
        }
        let pyramids: Vec<Pyramid> = portraits.par_iter().map(Pyramid::of).collect();
        let fakes: Vec<&Pyramid> = pyramids.iter().collect();
        let reals: Vec<&Pyramid> = self.pyramids.iter().collect();
        let rows = distance_rows(&fakes);
        let to_crops = rms_distances(&rows, &self.rows);
        let to_mirrored = rms_distances(&rows, &self.mirrored);
        let nearest: Vec<f32> = to_crops
            .iter()
            .zip(&to_mirrored)
            .map(|(a, b)| a.iter().chain(b).copied().fold(f32::INFINITY, f32::min))
            .collect();
        Ok(Evaluation {
            portraits: portraits.len(),
            crops: self.crops(),
            swd: swd(&fakes, STREAM_PORTRAITS, &reals, STREAM_CROPS),
            swd_floor: self.swd_floor,
            face_rate: share(&faces_found(portraits)),
            real_face_rate: self.face_rate,
            diversity: mean_pairwise(&rms_distances(&rows, &rows)),
            real_diversity: self.diversity,
            nearest_crop: median(nearest),
            crops_nearest_crop: self.nearest_crop,
            high_frequency: mean_square(&fakes, 0) / self.high_frequency.max(1e-12),
        })
    }
}

/// What `trainer evaluate` measures.
pub enum Portraits {
    /// Portraits of seeds `0..count` from a weights file.
    Generator { weights: PathBuf, count: usize },
    /// The images in a folder.
    Folder(PathBuf),
}

/// `trainer evaluate`: the portraits against the real crops in `data`.
pub fn evaluate(portraits: &Portraits, data: &Path) -> Result<Evaluation> {
    let started = Instant::now();
    let images = match portraits {
        Portraits::Generator { weights, count } => {
            if *count < 2 {
                bail!("--count must be at least 2 (diversity compares portraits)");
            }
            let device = Device::flex();
            let (generator, _) = crate::generator_files::load_weights(weights, &device)?;
            eprintln!("painting {count} portraits (seeds 0…{}) with {}", count - 1, weights.display());
            crate::generator_files::sample::generate(&generator, 0, *count, &device)?
        }
        Portraits::Folder(dir) => load_images(dir, true)?,
    };
    let crops = load_images(data, true)?;
    eprintln!("measuring {} real crops from {}", crops.len(), data.display());
    let reference = Reference::new(&crops)?;
    eprintln!("measuring {} portraits", images.len());
    let evaluation = reference.evaluate(&images)?;
    eprintln!("evaluated in {:.1} s", started.elapsed().as_secs_f64());
    Ok(evaluation)
}

/// Loads every image under `dir` as a 64×64 crop (the training set's loader and framing).
pub fn load_images(dir: &Path, show_progress: bool) -> Result<Vec<RgbImage>> {
    let dataset = crate::data::Dataset::load(dir, IMAGE_SIZE as u32, show_progress)?;
    for (path, why) in dataset.unreadable.iter().take(5) {
        eprintln!("skipped unreadable {}: {why}", path.display());
    }
    Ok(dataset
        .images
        .into_iter()
        .map(RgbImage::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasserstein_of_sorted_samples() {
        assert_eq!(wasserstein_1d(&[0.0, 1.0], &[0.0, 1.0]), 0.0);
        assert!((wasserstein_1d(&[0.0, 1.0], &[1.0, 2.0]) - 1.0).abs() < 1e-12);
        // Unequal sizes: {0, 1} vs {0, 0.5, 1}: quantile functions differ by 0.5 on [1/3, 1/2]
        // and by 0.5 on [1/2, 2/3].
        assert!((wasserstein_1d(&[0.0, 1.0], &[0.0, 0.5, 1.0]) - 1.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn mirror_boundaries_match_scipy() {
        assert_eq!([-2, -1, 0, 3, 4, 5].map(|i| mirror(i, 4)), [2, 1, 0, 3, 2, 1]);
    }

    fn image_from(mut f: impl FnMut(usize, usize, usize) -> u8) -> RgbImage {
        let pixels = (0..IMAGE_SIZE * IMAGE_SIZE * 3).map(|i| f(i / 3 % IMAGE_SIZE, i / 3 / IMAGE_SIZE, i % 3)).collect();
        RgbImage { width: IMAGE_SIZE, height: IMAGE_SIZE, pixels }
    }

    /// A flat image has no detail: its Laplacian levels are zero and its coarsest level is
    /// its colour.
    #[test]
    fn pyramid_of_a_flat_image() {
        let pyramid = Pyramid::of(&image_from(|_, _, c| [10, 100, 200][c]));
        assert!(pyramid.levels[0].iter().chain(&pyramid.levels[1]).all(|v| v.abs() < 1e-3));
        let side = Pyramid::side(2);
        assert!(pyramid.levels[2][..side * side].iter().all(|v| (v - 10.0).abs() < 1e-3));
        assert!(pyramid.levels[2][2 * side * side..].iter().all(|v| (v - 200.0).abs() < 1e-3));
    }

    /// Smooth random blobs with a little grain: a stand-in for paintings.
    fn blobs(count: usize, seed: u64) -> Vec<RgbImage> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count)
            .map(|_| {
                let (cx, cy, r) = (rng.random_range(16.0..48.0), rng.random_range(16.0..48.0), rng.random_range(8.0..20.0));
                let (inside, outside): ([f32; 3], [f32; 3]) = (rng.random(), rng.random());
                let grain: Vec<f32> = (0..IMAGE_SIZE * IMAGE_SIZE * 3).map(|_| rng.random_range(-6.0..6.0)).collect();
                image_from(|x, y, c| {
                    let d = (((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt() - r).clamp(-3.0, 3.0) / 6.0 + 0.5;
                    let v = outside[c] * 255.0 * d + inside[c] * 255.0 * (1.0 - d);
                    (v + grain[(y * IMAGE_SIZE + x) * 3 + c]).clamp(0.0, 255.0) as u8
                })
            })
            .collect()
    }

    /// Images from the crops' own distribution score near the floor; noise and copies of the
    /// crops score badly on the measures meant to catch them.
    #[test]
    fn real_noise_and_copies_score_as_they_should() {
        let crops = blobs(60, 1);
        let reference = Reference::new(&crops).unwrap();
        let same_kind = reference.evaluate(&blobs(60, 2)).unwrap();
        assert!(same_kind.swd_ratio() < 1.6, "{}", same_kind.table());
        assert!((0.8..1.25).contains(&same_kind.high_frequency), "{}", same_kind.table());
        assert!(same_kind.memorisation_ratio() > 0.7, "{}", same_kind.table());

        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let noise: Vec<RgbImage> = (0..60).map(|_| image_from(|_, _, _| rng.random())).collect();
        let noisy = reference.evaluate(&noise).unwrap();
        assert!(noisy.swd_ratio() > 2.0, "{}", noisy.table());
        assert!(noisy.high_frequency > 5.0, "{}", noisy.table());
        assert_eq!(noisy.face_rate, 0.0);

        let copies = reference.evaluate(&crops).unwrap();
        assert!(copies.memorisation_ratio() < 0.05, "{}", copies.table());
        let one_portrait = reference.evaluate(&vec![crops[0].clone(); 10]).unwrap();
        assert!(one_portrait.diversity < 1e-4, "{}", one_portrait.table());

        // Fixed RNGs: the same images give the same numbers.
        let again = reference.evaluate(&blobs(60, 2)).unwrap();
        assert_eq!(again.swd, same_kind.swd);
    }
}
