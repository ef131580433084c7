//! End-to-end tests of the `trainer` command line: training on both backends, resume,
//! export, sampling and bad input.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn train_args<'a>(data: &'a str, run: &'a str, device: &'a str) -> Vec<&'a str> {
    vec![
        "train", "--data", data, "--run", run, "--device", device, "--width", "8", "--batch-size", "4",
        "--epochs", "2", "--checkpoint-every", "1", "--sample-every", "2", "--log-every", "1",
    ]
}

/// Trains, checks the run's outputs, resumes, exports and samples: the whole CLI on the CPU
/// backend, with the default recipe (`the_article_recipe_adds_nothing` checks the article's).
#[test]
fn full_cycle_on_the_cpu_backend() {
    let device = "cpu";
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let run = dir.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());

    // Two steps, then stop (resumable).
    let mut args = train_args(data_s, run_s, device);
    args.extend(["--max-steps", "2"]);
    let out = ok(&args);
    assert!(out.contains("11 images"), "{out}");
    assert!(out.contains("corrupt.jpg"), "the unreadable file is named: {out}");
    assert_eq!(checkpoint_step(&run), 2);
    let weights_at_2 = std::fs::read(run.join("checkpoint/generator.bpk")).unwrap();
    assert!(run.join("samples/fake-step0000002.png").is_file());
    assert!(run.join("samples/real-latest.png").is_file());
    assert!(std::fs::read_dir(&run).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("events.out.tfevents")));

    // Starting over in the same folder is refused; resuming continues the step count.
    let err = fails(&train_args(data_s, run_s, device));
    assert!(err.contains("--resume"), "{err}");
    let mut args = train_args(data_s, run_s, device);
    args.push("--resume");
    let out = ok(&args);
    assert!(out.contains("resuming") && out.contains("step 2"), "{out}");
    // 11 images / batch 4 = 2 steps per epoch, 2 epochs.
    assert_eq!(checkpoint_step(&run), 4);
    assert_ne!(std::fs::read(run.join("checkpoint/generator.bpk")).unwrap(), weights_at_2, "training changes the weights");
    let metrics = read_metrics(&run);
    let steps: Vec<u64> = metrics.iter().filter(|row| row.contains_key("d_loss")).map(|row| row["step"] as u64).collect();
    assert_eq!(steps, vec![1, 2, 3, 4]);
    assert!(metrics.iter().all(|row| row.values().all(|v| v.is_finite())), "{metrics:?}");
    assert!(run.join("generator.bpk").is_file(), "training exports the generator at the end");

    // The default recipe: DiffAugment, the weight average (kept in checkpoints) and an
    // evaluation where each call ended, whose best generator is kept.
    assert!(out.contains("DiffAugment color,translation,cutout") && out.contains("EMA 0.999"), "{out}");
    assert!(run.join("checkpoint/generator-ema.bpk").is_file());
    assert!(run.join("generator-best.bpk").is_file());
    let evaluated: Vec<u64> = metrics.iter().filter(|row| row.contains_key("swd")).map(|row| row["step"] as u64).collect();
    assert_eq!(evaluated, vec![2, 4], "evaluated at the end of each call");
    let last = metrics.iter().rfind(|row| row.contains_key("swd")).unwrap();
    for key in ["swd_64", "swd_32", "swd_16", "swd_floor", "face_rate", "diversity", "nearest_crop", "high_frequency"] {
        assert!(last.contains_key(key), "{key} missing: {last:?}");
    }
    let state = checkpoint_state(&run);
    assert!(state["best"]["swd"].as_f64().unwrap() > 0.0, "{state}");

    // Export (full, half and 8-bit) and sampling.
    let full = dir.path().join("g.bpk");
    let half = dir.path().join("g-half.bpk");
    let int8 = dir.path().join("g-int8.bpk");
    ok(&["export", "--run", run_s, "--out", full.to_str().unwrap()]);
    ok(&["export", "--run", run_s, "--out", half.to_str().unwrap(), "--half"]);
    ok(&["export", "--run", run_s, "--out", int8.to_str().unwrap(), "--int8"]);
    ok(&["export", "--run", run_s, "--out", dir.path().join("g.safetensors").to_str().unwrap(), "--format", "safetensors"]);
    let size = |path: &Path| std::fs::metadata(path).unwrap().len();
    assert!(size(&int8) < size(&half) && size(&half) < size(&full));
    let refused = fails(&["export", "--run", run_s, "--out", dir.path().join("g8.safetensors").to_str().unwrap(), "--int8", "--format", "safetensors"]);
    assert!(refused.contains("floats only") && !dir.path().join("g8.safetensors").exists(), "{refused}");
    let png = |name: &str| dir.path().join(name);
    ok(&["sample", "--weights", full.to_str().unwrap(), "--seed", "42", "--out", png("a.png").to_str().unwrap()]);
    ok(&["sample", "--weights", full.to_str().unwrap(), "--seed", "42", "--out", png("b.png").to_str().unwrap()]);
    assert_eq!(std::fs::read(png("a.png")).unwrap(), std::fs::read(png("b.png")).unwrap(), "same seed, same bytes");
    let img = image::open(png("a.png")).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (64, 64));
    // Out to PyTorch's names and back in: the same portrait, byte for byte.
    let back = dir.path().join("g-back.bpk");
    ok(&["import", "--pytorch", dir.path().join("g.safetensors").to_str().unwrap(), "--out", back.to_str().unwrap()]);
    ok(&["sample", "--weights", back.to_str().unwrap(), "--seed", "42", "--out", png("back.png").to_str().unwrap()]);
    assert_eq!(std::fs::read(png("a.png")).unwrap(), std::fs::read(png("back.png")).unwrap(), "export → import changed the portrait");
    ok(&["sample", "--weights", half.to_str().unwrap(), "--seed", "7", "--count", "3", "--out", png("many").to_str().unwrap()]);
    ok(&["sample", "--weights", int8.to_str().unwrap(), "--seed", "42", "--out", png("int8.png").to_str().unwrap()]);
    let (exact, eight_bit) = (image::open(png("a.png")).unwrap().to_rgb8(), image::open(png("int8.png")).unwrap().to_rgb8());
    let worst = exact.as_raw().iter().zip(eight_bit.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(worst <= 16, "the 8-bit file paints portrait 42 {worst}/255 away from the full-precision one");
    for seed in 7..10 {
        assert!(png("many").join(format!("seed-{seed}.png")).is_file());
    }
    ok(&["sample", "--weights", full.to_str().unwrap(), "--seed", "0", "--count", "16", "--grid", "--out", png("grid.png").to_str().unwrap()]);
    assert_eq!(image::open(png("grid.png")).unwrap().width(), 4 * 64 + 5 * 2);

    // Curating: the best 5 of 40 seeds, distinct, written as JSON, and measured beside seeds
    // 0–4; the same twice.
    let seeds_file = png("seeds.json");
    let curate = |out: &str| ok(&["curate", "--run", run_s, "--weights", half.to_str().unwrap(), "--data", data_s, "--candidates", "40", "--top", "5", "--out", out]);
    let out = curate(seeds_file.to_str().unwrap());
    assert!(out.contains("wrote 5 seeds") && out.contains("of 40 candidates"), "{out}");
    assert!(out.contains("the chosen seeds:") && out.contains("seeds 0…4, for comparison:") && out.matches("face rate").count() == 2, "{out}");
    let seeds: Vec<u64> = serde_json::from_str(&std::fs::read_to_string(&seeds_file).unwrap()).unwrap();
    let mut unique = seeds.clone();
    unique.sort();
    unique.dedup();
    assert!(unique.len() == 5 && seeds.iter().all(|&s| s < 40), "{seeds:?}");
    curate(png("again.json").to_str().unwrap());
    assert_eq!(std::fs::read(&seeds_file).unwrap(), std::fs::read(png("again.json")).unwrap());
}

