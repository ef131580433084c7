//! The generator weights file: burnpack (Burn's record format) with the architecture stored
//! as metadata, so loading needs no flags and a file of another architecture is a clear error.
//!
//! Weights may be stored as F32, F16 (BatchNorm stays F32), or with the convolution kernels as
//! 8-bit integers and one scale per output channel (the web's: a quarter of the bytes); loading
//! accepts all three.
//!
//! Every weights file has a **painter id**: the first six hex digits of its SHA-256. Share links
//! carry it next to the seed, so a link keeps naming the same portrait after the gallery's
//! generator is replaced, and `trainer sample` prints it, so a link's portrait can be painted
//! natively from the file with that id.

use burn::store::{BurnpackStore, FloatCastAdapter, HalfPrecisionAdapter, ModuleAdapter, ModuleContext, ModuleSnapshot, bridge, burn_pack};
use burn::module::Module;
use burn::tensor::{Bytes, DType, Device, Shape, TensorData};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::finite::{NotFinite, check_finite, check_finite_tensors};
use crate::latent::LATENT_ALGORITHM;
use crate::model::{Generator, GeneratorConfig};

/// Hex digits in a painter id.
pub const PAINTER_ID_LEN: usize = 6;

/// The painter id of a weights file: the first [`PAINTER_ID_LEN`] hex digits of its SHA-256.
pub fn painter_id(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..PAINTER_ID_LEN].to_string()
}

/// The SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
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
/// Metadata key of an 8-bit file's scales, as JSON: `{kernel name: [one scale per output channel]}`.
const INT8_SCALES_KEY: &str = "atelier.int8-scales";

/// How a weights file stores the convolution kernels, nearly all of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats, as trained.
    Full,
    /// 16-bit floats (BatchNorm stays F32): half the size.
    Half,
    /// 8-bit integers, one F32 scale per output channel (biases and BatchNorm stay F32): a
    /// quarter of the size. Every weight is within half a step of its value, the step being its
    /// channel's largest magnitude / 127.
    Int8,
}

/// Why a weights file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsError {
    /// Not a burnpack file, or a damaged one.
    Corrupt(String),
    /// A burnpack file, but not an atelier generator (or of a newer format).
    NotAGenerator(String),
    /// The tensors do not fit the architecture the file declares.
    Mismatch(String),
    /// Values that are not numbers (NaN or infinite), as a diverged run leaves them.
    NotFinite(NotFinite),
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
            WeightsError::NotFinite(where_) => {
                write!(f, "the weights are not all numbers: {where_}; they come from a run that diverged")
            }
            WeightsError::Save(why) => write!(f, "could not encode the weights ({why})"),
        }
    }
}

impl std::error::Error for WeightsError {}

