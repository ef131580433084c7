//! The training set: every image under a folder, decoded in parallel, brought to 64×64 without
//! squashing (scale the short side, centre-crop) and held in memory; [`augment`] and
//! [`batches`] turn it into the batches the training loop consumes.

pub mod augment;
pub mod batches;

use anyhow::{Result, bail};
use image::{DynamicImage, ImageReader, Limits, imageops::FilterType};
use indicatif::{ParallelProgressIterator, ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

use augment::Rgb;

/// File extensions considered images.
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "pgm", "ppm", "pnm", "tga", "qoi"];
/// Largest image side accepted: anything larger is rejected before decoding (decompression bombs).
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest decoder allocation accepted.
const MAX_DECODE_BYTES: u64 = 1 << 30;

/// Every image file under `root`, recursively, sorted so runs see the same order everywhere.
pub fn find_images(root: &Path) -> Result<Vec<PathBuf>> {
    if !root.is_dir() {
        bail!("the data folder {} does not exist or is not a folder", root.display());
    }
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot read folder {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if has_image_extension(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Decodes one image with size limits, honouring EXIF orientation. Errors are one line.
pub fn decode(path: &Path) -> Result<DynamicImage, String> {
    decode_inner(path).map_err(|why| why.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn decode_inner(path: &Path) -> Result<DynamicImage, String> {
    let mut reader = ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let orientation = image::ImageDecoder::orientation(&mut decoder).ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(image)
}

/// Flattens transparency onto neutral grey and returns 8-bit RGB.
pub fn flatten_to_rgb(image: &DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = px[3] as u32;
        for c in 0..3 {
            out[c] = ((px[c] as u32 * alpha + 128 * (255 - alpha) + 127) / 255) as u8;
        }
    }
    rgb
}

/// Scales the short side to `size` and centre-crops: no squashing.
pub fn to_square(image: &DynamicImage, size: u32) -> Rgb {
    let rgb = DynamicImage::ImageRgb8(flatten_to_rgb(image));
    let square = if rgb.width() == size && rgb.height() == size {
        rgb
    } else {
        rgb.resize_to_fill(size, size, FilterType::Lanczos3)
    };
    Rgb { size: size as usize, pixels: square.into_rgb8().into_raw() }
}

/// A progress bar over `len` files, or a hidden one.
pub fn counting_bar(show: bool, len: usize, label: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let template = format!("{label} {{bar:30}} {{pos}}/{{len}} {{per_sec}} ETA {{eta}}");
    ProgressBar::new(len as u64).with_style(ProgressStyle::with_template(&template).expect("valid template"))
}

/// Images in memory plus what could not be read.
pub struct Dataset {
    pub images: Vec<Rgb>,
    /// Files that could not be decoded, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Dataset {
    /// Loads every image under `root` at `size`×`size`. Unreadable files are skipped and
    /// reported; an empty result is an error.
    pub fn load(root: &Path, size: u32, show_progress: bool) -> Result<Self> {
        let paths = find_images(root)?;
        if paths.is_empty() {
            bail!(
                "no images found under {} (looked for {})",
                root.display(),
                IMAGE_EXTENSIONS.join(", ")
            );
        }
        let bar = counting_bar(show_progress, paths.len(), "loading images");
        let results: Vec<_> = paths
            .par_iter()
            .progress_with(bar.clone())
            .map(|path| decode(path).map(|image| to_square(&image, size)))
            .collect();
        bar.finish_and_clear();
        let mut images = Vec::new();
        let mut unreadable = Vec::new();
        for (path, result) in paths.into_iter().zip(results) {
            match result {
                Ok(image) => images.push(image),
                Err(why) => unreadable.push((path, why)),
            }
        }
        if images.is_empty() {
            bail!("none of the {} image files under {} could be read", unreadable.len(), root.display());
        }
        Ok(Self { images, unreadable })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squares_are_cropped_not_squashed() {
        // A 4×2 image: left half black, right half white → after a centre crop to 2×2 and no
        // resize the left column is black, the right white.
        let mut img = image::RgbImage::new(4, 2);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if x < 2 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) };
        }
        let square = to_square(&DynamicImage::ImageRgb8(img), 2);
        assert_eq!(square.pixels.len(), 12);
        assert!(square.pixels[0] < 40 && square.pixels[3] > 215, "{:?}", square.pixels);
    }

    #[test]
    fn transparency_is_flattened_on_grey() {
        let img = image::RgbaImage::from_raw(2, 1, vec![255, 0, 0, 0, 255, 0, 0, 255]).unwrap();
        let rgb = flatten_to_rgb(&DynamicImage::ImageRgba8(img));
        assert_eq!(rgb.into_raw(), vec![128, 128, 128, 255, 0, 0]);
    }

    #[test]
    fn missing_empty_and_broken_folders_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = Dataset::load(&dir.path().join("nope"), 8, false).err().unwrap().to_string();
        assert!(err.contains("does not exist"), "{err}");
        let err = Dataset::load(dir.path(), 8, false).err().unwrap().to_string();
        assert!(err.contains("no images found"), "{err}");
        std::fs::write(dir.path().join("broken.jpg"), b"not a jpeg").unwrap();
        let err = Dataset::load(dir.path(), 8, false).err().unwrap().to_string();
        assert!(err.contains("could be read"), "{err}");
        image::RgbImage::new(10, 20).save(dir.path().join("ok.png")).unwrap();
        let data = Dataset::load(dir.path(), 8, false).unwrap();
        assert_eq!((data.images.len(), data.unreadable.len()), (1, 1));
        assert!(data.unreadable[0].0.ends_with("broken.jpg"));
    }
}