/// The real wgpu path (a GPU, or lavapipe's CPU Vulkan driver where there is none), with the
/// default recipe: DiffAugment, the weight average and the evaluation run there too, and the
/// generator it writes paints. One call: on lavapipe each new process compiles its kernels
/// again, minutes on two cores, and what follows training is the CPU's, tested above.
#[test]
fn a_run_on_wgpu_trains_evaluates_and_paints() {
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let run = dir.path().join("run");
    let out = ok(&train_args(data.to_str().unwrap(), run.to_str().unwrap(), "gpu"));
    assert!(out.contains("11 images") && out.contains("DiffAugment color,translation,cutout") && out.contains("EMA 0.999"), "{out}");
    assert_eq!(checkpoint_step(&run), 4);
    assert!(run.join("checkpoint/generator-ema.bpk").is_file() && run.join("generator-best.bpk").is_file());
    let metrics = read_metrics(&run);
    assert!(metrics.iter().all(|row| row.values().all(|v| v.is_finite())), "{metrics:?}");
    let evaluated: Vec<u64> = metrics.iter().filter(|row| row.contains_key("face_rate")).map(|row| row["step"] as u64).collect();
    assert_eq!(evaluated, vec![4]);
    let png = dir.path().join("portrait.png");
    ok(&["sample", "--weights", run.join("generator.bpk").to_str().unwrap(), "--seed", "42", "--out", png.to_str().unwrap()]);
    assert_eq!(image::open(&png).unwrap().to_rgb8().dimensions(), (64, 64));
}

