//! The generator weights file: burnpack (Burn's record format) with the architecture stored
//! as metadata, so loading needs no flags and a file of another architecture is a clear error.
//!
//! Weights may be stored as F32 or, for the web, F16 (BatchNorm stays F32); loading accepts both.
//!
//! Every weights file has a **painter id**: the first six hex digits of its SHA-256. Share links
//! carry it next to the seed, so a link keeps naming the same portrait after the gallery's
//! generator is replaced, and `trainer sample` prints it, so a link's portrait can be painted
//! natively from the file with that id.

use burn::store::{BurnpackStore, FloatCastAdapter, HalfPrecisionAdapter, ModuleSnapshot, burn_pack};
use burn::module::Module;
use burn::tensor::{Bytes, DType, Device};
use std::fmt;

use crate::latent::LATENT_ALGORITHM;
use crate::model::{Generator, GeneratorConfig};

/// Hex digits in a painter id.
pub const PAINTER_ID_LEN: usize = 6;

/// The painter id of a weights file: the first [`PAINTER_ID_LEN`] hex digits of its SHA-256.
pub fn painter_id(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    hex[..PAINTER_ID_LEN].to_string()
}

/// A painter id as a link carries it: exactly [`PAINTER_ID_LEN`] hex digits (either case),
/// returned in lower case; anything else is `None`.
pub fn parse_painter_id(text: &str) -> Option<String> {
    let text = text.trim();
    (text.len() == PAINTER_ID_LEN && text.bytes().all(|b| b.is_ascii_hexdigit())).then(|| text.to_ascii_lowercase())
}

/// Metadata key holding the [`GeneratorConfig`] as JSON.
const CONFIG_KEY: &str = "atelier.generator";
/// Metadata key naming the seed → latent algorithm the weights were sampled with.
const LATENT_KEY: &str = "atelier.latent";

/// Why a weights file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsError {
    /// Not a burnpack file, or a damaged one.
    Corrupt(String),
    /// A burnpack file, but not an atelier generator (or of a newer format).
    NotAGenerator(String),
    /// The tensors do not fit the architecture the file declares.
    Mismatch(String),
    /// Writing the file failed.
    Save(String),
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightsError::Corrupt(why) => write!(f, "not a valid burnpack weights file ({why})"),
            WeightsError::NotAGenerator(why) => write!(f, "not an atelier generator ({why})"),
            WeightsError::Mismatch(why) => {
                write!(f, "the weights do not match the architecture they declare ({why})")
            }
            WeightsError::Save(why) => write!(f, "could not encode the weights ({why})"),
        }
    }
}

impl std::error::Error for WeightsError {}

