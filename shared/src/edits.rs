//! Edits of a portrait along its painter's main directions in latent space: the `edit=` part of a
//! share link (`#seed=42&painter=fae341&edit=2:1.5,7:-0.8`), the directions file a painter ships
//! (`<id>-directions.json`, written by `trainer directions`), and the edited latent
//! z' = z + Σ αᵢ·vᵢ. The gallery and `trainer sample --edit` both compute it here, in the same
//! order with the same `f32` operations, so a link's edited portrait has the same pixels
//! everywhere.
//!
//! An edit names a direction by its number as the gallery shows it (1 is the strongest) and an
//! amount α in the latent's standard deviations, in tenths, within ±3. The latent is standard
//! normal, so one standard deviation along a unit direction is the direction itself.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The most directions a painter ships, and the most edits a link carries.
pub const MAX_DIRECTIONS: usize = 16;
/// The largest amount of an edit, in tenths of a standard deviation (±3.0).
pub const MAX_TENTHS: i32 = 30;
/// The longest label a direction may have, in characters.
const MAX_LABEL_CHARS: usize = 60;

/// One move along one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edit {
    /// The direction's number, from 1 (the strongest).
    pub direction: usize,
    /// The amount in tenths of a standard deviation, within ±[`MAX_TENTHS`].
    pub tenths: i32,
}

impl Edit {
    /// The amount α in standard deviations.
    pub fn alpha(&self) -> f32 {
        self.tenths as f32 / 10.0
    }
}

/// Why an edit or a directions file cannot be used; the text is meant for the person who gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditError {
    /// A part of the edits that is not `DIRECTION:AMOUNT` within the bounds.
    Malformed(String),
    /// More edits than [`MAX_DIRECTIONS`].
    TooMany(usize),
    /// The same direction twice.
    Repeated(usize),
    /// A direction the painter does not have.
    NoSuchDirection { direction: usize, count: usize },
    /// A directions file that cannot be used (what is wrong with it).
    BadDirections(String),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(part) => {
                let shown: String = part.chars().take(40).collect();
                let more = if part.chars().count() > 40 { "…" } else { "" };
                write!(
                    f,
                    "“{shown}{more}” is not an edit: edits are DIRECTION:AMOUNT, a direction from 1 to {MAX_DIRECTIONS} and an amount from -3 to 3 in steps of 0.1, separated by commas (e.g. 2:1.5,7:-0.8)"
                )
            }
            Self::TooMany(count) => write!(f, "{count} edits are more than the {MAX_DIRECTIONS} a portrait can have"),
            Self::Repeated(direction) => write!(f, "direction {direction} is edited twice"),
            Self::NoSuchDirection { direction, count: 0 } => {
                write!(f, "direction {direction} cannot be edited: this painter has no directions")
            }
            Self::NoSuchDirection { direction, count } => {
                write!(f, "direction {direction} cannot be edited: this painter has directions 1 to {count}")
            }
            Self::BadDirections(what) => write!(f, "the directions file cannot be used: {what}"),
        }
    }
}

impl std::error::Error for EditError {}

/// Parses the edits of a link or command line: `2:1.5,7:-0.8`. Strict: each part is a direction
/// from 1 to [`MAX_DIRECTIONS`] (no sign, no leading zero), a colon and an amount written as
/// `-?D` or `-?D.D` within ±3; no spaces, no repeated direction, at most [`MAX_DIRECTIONS`]
/// parts. The empty text is no edits. The result is in direction order without zero amounts, so
/// equal edits have one canonical text ([`format_edits`]).
pub fn parse_edits(text: &str) -> Result<Vec<Edit>, EditError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    // Bounded before any work: a hostile link may be megabytes long.
    const LONGEST_PART: usize = "16:-3.0".len();
    if text.len() > MAX_DIRECTIONS * (LONGEST_PART + 1) {
        let count = text.split(',').count();
        return Err(if count > MAX_DIRECTIONS { EditError::TooMany(count) } else { EditError::Malformed(text.to_string()) });
    }
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() > MAX_DIRECTIONS {
        return Err(EditError::TooMany(parts.len()));
    }
    let mut edits = Vec::with_capacity(parts.len());
    for part in parts {
        let edit = parse_edit(part).ok_or_else(|| EditError::Malformed(part.to_string()))?;
        if edits.iter().any(|e: &Edit| e.direction == edit.direction) {
            return Err(EditError::Repeated(edit.direction));
        }
        edits.push(edit);
    }
    edits.retain(|e| e.tenths != 0);
    edits.sort_by_key(|e| e.direction);
    Ok(edits)
}

fn parse_edit(part: &str) -> Option<Edit> {
    let (direction, amount) = part.split_once(':')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(direction) || direction.len() > 2 || direction.starts_with('0') {
        return None;
    }
    let direction: usize = direction.parse().ok()?;
    if !(1..=MAX_DIRECTIONS).contains(&direction) {
        return None;
    }
    let (negative, magnitude) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, tenth) = match magnitude.split_once('.') {
        Some((whole, tenth)) => (whole, tenth),
        None => (magnitude, "0"),
    };
    if whole.len() != 1 || tenth.len() != 1 || !digits(whole) || !digits(tenth) {
        return None;
    }
    let tenths = i32::from(whole.as_bytes()[0] - b'0') * 10 + i32::from(tenth.as_bytes()[0] - b'0');
    if tenths > MAX_TENTHS {
        return None;
    }
    Some(Edit { direction, tenths: if negative { -tenths } else { tenths } })
}

