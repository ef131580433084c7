//! The gallery's engine: the shared generator compiled to WebAssembly, running on WebGPU
//! through burn's wgpu backend, or on the CPU where the browser has no usable WebGPU (the
//! weights loaded on burn's `flex` backend, portraits painted by the shared `CpuPainter`).
//! Without its `webgpu` feature it builds the gallery's CPU-only module (an eighth of the
//! size), for browsers that would paint on the CPU anyway. It runs in the page's
//! painting thread (`web/worker.js`), off the page's own thread; the page (`web/app.js`) owns the
//! DOM. This crate turns seeds into pixels.
//!
//! Every tensor read here is async (`into_data_async`): a synchronous read panics in a browser.

use atelier_shared::animation::animated_png;
use atelier_shared::{CpuPainter, Directions, Generator, IMAGE_SIZE, Provenance, edited_latent, format_edits, latent_for_seed, load_generator, painter_id, parse_edits, png_with_provenance, provenance_of_png, to_rgb_images};
use burn::tensor::{Device, Tensor, TensorData};
use wasm_bindgen::prelude::*;

/// Which backend the page asked for (`?backend=` in its URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// WebGPU on a real GPU; the CPU backend when WebGPU is missing or only emulated.
    Auto,
    /// WebGPU even when the adapter is a software fallback (SwiftShader), or fail.
    WebGpu,
    /// burn's CPU backend in WebAssembly.
    Cpu,
}

impl BackendChoice {
    pub fn parse(text: &str) -> Self {
        match text {
            "webgpu" => Self::WebGpu,
            "cpu" => Self::Cpu,
            _ => Self::Auto,
        }
    }
}

/// Parses a seed as the URL carries it: decimal digits only, at most `u64::MAX`.
/// Anything else (`abc`, `-1`, `1e3`, overflow, markup) is `None`.
#[wasm_bindgen(js_name = parseSeed)]
pub fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses a painter id as the URL carries it (six hex digits); anything else is `None`.
#[wasm_bindgen(js_name = parsePainterId)]
pub fn parse_painter_id(text: &str) -> Option<String> {
    atelier_shared::parse_painter_id(text)
}

/// Parses a link's edits (`2:1.5,7:-0.8`) strictly and gives their canonical text (direction
/// order, no zero amounts); a refusal says politely what is wrong.
#[wasm_bindgen(js_name = parseEdits)]
pub fn parse_edits_text(text: &str) -> Result<String, JsError> {
    parse_edits(text).map(|edits| format_edits(&edits)).map_err(|e| JsError::new(&e.to_string()))
}

/// A portrait's PNG file (the canvas's, at any size) with its provenance inside: the seed, the
/// painter id and the edits, in text chunks that [`link_of_png`] reads back.
#[wasm_bindgen(js_name = withProvenance)]
pub fn with_provenance(png: &[u8], seed: u64, painter: &str, edits: &str) -> Result<Vec<u8>, JsError> {
    tagged_png(png, seed, painter, edits).map_err(|e| JsError::new(&e))
}

/// The link (`seed=N&painter=ID[&edit=…]`) of the portrait a PNG file carries; a file that is not
/// one of ours is refused with a sentence saying so.
#[wasm_bindgen(js_name = linkOfPng)]
pub fn link_of_png(png: &[u8]) -> Result<String, JsError> {
    link_in_png(png).map_err(|e| JsError::new(&e))
}

fn tagged_png(png: &[u8], seed: u64, painter: &str, edits: &str) -> Result<Vec<u8>, String> {
    let painter = atelier_shared::parse_painter_id(painter).ok_or_else(|| format!("“{painter}” is not a painter id"))?;
    let edits = parse_edits(edits).map_err(|e| e.to_string())?;
    png_with_provenance(png, &Provenance { seed, painter, edits: format_edits(&edits) }).map_err(|e| e.to_string())
}

fn link_in_png(png: &[u8]) -> Result<String, String> {
    let Provenance { seed, painter, edits } = provenance_of_png(png).map_err(|e| e.to_string())?;
    let edit = if edits.is_empty() { String::new() } else { format!("&edit={edits}") };
    Ok(format!("seed={seed}&painter={painter}{edit}"))
}

