//! `trainer`: learns to paint portraits with a DCGAN on the GPU (burn + wgpu), exports the
//! generator for the browser and samples portraits by seed.
//!
//! Rooms: `data` (load, augment, batch) → model (in `atelier-shared`) → `training` (the loop and
//! all it needs) → `generator_files` (export, import, sample) and `evaluation`; `demo`, `curate`,
//! `bench` and `preprocess` are one job each.

mod atomic;
mod bench;
mod curate;
mod data;
mod demo;
mod device;
mod evaluation;
mod generator_files;
mod grid;
mod preprocess;
mod training;

use anyhow::{Context, Result};
use atelier_shared::DiscNorm;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use device::DeviceChoice;
use generator_files::Format;
use training::{GeneratorLoss, Recipe, TrainOptions, TrainRequest};

// Training allocates and frees tensors of tens of megabytes every step; the system allocator
// returns them to the kernel and faults fresh zeroed pages back in, mimalloc reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_t` of the mimalloc that libmimalloc-sys 0.1.49
/// vendors (the Rust bindings have no name for it; Cargo.toml pins the version).
const MIMALLOC_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory mapped for the next step instead of handing it back to the kernel: each
/// training step frees and reallocates the same buffers, and zeroing fresh pages cost ~5% of a
/// CPU step. The process holds its peak memory until it exits.
fn keep_freed_memory() {
    // SAFETY: setting an allocator option is thread-safe and only changes when memory is purged.
    unsafe { libmimalloc_sys::mi_option_set(MIMALLOC_PURGE_DELAY, -1) };
}

/// Makes burn's default device its CPU backend, unless `BURN_DEVICE` says otherwise. burn loads
/// a checkpoint's Adam states on the default device, which would otherwise be wgpu's: a resumed
/// CPU run started a GPU context (on machines without a GPU, Vulkan's software drivers, with their
/// complaints on stderr). The states move to their parameters' device at the next step, so a GPU
/// run loses nothing; everything else here names its device.
fn load_optimizer_states_on_the_cpu() {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: called at the top of `main`, before any thread exists to read the environment.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
}

#[derive(Parser)]
#[command(name = "trainer", version, about = "Train a portrait-painting GAN and sample portraits from it")]
struct Cli {
    /// Without a command: the demo on the bundled paintings.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Preprocess the bundled paintings, train a small generator briefly, sample it (runs/demo/).
    Demo(DemoArgs),
    /// Cut face-centred square crops from a folder of paintings (for training).
    Preprocess(PreprocessArgs),
    /// Train the GAN on a folder of images (checkpoints, samples and TensorBoard logs go to --run).
    Train(TrainArgs),
    /// Write the generator of a run to a weights file (ours, or safetensors for PyTorch).
    Export(ExportArgs),
    /// Turn the article's PyTorch generator (a state_dict .pt or .safetensors) into a weights file.
    Import(ImportArgs),
    /// Generate portraits from a weights file: seed N, N+1, … (moved along the painter's directions with --edit)
    Sample(SampleArgs),
    /// Find a painter's main directions in latent space (the gallery's sliders) and write them beside its weights.
    Directions(DirectionsArgs),
    /// Rank candidate seeds (the run's discriminator, the face detector, closeness to the crops' features) and write the best for the gallery.
    Curate(CurateArgs),
    /// Measure how good a generator's portraits are, against the real face crops.
    Evaluate(EvaluateArgs),
    /// Measure training and painting speed on this machine.
    Bench(BenchArgs),
}

#[derive(Parser)]
struct DemoArgs {
    /// Folder of paintings [default: the bundled data/].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Output folder (replaced on each demo run).
    #[arg(long, default_value = "runs/demo")]
    run: PathBuf,
    /// Passes over the crops (500: 4,000 steps of 16 on the bundled paintings' 137 crops, where
    /// the short recipe's faces have formed).
    #[arg(long, default_value_t = 500)]
    epochs: u64,
    /// Width multiplier of the networks.
    #[arg(long, default_value_t = 16)]
    width: usize,
    /// Images per step (16: twice the steps of 32 in about the same time, and more faces).
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
}

