//! Instance selection (DeVries et al. 2020, "Instance Selection for GANs"): train on the share of
//! the crops that are most typical, so that the generator's capacity goes to what it can paint
//! well rather than to the outliers of a few hundred paintings. Typical here means what the
//! evaluation's face rate asks of a portrait: rustface's confidence in the crop's face, with the
//! crop upscaled to 256 px as the evaluation sees portraits. The run's evaluations still measure
//! against every crop. 1 (the default) trains on them all. Turned on at 0.8 at step 8,000 of the
//! default run on the 536 painted crops, it raised the face rate to step 12,000 on two seeds
//! (0.85 → 0.92 and 0.73 → 0.81), with the SWD unchanged on one and worse on the other (README:
//! the recipe tables); the gallery's painter trained its last 3,000 steps so.

use anyhow::{Result, bail};
use atelier_shared::RgbImage;

use crate::evaluation::face_scores_counted;

/// The default share: every crop.
pub const ALL_CROPS: f64 = 1.0;

/// Refuses a share that would keep no crop or more than all of them, naming the flag.
pub fn validate(share: f64) -> Result<()> {
    if !(share > 0.0 && share <= 1.0) {
        bail!("--instance-selection {share} is not a usable share of the crops (expected a value above 0 and at most 1, e.g. 0.8; 1 trains on every crop)");
    }
    Ok(())
}

/// The indices, in their original order, of the `share` of `crops` (rounded up) in which the face
/// detector is most confident; crops without a face found come last, ties keep the earlier crop.
/// `progress` shows a bar while the detector looks (about a second for 500 crops on 2 cores).
pub fn most_facelike(crops: &[RgbImage], share: f64, progress: bool) -> Vec<usize> {
    if share >= ALL_CROPS {
        return (0..crops.len()).collect();
    }
    let scores = face_scores_counted(crops, &crate::data::counting_bar(progress, crops.len(), "ranking crops by face"));
    let mut ranked: Vec<usize> = (0..crops.len()).collect();
    let score = |i: usize| scores[i].unwrap_or(f64::NEG_INFINITY);
    ranked.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
    let keep = ((share * crops.len() as f64).ceil() as usize).clamp(1, crops.len());
    let mut kept = ranked[..keep].to_vec();
    kept.sort_unstable();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluation::face_scores;
    use std::path::Path;

    fn crop(name: &str) -> RgbImage {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("painter-crops").join(name);
        let image = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
        RgbImage { width: image.width() as usize, height: image.height() as usize, pixels: image.into_raw() }
    }

    #[test]
    fn the_most_facelike_crops_are_kept_in_their_order() {
        let face = crop("00000.png");
        let blank = RgbImage { pixels: vec![128; face.pixels.len()], ..face.clone() };
        let crops = vec![blank.clone(), face.clone(), blank.clone(), crop("00001.png"), blank];
        assert_eq!(face_scores(&crops).iter().filter(|s| s.is_some()).count(), 2, "two faces among the crops");
        assert_eq!(most_facelike(&crops, 0.4, false), vec![1, 3]);
        assert_eq!(most_facelike(&crops, 0.3, false), vec![1, 3], "the share is rounded up");
        assert_eq!(most_facelike(&crops, 0.6, false), vec![0, 1, 3], "without a face found, the earlier crop first");
        assert_eq!(most_facelike(&crops, ALL_CROPS, false), vec![0, 1, 2, 3, 4]);
        let one = most_facelike(&crops, 0.01, false);
        assert!(one == vec![1] || one == vec![3], "{one:?}");
        assert!(validate(ALL_CROPS).is_ok() && validate(0.8).is_ok());
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            let message = validate(bad).unwrap_err().to_string();
            assert!(message.contains("--instance-selection"), "{message}");
        }
    }
}