/// Latents on the straight line from seed `a`'s to seed `b`'s, `steps` of them including both ends.
pub fn interpolated_latents(a: u64, b: u64, steps: usize, latent_dim: usize) -> Vec<f32> {
    let (za, zb) = (latent_for_seed(a, latent_dim), latent_for_seed(b, latent_dim));
    let mut out = Vec::with_capacity(steps * latent_dim);
    for i in 0..steps {
        let t = if steps > 1 { i as f32 / (steps - 1) as f32 } else { 0.0 };
        // (1 - t) x + t y is exact at both ends.
        out.extend(za.iter().zip(&zb).map(|(x, y)| (1.0 - t) * x + t * y));
    }
    out
}

/// Frames of a blend played there and back: `steps` frames of `frame_len` bytes from one seed to
/// the other, then the ones between on the way back, so the loop has no jump.
pub fn there_and_back(frames: &[u8], steps: usize, frame_len: usize) -> Vec<u8> {
    let mut out = frames.to_vec();
    for i in (1..steps.saturating_sub(1)).rev() {
        out.extend_from_slice(&frames[i * frame_len..(i + 1) * frame_len]);
    }
    out
}

/// Milliseconds each frame of a blend's animation shows.
const BLEND_FRAME_MS: u16 = 100;

/// The generator on a device, ready to paint.
#[wasm_bindgen]
pub struct Painter {
    generator: Generator,
    /// On the CPU, the generator's weights laid out for our own single-threaded forward pass,
    /// faster than burn's CPU backend in WebAssembly (`trainer/BENCHMARKS.md`).
    cpu: Option<CpuPainter>,
    directions: Option<Directions>,
    id: String,
    device: Device,
    device_name: String,
    fell_back: bool,
}

#[wasm_bindgen]
impl Painter {
    /// Starts the backend (once per page) and loads the weights file's bytes.
    pub async fn create(weights: Vec<u8>, backend: String) -> Result<Painter, JsError> {
        console_error_panic_hook::set_once();
        let (device, device_name, fell_back) = start_device(BackendChoice::parse(&backend)).await?;
        let (generator, _) = load_generator(&weights, &device).map_err(|e| JsError::new(&e.to_string()))?;
        let cpu = if fell_back { Some(CpuPainter::from_generator(&generator).await.map_err(|e| JsError::new(&e))?) } else { None };
        Ok(Painter { generator, cpu, directions: None, id: painter_id(&weights), device, device_name, fell_back })
    }

    /// The painter id of the weights it paints with (what share links carry).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// The adapter's name, or a sentence saying the CPU fallback runs and why.
    #[wasm_bindgen(getter, js_name = deviceName)]
    pub fn device_name(&self) -> String {
        self.device_name.clone()
    }

    /// Whether WebGPU was unavailable and the CPU backend runs instead.
    #[wasm_bindgen(getter, js_name = fellBack)]
    pub fn fell_back(&self) -> bool {
        self.fell_back
    }

    /// Side of each portrait in pixels.
    #[wasm_bindgen(getter, js_name = imageSize)]
    pub fn image_size(&self) -> usize {
        IMAGE_SIZE
    }

    /// RGBA pixels of the portraits for `seeds`, one after the other, from one generator call.
    pub async fn paint(&self, seeds: Vec<u64>) -> Result<Vec<u8>, JsError> {
        let dim = self.generator.latent_dim();
        let latents: Vec<f32> = seeds.iter().flat_map(|&s| latent_for_seed(s, dim)).collect();
        self.paint_latents(latents, seeds.len()).await
    }

    /// Takes the painter's directions file (`<id>-directions.json`, checked against the painter's
    /// id) and gives the labels of its directions, strongest first: the sliders.
    #[wasm_bindgen(js_name = setDirections)]
    pub fn set_directions(&mut self, json: &str) -> Result<Vec<String>, JsError> {
        let directions = Directions::parse(json, &self.id, self.generator.latent_dim()).map_err(|e| JsError::new(&e.to_string()))?;
        let labels = directions.labels();
        self.directions = Some(directions);
        Ok(labels)
    }

    /// RGBA pixels of portrait `seed` moved by `edits` (a link's `edit=` text) along the
    /// painter's directions: the same latent, to the bit, as `trainer sample --seed N --edit …`.
    #[wasm_bindgen(js_name = paintEdited)]
    pub async fn paint_edited(&self, seed: u64, edits: String) -> Result<Vec<u8>, JsError> {
        let edits = parse_edits(&edits).map_err(|e| JsError::new(&e.to_string()))?;
        let z = edited_latent(seed, self.generator.latent_dim(), &edits, self.directions.as_ref()).map_err(|e| JsError::new(&e.to_string()))?;
        self.paint_latents(z, 1).await
    }