/// The PNG bytes of seeds 3–6 of a finished run's generator, painted as a grid beside it.
fn painted_grid(run: &Path) -> Vec<u8> {
    let png = run.with_extension("grid.png");
    ok(&["sample", "--weights", run.join("generator.bpk").to_str().unwrap(), "--seed", "3", "--count", "4", "--grid", "--out", png.to_str().unwrap()]);
    std::fs::read(png).unwrap()
}

/// A resumed run continues exactly where it stopped: DiffAugment's draws, the weight average,
/// LeCam's averages, FastGAN's decoder, the optimisers and the learning rates' decay all come
/// back, so it paints what an uninterrupted run paints — with the default recipe and with every
/// regulariser (sliced matching's random directions and mode seeking's pairs included), the
/// decay, top-k training and a discriminator narrower than the generator on.
#[test]
fn a_resumed_run_paints_what_an_uninterrupted_one_paints() {
    let regularized = ["--lecam", "0.3", "--consistency", "10", "--lsgan-term", "0.2", "--reconstruction", "1", "--sliced-matching", "1", "--mode-seeking", "0.05", "--lr-decay", "3", "--top-k", "0.5", "--disc-width", "4"];
    for (name, extra) in [("default", &[][..]), ("regularized", &regularized[..])] {
        let dir = tempfile::tempdir().unwrap();
        let data = raw_image_folder(dir.path());
        let data_s = data.to_str().unwrap();
        let straight = dir.path().join("straight");
        let mut args = train_args(data_s, straight.to_str().unwrap(), "cpu");
        args.extend(extra);
        let out = ok(&args);
        if !extra.is_empty() {
            assert!(out.contains("regularisers LeCam 0.3 · consistency 10 · LSGAN term 0.2 · reconstruction 1 · sliced matching 1 · mode seeking 0.05"), "{out}");
            assert!(straight.join("checkpoint/decoder.bpk").is_file(), "the decoder is checkpointed");
            assert!(out.contains("· discriminator width 4"), "{out}");
            let state = checkpoint_state(&straight);
            assert_eq!((state["generator"]["width"].as_u64(), state["discriminator"]["width"].as_u64()), (Some(8), Some(4)), "{state}");
        }
        let resumed = dir.path().join("resumed");
        let mut args = train_args(data_s, resumed.to_str().unwrap(), "cpu");
        args.extend(extra);
        args.extend(["--max-steps", "1"]);
        ok(&args);
        let mut args = train_args(data_s, resumed.to_str().unwrap(), "cpu");
        args.push("--resume");
        ok(&args);
        assert_eq!(painted_grid(&straight), painted_grid(&resumed), "{name}");
    }
}

