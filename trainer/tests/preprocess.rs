//! `trainer preprocess` on real images and on broken, odd and hostile files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn trainer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().expect("trainer runs")
}

/// Runs `preprocess` and returns (stdout + stderr, manifest rows).
fn preprocess(input: &Path, output: &Path, extra: &[&str]) -> (String, Vec<Vec<String>>) {
    let mut args = vec!["preprocess", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()];
    args.extend(extra);
    let out = trainer(&args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "preprocess failed:\n{text}");
    let manifest = std::fs::read_to_string(output.join("manifest.csv")).unwrap();
    let rows = manifest.lines().skip(1).map(|l| l.split(',').map(String::from).collect()).collect();
    (text, rows)
}

fn copy(names: &[&str], to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in names {
        std::fs::copy(fixtures().join(name), to.join(name)).unwrap();
    }
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

#[test]
fn faces_are_found_in_portraits_and_not_in_cats_cups_or_starry_night() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    copy(&["grace_hopper.jpg", "astronaut.png", "chelsea.png", "coffee.png", "starry_night.jpg"], &input);
    let (text, rows) = preprocess(&input, &dir.path().join("out"), &[]);
    assert!(text.contains("2 faces found") && text.contains("3 skipped for no face"), "{text}");
    let sources: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(sources, vec!["astronaut.png", "grace_hopper.jpg"]);
    for row in &rows {
        let source = image::open(input.join(&row[1])).unwrap();
        let (x, y, size): (f32, f32, f32) = (row[2].parse().unwrap(), row[3].parse().unwrap(), row[4].parse().unwrap());
        assert!(size > 80.0, "a real face, not a speck: {row:?}");
        // The face sits in the upper-middle of these portraits: the crop is centred on it.
        let (cx, cy) = (x + size / 2.0, y + size / 2.0);
        assert!((cx / source.width() as f32 - 0.5).abs() < 0.2, "{row:?}");
        assert!(cy / (source.height() as f32) < 0.6, "{row:?}");
        let crop = image::open(dir.path().join("out").join(&row[0])).unwrap();
        assert_eq!((crop.width(), crop.height()), (64, 64));
    }
    // --keep-faceless keeps centre crops of the others.
    let (_, rows) = preprocess(&input, &dir.path().join("all"), &["--keep-faceless", "--size", "32"]);
    assert_eq!(rows.len(), 5);
    assert_eq!(image::open(dir.path().join("all").join(&rows[0][0])).unwrap().width(), 32);
}

#[test]
fn lfw_faces_are_found_and_non_faces_are_not() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["faces", "nonfaces"] {
        let input = dir.path().join(kind);
        std::fs::create_dir_all(&input).unwrap();
        for entry in std::fs::read_dir(fixtures().join("lfw_subset").join(kind)).unwrap() {
            let path = entry.unwrap().path();
            let img = image::open(&path).unwrap();
            let big = img.resize_exact(img.width() * 4, img.height() * 4, image::imageops::FilterType::Triangle);
            big.save(input.join(path.file_name().unwrap()).with_extension("png")).unwrap();
        }
    }
    let (_, faces) = preprocess(&dir.path().join("faces"), &dir.path().join("out-faces"), &[]);
    assert!(faces.len() >= 90, "{} of 100 LFW faces found", faces.len());
    let out = trainer(&["preprocess", "--input", dir.path().join("nonfaces").to_str().unwrap(), "--output", dir.path().join("out-non").to_str().unwrap()]);
    let found = std::fs::read_to_string(dir.path().join("out-non/manifest.csv")).unwrap().lines().count() - 1;
    assert!(found <= 2, "{found} faces found among 100 non-faces");
    if found == 0 {
        assert_eq!(out.status.code(), Some(1), "no crop written is an error");
    }
}

