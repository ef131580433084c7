//! Both ways with PyTorch: `trainer import` turns the article's generator, as PyTorch saved it
//! (`torch.save(gen.state_dict(), …)`, or a safetensors file of the same names), into our weights
//! file; `trainer export --format safetensors` writes ours under the article's names, so the
//! article's `Generator(128, 3, width)` takes it with `load_state_dict(…, strict=True)`.
//!
//! The article's generator (`model.py` of mohdabdin/Portrait-Paintings-DCGAN) is an
//! `nn.Sequential` called `net`: four blocks `net.0`…`net.3` of ConvTranspose2d (`.0`, no bias),
//! BatchNorm2d (`.1`) and ReLU, then `net.4`, the output ConvTranspose2d with a bias, and Tanh.
//! Ours has the same layers in the same order, and PyTorch's ConvTranspose2d weight layout
//! `[in, out, kh, kw]` is burn's, so only the names change: one table, [`article_layout`], says
//! how, for both directions. The files are read by burn-store's own PyTorch and safetensors
//! readers.

use anyhow::{Context, Result, bail};
use atelier_shared::{Generator, GeneratorConfig, Precision};
use burn::module::Module;
use burn::store::{FloatCastAdapter, HalfPrecisionAdapter, ModuleSnapshot, ModuleStore, PytorchStore, SafetensorsStore};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::tensor::{DType, Device};
use safetensors::tensor::TensorView;
use std::collections::BTreeMap;
use std::path::Path;

/// Hidden blocks (ConvTranspose2d → BatchNorm2d → ReLU) before the output layer.
const HIDDEN_BLOCKS: usize = 4;
/// Side of every transposed convolution's kernel.
const KERNEL: usize = 4;
/// The prefix `nn.DataParallel` puts before every name of the model it wraps.
const DATA_PARALLEL_PREFIX: &str = "module.";
/// The tensor PyTorch's BatchNorm2d keeps beside its statistics and burn's does not.
const BATCHES_TRACKED: &str = "num_batches_tracked";

/// One tensor of the article's generator: its name there, where it lives in ours (none for
/// `num_batches_tracked`) and its shape.
struct ArticleTensor {
    article: String,
    ours: Option<String>,
    shape: Vec<usize>,
}

/// Every tensor of the article's generator with our architecture `config`, in state_dict order.
fn article_layout(config: &GeneratorConfig) -> Vec<ArticleTensor> {
    let w = config.width;
    let channels = [config.latent_dim, 16 * w, 8 * w, 4 * w, 2 * w];
    let tensor = |article: String, ours: Option<String>, shape: Vec<usize>| ArticleTensor { article, ours, shape };
    let mut layout = Vec::new();
    for block in 0..HIDDEN_BLOCKS {
        let (inputs, outputs) = (channels[block], channels[block + 1]);
        layout.push(tensor(format!("net.{block}.0.weight"), Some(format!("blocks.{block}.conv.weight")), vec![inputs, outputs, KERNEL, KERNEL]));
        for (article, ours) in [("weight", "gamma"), ("bias", "beta"), ("running_mean", "running_mean"), ("running_var", "running_var")] {
            layout.push(tensor(format!("net.{block}.1.{article}"), Some(format!("blocks.{block}.norm.{ours}")), vec![outputs]));
        }
        layout.push(tensor(format!("net.{block}.1.{BATCHES_TRACKED}"), None, vec![]));
    }
    let output = format!("net.{HIDDEN_BLOCKS}");
    layout.push(tensor(format!("{output}.weight"), Some("output.weight".into()), vec![2 * w, 3, KERNEL, KERNEL]));
    layout.push(tensor(format!("{output}.bias"), Some("output.bias".into()), vec![3]));
    layout
}