/// Trains `run` with the test's arguments and `extra` (its recipe line must say `says`), checks
/// that it paints otherwise than `plain`, then resumes it to 3 epochs with `on_resume`; returns
/// what the resumed run printed.
fn trained_otherwise_and_resumed(data: &str, plain: &Path, run: &Path, extra: &[&str], says: &str, on_resume: &[&str]) -> String {
    let mut args = train_args(data, run.to_str().unwrap(), "cpu");
    args.extend(extra);
    let out = ok(&args);
    assert!(out.contains(says), "{out}");
    assert_ne!(painted_grid(plain), painted_grid(run), "{extra:?} changed nothing");
    let resume = ["train", "--data", data, "--run", run.to_str().unwrap(), "--device", "cpu", "--resume", "--epochs", "3"];
    let out = ok(&[&resume[..], on_resume].concat());
    assert!(out.contains("resuming"), "{out}");
    assert_eq!(checkpoint_step(run), 6);
    out
}

/// `--lr-decay N` lowers both learning rates over a run's last N steps, and `--top-k` makes the
/// generator learn from the fakes the discriminator finds most real: each changes what a run
/// paints, as does training on the most face-like share of the crops (`--instance-selection`).
/// On resume each may change with `--epochs` (as may `--lecam`, `--sliced-matching`,
/// `--mode-seeking`, `--real-label`, `--ema-decay` and how often the run reports, e.g.
/// `--sample-every`), and the run says so: a decay then runs
/// over the run's new end. A discriminator that sees the batch's spread (`--minibatch-std`)
/// paints otherwise too, and resumes.
#[test]
fn learning_options_change_the_painting_and_may_change_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let data_s = data.to_str().unwrap();
    let plain = dir.path().join("plain");
    let out = ok(&train_args(data_s, plain.to_str().unwrap(), "cpu"));
    assert!(!out.contains("decay over") && !out.contains("best 0.5"), "{out}");

    let decayed = dir.path().join("decayed");
    let says = "learning rates decay over the last 3 steps";
    let out = trained_otherwise_and_resumed(data_s, &plain, &decayed, &["--lr-decay", "3"], says, &["--lr-decay", "2"]);
    assert!(out.contains("learning rates decay over the last 2 steps"), "{out}");

    let best = dir.path().join("best");
    let says = "the generator learns from the best 0.5 of its fakes";
    let on_resume = ["--top-k", "1", "--lecam", "0.3", "--sliced-matching", "0.5", "--mode-seeking", "0.1", "--real-label", "0.9", "--ema-decay", "0.995", "--sample-every", "1"];
    let out = trained_otherwise_and_resumed(data_s, &plain, &best, &["--top-k", "0.5"], says, &on_resume);
    assert!(!out.contains("best 0.5") && out.contains("regularisers LeCam 0.3 · sliced matching 0.5 · mode seeking 0.1"), "{out}");
    assert!(out.contains("real images' target 0.9") && out.contains("generator EMA 0.995"), "{out}");
    // How often a run reports may change too: the resumed steps sample every step, not every second.
    assert!(!best.join("samples/fake-step0000003.png").exists() && best.join("samples/fake-step0000005.png").exists());
    assert_eq!(checkpoint_state(&best)["options"]["sample_every"], 1);

    let selected = dir.path().join("selected");
    let says = "training on the 9 of 11 crops in which the face detector is most confident";
    let out = trained_otherwise_and_resumed(data_s, &plain, &selected, &["--instance-selection", "0.8"], says, &["--instance-selection", "1"]);
    assert!(out.contains("now trains on 11 images, it started with 9") && !out.contains("most face-like"), "{out}");

    // The batch's spread widens the discriminator's feature layer: the resumed run loads it.
    let spread = dir.path().join("spread");
    let says = "the discriminator sees the spread of each 2 images";
    let out = trained_otherwise_and_resumed(data_s, &plain, &spread, &["--minibatch-std", "2"], says, &[]);
    assert!(out.contains(says), "{out}");
    let lonely = dir.path().join("lonely");
    let mut args = train_args(data_s, lonely.to_str().unwrap(), "cpu");
    args.extend(["--minibatch-std", "1"]);
    assert!(fails(&args).contains("--minibatch-std 1"));
}

