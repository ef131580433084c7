//! Portraits out of a generator: a batch of seeds painted in memory, and `trainer sample`'s PNG
//! files, with edits along the painter's directions where asked. Each portrait's file carries its
//! seed, painter and edits (see `atelier_shared::provenance`), as the gallery's downloads do.

use anyhow::{Context, Result, bail};
use atelier_shared::{Edit, Generator, IMAGE_SIZE, Provenance, RgbImage, edited_latent, format_edits, latent_batch, png_with_provenance, to_rgb_images};
use burn::tensor::Device;
use std::path::{Path, PathBuf};

use super::load_weights;

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

/// What `trainer sample` paints: seeds `seed..seed + count`, each moved by `edits` along the
/// painter's directions (read from `directions`, or the painter's file in its default place).
pub struct Request<'a> {
    pub weights: &'a Path,
    pub seed: u64,
    pub count: usize,
    pub edits: &'a [Edit],
    pub directions: Option<&'a Path>,
}

/// `trainer sample`: one PNG (`--count 1` or `--grid`), or a folder of `seed-N.png` files.
pub fn sample(request: &Request, as_grid: bool, out: &Path) -> Result<Vec<PathBuf>> {
    let Request { weights, seed, count, edits, directions } = *request;
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let device = Device::flex();
    let (generator, _) = load_weights(weights, &device)?;
    let images = if edits.is_empty() {
        generate(&generator, seed, count, &device)?
    } else {
        let painter = super::painter_id_of(weights)?;
        let path = directions.map_or_else(|| super::directions::default_path(weights, &painter), Path::to_path_buf);
        let directions = super::directions::read(&path, &painter, generator.latent_dim())?;
        let mut latents = Vec::with_capacity(count * generator.latent_dim());
        for i in 0..count as u64 {
            let seed = seed.checked_add(i).context("seed range goes beyond the largest seed (2^64 - 1)")?;
            latents.extend(edited_latent(seed, generator.latent_dim(), edits, Some(&directions)).with_context(|| format!("--edit with {}", path.display()))?);
        }
        super::directions::paint_latents(&generator, latents, &device)?
    };
    if as_grid {
        crate::grid::save_png(&crate::grid::grid(&images, crate::grid::square_columns(count)), out)?;
        return Ok(vec![out.to_path_buf()]);
    }
    // Each portrait's file names it, as the gallery's downloads do: dropped on the gallery, it opens.
    let painter = super::painter_id_of(weights)?;
    let edits = format_edits(edits);
    let save = |image: &RgbImage, seed: u64, path: &Path| -> Result<()> {
        let provenance = Provenance { seed, painter: painter.clone(), edits: edits.clone() };
        let png = png_with_provenance(&crate::grid::png(image)?, &provenance).map_err(|e| anyhow::anyhow!("{e}"))?;
        crate::atomic::write(path, &png)
    };
    if count == 1 {
        save(&images[0], seed, out)?;
        return Ok(vec![out.to_path_buf()]);
    }
    let mut written = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let path = out.join(format!("seed-{}.png", seed + i as u64));
        save(image, seed + i as u64, &path)?;
        written.push(path);
    }
    Ok(written)
}
