//! The no-argument demo: preprocess the bundled paintings, train a small generator briefly and
//! write samples, logs and weights into `runs/demo/` — the whole pipeline in about 7 minutes on a
//! 2-core CPU, faster on a GPU. It trains with the short recipe: DiffAugment, the default
//! recipe's strength over thousands of steps, paints colour blotches at the demo's length.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

use crate::device::DeviceChoice;
use crate::preprocess::{PreprocessOptions, preprocess};
use crate::training::{Recipe, ResumeChanges, TrainOptions, TrainRequest, train};

/// Marks a folder the demo made, so a second run may replace it and nothing else is touched.
const MARKER: &str = ".atelier-demo";

pub struct DemoOptions {
    pub data: Option<PathBuf>,
    pub run: PathBuf,
    pub epochs: u64,
    pub width: usize,
    pub batch_size: usize,
    pub device: DeviceChoice,
}

/// The bundled paintings: `data/` under the current folder, else the repository's.
fn bundled_data() -> PathBuf {
    let local = PathBuf::from("data");
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("data")
}

pub fn demo(options: DemoOptions) -> Result<()> {
    let data = options.data.clone().unwrap_or_else(bundled_data);
    let run = options.run.clone();
    println!("atelier demo — a small generator (width {}) trained briefly on the paintings in {}.", options.width, data.display());
    println!("This shows the whole pipeline; real runs train the article's width 64 for hours on a GPU (see README).\n");
    if run.exists() {
        if !run.join(MARKER).is_file() {
            bail!("{} exists and was not made by the demo; move it away or pass --run", run.display());
        }
        std::fs::remove_dir_all(&run)?;
    }
    std::fs::create_dir_all(&run)?;
    std::fs::write(run.join(MARKER), b"made by `trainer demo`; replaced by the next demo run\n")?;

    println!("1/3 preprocessing: finding faces");
    let crops = run.join("crops");
    let summary = preprocess(&PreprocessOptions {
        input: data.clone(),
        output: crops.clone(),
        size: atelier_shared::IMAGE_SIZE as u32,
        margin: crate::preprocess::DEFAULT_MARGIN,
        keep_faceless: false,
        show_progress: true,
    })?;
    print!("{}", summary.report());
    for path in &summary.no_face {
        println!("  no face: {}", path.display());
    }

    println!("\n2/3 training");
    let steps_per_epoch = (summary.written / options.batch_size).max(1) as u64;
    let total = options.epochs * steps_per_epoch;
    let outcome = train(TrainRequest {
        options: TrainOptions {
            epochs: options.epochs,
            checkpoint_every: total.max(1),
            sample_every: (total / 5).max(1),
            log_every: 5,
            // Evaluated once, at the end (evaluation needs a few crops to compare with).
            eval_every: if summary.written >= 4 { total.max(1) } else { 0 },
            ..TrainOptions::recipe(Recipe::Short, crops, options.width, options.batch_size)
        },
        run: run.clone(),
        resume: false,
        changes: ResumeChanges::default(),
        device: options.device,
        max_steps: None,
        diverge_at_step: None,
        progress: true,
    })?;
    println!(
        "trained {} steps on {} · {:.1} img/s · final D loss {:.4}, G loss {:.4}",
        outcome.steps_done, outcome.device, outcome.images_per_second, outcome.last.d_loss, outcome.last.g_loss
    );

    println!("\n3/3 exporting and sampling");
    let generator = run.join("generator.bpk");
    let half = run.join("generator-half.bpk");
    crate::training::export::export(&run, &half, atelier_shared::Precision::Half, crate::generator_files::Format::Burnpack, false)?;
    // Beside the gallery's own weights (never over them), for `trunk serve` + `?weights=demo`.
    let gallery_assets = Path::new("web/assets");
    let for_gallery = gallery_assets.is_dir().then(|| gallery_assets.join("demo.bpk"));
    if let Some(path) = &for_gallery {
        crate::atomic::write(path, &std::fs::read(&half)?)?;
    }
    let portraits = run.join("portraits.png");
    let request = crate::generator_files::sample::Request { weights: &generator, seed: 0, count: 16, edits: &[], directions: None };
    crate::generator_files::sample::sample(&request, true, &portraits)?;

    let r = run.display();
    println!("\nmade in {r}/:");
    println!("  crops/                 {} face crops (manifest.csv names their sources)", summary.written);
    println!("  samples/               sample grids during training (fake-latest.png, real-latest.png)");
    println!("  portraits.png          16 portraits, seeds 0–15");
    println!("  generator.bpk          the generator; generator-half.bpk for the web");
    println!("  metrics.csv, events.*  losses, D(x), D(G(z)), img/s");
    if let Some(path) = &for_gallery {
        println!("  {:<22} a copy of generator-half.bpk for the gallery", path.display());
    }
    println!("\nnext:");
    if for_gallery.is_some() {
        println!("  trunk serve            then open http://127.0.0.1:8080/?weights=demo (without it: the shipped generator)");
    }
    println!("  tensorboard --logdir runs");
    println!("  cargo run -p trainer --release -- sample --weights {r}/generator.bpk --seed 42 --out portrait-42.png");
    println!("  cargo run -p trainer --release -- preprocess --input ~/wikiart/portrait --output crops/");
    println!("  cargo run -p trainer --release -- train --data crops/ --run runs/wikiart");
    Ok(())
}