/// `--recipe article` is the article's training exactly: no DiffAugment, no weight average, no
/// evaluation, unless asked for.
#[test]
fn the_article_recipe_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let run = dir.path().join("run");
    let mut args = train_args(data.to_str().unwrap(), run.to_str().unwrap(), "cpu");
    args.extend(["--recipe", "article", "--max-steps", "1"]);
    let out = ok(&args);
    assert!(out.contains("DiffAugment none · generator EMA off · regularisers off · evaluation off"), "{out}");
    assert!(!run.join("checkpoint/generator-ema.bpk").exists());
    assert!(!run.join("generator-best.bpk").exists());
    let bad = dir.path().join("bad");
    let mut args = train_args(data.to_str().unwrap(), bad.to_str().unwrap(), "cpu");
    args.extend(["--diffaugment", "color,zoom"]);
    assert!(fails(&args).contains("zoom"));
    let mut args = train_args(data.to_str().unwrap(), bad.to_str().unwrap(), "cpu");
    args.extend(["--ema-decay", "1.5"]);
    assert!(fails(&args).contains("--ema-decay"));
    let mut args = train_args(data.to_str().unwrap(), bad.to_str().unwrap(), "cpu");
    args.push("--lecam=-0.3");
    assert!(fails(&args).contains("--lecam -0.3"));
}

/// `evaluate` on real paintings (the bundled ones): a held-out half of the crops scores near
/// the real-vs-real floor, the training crops themselves are flagged as memorised, noise scores
/// badly, and two evaluations of one generator print the same numbers.
/// The demo's length and recipe on the bundled paintings must paint faces, not colour blotches:
/// the small-data recipe at this length painted blotches (face rate 0.01, real 0.97), as did the
/// article's (0.06); the short recipe at the article's learning rates, 0.25.
#[test]
fn a_short_run_paints_faces_not_noise() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    let (crops, run) = (dir.path().join("crops"), dir.path().join("run"));
    ok(&["preprocess", "--input", bundled.to_str().unwrap(), "--output", crops.to_str().unwrap()]);
    let text = ok(&[
        "train", "--data", crops.to_str().unwrap(), "--run", run.to_str().unwrap(), "--device", "cpu",
        "--recipe", "short", "--width", "16", "--batch-size", "32", "--epochs", "150", "--eval-every", "600",
        "--checkpoint-every", "600", "--sample-every", "600", "--log-every", "50",
    ]);
    assert!(!text.contains("warning: DiffAugment"), "the short recipe is meant for short runs:\n{text}");
    let evaluation = read_metrics(&run).into_iter().rfind(|row| row.contains_key("face_rate")).expect("an evaluation row");
    assert_eq!(evaluation["step"], 600.0);
    let faces = evaluation["face_rate"];
    assert!(faces >= 0.15, "a short run paints noise: face rate {faces} (the real crops' 0.97):\n{text}");
}