    /// An animated PNG of the blend from seed `a` to `b` and back (`steps` portraits each way,
    /// 2 to 32), each pixel drawn `scale`×`scale` (1 to 8): "Between two portraits" as a file.
    #[wasm_bindgen(js_name = blendAnimation)]
    pub async fn blend_animation(&self, a: u64, b: u64, steps: usize, scale: usize) -> Result<Vec<u8>, JsError> {
        let steps = steps.clamp(2, 32);
        let latents = interpolated_latents(a, b, steps, self.generator.latent_dim());
        let frames = there_and_back(&self.paint_latents(latents, steps).await?, steps, IMAGE_SIZE * IMAGE_SIZE * 4);
        animated_png(&frames, 2 * steps - 2, IMAGE_SIZE, scale.clamp(1, 8), BLEND_FRAME_MS).map_err(|e| JsError::new(&e))
    }

    /// RGBA pixels of `steps` portraits between seeds `a` and `b`.
    pub async fn interpolate(&self, a: u64, b: u64, steps: usize) -> Result<Vec<u8>, JsError> {
        let steps = steps.clamp(2, 32);
        let latents = interpolated_latents(a, b, steps, self.generator.latent_dim());
        self.paint_latents(latents, steps).await
    }
}

impl Painter {
    async fn paint_latents(&self, latents: Vec<f32>, count: usize) -> Result<Vec<u8>, JsError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        if let Some(cpu) = &self.cpu {
            return Ok(cpu.paint_rgba(&latents, count));
        }
        let dim = self.generator.latent_dim();
        let z = Tensor::<2>::from_data(TensorData::new(latents, [count, dim]), &self.device);
        let data = self.generator.forward(z).into_data_async().await.map_err(|e| JsError::new(&format!("{e:?}")))?;
        let values: Vec<f32> = data.try_to_vec::<f32>().map_err(|e| JsError::new(&format!("{e:?}")))?;
        Ok(to_rgb_images(&values, count, IMAGE_SIZE, IMAGE_SIZE).iter().flat_map(|i| i.to_rgba()).collect())
    }
}

/// WebGPU if the choice and the browser allow it, else the CPU backend.
#[cfg(feature = "webgpu")]
async fn start_device(choice: BackendChoice) -> Result<(Device, String, bool), JsError> {
    let cpu = || (Device::flex(), CPU_FALLBACK.to_string(), true);
    if choice == BackendChoice::Cpu {
        return Ok(cpu());
    }
    match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            let name = if info.name.is_empty() { format!("WebGPU ({:?})", info.device_type) } else { format!("WebGPU: {}", info.name) };
            // A software adapter (SwiftShader) is far slower than the CPU backend.
            let software = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
            if software && choice == BackendChoice::Auto {
                let (device, label, fell_back) = cpu();
                return Ok((device, format!("{label}: WebGPU is only emulated in this browser"), fell_back));
            }
            Ok((device, name, false))
        }
        Err(e) if choice == BackendChoice::WebGpu => Err(JsError::new(&format!("WebGPU is not available: {e}"))),
        Err(_) => {
            let (device, label, fell_back) = cpu();
            Ok((device, format!("{label}: this browser has no WebGPU"), fell_back))
        }
    }
}

/// The module without the WebGPU path, which the page loads where WebGPU is missing or emulated.
#[cfg(not(feature = "webgpu"))]
async fn start_device(choice: BackendChoice) -> Result<(Device, String, bool), JsError> {
    match choice {
        BackendChoice::WebGpu => Err(JsError::new("this module was built without WebGPU (the `webgpu` feature)")),
        _ => Ok((Device::flex(), format!("{CPU_FALLBACK}: this browser has no usable WebGPU"), true)),
    }
}

