//! Pictures for people: images laid out in grids and encoded as PNG.

use anyhow::Result;
use atelier_shared::RgbImage;
use std::path::Path;

/// Gap between grid cells, in pixels.
const GAP: usize = 2;

/// Lays `images` (all the same size) out `columns` wide on a dark background.
pub fn grid(images: &[RgbImage], columns: usize) -> RgbImage {
    let (w, h) = images.first().map(|i| (i.width, i.height)).unwrap_or((0, 0));
    let columns = columns.max(1).min(images.len().max(1));
    let rows = images.len().div_ceil(columns);
    let width = columns * w + (columns + 1) * GAP;
    let height = rows * h + (rows + 1) * GAP;
    let mut pixels = vec![24u8; width * height * 3];
    for (i, image) in images.iter().enumerate() {
        let (x0, y0) = (GAP + (i % columns) * (w + GAP), GAP + (i / columns) * (h + GAP));
        for y in 0..h {
            let from = &image.pixels[y * w * 3..(y + 1) * w * 3];
            let at = ((y0 + y) * width + x0) * 3;
            pixels[at..at + w * 3].copy_from_slice(from);
        }
    }
    RgbImage { width, height, pixels }
}

/// The number of columns for a near-square grid of `count` images.
pub fn square_columns(count: usize) -> usize {
    (1..=count.max(1)).find(|c| c * c >= count).unwrap_or(1)
}

/// PNG bytes of an image (deterministic: same pixels, same bytes).
pub fn png(image: &RgbImage) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out).write_image(
        &image.pixels,
        image.width as u32,
        image.height as u32,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// Writes an image as PNG, atomically.
pub fn save_png(image: &RgbImage, path: &Path) -> Result<()> {
    crate::atomic::write(path, &png(image)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_cells_with_gaps() {
        let cell = |v: u8| RgbImage { width: 1, height: 1, pixels: vec![v, v, v] };
        let g = grid(&[cell(1), cell(2), cell(3)], 2);
        assert_eq!((g.width, g.height), (2 + 3 * GAP, 2 + 3 * GAP));
        let px = |x: usize, y: usize| g.pixels[(y * g.width + x) * 3];
        assert_eq!(px(GAP, GAP), 1);
        assert_eq!(px(GAP + 1 + GAP, GAP), 2);
        assert_eq!(px(GAP, GAP + 1 + GAP), 3);
        assert_eq!(px(0, 0), 24);
        assert_eq!(square_columns(16), 4);
        assert_eq!(square_columns(5), 3);
        assert_eq!(square_columns(1), 1);
    }
}