#[test]
fn evaluate_tells_real_portraits_from_noise_and_copies() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    let crops = dir.path().join("crops");
    ok(&["preprocess", "--input", bundled.to_str().unwrap(), "--output", crops.to_str().unwrap()]);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&crops).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "png")).collect();
    names.sort();
    assert!(names.len() > 100, "{} crops", names.len());
    let (train, held_out) = (dir.path().join("train"), dir.path().join("held-out"));
    for (i, path) in names.iter().enumerate() {
        let to = if i % 2 == 0 { &train } else { &held_out };
        std::fs::create_dir_all(to).unwrap();
        std::fs::copy(path, to.join(path.file_name().unwrap())).unwrap();
    }
    let evaluate = |what: &str, folder: &Path| -> serde_json::Value {
        let out = ok_stdout(&["evaluate", what, folder.to_str().unwrap(), "--data", train.to_str().unwrap(), "--json"]);
        serde_json::from_str(&out).unwrap()
    };
    let ratio = |e: &serde_json::Value, a: &str, b: &str| {
        let get = |path: &str| path.split('.').fold(e, |v, k| &v[k]).as_f64().unwrap();
        get(a) / get(b)
    };

    let real = evaluate("--images", &held_out);
    assert!(ratio(&real, "swd.average", "swd_floor.average") < 1.5, "{real}");
    assert!(ratio(&real, "nearest_crop", "crops_nearest_crop") > 0.8, "{real}");
    assert!((0.8..1.25).contains(&real["high_frequency"].as_f64().unwrap()), "{real}");
    assert!(ratio(&real, "face_rate", "real_face_rate") > 0.8, "{real}");

    let copies = evaluate("--images", &train);
    assert!(ratio(&copies, "nearest_crop", "crops_nearest_crop") < 0.05, "{copies}");

    let noise = dir.path().join("noise");
    std::fs::create_dir_all(&noise).unwrap();
    let mut state = 1u32;
    for i in 0..40 {
        let img = image::RgbImage::from_fn(64, 64, |_, _| {
            let mut byte = || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            };
            image::Rgb([byte(), byte(), byte()])
        });
        img.save(noise.join(format!("noise-{i}.png"))).unwrap();
    }
    let noisy = evaluate("--images", &noise);
    assert!(ratio(&noisy, "swd.average", "swd_floor.average") > 3.0, "{noisy}");
    assert!(noisy["high_frequency"].as_f64().unwrap() > 3.0, "{noisy}");
    assert!(noisy["face_rate"].as_f64().unwrap() < 0.1, "{noisy}");

    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/assets/generator.bpk");
    let args = ["evaluate", "--weights", weights.to_str().unwrap(), "--data", train.to_str().unwrap(), "--count", "64"];
    let table = ok_stdout(&args);
    assert!(table.contains("SWD") && table.contains("face rate"), "{table}");
    assert_eq!(table, ok_stdout(&args), "the same file, the same numbers");
    let err = fails(&["evaluate", "--weights", weights.to_str().unwrap(), "--data", dir.path().join("nope").to_str().unwrap()]);
    assert!(err.contains("nope"), "{err}");
}

/// The article's generator as real PyTorch saved and ran it (`tests/fixtures/pytorch`, made by
/// the script there): imported, it paints the same latents within 1/255 of PyTorch's portraits.
#[test]
fn a_pytorch_generator_paints_here_what_it_painted_in_pytorch() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch");
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("imported.bpk");
    let out = ok(&["import", "--pytorch", fixtures.join("generator-w4.pt").to_str().unwrap(), "--out", weights.to_str().unwrap()]);
    assert!(out.contains("width 4"), "{out}");
    // What PyTorch was given are atelier's latents of seeds 0…3.
    let latents: std::collections::BTreeMap<u64, Vec<f32>> =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("latents.json")).unwrap()).unwrap();
    assert_eq!(latents.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    for (&seed, latent) in &latents {
        assert_eq!(latent, &atelier_shared::latent_for_seed(seed, 128), "seed {seed}");
    }
    let painted = dir.path().join("painted");
    ok(&["sample", "--weights", weights.to_str().unwrap(), "--seed", "0", "--count", "4", "--out", painted.to_str().unwrap()]);
    for seed in 0..4 {
        let ours = image::open(painted.join(format!("seed-{seed}.png"))).unwrap().to_rgb8();
        let theirs = image::open(fixtures.join(format!("pytorch-seed-{seed}.png"))).unwrap().to_rgb8();
        assert_eq!(ours.dimensions(), theirs.dimensions());
        let worst = ours.as_raw().iter().zip(theirs.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 1, "seed {seed}: up to {worst}/255 from what PyTorch painted");
    }
}