/// Encodes a generator with its architecture; `half` stores conv weights as F16.
pub fn generator_to_bytes(
    generator: &Generator,
    config: &GeneratorConfig,
    half: bool,
) -> Result<Vec<u8>, WeightsError> {
    let config_json = serde_json::to_string(config).map_err(|e| WeightsError::Save(e.to_string()))?;
    let mut store = BurnpackStore::from_bytes(None)
        .metadata(CONFIG_KEY, config_json)
        .metadata(LATENT_KEY, LATENT_ALGORITHM);
    if half {
        store = store.with_to_adapter(HalfPrecisionAdapter::new());
    }
    generator.save_into(&mut store).map_err(|e| WeightsError::Save(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| WeightsError::Save(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// Reads the architecture declared by a weights file without loading its tensors.
pub fn read_generator_config(bytes: &[u8]) -> Result<GeneratorConfig, WeightsError> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    let metadata = reader.metadata();
    let json = metadata.get(CONFIG_KEY).ok_or_else(|| {
        WeightsError::NotAGenerator(format!("no `{CONFIG_KEY}` entry in its metadata"))
    })?;
    match metadata.get(LATENT_KEY) {
        Some(algorithm) if algorithm == LATENT_ALGORITHM => {}
        other => {
            return Err(WeightsError::NotAGenerator(format!(
                "it was made for latent algorithm {other:?}, this build uses {LATENT_ALGORITHM:?}"
            )));
        }
    }
    let config: GeneratorConfig = serde_json::from_str(json)
        .map_err(|e| WeightsError::NotAGenerator(format!("unreadable architecture: {e}")))?;
    if config.width == 0 || config.width > 1024 || config.latent_dim == 0 || config.latent_dim > 4096 {
        return Err(WeightsError::NotAGenerator(format!("implausible architecture {config:?}")));
    }
    Ok(config)
}

/// Loads a generator for inference (BatchNorm uses its running statistics).
pub fn load_generator(bytes: &[u8], device: &Device) -> Result<(Generator, GeneratorConfig), WeightsError> {
    let config = read_generator_config(bytes)?;
    let mut generator = config.init(device);
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes.to_vec())))
        .with_from_adapter(FloatCastAdapter::to(DType::F32));
    generator
        .load_from(&mut store)
        .map_err(|e| WeightsError::Mismatch(e.to_string()))?;
    Ok((generator.valid(), config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latent_batch;

    fn sample(generator: &Generator, device: &Device) -> Vec<f32> {
        let z = latent_batch(&[5, 6], generator.latent_dim(), device);
        generator.forward(z).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn painter_ids_are_the_start_of_the_sha256_and_parse_strictly() {
        // SHA-256("abc") = ba7816bf…
        assert_eq!(painter_id(b"abc"), "ba7816");
        assert_eq!(painter_id(b""), "e3b0c4");
        assert_eq!(parse_painter_id("BA7816"), Some("ba7816".to_string()));
        assert_eq!(parse_painter_id(" 3f9a1c "), Some("3f9a1c".to_string()));
        for bad in ["", "3f9a1", "3f9a1c0", "3f9a1g", "<img>", "../../x", "３f9a1c", "0x3f9a"] {
            assert_eq!(parse_painter_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trip_gives_identical_outputs() {
        let device = Device::flex();
        let config = GeneratorConfig::new(4);
        let generator = config.init(&device).valid();
        let bytes = generator_to_bytes(&generator, &config, false).unwrap();
        let (loaded, loaded_config) = load_generator(&bytes, &device).unwrap();
        assert_eq!(loaded_config, config);
        assert_eq!(sample(&generator, &device), sample(&loaded, &device));
    }

    #[test]
    fn half_precision_is_smaller_and_close() {
        let device = Device::flex();
        let config = GeneratorConfig::new(8);
        let generator = config.init(&device).valid();
        let full = generator_to_bytes(&generator, &config, false).unwrap();
        let half = generator_to_bytes(&generator, &config, true).unwrap();
        assert!(half.len() * 10 < full.len() * 6, "{} vs {}", half.len(), full.len());
        let (loaded, _) = load_generator(&half, &device).unwrap();
        let (a, b) = (sample(&generator, &device), sample(&loaded, &device));
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst < 0.02, "largest difference {worst}");
    }

    #[test]
    fn garbage_and_truncated_files_are_errors() {
        let device = Device::flex();
        assert!(matches!(load_generator(b"not a model", &device), Err(WeightsError::Corrupt(_))));
        let config = GeneratorConfig::new(4);
        let bytes = generator_to_bytes(&config.init(&device), &config, false).unwrap();
        let truncated = &bytes[..bytes.len() / 2];
        assert!(load_generator(truncated, &device).is_err());
    }

    #[test]
    fn a_file_of_another_architecture_is_an_error() {
        let device = Device::flex();
        let config = GeneratorConfig::new(4);
        let mut bytes = generator_to_bytes(&config.init(&device), &config, false).unwrap();
        // Claim width 8 while holding width-4 tensors: same JSON length, so the header stays valid.
        let (from, to) = (br#""width":4"#, br#""width":8"#);
        let at = bytes.windows(from.len()).position(|w| w == from).expect("config in metadata");
        bytes[at..at + from.len()].copy_from_slice(to);
        assert!(matches!(load_generator(&bytes, &device), Err(WeightsError::Mismatch(_))));
    }
}
