//! Augmentation of real images with the exact semantics of the seed's PIL calls:
//! `ImageEnhance.Color`, then `ImageEnhance.Sharpness` (each with a factor drawn from
//! U(0.5, 1.5)), then a horizontal mirror with p = 0.5.
//!
//! PIL's enhancers blend the image with a "degenerate" version of itself:
//! `out = degenerate + factor * (image - degenerate)`, computed in `f32` and truncated to a byte
//! after clipping to 0..=255 (PIL's `ImagingBlend`).
//! - Colour: the degenerate image is the luma `L = (19595 R + 38470 G + 7471 B + 2^15) >> 16`,
//!   PIL's fixed-point form of `0.299 R + 0.587 G + 0.114 B`, in all three channels.
//! - Sharpness: the degenerate image is PIL's SMOOTH filter, the 3×3 kernel
//!   `[[1,1,1],[1,5,1],[1,1,1]] / 13` rounded to the nearest byte, with border pixels unchanged.

use rand::Rng;

/// A square RGB image, row-major, 3 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rgb {
    pub size: usize,
    pub pixels: Vec<u8>,
}

impl From<Rgb> for atelier_shared::RgbImage {
    fn from(image: Rgb) -> Self {
        Self { width: image.size, height: image.size, pixels: image.pixels }
    }
}

/// The random choices for one image, drawn in a fixed order so runs are reproducible.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    pub saturation: f32,
    pub sharpness: f32,
    pub mirror: bool,
}

impl Augmentation {
    pub fn draw(rng: &mut impl Rng) -> Self {
        Self {
            saturation: rng.random_range(0.5..1.5),
            sharpness: rng.random_range(0.5..1.5),
            mirror: rng.random_bool(0.5),
        }
    }

    pub fn apply(&self, image: &Rgb) -> Rgb {
        let coloured = adjust_saturation(image, self.saturation);
        let sharpened = adjust_sharpness(&coloured, self.sharpness);
        if self.mirror { mirror(&sharpened) } else { sharpened }
    }
}

/// PIL `ImagingBlend(degenerate, image, factor)` for one byte.
fn blend(degenerate: u8, value: u8, factor: f32) -> u8 {
    let out = degenerate as f32 + factor * (value as f32 - degenerate as f32);
    // Truncation toward zero after clipping, as PIL does.
    out.clamp(0.0, 255.0) as u8
}

/// PIL's RGB → L conversion.
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * r as u32 + 38470 * g as u32 + 7471 * b as u32 + 0x8000) >> 16) as u8
}

/// `ImageEnhance.Color(image).enhance(factor)`.
pub fn adjust_saturation(image: &Rgb, factor: f32) -> Rgb {
    let pixels = image
        .pixels
        .chunks_exact(3)
        .flat_map(|p| {
            let l = luma(p[0], p[1], p[2]);
            [blend(l, p[0], factor), blend(l, p[1], factor), blend(l, p[2], factor)]
        })
        .collect();
    Rgb { size: image.size, pixels }
}

/// `image.filter(ImageFilter.SMOOTH)`.
pub fn smooth(image: &Rgb) -> Rgb {
    let n = image.size;
    let at = |x: usize, y: usize, c: usize| image.pixels[(y * n + x) * 3 + c] as u32;
    let mut out = image.pixels.clone();
    for y in 1..n.saturating_sub(1) {
        for x in 1..n - 1 {
            for c in 0..3 {
                let mut sum = 4 * at(x, y, c);
                for (dx, dy) in [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (2, 2)] {
                    sum += at(x + dx - 1, y + dy - 1, c);
                }
                // Round half up: (sum / 13 + 0.5) in integers.
                out[(y * n + x) * 3 + c] = ((2 * sum + 13) / 26) as u8;
            }
        }
    }
    Rgb { size: n, pixels: out }
}

/// `ImageEnhance.Sharpness(image).enhance(factor)`.
pub fn adjust_sharpness(image: &Rgb, factor: f32) -> Rgb {
    let degenerate = smooth(image);
    let pixels = degenerate.pixels.iter().zip(&image.pixels).map(|(&d, &v)| blend(d, v, factor)).collect();
    Rgb { size: image.size, pixels }
}