/// Files that are not the article's generator are refused with an error naming the file and
/// what is wrong, and nothing is written.
#[test]
fn import_refuses_what_is_not_the_articles_generator() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch");
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(fixtures.join("generator-w4.pt")).unwrap();
    let truncated = dir.path().join("truncated.pt");
    std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
    let text = dir.path().join("notes.pt");
    std::fs::write(&text, "these are not weights\n").unwrap();
    let text_safetensors = dir.path().join("notes.safetensors");
    std::fs::write(&text_safetensors, "these are not weights either\n").unwrap();
    let out = dir.path().join("g.bpk");
    let cases = [
        (truncated, "not a readable PyTorch state_dict"),
        (text, "not a readable PyTorch state_dict"),
        (text_safetensors, "not a readable safetensors file"),
        (fixtures.join("discriminator-w4.pt"), "no `net.0.0.weight`"),
        (fixtures.join("mismatched-w2.pt"), "`net.3.0.weight` has shape [16, 8, 4, 4]"),
        (dir.path().join("missing.pt"), "cannot read"),
    ];
    for (file, why) in cases {
        let err = fails(&["import", "--pytorch", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name) && err.contains(why), "{name}: expected {why:?} in:\n{err}");
        assert!(!out.exists(), "{name}: something was written");
    }
}

#[test]
fn bad_weights_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let missing = dir.path().join("missing.bpk");
    let err = fails(&["sample", "--weights", missing.to_str().unwrap(), "--seed", "1", "--out", out.to_str().unwrap()]);
    assert!(err.contains("missing.bpk"), "{err}");
    let garbage = dir.path().join("garbage.bpk");
    std::fs::write(&garbage, vec![7u8; 5000]).unwrap();
    let err = fails(&["sample", "--weights", garbage.to_str().unwrap(), "--seed", "1", "--out", out.to_str().unwrap()]);
    assert!(err.contains("garbage.bpk") && err.contains("burnpack"), "{err}");
    assert!(!out.exists());
}

#[test]
fn bad_training_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let err = fails(&["train", "--data", dir.path().join("nope").to_str().unwrap(), "--run", run.to_str().unwrap(), "--device", "cpu"]);
    assert!(err.contains("does not exist"), "{err}");
    let data = raw_image_folder(dir.path());
    let err = fails(&["train", "--data", data.to_str().unwrap(), "--run", run.to_str().unwrap(), "--device", "cpu", "--width", "8"]);
    assert!(err.contains("fewer than one batch") && err.contains("--batch-size"), "{err}");
    let err = fails(&["train", "--data", data.to_str().unwrap(), "--run", run.to_str().unwrap(), "--lr-d=-1"]);
    assert!(err.contains("--lr-d"), "{err}");
    let err = fails(&["train", "--data", data.to_str().unwrap(), "--run", run.to_str().unwrap(), "--top-k", "0"]);
    assert!(err.contains("--top-k 0"), "{err}");
    let err = fails(&["train", "--data", data.to_str().unwrap(), "--run", run.to_str().unwrap(), "--disc-width", "0"]);
    assert!(err.contains("--disc-width must be at least 1"), "{err}");
    let err = fails(&["train", "--data", data.to_str().unwrap(), "--run", run.to_str().unwrap(), "--real-label", "0.5"]);
    assert!(err.contains("--real-label 0.5"), "{err}");
    let err = fails(&["train", "--data", data.to_str().unwrap(), "--run", run.to_str().unwrap(), "--instance-selection", "0"]);
    assert!(err.contains("--instance-selection 0"), "{err}");
    let err = fails(&["train", "--data", data.to_str().unwrap(), "--run", run.to_str().unwrap(), "--device", "cpu", "--batch-size", "4", "--instance-selection", "0.2"]);
    assert!(err.contains("--instance-selection 0.2 leaves 3 crops, fewer than one batch of 4"), "{err}");
    let err = fails(&["export", "--run", dir.path().to_str().unwrap(), "--out", dir.path().join("g.bpk").to_str().unwrap()]);
    assert!(err.contains("no checkpoint"), "{err}");
}