#[derive(Args)]
struct PreprocessArgs {
    /// Folder of paintings (searched recursively; never modified).
    #[arg(long)]
    input: PathBuf,
    /// Folder for the crops and manifest.csv (must not be inside --input).
    #[arg(long)]
    output: PathBuf,
    /// Side of the square crops in pixels.
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// Border around the face on each side, as a fraction of the face size (0.5: face plus hair and a little shoulder).
    #[arg(long, default_value_t = preprocess::DEFAULT_MARGIN)]
    margin: f32,
    /// Keep a centre crop of images where no face is found (default: skip them).
    #[arg(long)]
    keep_faceless: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// Folder of training images (searched recursively; any size, centre-cropped to 64×64).
    #[arg(long)]
    data: PathBuf,
    /// Run folder for checkpoints, samples, metrics and logs [default: runs/<UTC timestamp>].
    #[arg(long)]
    run: Option<PathBuf>,
    /// Passes over the data [default: 100].
    #[arg(long)]
    epochs: Option<u64>,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Width multiplier of both networks (64 is the article's; smaller trains faster; the
    /// discriminator's may differ, --disc-width).
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// Width of the discriminator alone, when it should differ from --width's (e.g. --width 24
    /// --disc-width 16: a wider painter judged by a discriminator that fits the crops less soon)
    /// [default: --width].
    #[arg(long)]
    disc_width: Option<usize>,
    /// Starting point for --diffaugment, --ema-decay, --eval-every and the learning rates:
    /// small-data (DiffAugment, generator EMA, evaluation; for runs of thousands of steps), short
    /// (three times the learning rates, generator EMA, evaluation; for shorter runs) or the article's
    /// recipe exactly.
    #[arg(long, value_enum, default_value_t = Recipe::SmallData)]
    recipe: Recipe,
    /// DiffAugment policies applied to everything the discriminator sees: color, translation,
    /// cutout (comma-separated), or none [default: the recipe's, all three / none / none].
    #[arg(long)]
    diffaugment: Option<String>,
    /// Decay of the generator's weight average (EMA) that samples and exports paint with; 0 turns
    /// it off [default: the recipe's, 0.999 / 0.999 / off]. On --resume it may change: the saved
    /// average goes on with the new decay.
    #[arg(long)]
    ema_decay: Option<f64>,
    /// Steps between evaluations of 256 portraits (SWD, face rate, …, in metrics.csv and
    /// TensorBoard; the best generator is kept as generator-best.bpk); 0: never [default: the
    /// recipe's, 1000 / 1000 / 0]. On --resume it may change.
    #[arg(long)]
    eval_every: Option<u64>,
    /// Generator learning rate (Adam, β = (0.5, 0.99), ε = 1e-8) [default: the recipe's, 1e-4 /
    /// 3e-4 / 1e-4].
    #[arg(long)]
    lr_g: Option<f64>,
    /// Discriminator learning rate [default: the recipe's, 2e-4 / 6e-4 / 2e-4].
    #[arg(long)]
    lr_d: Option<f64>,
    /// Generator loss.
    #[arg(long, value_enum, default_value_t = GeneratorLoss::FeatureMatching)]
    g_loss: GeneratorLoss,
    /// Weight of LeCam regularisation on the discriminator's loss (Tseng et al. 2021: its outputs
    /// on reals and fakes pulled towards each other's running average); 0: off. On --resume it may
    /// change [default: the recipe's].
    #[arg(long)]
    lecam: Option<f64>,
    /// Weight of consistency regularisation (bCR: the discriminator judges each image the same
    /// with and without DiffAugment; one more discriminator pass); 0: off [default: the recipe's].
    #[arg(long)]
    consistency: Option<f64>,
    /// Weight of an LSGAN term, MSE(D(G(z)), 1), added to feature matching in the generator's
    /// loss; 0: off [default: the recipe's].
    #[arg(long)]
    lsgan_term: Option<f64>,
    /// Weight of FastGAN's self-supervision on the discriminator's loss: a decoder paints each real
    /// image back at 32×32 from the discriminator's 8×8 map (MSE); 0: off [default: the recipe's].
    #[arg(long)]
    reconstruction: Option<f64>,
    /// Weight of sliced matching added to feature matching in the generator's loss: the fakes'
    /// discriminator features matched to the reals' along random directions as whole
    /// distributions, not only their means (Deshpande et al. 2018); 0: off. On --resume it may
    /// change [default: the recipe's].
    #[arg(long)]
    sliced_matching: Option<f64>,
    /// Weight of mode seeking in the generator's loss: pairs of portraits pushed as far apart as
    /// their latents, for more varied portraits (Mao et al. 2019); 0: off. On --resume it may
    /// change [default: the recipe's].
    #[arg(long)]
    mode_seeking: Option<f64>,
    /// Steps at the run's end over which both learning rates fall linearly towards 0, so the
    /// networks settle; 0: constant rates. On --resume it may change, with --epochs
    /// [default: 0].
    #[arg(long)]
    lr_decay: Option<u64>,
    /// The share of each batch's fakes that the generator learns from, those the discriminator
    /// finds most real (top-k training, Sinha et al. 2020); 1: all. On --resume it may change
    /// [default: 1].
    #[arg(long)]
    top_k: Option<f64>,
    /// The discriminator's target for real images, below 1 so it is never rewarded for certainty
    /// about them (one-sided label smoothing, Salimans et al. 2016); 1: none. On --resume it may
    /// change [default: 1].
    #[arg(long)]
    real_label: Option<f64>,
    /// The share of the crops to train on, those in which the face detector is most confident at
    /// the size the evaluation sees portraits (instance selection, DeVries et al. 2020); the
    /// evaluations still measure against every crop; 1: all. On --resume it may change
    /// [default: 1].
    #[arg(long)]
    instance_selection: Option<f64>,
    /// Images per group whose spread (the minibatch standard deviation, Karras et al. 2018) the
    /// discriminator sees before its feature layer, so feature matching asks the generator for
    /// the real crops' variety too; 0: off. A new discriminator: not on --resume.
    #[arg(long, default_value_t = 0)]
    minibatch_std: usize,
    /// Discriminator normalisation.
    #[arg(long, value_enum, default_value_t = NormArg::Batch)]
    disc_norm: NormArg,
    /// Seed of the initial weights, data order, augmentation and noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Steps between checkpoints [default: 500]. On --resume it may change.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Steps between sample grids [default: 200]. On --resume it may change.
    #[arg(long)]
    sample_every: Option<u64>,
    /// Steps between reading losses back from the device (progress bar, metrics.csv,
    /// TensorBoard) [default: 10]. On --resume it may change.
    #[arg(long)]
    log_every: Option<u64>,
    /// Continue the run in --run from its last checkpoint (its saved options are used; --epochs may extend it, --lr-decay change how it ends, --top-k, --lecam, --sliced-matching, --mode-seeking, --real-label, --instance-selection and --ema-decay how the networks learn from here, --eval-every, --checkpoint-every, --sample-every and --log-every how often it reports).
    #[arg(long, requires = "run")]
    resume: bool,
    /// Stop after this many steps in this invocation (the run stays resumable).
    #[arg(long, hide = true)]
    max_steps: Option<u64>,
    /// Tests only: make the generator's weights NaN in this step's update.
    #[arg(long, hide = true)]
    diverge_at_step: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
enum NormArg {
    Batch,
    Instance,
}

#[derive(Args)]
#[group(id = "source", required = true, args = ["run", "weights"])]
struct ExportArgs {
    /// Training run folder.
    #[arg(long)]
    run: Option<PathBuf>,
    /// A weights file instead of a run (e.g. the gallery's, to hand it to PyTorch).
    #[arg(long, conflicts_with_all = ["run", "live"])]
    weights: Option<PathBuf>,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// Store the convolution kernels as 16-bit floats (half the size).
    #[arg(long)]
    half: bool,
    /// Store the convolution kernels as 8-bit integers with a scale per output channel (a
    /// quarter of the size; what the gallery ships). Burnpack only.
    #[arg(long, conflicts_with = "half")]
    int8: bool,
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Burnpack)]
    format: Format,
    /// The live generator instead of its weight average (runs with generator EMA).
    #[arg(long)]
    live: bool,
}

