//! `trainer preprocess`: face-centred square crops from a folder of paintings.
//!
//! Each image is decoded (EXIF orientation honoured, transparency flattened on grey), the
//! largest face is found with rustface on a grey working copy scaled to a size the detector
//! handles well, and a square around it (the face plus `margin` of its size on each side) is
//! cut from the original, shifted to stay inside the image, and resized with Lanczos3.
//! Inputs are only ever read; each output is written atomically.

use anyhow::{Context, Result, bail};
use image::{DynamicImage, GrayImage, RgbImage, imageops::FilterType};
use indicatif::ParallelProgressIterator;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::{decode, find_images, flatten_to_rgb};

/// The SeetaFace frontal model shipped inside rustface 0.1.7 (BSD-2-Clause, see model/).
static FACE_MODEL: &[u8] = include_bytes!("../model/seeta_fd_frontal_v1.0.bin");

/// rustface finds faces down to about 40 px: small images are upscaled so faces reach that.
const MIN_DETECTION_SIDE: u32 = 200;
/// Upscaling beyond this only blurs.
const MAX_UPSCALE: f32 = 8.0;
/// Large images are downscaled for detection (1920 px takes ~1 s, 640 px ~0.2 s).
const MAX_DETECTION_SIDE: u32 = 640;

/// `--margin`'s default: half a face on each side, enough for hair and a little shoulder.
pub const DEFAULT_MARGIN: f32 = 0.5;

#[derive(Clone, Debug)]
pub struct PreprocessOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub size: u32,
    /// Extra border on each side of the face, as a fraction of the face size.
    pub margin: f32,
    pub keep_faceless: bool,
    pub show_progress: bool,
}

/// A face box in original image coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Face {
    pub x: f32,
    pub y: f32,
    pub size: f32,
    pub score: f64,
}

/// A square crop in image coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Square {
    pub x: u32,
    pub y: u32,
    pub side: u32,
}

/// What happened to one input.
enum Outcome {
    Crop { image: RgbImage, face: Option<Face> },
    NoFace,
    Unreadable(String),
}

#[derive(Debug, Default)]
pub struct Summary {
    pub read: usize,
    pub faces: usize,
    pub no_face: Vec<PathBuf>,
    pub unreadable: Vec<(PathBuf, String)>,
    pub written: usize,
    pub seconds: f64,
}

impl Summary {
    pub fn report(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} images read · {} faces found · {} skipped for no face · {} unreadable · {} crops written · {:.1} s ({:.1} images/s)",
            self.read + self.unreadable.len(),
            self.faces,
            self.no_face.len(),
            self.unreadable.len(),
            self.written,
            self.seconds,
            (self.read + self.unreadable.len()) as f64 / self.seconds.max(1e-9)
        );
        for (path, why) in &self.unreadable {
            let _ = writeln!(s, "  unreadable: {}: {why}", path.display());
        }
        s
    }
}

/// A face detector configured for paintings.
pub fn detector() -> Box<dyn rustface::Detector> {
    let model = rustface::read_model(FACE_MODEL).expect("the embedded face model is valid");
    let mut detector = rustface::create_detector_with_model(model);
    detector.set_min_face_size(20);
    detector.set_score_thresh(2.0);
    detector.set_pyramid_scale_factor(0.8);
    detector.set_slide_window_step(4, 4);
    detector
}

/// The scale of the detection working copy for an image of this size.
fn detection_scale(width: u32, height: u32) -> f32 {
    let (short, long) = (width.min(height) as f32, width.max(height) as f32);
    if long > MAX_DETECTION_SIDE as f32 {
        MAX_DETECTION_SIDE as f32 / long
    } else if short < MIN_DETECTION_SIDE as f32 {
        (MIN_DETECTION_SIDE as f32 / short).min(MAX_UPSCALE).min(MAX_DETECTION_SIDE as f32 / long)
    } else {
        1.0
    }
}

/// The largest face in an image, in its own coordinates.
pub fn largest_face(detector: &mut dyn rustface::Detector, grey: &GrayImage) -> Option<Face> {
    let scale = detection_scale(grey.width(), grey.height());
    let working;
    let work = if (scale - 1.0).abs() < 1e-6 {
        grey
    } else {
        let w = ((grey.width() as f32 * scale).round() as u32).max(1);
        let h = ((grey.height() as f32 * scale).round() as u32).max(1);
        working = image::imageops::resize(grey, w, h, FilterType::Triangle);
        &working
    };
    let faces = detector.detect(&rustface::ImageData::new(work.as_raw(), work.width(), work.height()));
    faces
        .iter()
        .max_by_key(|f| f.bbox().width() as u64 * f.bbox().height() as u64)
        .map(|f| {
            let b = f.bbox();
            Face {
                x: b.x() as f32 / scale,
                y: b.y() as f32 / scale,
                size: b.width().max(b.height()) as f32 / scale,
                score: f.score(),
            }
        })
}