/// The canonical text of edits, as links carry them: `2:1.5,7:-0.8` (direction order, no zeros).
pub fn format_edits(edits: &[Edit]) -> String {
    let mut sorted: Vec<Edit> = edits.iter().copied().filter(|e| e.tenths != 0).collect();
    sorted.sort_by_key(|e| e.direction);
    let parts: Vec<String> = sorted
        .iter()
        .map(|e| {
            let sign = if e.tenths < 0 { "-" } else { "" };
            let (whole, tenth) = (e.tenths.abs() / 10, e.tenths.abs() % 10);
            if tenth == 0 { format!("{}:{sign}{whole}", e.direction) } else { format!("{}:{sign}{whole}.{tenth}", e.direction) }
        })
        .collect();
    parts.join(",")
}

/// A painter's main directions in latent space, as its `<id>-directions.json` holds them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Directions {
    /// What the file is, for whoever opens it.
    #[serde(default)]
    pub about: String,
    /// The painter id of the weights these directions belong to.
    pub painter: String,
    /// The strongest first.
    pub directions: Vec<Direction>,
}

/// One direction: what it does to a portrait, and the unit vector in latent space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    /// What moving along it does, as someone who looked at it named it ("light from the left").
    pub label: String,
    /// Its share of the first layer's response to the latent (its squared singular value over
    /// their sum), for the curious.
    #[serde(default)]
    pub share: f32,
    pub vector: Vec<f32>,
}

impl Directions {
    /// Reads a directions file and checks it belongs to painter `painter` with latents of
    /// `latent_dim` values: 1 to [`MAX_DIRECTIONS`] directions, each of finite values with a
    /// label of at most 60 characters.
    pub fn parse(json: &str, painter: &str, latent_dim: usize) -> Result<Self, EditError> {
        let bad = |what: String| EditError::BadDirections(what);
        let directions: Directions = serde_json::from_str(json).map_err(|e| bad(format!("it is not a directions file ({e})")))?;
        if directions.painter != painter {
            return Err(bad(format!("it belongs to painter {}, not {painter}", directions.painter)));
        }
        let count = directions.directions.len();
        if count == 0 || count > MAX_DIRECTIONS {
            return Err(bad(format!("it holds {count} directions (1 to {MAX_DIRECTIONS})")));
        }
        for (i, direction) in directions.directions.iter().enumerate() {
            let number = i + 1;
            if direction.vector.len() != latent_dim {
                return Err(bad(format!("direction {number} has {} values, the painter's latent {latent_dim}", direction.vector.len())));
            }
            if !direction.vector.iter().all(|v| v.is_finite()) {
                return Err(bad(format!("direction {number} has values that are not numbers")));
            }
            let label = direction.label.trim();
            if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
                return Err(bad(format!("direction {number} needs a label of 1 to {MAX_LABEL_CHARS} characters")));
            }
        }
        Ok(directions)
    }

    /// The labels, strongest direction first.
    pub fn labels(&self) -> Vec<String> {
        self.directions.iter().map(|d| d.label.clone()).collect()
    }

    /// Moves latent `z` by the edits: z += α·v for each edit, in direction order (the order
    /// [`parse_edits`] gives), one `f32` multiply and one add per value.
    pub fn apply(&self, z: &mut [f32], edits: &[Edit]) -> Result<(), EditError> {
        let count = self.directions.len();
        if let Some(edit) = edits.iter().find(|e| e.direction == 0 || e.direction > count) {
            return Err(EditError::NoSuchDirection { direction: edit.direction, count });
        }
        for edit in edits {
            let alpha = edit.alpha();
            for (value, along) in z.iter_mut().zip(&self.directions[edit.direction - 1].vector) {
                *value += alpha * along;
            }
        }
        Ok(())
    }
}

