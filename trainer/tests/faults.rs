//! What a user sees when a file or a run goes wrong, end to end: weights that are not numbers,
//! damaged checkpoints, a run that diverges, a full disk. Nothing is lost in any of them.

mod common;

use burn::store::{ModuleSnapshot, bridge};
use common::*;
use std::fs;
use std::path::{Path, PathBuf};

/// A tiny, fast run of the article's recipe on the CPU, checkpointed every step.
fn tiny_run<'a>(data: &'a str, run: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "train", "--data", data, "--run", run, "--device", "cpu", "--recipe", "article", "--width", "4", "--batch-size", "4",
        "--epochs", "100", "--checkpoint-every", "1", "--sample-every", "1000", "--log-every", "1",
    ];
    args.extend(extra);
    args
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

/// A copy of the weights file `good` with the first `count` values of `tensor` made NaN.
fn with_nan_values(good: &Path, tensor: &str, count: usize) -> Vec<u8> {
    let bytes = fs::read(good).unwrap();
    let (generator, _) = atelier_shared::load_generator(&bytes, &burn::tensor::Device::flex()).unwrap();
    let snapshot = generator.collect(None, None, false).into_iter().find(|t| t.name == tensor).expect("the tensor");
    let values = bridge::to_data(&snapshot).unwrap().try_to_vec::<f32>().unwrap();
    let pattern: Vec<u8> = values[..count].iter().flat_map(|v| v.to_le_bytes()).collect();
    let at = bytes.windows(pattern.len()).position(|w| w == pattern).expect("the values in the file");
    let mut spoiled = bytes;
    for i in 0..count {
        spoiled[at + 4 * i..at + 4 * i + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    }
    spoiled
}

/// A diverged run's weights: refused by every command that reads weights, naming the file, the
/// tensor and how many values are bad; nothing is written.
#[test]
fn weights_that_are_not_numbers_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let run = dir.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    ok(&tiny_run(data_s, run_s, &["--max-steps", "1"]));
    let good = dir.path().join("good.bpk");
    ok(&["export", "--run", run_s, "--out", good.to_str().unwrap()]);
    let out = |name: &str| dir.path().join(name);

    // Our own weights file with five NaN values.
    let bad = out("diverged.bpk");
    fs::write(&bad, with_nan_values(&good, "blocks.1.conv.weight", 5)).unwrap();
    let bad_s = bad.to_str().unwrap();
    let (a, b, d, nothing) = (out("a.png"), out("b.bpk"), out("d.json"), out("nothing-here"));
    let (a_s, b_s, d_s) = (a.to_str().unwrap(), b.to_str().unwrap(), d.to_str().unwrap());
    let commands: Vec<(Vec<&str>, &Path)> = vec![
        (vec!["sample", "--weights", bad_s, "--seed", "1", "--out", a_s], &a),
        (vec!["export", "--weights", bad_s, "--out", b_s, "--int8"], &b),
        (vec!["evaluate", "--weights", bad_s, "--data", data_s, "--count", "8"], &nothing),
        (vec!["curate", "--run", run_s, "--weights", bad_s, "--candidates", "8", "--top", "2", "--out", d_s], &d),
    ];
    for (args, written) in commands {
        let err = fails(&args);
        assert!(err.contains("diverged.bpk") && err.contains("`blocks.1.conv.weight` has 5 of its"), "{args:?}: {err}");
        assert!(!written.exists(), "{args:?} wrote {}", written.display());
    }

    // A PyTorch-named file with the article's names and shapes, every value NaN.
    let exported = out("good.safetensors");
    ok(&["export", "--run", run_s, "--out", exported.to_str().unwrap(), "--format", "safetensors"]);
    let bytes = fs::read(&exported).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    // Every float NaN; `num_batches_tracked` (an integer) as it was.
    let nan_tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data = match view.dtype() {
                safetensors::Dtype::F32 => (0..view.data().len() / 4).flat_map(|_| f32::NAN.to_le_bytes()).collect(),
                _ => view.data().to_vec(),
            };
            (name, view.dtype(), view.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = nan_tensors
        .iter()
        .map(|(name, dtype, shape, data)| (name.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap()))
        .collect();
    let all_nan = out("all-nan.safetensors");
    fs::write(&all_nan, safetensors::serialize(views, None).unwrap()).unwrap();
    let imported = out("imported.bpk");
    let err = fails(&["import", "--pytorch", all_nan.to_str().unwrap(), "--out", imported.to_str().unwrap()]);
    assert!(err.contains("all-nan.safetensors") && err.contains("`net.") && err.contains("NaN or infinite"), "{err}");
    assert!(!imported.exists());
}

/// The newest checkpoint damaged in each way a disk damages files: `--resume` names the file,
/// sets the checkpoint aside and goes on from the one before it; `export` reads the one before
/// too; with both damaged, a clear error.
#[test]
fn a_damaged_checkpoint_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let template = dir.path().join("template");
    let data_s = data.to_str().unwrap();
    ok(&tiny_run(data_s, template.to_str().unwrap(), &["--max-steps", "3"]));
    assert_eq!(checkpoint_step(&template), 3);
    let damages: [(&str, &str, fn(&Path)); 5] = [
        ("truncated", "generator.bpk", |p| {
            let bytes = fs::read(p).unwrap();
            fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("a byte flipped", "optimizer-discriminator.bpk", |p| {
            let mut bytes = fs::read(p).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
            fs::write(p, bytes).unwrap();
        }),
        ("emptied", "discriminator.bpk", |p| fs::write(p, b"").unwrap()),
        ("missing", "optimizer-generator.bpk", |p| fs::remove_file(p).unwrap()),
        ("unreadable state", "state.json", |p| fs::write(p, b"{\"step\": 3, \"format_ver").unwrap()),
    ];
    for (what, file, damage) in damages {
        let run = dir.path().join(what.replace(' ', "-"));
        copy_dir(&template, &run);
        damage(&run.join("checkpoint").join(file));
        let run_s = run.to_str().unwrap();

        let exported = run.join("exported.bpk");
        let text = ok(&["export", "--run", run_s, "--out", exported.to_str().unwrap()]);
        assert!(text.contains(file) && text.contains("step 2"), "{what}: {text}");

        let text = ok(&tiny_run(data_s, run_s, &["--resume", "--max-steps", "1"]));
        assert!(text.contains(file), "{what}: the damaged file is named:\n{text}");
        assert!(text.contains("resuming") && text.contains("from step 2"), "{what}:\n{text}");
        assert_eq!(checkpoint_step(&run), 3, "{what}");
        assert!(run.join("checkpoint.damaged").join("state.json").exists(), "{what}: set aside for a look");
        assert!(run.join("checkpoint.previous/state.json").is_file(), "{what}: two checkpoints again");
    }

    // Both damaged: nothing to resume from, and the error says why for each.
    let run = dir.path().join("both");
    copy_dir(&template, &run);
    fs::write(run.join("checkpoint/generator.bpk"), b"").unwrap();
    fs::write(run.join("checkpoint.previous/discriminator.bpk"), b"").unwrap();
    let err = fails(&tiny_run(data_s, run.to_str().unwrap(), &["--resume", "--max-steps", "1"]));
    assert!(err.contains("no intact checkpoint") && err.contains("checkpoint/generator.bpk"), "{err}");
    assert!(err.contains("checkpoint.previous/discriminator.bpk"), "{err}");
}

/// A run whose weights stop being numbers stops with a clear message and a non-zero exit, and
/// the checkpoint it keeps is the last good one and loads: when the losses show it (the step
/// after the update that broke the weights) and when only the weights do (the step of that
/// update, a checkpoint step, whose losses were measured before it).
#[test]
fn a_diverged_run_stops_and_keeps_its_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let data_s = data.to_str().unwrap();
    for (diverge_at, checkpoint_every, stops_at, kept, what) in
        [("12", "5", "13", 10, "D loss NaN"), ("10", "5", "10", 5, "the generator's tensor")]
    {
        let run = dir.path().join(format!("diverge-at-{diverge_at}"));
        let run_s = run.to_str().unwrap();
        let mut args = tiny_run(data_s, run_s, &["--diverge-at-step", diverge_at]);
        let every = args.iter().position(|&a| a == "--checkpoint-every").unwrap() + 1;
        args[every] = checkpoint_every;
        let err = fails(&args);
        assert!(err.contains(&format!("training diverged at step {stops_at}: {what}")), "{err}");
        assert!(err.contains(&format!("The last good checkpoint (step {kept}) is kept")), "{err}");
        assert_eq!(checkpoint_step(&run), kept);
        let weights = run.join("kept.bpk");
        ok(&["export", "--run", run_s, "--out", weights.to_str().unwrap()]);
        ok(&["sample", "--weights", weights.to_str().unwrap(), "--seed", "1", "--out", run.join("kept.png").to_str().unwrap()]);
        let text = ok(&tiny_run(data_s, run_s, &["--resume", "--max-steps", "1"]));
        assert!(text.contains(&format!("from step {kept}")), "{text}");
    }
}

/// A small tmpfs mounted for one test and unmounted when it ends, or why there can be none.
struct SmallDisk {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("disk");
        fs::create_dir(&mount).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs", mount.to_str().unwrap()])
            .stderr(std::process::Stdio::piped())
            .output();
        match status {
            Ok(out) if out.status.success() => Ok(Self { mount, _dir: dir }),
            Ok(out) => Err(format!("mount failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
            Err(e) => Err(format!("no mount command: {e}")),
        }
    }

    /// Fills the disk to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = fs::File::create(self.mount.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while filler.write_all(&block).is_ok() {}
        let mut byte = [0u8; 1];
        while filler.write_all(&byte).is_ok() {
            byte[0] = byte[0].wrapping_add(1);
        }
    }

    /// Frees `bytes` of the space [`fill`](Self::fill) took.
    fn free_some(&self, bytes: u64) {
        let filler = fs::OpenOptions::new().write(true).open(self.mount.join("filler")).unwrap();
        let length = filler.metadata().unwrap().len();
        filler.set_len(length.saturating_sub(bytes)).unwrap();
    }

    fn free(&self) {
        fs::remove_file(self.mount.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.mount).status();
    }
}

/// A full disk loses nothing: an export that does not fit keeps the old file byte for byte;
/// a checkpoint that does not fit stops the run with a clear message, leaves the previous one
/// intact and no partial folder; once there is room, the run resumes.
#[test]
fn a_full_disk_loses_nothing() {
    let disk = match SmallDisk::mount(32) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped: this test mounts a small tmpfs, which needs root ({why})");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let data = raw_image_folder(dir.path());
    let data_s = data.to_str().unwrap();
    let run = disk.mount.join("run");
    let run_s = run.to_str().unwrap();
    ok(&tiny_run(data_s, run_s, &["--max-steps", "2"]));
    let painter = disk.mount.join("painter.bpk");
    ok(&["export", "--run", run_s, "--out", painter.to_str().unwrap()]);
    let before = snapshot(&disk.mount);

    disk.fill();
    let err = fails(&["export", "--run", run_s, "--out", painter.to_str().unwrap(), "--half"]);
    assert!(err.contains("painter.bpk"), "{err}");
    // Room for the logs, not for a checkpoint (8 MB at width 4).
    disk.free_some(1 << 20);
    let err = fails(&tiny_run(data_s, run_s, &["--resume", "--max-steps", "2"]));
    assert!(err.contains("checkpoint.partial") && err.contains("No space left on device"), "{err}");
    assert!(!run.join("checkpoint.partial").exists(), "a failed save leaves no partial checkpoint");
    disk.free();
    let after: Vec<_> = snapshot(&disk.mount);
    for (path, bytes) in &before {
        if path.starts_with(run.join("checkpoint")) || path.starts_with(run.join("checkpoint.previous")) || path == &painter {
            let now = after.iter().find(|(p, _)| p == path).map(|(_, b)| b);
            assert!(now == Some(bytes), "{} changed on a full disk", path.display());
        }
    }
    assert!(!after.iter().any(|(p, _)| p.file_name().unwrap().to_string_lossy().contains(".tmp-")), "temporary files left");
    let text = ok(&tiny_run(data_s, run_s, &["--resume", "--max-steps", "1"]));
    assert!(text.contains("from step 2"), "{text}");
}