/// A square centred on the face with `margin` × face size on each side, moved (not cut) to
/// lie inside the image; if the image is smaller, the largest square that fits.
pub fn face_square(face: &Face, width: u32, height: u32, margin: f32) -> Square {
    let wanted = (face.size * (1.0 + 2.0 * margin)).round().max(1.0) as u32;
    let side = wanted.min(width).min(height);
    let (cx, cy) = (face.x + face.size / 2.0, face.y + face.size / 2.0);
    let place = |centre: f32, extent: u32| {
        let start = (centre - side as f32 / 2.0).round();
        start.clamp(0.0, (extent - side) as f32) as u32
    };
    Square { x: place(cx, width), y: place(cy, height), side }
}

/// The centred square, for images without a face (`--keep-faceless`).
pub fn centre_square(width: u32, height: u32) -> Square {
    let side = width.min(height);
    Square { x: (width - side) / 2, y: (height - side) / 2, side }
}

fn crop(image: &RgbImage, square: Square, size: u32) -> RgbImage {
    let cropped = image::imageops::crop_imm(image, square.x, square.y, square.side, square.side).to_image();
    image::imageops::resize(&cropped, size, size, FilterType::Lanczos3)
}

fn process(detector: &mut dyn rustface::Detector, path: &Path, options: &PreprocessOptions) -> Outcome {
    let image: DynamicImage = match decode(path) {
        Ok(image) => image,
        Err(why) => return Outcome::Unreadable(why),
    };
    if image.width() == 0 || image.height() == 0 {
        return Outcome::Unreadable("the image is empty".into());
    }
    let rgb = flatten_to_rgb(&image);
    let grey = DynamicImage::ImageRgb8(rgb.clone()).to_luma8();
    match largest_face(detector, &grey) {
        Some(face) => {
            let square = face_square(&face, rgb.width(), rgb.height(), options.margin);
            Outcome::Crop { image: crop(&rgb, square, options.size), face: Some(face) }
        }
        None if options.keep_faceless => {
            Outcome::Crop { image: crop(&rgb, centre_square(rgb.width(), rgb.height()), options.size), face: None }
        }
        None => Outcome::NoFace,
    }
}

/// Refuses an output folder that is, or lies inside, the input folder.
fn check_folders(input: &Path, output: &Path) -> Result<()> {
    if !input.is_dir() {
        bail!("the input folder {} does not exist or is not a folder", input.display());
    }
    let input = input.canonicalize().with_context(|| format!("cannot read {}", input.display()))?;
    // The output may not exist yet: resolve its nearest existing ancestor.
    let mut probe = output.to_path_buf();
    let mut tail = Vec::new();
    while !probe.exists() {
        match (probe.file_name(), probe.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name.to_owned());
                probe = if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() };
            }
            _ => break,
        }
    }
    let mut resolved = probe.canonicalize().unwrap_or(probe);
    resolved.extend(tail.iter().rev());
    if resolved.starts_with(&input) {
        bail!(
            "the output folder {} is inside the input folder {}; choose an output outside it (inputs are never modified)",
            output.display(),
            input.display()
        );
    }
    Ok(())
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_string() }
}

