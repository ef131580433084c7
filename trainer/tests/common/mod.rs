//! What the end-to-end tests share: running the `trainer` binary, a folder of raw images, and
//! reading a run's outputs.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn trainer(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        // These tests check what the wgpu path computes, not how fast: the fewest kernel
        // candidates to time (on lavapipe, a CPU driver, each costs seconds to compile and run).
        .env("CUBECL_AUTOTUNE_LEVEL", "minimal")
        .output()
        .expect("trainer runs");
    output
}

pub fn ok(args: &[&str]) -> String {
    let output = trainer(args);
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "trainer {args:?} failed:\n{text}");
    text
}

pub fn fails(args: &[&str]) -> String {
    let output = trainer(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "trainer {args:?} should fail");
    assert_eq!(output.status.code(), Some(1), "a clean error, not a panic: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Raw, uncropped images of different sizes and kinds, plus one corrupt file.
pub fn raw_image_folder(dir: &Path) -> PathBuf {
    let data = dir.join("paintings");
    std::fs::create_dir_all(data.join("nested")).unwrap();
    for i in 0..9u32 {
        let (w, h) = (60 + 13 * i, 90 - 5 * i);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, (40 + 20 * i) as u8])
        });
        let name = if i % 3 == 0 { format!("nested/portrait {i}.jpg") } else { format!("portrait-{i}.png") };
        img.save(data.join(name)).unwrap();
    }
    image::GrayImage::from_fn(70, 70, |x, _| image::Luma([x as u8 * 3])).save(data.join("grey.png")).unwrap();
    image::RgbaImage::from_fn(64, 64, |x, y| image::Rgba([200, 10, 10, ((x + y) * 2) as u8])).save(data.join("alpha.png")).unwrap();
    std::fs::write(data.join("corrupt.jpg"), b"\xff\xd8\xff\xe0 this is not really a jpeg").unwrap();
    data
}

/// metrics.csv as (column → value) rows; columns left empty on a row are absent.
pub fn read_metrics(run: &Path) -> Vec<std::collections::BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| header.iter().zip(l.split(',')).filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect())
        .collect()
}

/// Only what the command printed on stdout (progress goes to stderr).
pub fn ok_stdout(args: &[&str]) -> String {
    let output = trainer(args);
    assert!(output.status.success(), "trainer {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The run's last checkpoint's state (step, options, both networks' configs, best evaluation).
pub fn checkpoint_state(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("checkpoint/state.json")).unwrap()).unwrap()
}

pub fn checkpoint_step(run: &Path) -> u64 {
    checkpoint_state(run)["step"].as_u64().unwrap()
}