const CPU_FALLBACK: &str = "the CPU (WebAssembly fallback)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_strictly() {
        assert_eq!(parse_seed("12345"), Some(12345));
        assert_eq!(parse_seed(" 42 "), Some(42));
        assert_eq!(parse_seed("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "abc", "-1", "+1", "1e3", "18446744073709551616", "99999999999999999999999", "<script>", "4 2", "0x10"] {
            assert_eq!(parse_seed(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any text is a seed or none, never a panic; every seed round-trips through its link.
        #[test]
        fn any_text_is_a_seed_or_none(text in "\\PC{0,30}") {
            if let Some(seed) = parse_seed(&text) {
                proptest::prop_assert_eq!(parse_seed(&seed.to_string()), Some(seed));
                proptest::prop_assert!(text.trim().bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn every_seed_round_trips(seed in proptest::prelude::any::<u64>()) {
            proptest::prop_assert_eq!(parse_seed(&seed.to_string()), Some(seed));
            proptest::prop_assert_eq!(parse_seed(&format!(" {seed}\t")), Some(seed));
        }
    }

    /// `assets/painters.json` names every painter the page ships: each file exists, loads, and has
    /// the id the manifest gives it; the default comes first, with its directions (labelled, for
    /// its id); links without an id name one of them.
    #[test]
    fn the_manifest_names_each_shipped_file_by_its_id() {
        let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(assets.join("painters.json")).unwrap()).unwrap();
        let painters = manifest["painters"].as_array().unwrap();
        assert!(!painters.is_empty());
        assert_eq!(painters[0]["weights"], "generator.bpk", "the default painter comes first");
        let mut ids = Vec::new();
        for painter in painters {
            let id = painter["id"].as_str().unwrap();
            let bytes = std::fs::read(assets.join(painter["weights"].as_str().unwrap())).unwrap();
            assert_eq!(painter_id(&bytes), id, "{painter}");
            assert!(load_generator(&bytes, &Device::flex()).is_ok(), "{painter}");
            let seeds: Vec<u64> = serde_json::from_str(&std::fs::read_to_string(assets.join(painter["seeds"].as_str().unwrap())).unwrap()).unwrap();
            assert!(!seeds.is_empty(), "{painter}");
            if let Some(file) = painter["directions"].as_str() {
                let json = std::fs::read_to_string(assets.join(file)).unwrap();
                let directions = Directions::parse(&json, id, atelier_shared::LATENT_DIM).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert!((8..=12).contains(&directions.directions.len()), "{file}: {} directions", directions.directions.len());
                assert!(directions.labels().iter().all(|l| !l.starts_with("direction ")), "{file}: every direction has a label someone chose");
            } else {
                assert!(painter != &painters[0], "the default painter ships its directions (trainer directions)");
            }
            ids.push(id.to_string());
        }
        assert!(ids.contains(&manifest["without_id"].as_str().unwrap().to_string()), "{manifest}");
    }

    #[test]
    fn a_portraits_file_carries_its_link() {
        let png = include_bytes!("../assets/sample-grid.png");
        assert!(link_in_png(png).unwrap_err().contains("does not say which portrait"), "a PNG of someone else's is not a portrait link");
        let tagged = tagged_png(png, 42, "FAE341", "7:-0.8,2:1.5").unwrap();
        assert_eq!(link_in_png(&tagged).unwrap(), "seed=42&painter=fae341&edit=2:1.5,7:-0.8");
        let plain = tagged_png(png, u64::MAX, "fae341", "").unwrap();
        assert_eq!(link_in_png(&plain).unwrap(), "seed=18446744073709551615&painter=fae341");
        assert!(tagged_png(png, 1, "<b>", "").is_err() && tagged_png(png, 1, "fae341", "2:9").is_err());
    }

    #[test]
    fn a_blend_plays_there_and_back_without_repeating_its_ends() {
        assert_eq!(there_and_back(&[0, 1, 2, 3], 4, 1), vec![0, 1, 2, 3, 2, 1]);
        assert_eq!(there_and_back(&[0, 0, 9, 9], 2, 2), vec![0, 0, 9, 9]);
    }

    #[test]
    fn interpolation_starts_and_ends_at_the_seeds() {
        let z = interpolated_latents(3, 9, 5, 8);
        assert_eq!(z.len(), 40);
        assert_eq!(&z[..8], &latent_for_seed(3, 8)[..]);
        assert_eq!(&z[32..], &latent_for_seed(9, 8)[..]);
        let mid: Vec<f32> = latent_for_seed(3, 8).iter().zip(latent_for_seed(9, 8)).map(|(a, b)| 0.5 * a + 0.5 * b).collect();
        assert_eq!(&z[16..24], &mid[..]);
    }
}