#[derive(Args)]
struct ImportArgs {
    /// The article's generator as PyTorch saved it: `torch.save(gen.state_dict(), path)` (.pt,
    /// .pth) or a .safetensors file of the same tensor names; the width is read from its shapes.
    #[arg(long)]
    pytorch: PathBuf,
    /// Output weights file (for `sample`, `curate`, `evaluate` and the gallery).
    #[arg(long)]
    out: PathBuf,
    /// Store the convolution kernels as 16-bit floats (half the size).
    #[arg(long)]
    half: bool,
    /// Store the convolution kernels as 8-bit integers with a scale per output channel (a
    /// quarter of the size; what the gallery ships).
    #[arg(long, conflicts_with = "half")]
    int8: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Where to run.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// Network widths to time (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [64, 16])]
    widths: Vec<usize>,
    /// Images per training step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Untimed repetitions first (kernel compilation, caches).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Also time preprocessing of this folder of paintings.
    #[arg(long)]
    preprocess: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CurateArgs {
    /// Training run whose discriminator judges the portraits.
    #[arg(long)]
    run: PathBuf,
    /// Generator to judge [default: the run's own].
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Folder of the real face crops: portraits whose discriminator features lie close to the
    /// crops' average rank higher, and the chosen seeds are measured against the crops.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seeds 0..N are candidates.
    #[arg(long, default_value_t = 2000)]
    candidates: u64,
    /// How many seeds to keep.
    #[arg(long, default_value_t = 64)]
    top: usize,
    /// JSON file of the chosen seeds, best first.
    #[arg(long, default_value = "web/assets/seeds.json")]
    out: PathBuf,
}

#[derive(Args)]
struct EvaluateArgs {
    /// Generator weights whose portraits are measured (seeds 0, 1, …).
    #[arg(long, required_unless_present = "images", conflicts_with = "images")]
    weights: Option<PathBuf>,
    /// Measure the images in this folder instead of a generator's portraits (e.g. another
    /// program's samples).
    #[arg(long)]
    images: Option<PathBuf>,
    /// Folder of the real face crops, e.g. `trainer preprocess`'s output.
    #[arg(long)]
    data: PathBuf,
    /// Portraits painted from --weights.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SampleArgs {
    /// Generator weights (from `trainer export` or a run's generator.bpk).
    #[arg(long)]
    weights: PathBuf,
    /// Seed of the first portrait.
    #[arg(long)]
    seed: u64,
    /// Number of portraits (seeds N, N+1, …).
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Put all portraits in one grid image instead of one file each.
    #[arg(long)]
    grid: bool,
    /// Output PNG (one portrait or --grid), or folder (several portraits).
    #[arg(long)]
    out: PathBuf,
    /// Move each portrait along the painter's directions, as a gallery link's `edit=` does:
    /// DIRECTION:AMOUNT, comma-separated, amounts in standard deviations from -3 to 3 in steps of
    /// 0.1 (e.g. 2:1.5,7:-0.8). The same edits paint the same pixels as the gallery.
    #[arg(long)]
    edit: Option<String>,
    /// The painter's directions file [default: painters/<id>-directions.json beside --weights].
    #[arg(long)]
    directions: Option<PathBuf>,
}

#[derive(Args)]
struct DirectionsArgs {
    /// Generator weights.
    #[arg(long)]
    weights: PathBuf,
    /// Directions to keep, strongest first (1 to 16).
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Output JSON [default: painters/<id>-directions.json beside --weights, where the gallery
    /// and `sample --edit` look]. An earlier file of the same painter keeps its labels.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also paint what each direction does: a row per direction, seeds 1–3 each from -3 to +3.
    #[arg(long)]
    preview: Option<PathBuf>,
}

fn main() {
    keep_freed_memory();
    load_optimizer_states_on_the_cpu();
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    // No command: the demo with its defaults.
    let command = cli.command.unwrap_or_else(|| Command::Demo(DemoArgs::parse_from(["demo"])));
    match command {
        Command::Demo(args) => demo::demo(demo::DemoOptions {
            data: args.data,
            run: args.run,
            epochs: args.epochs,
            width: args.width,
            batch_size: args.batch_size,
            device: args.device,
        }),
        Command::Preprocess(args) => {
            let summary = preprocess::preprocess(&preprocess::PreprocessOptions {
                input: args.input,
                output: args.output.clone(),
                size: args.size,
                margin: args.margin,
                keep_faceless: args.keep_faceless,
                show_progress: true,
            })?;
            print!("{}", summary.report());
            println!("crops and manifest.csv: {}", args.output.display());
            Ok(())
        }
        Command::Train(args) => train(args),
        Command::Export(args) => {
            let what = match (&args.run, &args.weights) {
                (Some(run), _) => format!("generator at step {}", training::export::export(run, &args.out, precision(args.half, args.int8), args.format, args.live)?),
                (None, Some(weights)) => {
                    generator_files::convert(weights, &args.out, precision(args.half, args.int8), args.format)?;
                    format!("from {}", weights.display())
                }
                (None, None) => unreachable!("clap requires --run or --weights"),
            };
            println!("{}", generator_files::written_line(&args.out, &what, args.format)?);
            Ok(())
        }
        Command::Import(args) => {
            let config = generator_files::import(&args.pytorch, &args.out, precision(args.half, args.int8))?;
            let what = format!("the article's generator at width {}", config.width);
            println!("{}", generator_files::written_line(&args.out, &what, Format::Burnpack)?);
            Ok(())
        }
        Command::Bench(args) => {
            let report = bench::bench(&bench::BenchOptions {
                device: args.device,
                widths: args.widths,
                batch_size: args.batch_size,
                steps: args.steps,
                warmup: args.warmup,
                preprocess_data: args.preprocess,
            })?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(())
        }
        Command::Curate(args) => {
            let curation = curate::curate(&args.run, args.weights.as_deref(), args.data.as_deref(), args.candidates, args.top)?;
            curate::write_seeds(&curation.best, &args.out)?;
            let (first, last) = (curation.best.first().expect("top ≥ 1"), curation.best.last().expect("top ≥ 1"));
            println!(
                "wrote {} seeds to {} (scores {:.3} … {:.3}; best seed {}; a face found in {} of {} candidates)",
                curation.best.len(),
                args.out.display(),
                first.score,
                last.score,
                first.seed,
                curation.with_face,
                curation.candidates
            );
            if let Some((chosen, first_seeds)) = &curation.compared {
                println!("\nthe chosen seeds:\n{}\nseeds 0…{}, for comparison:\n{}", chosen.table(), curation.best.len() - 1, first_seeds.table());
            }
            Ok(())
        }
        Command::Evaluate(args) => {
            let portraits = match (&args.weights, &args.images) {
                (Some(weights), _) => evaluation::Portraits::Generator { weights: weights.clone(), count: args.count },
                (None, Some(images)) => evaluation::Portraits::Folder(images.clone()),
                (None, None) => unreachable!("clap requires --weights or --images"),
            };
            let evaluation = evaluation::evaluate(&portraits, &args.data)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&evaluation)?);
            } else {
                print!("{}", evaluation.table());
            }
            Ok(())
        }
        Command::Sample(args) => {
            let edits = atelier_shared::parse_edits(args.edit.as_deref().unwrap_or("")).context("--edit")?;
            let request = generator_files::sample::Request {
                weights: &args.weights,
                seed: args.seed,
                count: args.count,
                edits: &edits,
                directions: args.directions.as_deref(),
            };
            let generator_files::sample::Sampled { written, painter } = generator_files::sample::sample(&request, args.grid, &args.out)?;
            for path in written {
                println!("wrote {}", path.display());
            }
            // The identity share links carry, so a link's portrait can be found and painted here.
            let edit = if edits.is_empty() { String::new() } else { format!("&edit={}", atelier_shared::format_edits(&edits)) };
            println!("painter {painter} (the gallery links to seed N of it as #seed=N&painter={painter}{edit})");
            Ok(())
        }
        Command::Directions(args) => {
            let found = generator_files::directions::directions(&args.weights, args.count, args.out.as_deref(), args.preview.as_deref())?;
            print!("{}", found.report(args.preview.as_deref()));
            Ok(())
        }
    }
}