/// Reads the article's generator from `source` (a PyTorch `.pt`/`.pth`, or a `.safetensors`
/// file), checked name by name and shape by shape, in inference mode.
pub fn read_article_generator(source: &Path) -> Result<(Generator, GeneratorConfig)> {
    let tensors = read_state_dict(source)?;
    let config = check_layout(&tensors).with_context(|| format!("{} is not the article's generator", source.display()))?;
    let mut generator = config.init(&Device::flex());
    let ours: Vec<PackTensor> = article_layout(&config)
        .into_iter()
        .filter_map(|entry| {
            let mut tensor = tensors.get(&entry.article)?.clone();
            tensor.name = entry.ours?;
            Some(tensor)
        })
        .collect();
    let applied = generator.apply(ours, None, Some(Box::new(FloatCastAdapter::to(DType::F32))), false);
    if !applied.errors.is_empty() || !applied.missing.is_empty() {
        bail!("{} cannot be loaded into the generator:\n{applied}", source.display());
    }
    if let Err(mut not_finite) = atelier_shared::check_finite(&generator) {
        // Named as the file names it.
        let layout = article_layout(&config);
        if let Some(entry) = layout.iter().find(|entry| entry.ours.as_deref() == Some(not_finite.tensor.as_str())) {
            not_finite.tensor = entry.article.clone();
        }
        bail!("{} holds weights that are not numbers: {not_finite} (a run that diverged saves such values); nothing was written", source.display());
    }
    Ok((generator.valid(), config))
}

/// The tensors of a state_dict by name, without a `DataParallel` prefix.
fn read_state_dict(source: &Path) -> Result<BTreeMap<String, PackTensor>> {
    std::fs::metadata(source).with_context(|| format!("cannot read {}", source.display()))?;
    let is_safetensors = source.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("safetensors"));
    let tensors = if is_safetensors {
        SafetensorsStore::from_file(source)
            .get_all_tensors()
            .map(Clone::clone)
            .map_err(|e| anyhow::anyhow!("{} is not a readable safetensors file: {e}", source.display()))?
    } else {
        PytorchStore::from_file(source)
            .map_indices_contiguous(false)
            .get_all_tensors()
            .map(Clone::clone)
            .map_err(|e| anyhow::anyhow!("{} is not a readable PyTorch state_dict (the file torch.save writes): {e}", source.display()))?
    };
    if !tensors.is_empty() && tensors.keys().all(|name| name.starts_with(DATA_PARALLEL_PREFIX)) {
        return Ok(tensors
            .into_iter()
            .map(|(name, mut tensor)| {
                tensor.name = name[DATA_PARALLEL_PREFIX.len()..].to_string();
                (tensor.name.clone(), tensor)
            })
            .collect());
    }
    Ok(tensors)
}

/// The architecture the tensors describe, if they are exactly the article's generator: the width
/// and latent size come from the first layer's shape, then every name and shape must match and
/// nothing else may be there (`num_batches_tracked` may be missing: not every tool writes it).
fn check_layout(tensors: &BTreeMap<String, PackTensor>) -> Result<GeneratorConfig> {
    let first = "net.0.0.weight";
    let Some(first_tensor) = tensors.get(first) else {
        let found: Vec<&str> = tensors.keys().take(5).map(String::as_str).collect();
        bail!(
            "it has no `{first}` (its first tensors: {}); a discriminator's or another network's state_dict cannot be imported",
            if found.is_empty() { "none".to_string() } else { found.join(", ") }
        );
    };
    let config = match first_tensor.shape.as_slice() {
        &[latent_dim, channels, KERNEL, KERNEL] if channels % 16 == 0 && channels > 0 && latent_dim > 0 => {
            GeneratorConfig { latent_dim, width: channels / 16 }
        }
        shape => bail!("`{first}` has shape {shape:?}, the article's first layer is [latent, 16 × width, {KERNEL}, {KERNEL}]"),
    };
    let layout = article_layout(&config);
    for entry in &layout {
        match tensors.get(&entry.article) {
            None if entry.ours.is_none() => {}
            None => bail!("`{}` is missing (a generator of width {} has it, shape {:?})", entry.article, config.width, entry.shape),
            Some(tensor) => {
                if tensor.shape.as_slice() != entry.shape.as_slice() {
                    bail!(
                        "`{}` has shape {:?}, a generator of width {} (as `{first}` says) needs {:?}",
                        entry.article, tensor.shape.as_slice(), config.width, entry.shape
                    );
                }
                let wanted_float = entry.ours.is_some();
                if wanted_float && !matches!(tensor.dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
                    bail!("`{}` holds {:?} values, not floating-point weights", entry.article, tensor.dtype);
                }
            }
        }
    }
    if let Some(extra) = tensors.keys().find(|name| !layout.iter().any(|entry| &entry.article == *name)) {
        bail!("`{extra}` is not part of the article's generator");
    }
    Ok(config)
}