pub fn preprocess(options: &PreprocessOptions) -> Result<Summary> {
    if !(0.0..=5.0).contains(&options.margin) {
        bail!("--margin {} is out of range (0 to 5; 0.5 adds half a face on each side)", options.margin);
    }
    if !(8..=1024).contains(&options.size) {
        bail!("--size {} is out of range (8 to 1024)", options.size);
    }
    check_folders(&options.input, &options.output)?;
    let started = Instant::now();
    let paths = find_images(&options.input)?;
    if paths.is_empty() {
        bail!("no images found under {}", options.input.display());
    }
    std::fs::create_dir_all(&options.output).with_context(|| format!("cannot create {}", options.output.display()))?;

    let bar = crate::data::counting_bar(options.show_progress, paths.len(), "finding faces");
    let outcomes: Vec<Outcome> = paths
        .par_iter()
        .progress_with(bar.clone())
        .map_init(detector, |detector, path| process(detector.as_mut(), path, options))
        .collect();
    bar.finish_and_clear();

    let digits = paths.len().to_string().len().max(5);
    let mut summary = Summary::default();
    // A source path as the CSV files name it: relative to --input, quoted when needed.
    let relative = |path: &Path| csv_field(&path.strip_prefix(&options.input).unwrap_or(path).to_string_lossy());
    let mut manifest = String::from("output,source,face_x,face_y,face_size,score\n");
    for (path, outcome) in paths.iter().zip(outcomes) {
        match outcome {
            Outcome::Unreadable(why) => summary.unreadable.push((path.clone(), why)),
            Outcome::NoFace => {
                summary.read += 1;
                summary.no_face.push(path.clone());
            }
            Outcome::Crop { image, face } => {
                summary.read += 1;
                let name = format!("{:0digits$}.png", summary.written);
                crate::atomic::write(&options.output.join(&name), &crate::grid::png(&rgb_to_shared(image))?)?;
                summary.written += 1;
                let face_fields = match face {
                    Some(f) => {
                        summary.faces += 1;
                        format!("{:.0},{:.0},{:.0},{:.2}", f.x, f.y, f.size, f.score)
                    }
                    None => ",,,".to_string(),
                };
                let _ = writeln!(manifest, "{name},{},{face_fields}", relative(path));
            }
        }
    }
    crate::atomic::write(&options.output.join("manifest.csv"), manifest.as_bytes())?;
    let mut skipped = String::from("source,reason\n");
    for path in &summary.no_face {
        let _ = writeln!(skipped, "{},no face found", relative(path));
    }
    for (path, why) in &summary.unreadable {
        let _ = writeln!(skipped, "{},{}", relative(path), csv_field(&format!("unreadable: {why}")));
    }
    crate::atomic::write(&options.output.join("skipped.csv"), skipped.as_bytes())?;
    summary.seconds = started.elapsed().as_secs_f64();
    if summary.written == 0 {
        bail!(
            "no crops written: {} of {} images had no face and {} were unreadable (use --keep-faceless to keep centre crops)",
            summary.no_face.len(),
            paths.len(),
            summary.unreadable.len()
        );
    }
    Ok(summary)
}

fn rgb_to_shared(image: RgbImage) -> atelier_shared::RgbImage {
    atelier_shared::RgbImage { width: image.width() as usize, height: image.height() as usize, pixels: image.into_raw() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squares_are_clamped_inside_the_image() {
        let face = Face { x: 0.0, y: 10.0, size: 40.0, score: 5.0 };
        // 80 px wanted around a face at the left border: shifted right, full size.
        assert_eq!(face_square(&face, 200, 100, 0.5), Square { x: 0, y: 0, side: 80 });
        let face = Face { x: 170.0, y: 70.0, size: 30.0, score: 5.0 };
        assert_eq!(face_square(&face, 200, 100, 0.5), Square { x: 140, y: 40, side: 60 });
        // Bigger than the image: the largest square that fits.
        let face = Face { x: 10.0, y: 10.0, size: 90.0, score: 5.0 };
        assert_eq!(face_square(&face, 120, 100, 1.0), Square { x: 5, y: 0, side: 100 });
        assert_eq!(centre_square(120, 100), Square { x: 10, y: 0, side: 100 });
    }

    #[test]
    fn detection_scale_brings_images_to_workable_sizes() {
        assert_eq!(detection_scale(400, 500), 1.0);
        assert_eq!(detection_scale(1920, 1080), 640.0 / 1920.0);
        assert_eq!(detection_scale(25, 25), 8.0);
        assert_eq!(detection_scale(100, 100), 2.0);
    }

    #[test]
    fn output_inside_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_folders(dir.path(), dir.path()).is_err());
        assert!(check_folders(dir.path(), &dir.path().join("crops/new")).is_err());
        assert!(check_folders(&dir.path().join("in"), &dir.path().join("out")).is_err(), "missing input");
        std::fs::create_dir(dir.path().join("in")).unwrap();
        assert!(check_folders(&dir.path().join("in"), &dir.path().join("out")).is_ok());
        assert!(check_folders(&dir.path().join("in"), &dir.path().join("in/../in/x")).is_err());
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a b.jpg"), "a b.jpg");
        assert_eq!(csv_field("a,\"b\".jpg"), "\"a,\"\"b\"\".jpg\"");
    }
}
