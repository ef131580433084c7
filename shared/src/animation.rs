//! Animated PNG (APNG) out of painted frames: the gallery's "Between two portraits" saved as a
//! moving picture. Browsers, image viewers and most chat apps play APNG; anything else shows its
//! first frame, a still portrait.

/// An animated PNG, looping forever, of `count` square RGBA frames of `size`×`size` pixels laid
/// end to end in `rgba`, each pixel drawn as a `scale`×`scale` block, `delay_ms` per frame.
pub fn animated_png(rgba: &[u8], count: usize, size: usize, scale: usize, delay_ms: u16) -> Result<Vec<u8>, String> {
    if count == 0 || size == 0 || scale == 0 || rgba.len() != count * size * size * 4 {
        return Err(format!("{} bytes are not {count} frames of {size}×{size} RGBA pixels", rgba.len()));
    }
    let side = size * scale;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let error = |e: png::EncodingError| e.to_string();
    encoder.set_animated(count as u32, 0).map_err(error)?;
    encoder.set_frame_delay(delay_ms, 1000).map_err(error)?;
    let mut writer = encoder.write_header().map_err(error)?;
    let mut frame = vec![0u8; side * side * 3];
    for pixels in rgba.chunks_exact(size * size * 4) {
        for (y, row) in frame.chunks_exact_mut(side * 3).enumerate() {
            for (x, out) in row.chunks_exact_mut(3).enumerate() {
                let at = ((y / scale) * size + x / scale) * 4;
                out.copy_from_slice(&pixels[at..at + 3]);
            }
        }
        writer.write_image_data(&frame).map_err(error)?;
    }
    writer.finish().map_err(error)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_play_in_order_at_their_scale() {
        // Three 2×2 frames, each one colour: red, green, blue.
        let colours = [[255u8, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]];
        let rgba: Vec<u8> = colours.iter().flat_map(|c| c.repeat(4)).collect();
        let file = animated_png(&rgba, 3, 2, 3, 100).unwrap();
        let mut decoder = png::Decoder::new(std::io::Cursor::new(file)).read_info().unwrap();
        let info = decoder.info().clone();
        assert_eq!((info.width, info.height), (6, 6));
        let control = info.animation_control.unwrap();
        assert_eq!((control.num_frames, control.num_plays), (3, 0));
        let mut buffer = vec![0; decoder.output_buffer_size().unwrap()];
        for colour in colours {
            decoder.next_frame(&mut buffer).unwrap();
            let delay = decoder.info().frame_control.unwrap();
            assert_eq!((delay.delay_num, delay.delay_den), (100, 1000));
            assert!(buffer[..36 * 3].chunks(3).all(|p| p == &colour[..3]), "{:?}", &buffer[..6]);
        }
        assert!(animated_png(&rgba[1..], 3, 2, 3, 100).is_err());
    }
}