/// The generator as a safetensors file under the article's names, `num_batches_tracked`
/// included, with our architecture in its metadata; [`Precision::Half`] stores the weights as F16.
pub fn to_safetensors(generator: &Generator, config: &GeneratorConfig, precision: Precision) -> Result<Vec<u8>> {
    let adapter: Option<Box<dyn burn::store::ModuleAdapter>> = match precision {
        Precision::Full => None,
        Precision::Half => Some(Box::new(HalfPrecisionAdapter::new())),
        Precision::Int8 => bail!("the PyTorch export holds floats only: use --half, or neither, with --format safetensors"),
    };
    let mut ours: BTreeMap<String, PackTensor> = generator.collect(None, adapter, false).into_iter().map(|t| (t.name.clone(), t)).collect();
    // PyTorch counts the batches a BatchNorm has seen; it only uses the count when its momentum is
    // None, which the article's is not, so zero is as good as any.
    let batches_tracked = 0i64.to_le_bytes().to_vec();
    let mut named = Vec::new();
    for entry in article_layout(config) {
        let Some(path) = &entry.ours else {
            named.push((entry.article, safetensors::Dtype::I64, entry.shape, batches_tracked.clone()));
            continue;
        };
        let tensor = ours.remove(path).with_context(|| format!("the generator has no `{path}`"))?;
        let dtype = match tensor.dtype {
            DType::F32 => safetensors::Dtype::F32,
            DType::F16 => safetensors::Dtype::F16,
            other => bail!("`{path}` is stored as {other:?}, which the PyTorch export does not write"),
        };
        let bytes = tensor.to_bytes().map_err(|e| anyhow::anyhow!("cannot read `{path}`: {e}"))?;
        named.push((entry.article, dtype, entry.shape, bytes.to_vec()));
    }
    if let Some(left) = ours.keys().next() {
        bail!("`{left}` has no name in the article's generator");
    }
    let views = named
        .iter()
        .map(|(name, dtype, shape, bytes)| Ok((name.as_str(), TensorView::new(*dtype, shape.clone(), bytes)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| anyhow::anyhow!("cannot encode safetensors: {e}"))?;
    let metadata = std::collections::HashMap::from([("atelier.generator".to_string(), serde_json::to_string(config)?)]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| anyhow::anyhow!("cannot encode safetensors: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table covers every tensor of our generator exactly once, with its shape: a renamed
    /// or added layer in `shared/` fails here before it fails a user.
    #[test]
    fn the_table_names_every_tensor_of_ours() {
        let config = GeneratorConfig::new(4);
        let generator = config.init(&Device::flex());
        let mut ours: BTreeMap<String, Vec<usize>> =
            generator.collect(None, None, false).into_iter().map(|t| (t.name.clone(), t.shape.to_vec())).collect();
        for entry in article_layout(&config) {
            if let Some(path) = entry.ours {
                assert_eq!(ours.remove(&path), Some(entry.shape), "{path}");
            }
        }
        assert!(ours.is_empty(), "not in the table: {ours:?}");
    }

    fn paint(generator: &Generator) -> Vec<f32> {
        let latent = atelier_shared::latent_batch(&[1, 2], generator.latent_dim(), &Device::flex());
        generator.forward(latent).into_data().try_to_vec::<f32>().unwrap()
    }

    /// The export holds exactly the article's names (`num_batches_tracked` included), and it
    /// comes back in as the same generator, also under `nn.DataParallel`'s `module.` names.
    #[test]
    fn safetensors_out_and_back_in_is_the_same_generator() {
        let config = GeneratorConfig::new(2);
        let generator = config.init(&Device::flex()).valid();
        let bytes = to_safetensors(&generator, &config, Precision::Full).unwrap();
        let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> = parsed.names().into_iter().map(str::to_string).collect();
        let mut article: Vec<String> = article_layout(&config).into_iter().map(|entry| entry.article).collect();
        names.sort();
        article.sort();
        assert_eq!(names, article);
        assert_eq!(parsed.tensor("net.2.1.num_batches_tracked").unwrap().dtype(), safetensors::Dtype::I64);

        let prefixed = safetensors::serialize(parsed.tensors().into_iter().map(|(name, view)| (format!("module.{name}"), view)), None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, file) in [("plain.safetensors", &bytes), ("data-parallel.safetensors", &prefixed)] {
            let (source, out) = (dir.path().join(name), dir.path().join(format!("{name}.bpk")));
            std::fs::write(&source, file).unwrap();
            assert_eq!(crate::generator_files::import(&source, &out, Precision::Full).unwrap(), config);
            let (imported, _) = crate::generator_files::load_weights(&out, &Device::flex()).unwrap();
            assert_eq!(paint(&imported), paint(&generator), "{name}");
        }
    }
}