/// `bench` runs and reports positive numbers (its speed is never asserted).
#[test]
fn bench_reports_numbers() {
    let out = ok(&["bench", "--device", "cpu", "--widths", "4", "--batch-size", "4", "--steps", "1", "--warmup", "0", "--json"]);
    // stdout (the JSON) comes first in `out`, stderr's progress lines after it.
    let mut stream = serde_json::Deserializer::from_str(&out[out.find('{').unwrap()..]).into_iter::<serde_json::Value>();
    let json = stream.next().unwrap().unwrap();
    let training = &json["training"][0];
    assert_eq!(training["width"], 4);
    for key in ["images_per_second", "step_ms", "generator_forward_ms", "backward_ms", "optimizer_ms"] {
        assert!(training[key].as_f64().unwrap() > 0.0, "{key}: {json}");
    }
    assert_eq!(json["generator_latency_ms"].as_array().unwrap().len(), 3);
}

/// Waits (polling) until `done` holds, or fails after `limit`.
fn wait_until(limit: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn start_long_run(data: &str, run: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["train", "--data", data, "--run", run, "--device", "cpu", "--width", "4", "--batch-size", "4"])
        .args(["--epochs", "100000", "--checkpoint-every", "1", "--sample-every", "1000", "--log-every", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Ctrl-C saves a checkpoint and exits cleanly; SIGKILL at any moment leaves a checkpoint to
/// resume from, never a torn one; resuming continues the step count.
#[test]
fn interrupted_and_killed_runs_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let run = dir.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    let limit = std::time::Duration::from_secs(120);

    let mut child = start_long_run(data_s, run_s);
    wait_until(limit, "the first checkpoint", || run.join("checkpoint/state.json").is_file());
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C exits cleanly: {status:?}");
    let stopped_at = checkpoint_step(&run);
    assert!(stopped_at >= 1);

    // SIGKILL while it checkpoints every step, then resume in that folder.
    let run = dir.path().join("killed");
    let run_s = run.to_str().unwrap();
    let mut child = start_long_run(data_s, run_s);
    let step_now = || {
        let text = std::fs::read_to_string(run.join("checkpoint/state.json")).unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["step"].as_u64()).unwrap_or(0)
    };
    wait_until(limit, "a few checkpoints", || step_now() >= 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = trainer(&[
        "train", "--data", data_s, "--run", run_s, "--resume", "--device", "cpu", "--max-steps", "2", "--epochs", "100000",
    ]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "resume after SIGKILL:\n{text}");
    let resumed_from: u64 = text.split("from step ").nth(1).and_then(|t| t.split_whitespace().next()).unwrap().parse().unwrap();
    assert!(resumed_from >= 3, "{text}");
    assert_eq!(checkpoint_step(&run), resumed_from + 2);
}

/// The generator the gallery ships with loads and paints varied, non-blank portraits, and the
/// gallery's curated seeds are valid.
#[test]
fn shipped_weights_paint_varied_portraits() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/assets");
    let dir = tempfile::tempdir().unwrap();
    let weights = assets.join("generator.bpk");
    ok(&["sample", "--weights", weights.to_str().unwrap(), "--seed", "0", "--count", "8", "--out", dir.path().to_str().unwrap()]);
    let images: Vec<Vec<f64>> = (0..8)
        .map(|s| image::open(dir.path().join(format!("seed-{s}.png"))).unwrap().to_rgb8().into_raw().into_iter().map(f64::from).collect())
        .collect();
    for (i, a) in images.iter().enumerate() {
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        let std = (a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
        assert!(std > 10.0 && (10.0..245.0).contains(&mean), "portrait {i} looks blank: mean {mean:.1}, std {std:.1}");
        for (j, b) in images.iter().enumerate().skip(i + 1) {
            let distance = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64;
            assert!(distance > 8.0, "portraits {i} and {j} are nearly the same (mean difference {distance:.1})");
        }
    }
    let seeds: Vec<u64> = serde_json::from_str(&std::fs::read_to_string(assets.join("seeds.json")).unwrap()).unwrap();
    assert!(seeds.len() >= 16, "the gallery needs at least a page of seeds");
}