#[test]
fn a_face_at_the_border_gives_a_clamped_full_size_crop() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    // Cut Grace Hopper's portrait so that her face touches the left edge.
    let img = image::open(fixtures().join("grace_hopper.jpg")).unwrap();
    img.crop_imm(200, 60, 312, 300).save(input.join("edge.png")).unwrap();
    let (_, rows) = preprocess(&input, &dir.path().join("out"), &[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let x: f32 = rows[0][2].parse().unwrap();
    assert!(x < 40.0, "the face is at the border: {rows:?}");
    let crop = image::open(dir.path().join("out").join(&rows[0][0])).unwrap().to_rgb8();
    assert_eq!(crop.dimensions(), (64, 64));
}

/// A PNG header declaring a 40000×40000 image, with no pixel data.
fn huge_png() -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(40_000u32.to_be_bytes());
    ihdr.extend(40_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let crc = crc32(&ihdr);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc.to_be_bytes());
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A JPEG whose pixels are stored rotated, with an EXIF orientation tag saying so.
fn exif_rotated_jpeg() -> Vec<u8> {
    let img = image::open(fixtures().join("grace_hopper.jpg")).unwrap().rotate270();
    let mut jpeg = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    // APP1 Exif, little-endian TIFF, one IFD entry: Orientation (0x0112) = 6 (rotate 90° CW).
    let mut tiff = b"II*\x00\x08\x00\x00\x00\x01\x00".to_vec();
    tiff.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn broken_and_odd_files_are_handled_and_the_input_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("odd inputs ünïcode");
    copy(&["grace_hopper.jpg", "grace_hopper_cmyk.jpg"], &input);
    let grace = std::fs::read(fixtures().join("grace_hopper.jpg")).unwrap();
    std::fs::write(input.join("zero bytes.jpg"), b"").unwrap();
    std::fs::write(input.join("text.jpg"), b"this is a text file, not a JPEG\n").unwrap();
    std::fs::write(input.join("truncated.jpg"), &grace[..grace.len() / 3]).unwrap();
    std::fs::write(input.join("bomb.png"), huge_png()).unwrap();
    std::fs::write(input.join("rotated.jpg"), exif_rotated_jpeg()).unwrap();
    image::open(fixtures().join("grace_hopper.jpg")).unwrap().to_rgb16().save(input.join("sixteen-bit.png")).unwrap();
    let before = snapshot(&input);

    let out = dir.path().join("out");
    let (text, rows) = preprocess(&input, &out, &[]);
    assert_eq!(snapshot(&input), before, "the input folder is byte-identical afterwards");
    let sources: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    for expected in ["grace_hopper.jpg", "grace_hopper_cmyk.jpg", "rotated.jpg", "sixteen-bit.png"] {
        assert!(sources.contains(&expected), "{expected} gives a crop: {sources:?}\n{text}");
    }
    for broken in ["zero bytes.jpg", "text.jpg", "bomb.png"] {
        assert!(text.contains(&format!("unreadable: {}", input.join(broken).display())), "{broken} is named:\n{text}");
    }
    assert!(text.contains("limit"), "the bomb is rejected by a limit:\n{text}");
    // A truncated JPEG decodes partially (a crop, or no face in what is left) or is unreadable;
    // every input that gave no crop is listed in skipped.csv with the reason.
    let skipped = std::fs::read_to_string(out.join("skipped.csv")).unwrap();
    assert!(sources.contains(&"truncated.jpg") || skipped.contains("truncated.jpg"), "{skipped}");
    for broken in ["zero bytes.jpg", "text.jpg", "bomb.png"] {
        let line = skipped.lines().find(|l| l.starts_with(&format!("{broken},"))).unwrap_or_else(|| panic!("{skipped}"));
        assert!(line.contains("unreadable: "), "{line}");
    }

    // Re-running is idempotent: same inputs, same outputs.
    let first = snapshot(&out);
    preprocess(&input, &out, &[]);
    assert_eq!(snapshot(&out), first);

    // Output inside the input is refused, and nothing is written there.
    let inside = trainer(&["preprocess", "--input", input.to_str().unwrap(), "--output", input.join("crops").to_str().unwrap()]);
    assert_eq!(inside.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&inside.stderr).contains("inside the input"));
    assert_eq!(snapshot(&input), before);
    let missing = trainer(&["preprocess", "--input", dir.path().join("nope").to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

#[test]
fn the_demo_runs_end_to_end_at_a_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("paintings");
    copy(&["grace_hopper.jpg", "astronaut.png", "grace_hopper_cmyk.jpg", "chelsea.png"], &data);
    let run = dir.path().join("demo");
    let args = [
        "demo", "--data", data.to_str().unwrap(), "--run", run.to_str().unwrap(), "--epochs", "2", "--width", "4",
        "--batch-size", "2", "--device", "cpu",
    ];
    for _ in 0..2 {
        let out = trainer(&args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        assert!(text.contains("no face") && text.contains("chelsea.png"), "{text}");
        for made in ["portraits.png", "generator.bpk", "generator-half.bpk", "metrics.csv", "crops/manifest.csv", "samples/fake-latest.png"] {
            assert!(run.join(made).is_file(), "{made} missing:\n{text}");
        }
    }
    // A folder the demo did not make is never replaced.
    let other = dir.path().join("mine");
    std::fs::create_dir_all(&other).unwrap();
    let out = trainer(&["demo", "--data", data.to_str().unwrap(), "--run", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

/// The painter's training crops in the repository (`trainer/painter-crops`) are what `preprocess`
/// cuts: every bundled painting's crop is the same pixels and face box as the one kept for it, the
/// manifest names 536 crops that are all there, and every set they come from has its licence.
#[test]
fn the_painters_training_crops_are_what_preprocess_cuts() {
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("painter-crops");
    let read_manifest = |folder: &Path| -> BTreeMap<String, Vec<String>> {
        std::fs::read_to_string(folder.join("manifest.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| {
                let fields: Vec<String> = line.split(',').map(String::from).collect();
                (fields[1].clone(), fields)
            })
            .collect()
    };
    let painter = read_manifest(&kept);
    assert_eq!(painter.len(), 536, "one row per crop, one crop per painting");
    for (source, row) in &painter {
        assert!(kept.join(&row[0]).is_file(), "{} for {source} is missing", row[0]);
        let set = source.split('/').next().unwrap();
        assert!(set == "old-masters" || kept.join("licences").join(set).join("COPYRIGHT").is_file(), "no licence for {set}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    let (_, rows) = preprocess(&bundled, dir.path(), &[]);
    assert!(rows.len() > 100, "{} crops of the bundled paintings", rows.len());
    for row in rows {
        let kept_row = painter.get(&row[1]).unwrap_or_else(|| panic!("{} has no crop in painter-crops", row[1]));
        assert_eq!(row[2..5], kept_row[2..5], "face box of {}", row[1]);
        let ours = image::open(dir.path().join(&row[0])).unwrap().to_rgb8();
        let theirs = image::open(kept.join(&kept_row[0])).unwrap().to_rgb8();
        assert!(ours == theirs, "{}: the kept crop {} has other pixels", row[1], kept_row[0]);
    }
}
