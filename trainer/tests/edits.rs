//! `trainer directions` and `trainer sample --edit`: a painter's main directions written where the
//! gallery and `sample` look for them, labels that survive recomputing, edits that move a portrait
//! exactly as far as they say, files that say which portrait they are, and clear refusals.

mod common;

use common::{fails, ok};
use std::path::Path;

fn pixels(path: &Path) -> Vec<u8> {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8().into_raw()
}

fn worst_difference(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap()
}

#[test]
fn directions_are_found_kept_and_move_portraits_as_edits_say() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("generator.bpk");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/assets/generator.bpk"), &weights).unwrap();
    let weights = weights.to_str().unwrap();
    let preview = dir.path().join("preview.png");

    let out = ok(&["directions", "--weights", weights, "--count", "4", "--preview", preview.to_str().unwrap()]);
    let id = out.split_whitespace().nth(1).unwrap().trim_end_matches(':').to_string();
    let file = dir.path().join("painters").join(format!("{id}-directions.json"));
    assert!(out.contains(&format!("4 directions in {}", file.display())) && out.contains("label each direction"), "{out}");
    let mut directions: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(directions["painter"], id.as_str());
    assert_eq!(directions["directions"].as_array().unwrap().len(), 4);
    // A row per direction, 3 seeds × 7 amounts per row (64 px cells, 2 px gaps).
    let preview = image::open(&preview).unwrap();
    assert_eq!((preview.width(), preview.height()), (21 * 66 + 2, 4 * 66 + 2));

    // Labels someone chose survive computing the directions again.
    directions["directions"][0]["label"] = "lighter".into();
    std::fs::write(&file, serde_json::to_string(&directions).unwrap()).unwrap();
    let again = ok(&["directions", "--weights", weights, "--count", "4"]);
    assert!(again.contains("1. lighter") && !again.contains("label each direction"), "{again}");
    let kept: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(kept["directions"][0]["vector"], directions["directions"][0]["vector"], "the same painter, the same directions");

    // Edits: none and zero amounts paint the seed's own portrait; an edit moves it; the order of
    // the edits does not matter, and the link printed carries them in canonical order.
    let sample = |name: &str, extra: &[&str]| -> (Vec<u8>, String) {
        let path = dir.path().join(name);
        let mut args = vec!["sample", "--weights", weights, "--seed", "5", "--out", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let text = ok(&args);
        (pixels(&path), text)
    };
    let (plain, _) = sample("plain.png", &[]);
    let (zero, _) = sample("zero.png", &["--edit", "1:0,3:0.0"]);
    assert_eq!(worst_difference(&plain, &zero), 0);
    let (moved, link) = sample("moved.png", &["--edit", "3:-0.8,1:1.5"]);
    assert!(link.contains(&format!("#seed=N&painter={id}&edit=1:1.5,3:-0.8")), "{link}");
    let (same, _) = sample("same.png", &["--edit", "1:1.5,3:-0.8"]);
    assert_eq!(worst_difference(&moved, &same), 0);
    assert!(worst_difference(&plain, &moved) > 40, "an edit of 1.5 standard deviations moves the portrait");
    // Each file says which portrait it is (the gallery opens it again), seeds of a folder each their own.
    let carried = |path: &Path| atelier_shared::provenance_of_png(&std::fs::read(path).unwrap()).unwrap();
    let expected = |seed: u64, edits: &str| atelier_shared::Provenance { seed, painter: id.clone(), edits: edits.into() };
    assert_eq!(carried(&dir.path().join("moved.png")), expected(5, "1:1.5,3:-0.8"));
    assert_eq!(carried(&dir.path().join("plain.png")), expected(5, ""));
    let folder = dir.path().join("folder");
    ok(&["sample", "--weights", weights, "--seed", "9", "--count", "2", "--edit", "2:-3", "--out", folder.to_str().unwrap()]);
    assert_eq!(carried(&folder.join("seed-10.png")), expected(10, "2:-3"));

    // What an edit means: z + α·v. A direction from seed 5's latent to seed 7's, at α = 1,
    // paints seed 7's portrait.
    let (z5, z7) = (atelier_shared::latent_for_seed(5, 128), atelier_shared::latent_for_seed(7, 128));
    let towards: Vec<f32> = z7.iter().zip(&z5).map(|(b, a)| b - a).collect();
    let mut custom = kept.clone();
    custom["directions"][1]["vector"] = serde_json::to_value(&towards).unwrap();
    let custom_file = dir.path().join("towards-7.json");
    std::fs::write(&custom_file, serde_json::to_string(&custom).unwrap()).unwrap();
    let (arrived, _) = sample("arrived.png", &["--edit", "2:1", "--directions", custom_file.to_str().unwrap()]);
    let seven = dir.path().join("seven.png");
    ok(&["sample", "--weights", weights, "--seed", "7", "--out", seven.to_str().unwrap()]);
    assert!(worst_difference(&arrived, &pixels(&seven)) <= 1, "seed 5 moved by 1 × (z7 − z5) is seed 7");

    // Refusals name what is wrong.
    let refused = |extra: &[&str]| {
        let out = dir.path().join("refused.png");
        let mut args = vec!["sample", "--weights", weights, "--seed", "5", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let error = fails(&args);
        assert!(!out.exists(), "nothing written for {extra:?}");
        error
    };
    assert!(refused(&["--edit", "5:1"]).contains("direction 5 cannot be edited: this painter has directions 1 to 4"));
    assert!(refused(&["--edit", "2:4"]).contains("“2:4” is not an edit"));
    assert!(refused(&["--edit", "2:1,2:-1"]).contains("direction 2 is edited twice"));
    let mut other = kept.clone();
    other["painter"] = "abcdef".into();
    let other_file = dir.path().join("other.json");
    std::fs::write(&other_file, serde_json::to_string(&other).unwrap()).unwrap();
    let error = refused(&["--edit", "1:1", "--directions", other_file.to_str().unwrap()]);
    assert!(error.contains("other.json cannot be used") && error.contains(&format!("belongs to painter abcdef, not {id}")), "{error}");
    std::fs::remove_file(&file).unwrap();
    assert!(refused(&["--edit", "1:1"]).contains("cannot read the directions file"));
    assert!(fails(&["directions", "--weights", weights, "--count", "17"]).contains("1 to 16 directions"));
}
