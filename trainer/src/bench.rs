//! `trainer bench`: how fast atelier trains and paints on this machine. Prints a table (or
//! JSON) of training img/s per width, the time split of a step, generator latency, memory and
//! preprocessing speed. Warm-up iterations are excluded; every figure is a median.

use anyhow::{Result, bail};
use atelier_shared::{DiscNorm, DiscriminatorConfig, GeneratorConfig, IMAGE_SIZE, LATENT_DIM, latent_batch};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

use crate::data::batches::{BatchPlan, STREAM_AUGMENT, STREAM_DIFFAUGMENT};
use crate::device::DeviceChoice;
use crate::training::TrainOptions;
use crate::training::checkpoint::TrainingState;
use crate::training::optimizer::adam;
use crate::training::regularizers::LecamAnchors;
use crate::training::schedule::LearningRates;
use crate::training::step::{Phase, noise_batch, train_step};

pub struct BenchOptions {
    pub device: DeviceChoice,
    pub widths: Vec<usize>,
    pub batch_size: usize,
    pub steps: usize,
    pub warmup: usize,
    pub preprocess_data: Option<PathBuf>,
}

#[derive(Serialize, Default)]
pub struct TrainingBench {
    pub width: usize,
    pub images_per_second: f64,
    pub step_ms: f64,
    /// Median milliseconds per phase, with a device sync after each (so they add up to more
    /// than `step_ms`, which has one sync per step).
    pub generator_forward_ms: f64,
    pub discriminator_forward_ms: f64,
    pub backward_ms: f64,
    pub optimizer_ms: f64,
}

#[derive(Serialize)]
pub struct BenchReport {
    pub device: String,
    /// The CPU's model, vector instructions and caches, and the block size the CPU kernels
    /// derive from them: every figure says what it was measured on.
    pub cpu: String,
    pub batch_size: usize,
    pub training: Vec<TrainingBench>,
    /// (batch, median ms) for the generator alone, at the first width.
    pub generator_latency_ms: Vec<(usize, f64)>,
    pub peak_process_memory_mb: Option<f64>,
    pub device_memory_reserved_mb: Option<f64>,
    pub preprocess_images_per_second: Option<f64>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() { 0.0 } else { values[values.len() / 2] }
}

fn sync(device: &Device) -> Result<()> {
    device.sync().map_err(|e| anyhow::anyhow!("the device failed: {e:?}"))
}