/// Encodes a generator with its architecture, its kernels at `precision`; weights that are not
/// all finite are refused.
pub fn generator_to_bytes(
    generator: &Generator,
    config: &GeneratorConfig,
    precision: Precision,
) -> Result<Vec<u8>, WeightsError> {
    check_finite(generator).map_err(WeightsError::NotFinite)?;
    let config_json = serde_json::to_string(config).map_err(|e| WeightsError::Save(e.to_string()))?;
    let store = BurnpackStore::from_bytes(None).metadata(CONFIG_KEY, config_json).metadata(LATENT_KEY, LATENT_ALGORITHM);
    let mut store = match precision {
        Precision::Full => store.with_to_adapter(WithoutParamIds),
        Precision::Half => store.with_to_adapter(HalfPrecisionAdapter::new().chain(WithoutParamIds)),
        Precision::Int8 => {
            // Each kernel quantized once, here: its scales go into the metadata (written before
            // the tensors), its levels replace it as the tensors are written.
            let (levels, scales) = quantize_kernels(generator)?;
            let scales_json = serde_json::to_string(&scales).map_err(|e| WeightsError::Save(e.to_string()))?;
            store.metadata(INT8_SCALES_KEY, scales_json).with_to_adapter(KernelsToInt8 { levels: Arc::new(levels) }.chain(WithoutParamIds))
        }
    };
    generator.save_into(&mut store).map_err(|e| WeightsError::Save(e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| WeightsError::Save(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// Each kernel of `generator` as 8-bit levels, and their scales, by tensor name.
type Quantized = (BTreeMap<String, Vec<i8>>, BTreeMap<String, Vec<f32>>);
fn quantize_kernels(generator: &Generator) -> Result<Quantized, WeightsError> {
    let (mut levels, mut scales) = (BTreeMap::new(), BTreeMap::new());
    for tensor in generator.collect(None, None, false).iter().filter(|t| is_kernel(t)) {
        let unreadable = |e: String| WeightsError::Save(format!("{}: {e}", tensor.name));
        let data = bridge::to_data(tensor).map_err(|e| unreadable(e.to_string()))?;
        let values = data.convert::<f32>().try_to_vec::<f32>().map_err(|e| unreadable(format!("{e:?}")))?;
        let (kernel_levels, kernel_scales) = quantize_kernel(&values, tensor.shape.dims());
        levels.insert(tensor.name.clone(), kernel_levels);
        scales.insert(tensor.name.clone(), kernel_scales);
    }
    Ok((levels, scales))
}

/// Reads the architecture declared by a weights file without loading its tensors.
pub fn read_generator_config(bytes: &[u8]) -> Result<GeneratorConfig, WeightsError> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    config_of(&reader)
}

fn config_of(reader: &burn_pack::Reader) -> Result<GeneratorConfig, WeightsError> {
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

/// Loads a generator for inference (BatchNorm uses its running statistics); weights that are not
/// all finite are refused, naming the tensor.
pub fn load_generator(bytes: &[u8], device: &Device) -> Result<(Generator, GeneratorConfig), WeightsError> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    let config = config_of(&reader)?;
    let scales = int8_scales(&reader)?;
    let tensors = reader.into_tensors().map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    check_int8_scales(&scales, &tensors)?;
    // Checked in the file's bytes, before anything reaches the device (where a browser could
    // only read them back asynchronously).
    check_finite_tensors(&tensors).map_err(WeightsError::NotFinite)?;
    let mut generator = config.init(device);
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes.to_vec())))
        .with_from_adapter(Int8ToKernels { scales: Arc::new(scales) }.chain(FloatCastAdapter::to(DType::F32)));
    generator
        .load_from(&mut store)
        .map_err(|e| WeightsError::Mismatch(e.to_string()))?;
    Ok((generator.valid(), config))
}

/// The convolution kernels (the generator's only 4-D tensors), what [`Precision::Int8`] quantizes.
fn is_kernel(tensor: &burn_pack::Tensor) -> bool {
    tensor.shape.num_dims() == 4 && tensor.dtype.is_float()
}

/// The output channel of each value of a kernel `[in, out, kh, kw]`, in storage order.
fn output_channels(shape: [usize; 4]) -> impl Iterator<Item = usize> {
    let [inputs, outputs, kh, kw] = shape;
    (0..inputs * outputs * kh * kw).map(move |i| (i / (kh * kw)) % outputs)
}

/// A kernel `[in, out, kh, kw]` as 8-bit integers and one scale per output channel: the
/// channel's largest magnitude becomes ±127 (an all-zero channel gets scale 1).
fn quantize_kernel(values: &[f32], shape: [usize; 4]) -> (Vec<i8>, Vec<f32>) {
    let mut largest = vec![0f32; shape[1]];
    for (value, channel) in values.iter().zip(output_channels(shape)) {
        largest[channel] = largest[channel].max(value.abs());
    }
    let scales: Vec<f32> = largest.iter().map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 }).collect();
    let levels = values.iter().zip(output_channels(shape)).map(|(v, c)| (v / scales[c]).round().clamp(-127.0, 127.0) as i8);
    (levels.collect(), scales)
}