/// The precision `--half` / `--int8` ask for (clap lets at most one through).
fn precision(half: bool, int8: bool) -> atelier_shared::Precision {
    match (half, int8) {
        (true, _) => atelier_shared::Precision::Half,
        (_, true) => atelier_shared::Precision::Int8,
        _ => atelier_shared::Precision::Full,
    }
}

fn train(args: TrainArgs) -> Result<()> {
    let run = args.run.unwrap_or_else(|| PathBuf::from("runs").join(utc_timestamp()));
    let recipe = TrainOptions::recipe(args.recipe, args.data.clone(), args.width, args.batch_size);
    let options = TrainOptions {
        data: args.data,
        epochs: args.epochs.unwrap_or(training::options::DEFAULT_EPOCHS),
        diffaugment: match &args.diffaugment {
            Some(text) => training::diffaugment::DiffAugment::parse(text)?,
            None => recipe.diffaugment,
        },
        ema_decay: args.ema_decay.map_or(recipe.ema_decay, training::options::ema_decay_from_flag),
        eval_every: args.eval_every.unwrap_or(recipe.eval_every),
        batch_size: args.batch_size,
        width: args.width,
        lr_g: args.lr_g.unwrap_or(recipe.lr_g),
        lr_d: args.lr_d.unwrap_or(recipe.lr_d),
        g_loss: args.g_loss,
        disc_norm: match args.disc_norm {
            NormArg::Batch => DiscNorm::Batch,
            NormArg::Instance => DiscNorm::Instance,
        },
        seed: args.seed,
        checkpoint_every: args.checkpoint_every.unwrap_or(training::options::DEFAULT_CHECKPOINT_EVERY),
        sample_every: args.sample_every.unwrap_or(training::options::DEFAULT_SAMPLE_EVERY),
        log_every: args.log_every.unwrap_or(training::options::DEFAULT_LOG_EVERY),
        regularizers: training::regularizers::Regularizers {
            lecam: args.lecam.unwrap_or(recipe.regularizers.lecam),
            consistency: args.consistency.unwrap_or(recipe.regularizers.consistency),
            lsgan_term: args.lsgan_term.unwrap_or(recipe.regularizers.lsgan_term),
            reconstruction: args.reconstruction.unwrap_or(recipe.regularizers.reconstruction),
            sliced_matching: args.sliced_matching.unwrap_or(recipe.regularizers.sliced_matching),
            mode_seeking: args.mode_seeking.unwrap_or(recipe.regularizers.mode_seeking),
        },
        lr_decay: args.lr_decay.unwrap_or(recipe.lr_decay),
        top_k: args.top_k.unwrap_or(recipe.top_k),
        disc_width: args.disc_width,
        real_label: args.real_label.unwrap_or(recipe.real_label),
        instance_selection: args.instance_selection.unwrap_or(recipe.instance_selection),
        minibatch_std: args.minibatch_std,
    };
    println!("run folder: {}", run.display());
    let outcome = training::train(TrainRequest {
        options,
        run,
        resume: args.resume,
        changes: training::ResumeChanges {
            epochs: args.epochs,
            lr_decay: args.lr_decay,
            top_k: args.top_k,
            lecam: args.lecam,
            sliced_matching: args.sliced_matching,
            mode_seeking: args.mode_seeking,
            real_label: args.real_label,
            instance_selection: args.instance_selection,
            ema_decay: args.ema_decay,
            eval_every: args.eval_every,
            checkpoint_every: args.checkpoint_every,
            sample_every: args.sample_every,
            log_every: args.log_every,
        },
        device: args.device,
        max_steps: args.max_steps,
        diverge_at_step: args.diverge_at_step,
        progress: true,
    })?;
    println!(
        "{} at step {}/{} on {} · D {:.4} · G {:.4} · {:.1} img/s",
        if outcome.steps_done == outcome.total_steps { "done" } else { "stopped" },
        outcome.steps_done,
        outcome.total_steps,
        outcome.device,
        outcome.last.d_loss,
        outcome.last.g_loss,
        outcome.images_per_second
    );
    let run = outcome.run.display();
    println!("samples: {run}/samples/fake-latest.png · metrics: {run}/metrics.csv · tensorboard --logdir {run}");
    if let Some(best) = outcome.best {
        println!("best SWD so far {:.1} at step {}: {run}/{}", best.swd, best.step, training::BEST_GENERATOR_FILE);
    }
    if outcome.steps_done == outcome.total_steps {
        println!("generator: {run}/generator.bpk (try: trainer sample --weights {run}/generator.bpk --seed 1 --count 16 --grid --out portraits.png)");
    } else {
        println!("continue with: trainer train --data … --run {run} --resume");
    }
    Ok(())
}

/// `YYYYMMDD-HHMMSS` in UTC, for default run folder names.
fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}
