//! Generator output → 8-bit RGB pixels, the one conversion used natively and in the browser.
//!
//! The generator ends in `tanh`, so values lie in [-1, 1]. Each value maps to
//! `round((v + 1) * 127.5)` clamped to 0..=255; NaN maps to 0.

/// One 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// The same pixels with an opaque alpha channel, as a canvas `ImageData` wants.
    pub fn to_rgba(&self) -> Vec<u8> {
        self.pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    }
}

/// Maps one tanh-range value to a byte.
pub fn to_byte(value: f32) -> u8 {
    let scaled = (value + 1.0) * 127.5;
    // `round()`, half away from zero, by hand: WebAssembly has no instruction for it (only for
    // `trunc`), and a call per value costs the browser's painter ~3 ms per 16 portraits. The
    // fraction `scaled - whole` is exact; below zero the result clamps to 0 either way.
    let whole = scaled.trunc();
    let rounded = if scaled - whole >= 0.5 { whole + 1.0 } else { whole };
    // `as u8` saturates and maps NaN to 0.
    rounded.clamp(0.0, 255.0) as u8
}

/// Converts an NCHW batch (`[batch, 3, height, width]`, flattened) into images.
///
/// # Panics
/// If `values.len()` is not `batch * 3 * height * width`.
pub fn to_rgb_images(values: &[f32], batch: usize, height: usize, width: usize) -> Vec<RgbImage> {
    let plane = height * width;
    assert_eq!(values.len(), batch * 3 * plane, "tensor size does not match [batch, 3, h, w]");
    values
        .chunks_exact(3 * plane)
        .map(|image| {
            let mut pixels = Vec::with_capacity(3 * plane);
            for i in 0..plane {
                pixels.extend([0, 1, 2].map(|c| to_byte(image[c * plane + i])));
            }
            RgbImage { width, height, pixels }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_range_maps_to_full_byte_range() {
        assert_eq!(to_byte(-1.0), 0);
        assert_eq!(to_byte(1.0), 255);
        assert_eq!(to_byte(0.0), 128); // 127.5 rounds half away from zero
        assert_eq!(to_byte(-0.5), 64); // 63.75
        assert_eq!(to_byte(7.0), 255);
        assert_eq!(to_byte(-7.0), 0);
        assert_eq!(to_byte(f32::NAN), 0);
    }

    /// The same bytes as `round()`: near every rounding boundary value by value, elsewhere every
    /// 97th float of the tanh range and beyond.
    #[test]
    fn bytes_round_half_away_from_zero_as_round_does() {
        let reference = |v: f32| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8;
        let check = |v: f32| assert_eq!(to_byte(v), reference(v), "{v:e} ({:#x})", v.to_bits());
        for boundary in 0..=256 {
            let v = (boundary as f32 - 0.5) / 127.5 - 1.0;
            for ulps in -300i32..=300 {
                check(f32::from_bits((v.to_bits() as i32 + ulps) as u32));
            }
        }
        for bits in (0..(1.2f32).to_bits()).step_by(97) {
            check(f32::from_bits(bits));
            check(-f32::from_bits(bits));
        }
        for v in [f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, 1e30, -1e30] {
            check(v);
        }
    }

    #[test]
    fn planes_are_interleaved_per_pixel() {
        // One 1×2 image: R plane [-1, 1], G plane [1, -1], B plane [0, 0].
        let values = [-1.0, 1.0, 1.0, -1.0, 0.0, 0.0];
        let images = to_rgb_images(&values, 1, 1, 2);
        assert_eq!(images[0].pixels, vec![0, 255, 128, 255, 0, 128]);
        assert_eq!(images[0].to_rgba(), vec![0, 255, 128, 255, 255, 0, 128, 255]);
    }
}