fn dequantize_kernel(levels: &[i8], shape: [usize; 4], scales: &[f32]) -> Vec<f32> {
    levels.iter().zip(output_channels(shape)).map(|(&q, c)| f32::from(q) * scales[c]).collect()
}

/// Saving at [`Precision::Int8`]: each kernel → its 8-bit levels, quantized beforehand (the
/// scales are in the metadata).
#[derive(Clone)]
struct KernelsToInt8 {
    levels: Arc<BTreeMap<String, Vec<i8>>>,
}

impl ModuleAdapter for KernelsToInt8 {
    fn adapt(&self, tensor: burn_pack::Tensor, _ctx: ModuleContext<'_>) -> burn_pack::Tensor {
        match self.levels.get(&tensor.name).filter(|_| is_kernel(&tensor)) {
            Some(levels) => bridge::from_data(TensorData::new(levels.clone(), tensor.shape.clone()), tensor.name.clone(), tensor.param_id),
            None => tensor,
        }
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Saving: without burn's parameter ids, which a generator gets anew each time it is created or
/// loaded and which painting never reads; with them, exporting the same weights twice (e.g.
/// after loading them back) gave two files, and so two painter ids.
#[derive(Clone)]
struct WithoutParamIds;

impl ModuleAdapter for WithoutParamIds {
    fn adapt(&self, mut tensor: burn_pack::Tensor, _ctx: ModuleContext<'_>) -> burn_pack::Tensor {
        tensor.param_id = None;
        tensor
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Loading an 8-bit file: each kernel's levels times its channels' scales, as F32.
#[derive(Clone)]
struct Int8ToKernels {
    scales: Arc<BTreeMap<String, Vec<f32>>>,
}

impl ModuleAdapter for Int8ToKernels {
    fn adapt(&self, tensor: burn_pack::Tensor, _ctx: ModuleContext<'_>) -> burn_pack::Tensor {
        let Some(scales) = self.scales.get(&tensor.name).filter(|_| tensor.dtype == DType::I8).cloned() else {
            return tensor;
        };
        let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
        let dims = shape.dims();
        bridge::map_data(tensor, name, DType::F32, shape.clone(), move |data| {
            let levels = data.as_slice::<i8>().expect("an 8-bit kernel");
            TensorData::new(dequantize_kernel(levels, dims, &scales), shape.clone())
        })
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// The scales of a file's 8-bit kernels, as its metadata lists them (none for a float file).
fn int8_scales(reader: &burn_pack::Reader) -> Result<BTreeMap<String, Vec<f32>>, WeightsError> {
    match reader.metadata().get(INT8_SCALES_KEY) {
        Some(json) => serde_json::from_str(json).map_err(|e| WeightsError::Corrupt(format!("unreadable `{INT8_SCALES_KEY}`: {e}"))),
        None => Ok(BTreeMap::new()),
    }
}

/// Every 8-bit tensor is a kernel with one positive scale per output channel (small enough that
/// every level times it is finite), and every scale belongs to one.
fn check_int8_scales(scales: &BTreeMap<String, Vec<f32>>, tensors: &[burn_pack::Tensor]) -> Result<(), WeightsError> {
    let int8: BTreeMap<&str, &Shape> = tensors.iter().filter(|t| t.dtype == DType::I8).map(|t| (t.name.as_str(), &t.shape)).collect();
    for (name, shape) in &int8 {
        let channels = scales.get(*name).map(Vec::len);
        if shape.num_dims() != 4 || channels != Some(shape.dims::<4>()[1]) {
            return Err(WeightsError::Mismatch(format!("8-bit tensor {name} {shape:?} has {channels:?} scales, not one per output channel")));
        }
    }
    for (name, values) in scales {
        if !int8.contains_key(name.as_str()) {
            return Err(WeightsError::Mismatch(format!("scales for {name}, which is not an 8-bit kernel in the file")));
        }
        // Levels go down to -128: a scale whose 128-fold is not finite would load infinities.
        if !values.iter().all(|s| *s > 0.0 && (s * 128.0).is_finite()) {
            return Err(WeightsError::Corrupt(format!("a scale of {name} is not a positive number of a weight's size")));
        }
    }
    Ok(())
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
        let bytes = generator_to_bytes(&generator, &config, Precision::Full).unwrap();
        let (loaded, loaded_config) = load_generator(&bytes, &device).unwrap();
        assert_eq!(loaded_config, config);
        assert_eq!(sample(&generator, &device), sample(&loaded, &device));
    }

    /// A fresh width-8 generator.
    fn width_8() -> (Generator, GeneratorConfig) {
        let config = GeneratorConfig::new(8);
        (config.init(&Device::flex()).valid(), config)
    }

    /// `generator` at `precision`: (its file, the F32 file's size, the largest difference between
    /// what the two paint).
    fn at_precision(generator: &Generator, config: &GeneratorConfig, precision: Precision) -> (Vec<u8>, usize, f32) {
        let device = Device::flex();
        let full = generator_to_bytes(generator, config, Precision::Full).unwrap();
        let bytes = generator_to_bytes(generator, config, precision).unwrap();
        let (loaded, _) = load_generator(&bytes, &device).unwrap();
        let (a, b) = (sample(generator, &device), sample(&loaded, &device));
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        (bytes, full.len(), worst)
    }

    /// A file loaded and exported again is the same file, byte for byte (burn's per-load
    /// parameter ids stay out of it), so a re-export keeps its painter id.
    #[test]
    fn a_file_exported_again_is_the_same_file() {
        let (generator, config) = width_8();
        for precision in [Precision::Full, Precision::Half, Precision::Int8] {
            let bytes = generator_to_bytes(&generator, &config, precision).unwrap();
            let (loaded, _) = load_generator(&bytes, &Device::flex()).unwrap();
            assert!(generator_to_bytes(&loaded, &config, precision).unwrap() == bytes, "{precision:?}: another file");
        }
    }

    #[test]
    fn half_precision_is_smaller_and_close() {
        let (generator, config) = width_8();
        let (half, full_len, worst) = at_precision(&generator, &config, Precision::Half);
        assert!(half.len() * 10 < full_len * 6, "{} vs {full_len}", half.len());
        assert!(worst < 0.02, "largest difference {worst}");
    }

    #[test]
    fn int8_keeps_every_weight_within_half_a_step_of_its_channel() {
        // Kernel [2, 3, 2, 2]: output channel 1 is a thousand times smaller than the others.
        let shape = [2, 3, 2, 2];
        let values: Vec<f32> = output_channels(shape).enumerate().map(|(i, c)| ((i * 37 % 11) as f32 - 5.0) * if c == 1 { 1e-4 } else { 0.1 }).collect();
        let (levels, scales) = quantize_kernel(&values, shape);
        assert_eq!(scales.len(), 3);
        assert!(scales[1] * 500.0 < scales[0], "{scales:?}");
        assert!(levels.iter().any(|&q| q.abs() == 127));
        let back = dequantize_kernel(&levels, shape, &scales);
        for ((value, restored), channel) in values.iter().zip(&back).zip(output_channels(shape)) {
            assert!((value - restored).abs() <= scales[channel] * 0.5 + 1e-9, "{value} → {restored}");
        }
        let (zeros, zero_scales) = quantize_kernel(&[0.0; 4], [1, 1, 2, 2]);
        assert_eq!((zeros, zero_scales), (vec![0; 4], vec![1.0]));
    }

    #[test]
    fn int8_files_are_a_quarter_the_size_and_close() {
        let (generator, config) = width_8();
        let (int8, full_len, worst) = at_precision(&generator, &config, Precision::Int8);
        assert!(int8.len() * 10 < full_len * 3, "{} vs {full_len}", int8.len());
        assert!(worst > 0.0 && worst < 0.05, "largest difference {worst}");
        assert_eq!(generator_to_bytes(&generator, &config, Precision::Int8).unwrap(), int8, "the same generator, the same file");
    }

    #[test]
    fn int8_scales_that_name_no_kernel_are_an_error() {
        let device = Device::flex();
        let config = GeneratorConfig::new(4);
        let mut bytes = generator_to_bytes(&config.init(&device).valid(), &config, Precision::Int8).unwrap();
        // Rename one kernel's scales (same length, so the header stays valid).
        let (from, to) = (br#"weight":["#, br#"weighs":["#);
        let at = bytes.windows(from.len()).position(|w| w == from).expect("scales in metadata");
        bytes[at..at + from.len()].copy_from_slice(to);
        let error = load_generator(&bytes, &device).err().expect("an error");
        assert!(matches!(error, WeightsError::Mismatch(_)), "{error}");
    }

    #[test]
    fn garbage_and_truncated_files_are_errors() {
        let device = Device::flex();
        assert!(matches!(load_generator(b"not a model", &device), Err(WeightsError::Corrupt(_))));
        let config = GeneratorConfig::new(4);
        for precision in [Precision::Full, Precision::Int8] {
            let bytes = generator_to_bytes(&config.init(&device), &config, precision).unwrap();
            for cut in [bytes.len() / 2, bytes.len() - 1] {
                assert!(load_generator(&bytes[..cut], &device).is_err(), "{precision:?} cut at {cut}");
            }
        }
    }

    /// `bytes` (a full-precision file of `generator`) with the first `count` values of `tensor` NaN.
    fn with_nan_values(bytes: &[u8], generator: &Generator, tensor: &str, count: usize) -> Vec<u8> {
        let snapshot = generator.collect(None, None, false).into_iter().find(|t| t.name == tensor).expect("the tensor");
        let values = bridge::to_data(&snapshot).unwrap().try_to_vec::<f32>().unwrap();
        let pattern: Vec<u8> = values[..count].iter().flat_map(|v| v.to_le_bytes()).collect();
        let at = bytes.windows(pattern.len()).position(|w| w == pattern).expect("the values in the file");
        let mut spoiled = bytes.to_vec();
        let nan: Vec<u8> = (0..count).flat_map(|_| f32::NAN.to_le_bytes()).collect();
        spoiled[at..at + pattern.len()].copy_from_slice(&nan);
        spoiled
    }

    #[test]
    fn weights_that_are_not_numbers_are_refused_naming_the_tensor() {
        let device = Device::flex();
        let (generator, config) = width_8();
        let bytes = generator_to_bytes(&generator, &config, Precision::Full).unwrap();
        let spoiled = with_nan_values(&bytes, &generator, "blocks.2.conv.weight", 5);
        match load_generator(&spoiled, &device) {
            Err(WeightsError::NotFinite(at)) => {
                assert_eq!((at.tensor.as_str(), at.bad, at.tensors), ("blocks.2.conv.weight", 5, 1), "{at}");
                assert!(at.to_string().contains("5 of its"), "{at}");
            }
            other => panic!("{:?}", other.map(|(_, config)| config)),
        }
        // Nor can such weights be written.
        let mut loaded_anyway = config.init(&device);
        loaded_anyway.load_from(&mut BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(spoiled)))).unwrap();
        for precision in [Precision::Full, Precision::Half, Precision::Int8] {
            let refused = generator_to_bytes(&loaded_anyway, &config, precision);
            assert!(matches!(refused, Err(WeightsError::NotFinite(_))), "{precision:?}");
        }
    }

    /// A width-4 generator's 8-bit file whose scales metadata is `scales_json`, whatever it says.
    fn int8_file_with_scales(scales_json: String) -> Vec<u8> {
        let config = GeneratorConfig::new(4);
        let generator = config.init(&Device::flex()).valid();
        let (levels, _) = quantize_kernels(&generator).unwrap();
        let mut store = BurnpackStore::from_bytes(None)
            .metadata(CONFIG_KEY, serde_json::to_string(&config).unwrap())
            .metadata(LATENT_KEY, LATENT_ALGORITHM)
            .metadata(INT8_SCALES_KEY, scales_json)
            .with_to_adapter(KernelsToInt8 { levels: Arc::new(levels) }.chain(WithoutParamIds));
        generator.save_into(&mut store).unwrap();
        store.get_bytes().unwrap().to_vec()
    }

    /// Scales for the kernels of a width-4 generator (and names that are none), of any length
    /// and value; or text that is not a map at all.
    fn any_scales() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let names = prop_oneof![
            (0..5usize).prop_map(|i| format!("blocks.{i}.conv.weight")),
            Just("output.weight".to_string()),
            "[a-z.0-9]{0,12}",
        ];
        let value = prop_oneof![any::<f32>(), 0.001f32..1.0];
        let map = proptest::collection::btree_map(names, proptest::collection::vec(value, 0..80), 0..7)
            .prop_map(|scales| serde_json::to_string(&scales).unwrap().replace("null", "NaN"));
        // One scale per output channel of each kernel: what a real file has, loads.
        let fitting = prop_oneof![any::<f32>(), 0.001f32..1.0].prop_map(scale_for_every_channel);
        prop_oneof![map, fitting, ".{0,40}"]
    }

    /// 8-bit metadata giving `scale` to every output channel of a width-4 generator's kernels.
    fn scale_for_every_channel(scale: f32) -> String {
        let channels = [("blocks.0.conv.weight", 64), ("blocks.1.conv.weight", 32), ("blocks.2.conv.weight", 16), ("blocks.3.conv.weight", 8), ("output.weight", 3)];
        let scales: BTreeMap<&str, Vec<f32>> = channels.into_iter().map(|(name, count)| (name, vec![scale; count])).collect();
        serde_json::to_string(&scales).unwrap()
    }

    /// Found by the property test below: finite scales so large that a level times them is
    /// infinite loaded infinities.
    #[test]
    fn int8_scales_that_overflow_are_an_error() {
        assert!(load_generator(&int8_file_with_scales(scale_for_every_channel(0.01)), &Device::flex()).is_ok());
        let error = load_generator(&int8_file_with_scales(scale_for_every_channel(2.9e36)), &Device::flex()).err().expect("an error");
        assert!(matches!(error, WeightsError::Corrupt(_)), "{error}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the 8-bit metadata says, loading returns a generator or an error, never panics.
        #[test]
        fn any_int8_metadata_loads_or_is_an_error(scales_json in any_scales()) {
            let bytes = int8_file_with_scales(scales_json);
            if let Ok((loaded, config)) = load_generator(&bytes, &Device::flex()) {
                // What loads paints, and writes back to a file that loads the same.
                let again = generator_to_bytes(&loaded, &config, Precision::Full).unwrap();
                proptest::prop_assert_eq!(load_generator(&again, &Device::flex()).unwrap().1, config);
            }
        }
    }

    #[test]
    fn a_file_of_another_architecture_is_an_error() {
        let device = Device::flex();
        let config = GeneratorConfig::new(4);
        let mut bytes = generator_to_bytes(&config.init(&device), &config, Precision::Full).unwrap();
        // Claim width 8 while holding width-4 tensors: same JSON length, so the header stays valid.
        let (from, to) = (br#""width":4"#, br#""width":8"#);
        let at = bytes.windows(from.len()).position(|w| w == from).expect("config in metadata");
        bytes[at..at + from.len()].copy_from_slice(to);
        assert!(matches!(load_generator(&bytes, &device), Err(WeightsError::Mismatch(_))));
    }
}