/// Horizontal mirror.
pub fn mirror(image: &Rgb) -> Rgb {
    let n = image.size;
    let mut pixels = Vec::with_capacity(image.pixels.len());
    for row in image.pixels.chunks_exact(n * 3) {
        for pixel in row.chunks_exact(3).rev() {
            pixels.extend_from_slice(pixel);
        }
    }
    Rgb { size: n, pixels }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn image(size: usize, f: impl Fn(usize, usize) -> [u8; 3]) -> Rgb {
        let pixels = (0..size * size).flat_map(|i| f(i % size, i / size)).collect();
        Rgb { size, pixels }
    }

    #[test]
    fn luma_is_pils_fixed_point_formula() {
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(255, 0, 0), 76); // 0.299 * 255 = 76.2
        assert_eq!(luma(0, 255, 0), 150); // 0.587 * 255 = 149.7
        assert_eq!(luma(0, 0, 255), 29); // 0.114 * 255 = 29.1
        assert_eq!(luma(100, 150, 200), 141); // 29.9 + 88.05 + 22.8 = 140.75
    }

    #[test]
    fn saturation_by_hand() {
        let img = image(1, |_, _| [100, 150, 200]); // L = 141
        // factor 0.5: 141 + 0.5 * (v - 141) → 120.5, 145.5, 170.5 → truncated
        assert_eq!(adjust_saturation(&img, 0.5).pixels, vec![120, 145, 170]);
        // factor 1.5: 141 + 1.5 * (v - 141) → 79.5, 154.5, 229.5
        assert_eq!(adjust_saturation(&img, 1.5).pixels, vec![79, 154, 229]);
        // factor 0 is grey, factor 1 the identity.
        assert_eq!(adjust_saturation(&img, 0.0).pixels, vec![141, 141, 141]);
        assert_eq!(adjust_saturation(&img, 1.0).pixels, img.pixels);
        // Extrapolation clips: red 250 with L = 76: 76 + 1.5 * 174 = 337 → 255; G: 76 - 114 → 0.
        let red = image(1, |_, _| [250, 0, 0]);
        assert_eq!(luma(250, 0, 0), 75);
        assert_eq!(adjust_saturation(&red, 1.5).pixels, vec![255, 0, 0]);
    }

    #[test]
    fn smooth_and_sharpness_by_hand() {
        // 3×3 grey image, a bright centre: only the centre is filtered.
        let img = image(3, |x, y| if (x, y) == (1, 1) { [200; 3] } else { [10; 3] });
        // centre: (8 * 10 + 5 * 200) / 13 = 1080 / 13 = 83.08 → 83
        let smoothed = smooth(&img);
        assert_eq!(&smoothed.pixels[12..15], &[83, 83, 83]);
        assert_eq!(smoothed.pixels[..12], img.pixels[..12]); // border unchanged
        // sharpness 1.5 at the centre: 83 + 1.5 * (200 - 83) = 258.5 → 255; 0.5: 141.5 → 141
        assert_eq!(&adjust_sharpness(&img, 1.5).pixels[12..15], &[255, 255, 255]);
        assert_eq!(&adjust_sharpness(&img, 0.5).pixels[12..15], &[141, 141, 141]);
        // Rounding to nearest: centre 0, one corner c, six more neighbours 1 → sum = c + 7.
        let corner = |c: u8| image(3, move |x, y| match (x, y) { (1, 1) => [0; 3], (0, 0) => [c; 3], _ => [1; 3] });
        assert_eq!(smooth(&corner(90)).pixels[12], 7); // 97 / 13 = 7.46
        assert_eq!(smooth(&corner(91)).pixels[12], 8); // 98 / 13 = 7.54
    }

    #[test]
    fn mirror_flips_rows() {
        let img = image(2, |x, y| [x as u8, y as u8, 9]);
        assert_eq!(mirror(&img).pixels, vec![1, 0, 9, 0, 0, 9, 1, 1, 9, 0, 1, 9]);
        assert_eq!(mirror(&mirror(&img)), img);
    }

    fn fixture(name: &str) -> Rgb {
        let path = format!("{}/tests/fixtures/augment/{name}", env!("CARGO_MANIFEST_DIR"));
        let img = image::open(&path).unwrap_or_else(|e| panic!("{path}: {e}")).to_rgb8();
        Rgb { size: img.width() as usize, pixels: img.into_raw() }
    }

    /// Byte-for-byte against Pillow's own output (see tests/fixtures/augment/README.md).
    #[test]
    fn matches_pillow_exactly() {
        let input = fixture("input.png");
        for factor in [0.5f32, 0.77, 1.5] {
            assert_eq!(adjust_saturation(&input, factor), fixture(&format!("color-{factor}.png")), "Color {factor}");
            assert_eq!(adjust_sharpness(&input, factor), fixture(&format!("sharpness-{factor}.png")), "Sharpness {factor}");
        }
        let chained = Augmentation { saturation: 1.23, sharpness: 0.61, mirror: true }.apply(&input);
        assert_eq!(chained, fixture("chain-color1.23-sharp0.61-mirror.png"));
    }

    #[test]
    fn draws_are_in_range_and_reproducible() {
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let draws: Vec<_> = (0..1000).map(|_| Augmentation::draw(&mut a)).collect();
        assert!(draws.iter().all(|d| (0.5..1.5).contains(&d.saturation) && (0.5..1.5).contains(&d.sharpness)));
        let mirrored = draws.iter().filter(|d| d.mirror).count();
        assert!((400..600).contains(&mirrored), "{mirrored} mirrored");
        assert_eq!(draws[0], Augmentation::draw(&mut b));
    }
}
