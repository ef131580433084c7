//! Property tests of what the trainer and the gallery read from outside: a link's painter id and
//! weights files, whole, cut short or with bytes flipped anywhere. Each parses or returns an
//! error, never panics, and what parses round-trips.

use atelier_shared::{GeneratorConfig, Precision, generator_to_bytes, load_generator, painter_id, parse_painter_id};
use burn::module::Module;
use burn::tensor::Device;
use proptest::prelude::*;
use std::sync::OnceLock;

/// A small generator's file at each precision, made once.
fn files() -> &'static [Vec<u8>; 3] {
    static FILES: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    FILES.get_or_init(|| {
        let config = GeneratorConfig::new(2);
        let generator = config.init(&Device::flex()).valid();
        [Precision::Full, Precision::Half, Precision::Int8].map(|p| generator_to_bytes(&generator, &config, p).unwrap())
    })
}

/// Loads `bytes`; when they load, writes the generator again and checks that file loads alike.
fn loads_or_errs(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((generator, config)) = load_generator(bytes, &Device::flex()) {
        let again = generator_to_bytes(&generator, &config, Precision::Full).unwrap();
        let (_, config_again) = load_generator(&again, &Device::flex()).unwrap();
        prop_assert_eq!(config_again, config);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_text_is_a_painter_id_or_none(text in "\\PC{0,12}") {
        if let Some(id) = parse_painter_id(&text) {
            prop_assert_eq!(id.len(), 6);
            prop_assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            prop_assert_eq!(parse_painter_id(&id), Some(id.clone()));
        }
    }

    #[test]
    fn every_painter_id_round_trips(bytes in any::<Vec<u8>>(), upper in any::<bool>()) {
        let id = painter_id(&bytes);
        let link = if upper { id.to_ascii_uppercase() } else { id.clone() };
        prop_assert_eq!(parse_painter_id(&link), Some(id));
    }

    #[test]
    fn weights_with_bytes_flipped_load_or_are_errors(
        file in 0..3usize,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..6),
    ) {
        let mut bytes = files()[file].clone();
        for (at, mask) in flips {
            let at = at.index(bytes.len());
            bytes[at] ^= mask;
        }
        loads_or_errs(&bytes)?;
    }

    #[test]
    fn weights_cut_anywhere_are_errors(file in 0..3usize, cut in any::<prop::sample::Index>()) {
        let bytes = &files()[file];
        let cut = cut.index(bytes.len());
        prop_assert!(load_generator(&bytes[..cut], &Device::flex()).is_err(), "cut at {} of {}", cut, bytes.len());
    }
}

/// Bytes flipped in the header, the metadata and the first tensors, where a reader is most
/// likely to trust a length: every single-bit flip of the first kilobyte.
#[test]
fn every_bit_of_the_header_flipped_loads_or_is_an_error() {
    let bytes = &files()[2];
    for at in 0..bytes.len().min(1024) {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1 << bit;
            let _ = load_generator(&flipped, &Device::flex());
        }
    }
}