fn bench_width(device: &Device, width: usize, options: &BenchOptions) -> Result<TrainingBench> {
    let train_device = device.clone().autodiff();
    let train_options = TrainOptions::article(PathBuf::new(), width, options.batch_size);
    let mut parts = TrainingState {
        generator: GeneratorConfig::new(width).init(&train_device),
        discriminator: DiscriminatorConfig::new(width, DiscNorm::Batch).init(&train_device),
        optimizer_g: adam(),
        optimizer_d: adam(),
        self_supervision: None,
    };
    let plan = BatchPlan { seed: 0, batch_size: options.batch_size, dataset_len: options.batch_size };
    let batch = options.batch_size;
    // Noise squashed into [-1, 1] stands in for images (speed does not depend on content). It is
    // made once: only its upload to the device belongs in a timed step.
    let mut values = vec![0.0f32; batch * 3 * IMAGE_SIZE * IMAGE_SIZE];
    atelier_shared::latent::fill_normal(&mut plan.rng(STREAM_AUGMENT, 0), &mut values);
    values.iter_mut().for_each(|v| *v = v.tanh());
    let real = || Tensor::<4>::from_data(TensorData::new(values.clone(), [batch, 3, IMAGE_SIZE, IMAGE_SIZE]), &train_device);
    let mut step_times = Vec::new();
    for step in 0..options.warmup + options.steps {
        let start = Instant::now();
        let scalars;
        (parts, scalars) = train_step(parts, real(), noise_batch(&plan, step as u64, batch, LATENT_DIM, &train_device), &train_options, LearningRates::constant(&train_options), &mut plan.rng(STREAM_DIFFAUGMENT, step as u64), &mut LecamAnchors::default(), &mut |_| {});
        drop(scalars);
        sync(device)?;
        if step >= options.warmup {
            step_times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    // Per timed step, the milliseconds spent in each phase (most phases happen twice a step).
    let mut per_step: Vec<[f64; 4]> = Vec::new();
    for step in 0..options.steps {
        let mut totals = [0.0; 4];
        let mut mark = Instant::now();
        let mut failed = None;
        let mut after = |phase: Phase| {
            if let Err(e) = sync(device) {
                failed = Some(e);
            }
            totals[phase as usize] += mark.elapsed().as_secs_f64() * 1e3;
            mark = Instant::now();
        };
        (parts, _) = train_step(parts, real(), noise_batch(&plan, step as u64, batch, LATENT_DIM, &train_device), &train_options, LearningRates::constant(&train_options), &mut plan.rng(STREAM_DIFFAUGMENT, step as u64), &mut LecamAnchors::default(), &mut after);
        if let Some(e) = failed {
            return Err(e);
        }
        per_step.push(totals);
    }
    let phase_ms = |phase: Phase| median(per_step.iter().map(|t| t[phase as usize]).collect());
    let step_ms = median(step_times);
    Ok(TrainingBench {
        width,
        images_per_second: batch as f64 / (step_ms / 1e3),
        step_ms,
        generator_forward_ms: phase_ms(Phase::GeneratorForward),
        discriminator_forward_ms: phase_ms(Phase::DiscriminatorForward),
        backward_ms: phase_ms(Phase::Backward),
        optimizer_ms: phase_ms(Phase::OptimizerStep),
    })
}

fn generator_latency(device: &Device, width: usize, options: &BenchOptions) -> Result<Vec<(usize, f64)>> {
    let generator = GeneratorConfig::new(width).init(device).valid();
    let mut out = Vec::new();
    for batch in [1usize, 16, 64] {
        let seeds: Vec<u64> = (0..batch as u64).collect();
        let mut times = Vec::new();
        for run in 0..options.warmup + options.steps.max(3) {
            let start = Instant::now();
            let images = generator.forward(latent_batch(&seeds, LATENT_DIM, device));
            images.into_data();
            if run >= options.warmup {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        out.push((batch, median(times)));
    }
    Ok(out)
}

/// Peak resident memory of this process (Linux), in MB.
fn peak_process_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn bench(options: &BenchOptions) -> Result<BenchReport> {
    if options.widths.is_empty() || options.steps == 0 || options.batch_size < 2 {
        bail!("bench needs at least one width, one step and a batch of at least 2");
    }
    let selected = crate::device::select(options.device)?;
    let device = selected.device;
    eprintln!("benchmarking on {} (warm-up {} steps, median of {})", selected.description, options.warmup, options.steps);
    let mut training = Vec::new();
    for &width in &options.widths {
        eprintln!("  training at width {width}…");
        training.push(bench_width(&device, width, options)?);
    }
    eprintln!("  generator latency…");
    let generator_latency_ms = generator_latency(&device, options.widths[0], options)?;
    let device_memory_reserved_mb = device.memory_pool_usage().map(|u| u.bytes_reserved as f64 / 1e6);
    let preprocess_images_per_second = match &options.preprocess_data {
        Some(data) => {
            eprintln!("  preprocessing {}…", data.display());
            let out = tempfile_dir()?;
            let summary = crate::preprocess::preprocess(&crate::preprocess::PreprocessOptions {
                input: data.clone(),
                output: out.clone(),
                size: IMAGE_SIZE as u32,
                margin: crate::preprocess::DEFAULT_MARGIN,
                keep_faceless: false,
                show_progress: false,
            });
            let _ = std::fs::remove_dir_all(&out);
            let summary = summary?;
            Some((summary.read + summary.unreadable.len()) as f64 / summary.seconds)
        }
        None => None,
    };
    Ok(BenchReport {
        device: selected.description,
        cpu: atelier_shared::cpu_kernels::machine().describe(),
        batch_size: options.batch_size,
        training,
        generator_latency_ms,
        peak_process_memory_mb: peak_process_memory_mb(),
        device_memory_reserved_mb,
        preprocess_images_per_second,
    })
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("atelier-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl BenchReport {
    pub fn table(&self) -> String {
        let mut s = format!("device: {} · batch {}\ncpu: {}\n", self.device, self.batch_size, self.cpu);
        s += "width   img/s  step ms   G fwd   D fwd  backward  optimiser\n";
        for t in &self.training {
            s += &format!(
                "{:>5}  {:>6.1}  {:>7.0}  {:>6.0}  {:>6.0}  {:>8.0}  {:>9.0}\n",
                t.width, t.images_per_second, t.step_ms, t.generator_forward_ms, t.discriminator_forward_ms, t.backward_ms, t.optimizer_ms
            );
        }
        s += "(median ms; the phases are timed with a device sync after each, so they add up to more than a step)\n";
        let latency: Vec<String> = self.generator_latency_ms.iter().map(|(b, ms)| format!("batch {b}: {ms:.1} ms")).collect();
        s += &format!("generator (width {}): {}\n", self.training[0].width, latency.join(" · "));
        if let Some(mb) = self.peak_process_memory_mb {
            s += &format!("peak process memory: {mb:.0} MB\n");
        }
        if let Some(mb) = self.device_memory_reserved_mb {
            s += &format!("device memory reserved: {mb:.0} MB\n");
        }
        if let Some(ips) = self.preprocess_images_per_second {
            s += &format!("preprocessing: {ips:.1} images/s\n");
        }
        s
    }
}