/// The latent of portrait `seed` moved by `edits` along `directions` (none: the seed's own).
pub fn edited_latent(seed: u64, latent_dim: usize, edits: &[Edit], directions: Option<&Directions>) -> Result<Vec<f32>, EditError> {
    let mut z = crate::latent_for_seed(seed, latent_dim);
    match directions {
        Some(directions) => directions.apply(&mut z, edits)?,
        None if !edits.is_empty() => return Err(EditError::NoSuchDirection { direction: edits[0].direction, count: 0 }),
        None => {}
    }
    Ok(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(direction: usize, tenths: i32) -> Edit {
        Edit { direction, tenths }
    }

    #[test]
    fn edits_parse_strictly_and_in_direction_order() {
        assert_eq!(parse_edits("2:1.5,7:-0.8"), Ok(vec![edit(2, 15), edit(7, -8)]));
        assert_eq!(parse_edits("7:-0.8,2:1.5"), Ok(vec![edit(2, 15), edit(7, -8)]));
        assert_eq!(parse_edits("16:3,1:-3.0,4:0"), Ok(vec![edit(1, -30), edit(16, 30)]));
        assert_eq!(parse_edits(""), Ok(vec![]));
        for bad in [
            "2", "2:", ":1", "2:1.55", "2:3.1", "2:-3.1", "2:10", "0:1", "17:1", "02:1", "+2:1", "2:+1", "2: 1", " 2:1",
            "2:1,", ",2:1", "2:1,,3:1", "2:1.", "2:.5", "2:1e0", "2:NaN", "2:inf", "2:1:1", "<script>", "2:١", "2:1;3:1",
        ] {
            assert!(matches!(parse_edits(bad), Err(EditError::Malformed(_))), "{bad:?}: {:?}", parse_edits(bad));
        }
        assert_eq!(parse_edits("2:1,2:-1"), Err(EditError::Repeated(2)));
        let many: Vec<String> = (1..=17).map(|d| format!("{}:1", d.min(16))).collect();
        assert_eq!(parse_edits(&many.join(",")), Err(EditError::TooMany(17)));
        assert!(matches!(parse_edits(&"1".repeat(100_000)), Err(EditError::Malformed(_))));
        assert_eq!(parse_edits(&",".repeat(100_000)), Err(EditError::TooMany(100_001)));
    }

    #[test]
    fn canonical_text_round_trips() {
        assert_eq!(format_edits(&[edit(7, -8), edit(2, 15), edit(3, 0), edit(4, 10), edit(5, -30)]), "2:1.5,4:1,5:-3,7:-0.8");
        assert_eq!(format_edits(&[]), "");
    }

    proptest::proptest! {
        /// Any text is edits or a refusal, never a panic, and accepted edits round-trip.
        #[test]
        fn any_text_is_edits_or_a_refusal(text in "\\PC{0,40}") {
            if let Ok(edits) = parse_edits(&text) {
                proptest::prop_assert_eq!(parse_edits(&format_edits(&edits)), Ok(edits.clone()));
                proptest::prop_assert!(edits.iter().all(|e| e.tenths.abs() <= MAX_TENTHS && (1..=MAX_DIRECTIONS).contains(&e.direction)));
            }
        }

        #[test]
        fn every_edit_round_trips(direction in 1..=MAX_DIRECTIONS, tenths in -MAX_TENTHS..=MAX_TENTHS) {
            let edits: Vec<Edit> = if tenths == 0 { vec![] } else { vec![edit(direction, tenths)] };
            proptest::prop_assert_eq!(parse_edits(&format_edits(&[edit(direction, tenths)])), Ok(edits));
        }
    }

    fn two_directions() -> Directions {
        let axis = |i: usize| (0..4).map(|j| if j == i { 1.0 } else { 0.0 }).collect();
        Directions {
            about: String::new(),
            painter: "abc123".into(),
            directions: vec![
                Direction { label: "first".into(), share: 0.6, vector: axis(0) },
                Direction { label: "second".into(), share: 0.4, vector: axis(3) },
            ],
        }
    }

    #[test]
    fn edits_move_the_latent_along_the_directions() {
        let directions = two_directions();
        let z = edited_latent(5, 4, &[edit(1, 15), edit(2, -8)], Some(&directions)).unwrap();
        let plain = crate::latent_for_seed(5, 4);
        assert_eq!(z, vec![plain[0] + 1.5, plain[1], plain[2], plain[3] + -0.8]);
        assert_eq!(edited_latent(5, 4, &[], None).unwrap(), plain);
        assert_eq!(
            edited_latent(5, 4, &[edit(3, 10)], Some(&directions)),
            Err(EditError::NoSuchDirection { direction: 3, count: 2 })
        );
        let refused = edited_latent(5, 4, &[edit(1, 10)], None).unwrap_err();
        assert!(refused.to_string().contains("no directions"), "{refused}");
    }

    #[test]
    fn a_directions_file_must_fit_its_painter() {
        let json = serde_json::to_string(&two_directions()).unwrap();
        assert_eq!(Directions::parse(&json, "abc123", 4).unwrap(), two_directions());
        let refusal = |json: &str, painter: &str, dim: usize| Directions::parse(json, painter, dim).unwrap_err().to_string();
        assert!(refusal(&json, "def456", 4).contains("belongs to painter abc123, not def456"));
        assert!(refusal(&json, "abc123", 8).contains("direction 1 has 4 values, the painter's latent 8"));
        assert!(refusal("{\"painter\":", "abc123", 4).contains("not a directions file"));
        let mut spoiled = two_directions();
        spoiled.directions[1].label = " ".into();
        assert!(refusal(&serde_json::to_string(&spoiled).unwrap(), "abc123", 4).contains("direction 2 needs a label"));
        let mut none = two_directions();
        none.directions.clear();
        assert!(refusal(&serde_json::to_string(&none).unwrap(), "abc123", 4).contains("holds 0 directions"));
        let nan = json.replacen("1.0", "1e999", 1);
        assert!(Directions::parse(&nan, "abc123", 4).is_err());
    }
}
