//! Portraits out of a generator: a batch of seeds painted in memory, and `trainer sample`'s PNG
//! files, with edits along the painter's directions where asked. Each portrait's file carries its
//! seed, painter and edits (see `atelier_shared::provenance`), as the gallery's downloads do.

use anyhow::{Context, Result, bail};
use atelier_shared::{Edit, Generator, IMAGE_SIZE, Provenance, RgbImage, edited_latent, format_edits, latent_for_seed, png_with_provenance, to_rgb_images};
use burn::tensor::{Device, Tensor, TensorData};
use std::path::{Path, PathBuf};

use super::load_painter;

/// Portraits for consecutive seeds `first_seed..first_seed + count`.
pub fn generate(generator: &Generator, first_seed: u64, count: usize, device: &Device) -> Result<Vec<RgbImage>> {
    paint_seeds(generator, &seeds_from(first_seed, count)?, device)
}

/// Portraits for `seeds`, in order.
pub fn paint_seeds(generator: &Generator, seeds: &[u64], device: &Device) -> Result<Vec<RgbImage>> {
    let latents = seeds.iter().flat_map(|&seed| latent_for_seed(seed, generator.latent_dim())).collect();
    paint_latents(generator, latents, device)
}

/// Seeds `first..first + count`, or an error where they would pass the largest seed.
fn seeds_from(first: u64, count: usize) -> Result<Vec<u64>> {
    (0..count as u64).map(|i| first.checked_add(i).context("seed range goes beyond the largest seed (2^64 - 1)")).collect()
}

/// Portraits for latents laid end to end (`latent_dim` values each), 64 per generator call.
pub fn paint_latents(generator: &Generator, latents: Vec<f32>, device: &Device) -> Result<Vec<RgbImage>> {
    let dim = generator.latent_dim();
    let mut images = Vec::with_capacity(latents.len() / dim);
    for chunk in latents.chunks(64 * dim) {
        let count = chunk.len() / dim;
        let z = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [count, dim]), device);
        let values: Vec<f32> = generator.forward(z).into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        images.extend(to_rgb_images(&values, count, IMAGE_SIZE, IMAGE_SIZE));
    }
    Ok(images)
}

/// What `trainer sample` paints: seeds `seed..seed + count`, each moved by `edits` along the
/// painter's directions (read from `directions`, or the painter's file in its default place).
pub struct Request<'a> {
    pub weights: &'a Path,
    pub seed: u64,
    pub count: usize,
    pub edits: &'a [Edit],
    pub directions: Option<&'a Path>,
}

/// What `trainer sample` wrote, and the painter id of the weights that painted it.
pub struct Sampled {
    pub written: Vec<PathBuf>,
    pub painter: String,
}

/// `trainer sample`: one PNG (`--count 1` or `--grid`), or a folder of `seed-N.png` files.
pub fn sample(request: &Request, as_grid: bool, out: &Path) -> Result<Sampled> {
    let Request { weights, seed, count, edits, directions } = *request;
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let device = Device::flex();
    let (generator, _, painter) = load_painter(weights, &device)?;
    let dim = generator.latent_dim();
    // Directions are read only for edits: a painter without them still paints its seeds.
    let directions = if edits.is_empty() {
        None
    } else {
        let path = directions.map_or_else(|| super::directions::default_path(weights, &painter), Path::to_path_buf);
        Some((super::directions::read(&path, &painter, dim)?, path))
    };
    let mut latents = Vec::with_capacity(count * dim);
    for seed in seeds_from(seed, count)? {
        let latent = match &directions {
            Some((directions, path)) => edited_latent(seed, dim, edits, Some(directions)).with_context(|| format!("--edit with {}", path.display()))?,
            None => latent_for_seed(seed, dim),
        };
        latents.extend(latent);
    }
    let images = paint_latents(&generator, latents, &device)?;
    if as_grid {
        crate::grid::save_png(&crate::grid::grid(&images, crate::grid::square_columns(count)), out)?;
        return Ok(Sampled { written: vec![out.to_path_buf()], painter });
    }
    // Each portrait's file names it, as the gallery's downloads do: dropped on the gallery, it opens.
    let edits = format_edits(edits);
    let save = |image: &RgbImage, seed: u64, path: &Path| -> Result<()> {
        let provenance = Provenance { seed, painter: painter.clone(), edits: edits.clone() };
        let png = png_with_provenance(&crate::grid::png(image)?, &provenance).map_err(|e| anyhow::anyhow!("{e}"))?;
        crate::atomic::write(path, &png)
    };
    let written = if count == 1 {
        save(&images[0], seed, out)?;
        vec![out.to_path_buf()]
    } else {
        let mut written = Vec::with_capacity(count);
        for (i, image) in images.iter().enumerate() {
            let path = out.join(format!("seed-{}.png", seed + i as u64));
            save(image, seed + i as u64, &path)?;
            written.push(path);
        }
        written
    };
    Ok(Sampled { written, painter })
}
