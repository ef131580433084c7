//! A portrait's provenance inside its PNG file, so the file is its own link: text chunks
//! (`tEXt`) named `Software`, `Source` (the painter id) and `Comment` (JSON with the seed, the
//! painter and the edits), written by the gallery's Download PNG and by `trainer sample`, and read
//! back when such a file is dropped on the gallery.
//!
//! The chunks go right after the image header, where viewers that show PNG text find them; the
//! image data is not touched, so the pixels are exactly those of the file given.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::edits::{format_edits, parse_edits};

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
/// What the `Software` chunk says.
pub const SOFTWARE: &str = "atelier";
/// The longest `Comment` chunk read back: ours are under 200 bytes.
const MAX_COMMENT: usize = 1024;

/// Which portrait a PNG file shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub seed: u64,
    /// The painter id of the weights that painted it.
    pub painter: String,
    /// The canonical text of its edits (`2:1.5,7:-0.8`; empty for none).
    pub edits: String,
}

/// The `Comment` chunk's JSON. The seed is text: JavaScript's numbers cannot hold every `u64`.
#[derive(Serialize, Deserialize)]
struct Comment {
    seed: String,
    painter: String,
    #[serde(default)]
    edit: String,
}

/// Why a file's provenance cannot be read or written; the text is meant for the person who gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvenanceError {
    /// Not a PNG file, or one cut short or damaged.
    NotPng(String),
    /// A PNG without atelier's chunks.
    NoProvenance,
    /// atelier's chunks, but what they say is not a portrait (what is wrong).
    BadProvenance(String),
}

impl fmt::Display for ProvenanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPng(what) => write!(f, "this file is not a PNG image ({what})"),
            Self::NoProvenance => write!(f, "this PNG does not say which portrait it is: only portraits saved by atelier carry their seed and painter"),
            Self::BadProvenance(what) => write!(f, "this PNG's portrait details cannot be used: {what}"),
        }
    }
}

impl std::error::Error for ProvenanceError {}

impl Provenance {
    /// The `Comment` chunk's text: `{"seed":"42","painter":"fae341","edit":"2:1.5"}`.
    pub fn comment(&self) -> String {
        let comment = Comment { seed: self.seed.to_string(), painter: self.painter.clone(), edit: self.edits.clone() };
        serde_json::to_string(&comment).expect("strings always serialise")
    }
}

/// The chunks of a PNG file in order: (type, data). Checks the signature, each chunk's length and CRC.
fn chunks(png: &[u8]) -> Result<Vec<([u8; 4], &[u8])>, ProvenanceError> {
    let not_png = |what: &str| ProvenanceError::NotPng(what.to_string());
    let mut rest = png.strip_prefix(&SIGNATURE[..]).ok_or_else(|| not_png("it does not start as one"))?;
    let mut found = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 12 {
            return Err(not_png("it is cut short"));
        }
        let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if length > rest.len() - 12 {
            return Err(not_png("it is cut short"));
        }
        let kind: [u8; 4] = rest[4..8].try_into().unwrap();
        let data = &rest[8..8 + length];
        let crc = u32::from_be_bytes(rest[8 + length..12 + length].try_into().unwrap());
        if crc != crc32(&rest[4..8 + length]) {
            return Err(not_png("it is damaged"));
        }
        found.push((kind, data));
        rest = &rest[12 + length..];
        if &kind == b"IEND" {
            break;
        }
    }
    if found.first().map(|(kind, _)| kind) != Some(b"IHDR") {
        return Err(not_png("it has no image header"));
    }
    Ok(found)
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// `png` with the portrait's provenance in `tEXt` chunks after its header (any text chunks of
/// ours it had are replaced); the image data is copied unchanged.
pub fn png_with_provenance(png: &[u8], provenance: &Provenance) -> Result<Vec<u8>, ProvenanceError> {
    let found = chunks(png)?;
    let ours = |kind: &[u8; 4], data: &[u8]| {
        kind == b"tEXt" && ["Software", "Source", "Comment"].iter().any(|key| data.starts_with(format!("{key}\0").as_bytes()))
    };
    let mut out = Vec::with_capacity(png.len() + 256);
    out.extend_from_slice(&SIGNATURE);
    for (i, (kind, data)) in found.iter().enumerate() {
        if ours(kind, data) {
            continue;
        }
        push_chunk(&mut out, kind, data);
        if i == 0 {
            for (key, value) in [("Software", SOFTWARE.to_string()), ("Source", provenance.painter.clone()), ("Comment", provenance.comment())] {
                push_chunk(&mut out, b"tEXt", format!("{key}\0{value}").as_bytes());
            }
        }
    }
    Ok(out)
}

/// The portrait a PNG file names, from its `Comment` chunk, checked as strictly as a link.
pub fn provenance_of_png(png: &[u8]) -> Result<Provenance, ProvenanceError> {
    let bad = |what: &str| ProvenanceError::BadProvenance(what.to_string());
    let found = chunks(png)?;
    let text = |key: &str| {
        found.iter().find_map(|(kind, data)| (kind == b"tEXt").then(|| data.strip_prefix(format!("{key}\0").as_bytes())).flatten())
    };
    if text("Software") != Some(SOFTWARE.as_bytes()) {
        return Err(ProvenanceError::NoProvenance);
    }
    let comment = text("Comment").ok_or_else(|| bad("it has no Comment"))?;
    if comment.len() > MAX_COMMENT {
        return Err(bad("its Comment is too long"));
    }
    let comment: Comment = std::str::from_utf8(comment)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| bad("its Comment is not the JSON atelier writes"))?;
    let seed = comment.seed.parse::<u64>().ok().filter(|_| comment.seed.bytes().all(|b| b.is_ascii_digit())).ok_or_else(|| bad("its seed is not a whole number from 0 to 2^64 − 1"))?;
    let painter = crate::parse_painter_id(&comment.painter).ok_or_else(|| bad("its painter is not a painter id"))?;
    let edits = parse_edits(&comment.edit).map_err(|e| ProvenanceError::BadProvenance(e.to_string()))?;
    Ok(Provenance { seed, painter, edits: format_edits(&edits) })
}

/// CRC-32 (ISO 3309), as PNG's chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 grey PNG, written by hand: signature, IHDR, one IDAT (zlib, stored), IEND.
    fn tiny_png() -> Vec<u8> {
        let mut png = SIGNATURE.to_vec();
        push_chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        // zlib: header, one stored block of [filter 0, value 128], Adler-32.
        push_chunk(&mut png, b"IDAT", &[0x78, 0x01, 0x01, 0x02, 0x00, 0xfd, 0xff, 0x00, 0x80, 0x00, 0x81, 0x00, 0x81]);
        push_chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn crc_matches_the_png_specification() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn provenance_goes_in_and_comes_back() {
        let provenance = Provenance { seed: u64::MAX, painter: "fae341".into(), edits: "2:1.5,7:-0.8".into() };
        let png = png_with_provenance(&tiny_png(), &provenance).unwrap();
        assert_eq!(provenance_of_png(&png), Ok(provenance.clone()));
        // The image's own chunks are unchanged, in order.
        let kinds: Vec<[u8; 4]> = chunks(&png).unwrap().iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [*b"IHDR", *b"tEXt", *b"tEXt", *b"tEXt", *b"IDAT", *b"IEND"]);
        assert_eq!(chunks(&png).unwrap()[4], chunks(&tiny_png()).unwrap()[1]);
        // Written again, the chunks are replaced, not repeated.
        let other = Provenance { seed: 7, painter: "abc123".into(), edits: String::new() };
        let again = png_with_provenance(&png, &other).unwrap();
        assert_eq!(chunks(&again).unwrap().len(), 6);
        assert_eq!(provenance_of_png(&again), Ok(other));
    }

    #[test]
    fn files_without_our_chunks_or_with_bad_ones_are_refused_politely() {
        assert_eq!(provenance_of_png(&tiny_png()), Err(ProvenanceError::NoProvenance));
        assert!(matches!(provenance_of_png(b"GIF89a"), Err(ProvenanceError::NotPng(_))));
        let good = png_with_provenance(&tiny_png(), &Provenance { seed: 1, painter: "fae341".into(), edits: String::new() }).unwrap();
        assert!(matches!(provenance_of_png(&good[..good.len() - 5]), Err(ProvenanceError::NotPng(_))));
        let mut flipped = good.clone();
        flipped[60] ^= 1;
        assert!(matches!(provenance_of_png(&flipped), Err(ProvenanceError::NotPng(_))));
        let with_comment = |comment: &str| {
            let mut png = SIGNATURE.to_vec();
            push_chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
            push_chunk(&mut png, b"tEXt", b"Software\0atelier");
            push_chunk(&mut png, b"tEXt", format!("Comment\0{comment}").as_bytes());
            push_chunk(&mut png, b"IEND", &[]);
            provenance_of_png(&png)
        };
        for (comment, says) in [
            (r#"{"seed":"-1","painter":"fae341"}"#, "seed"),
            (r#"{"seed":"18446744073709551616","painter":"fae341"}"#, "seed"),
            (r#"{"seed":"+4","painter":"fae341"}"#, "seed"),
            (r#"{"seed":"4","painter":"<script>"}"#, "painter"),
            (r#"{"seed":"4","painter":"fae341","edit":"2:9"}"#, "not an edit"),
            ("not json", "JSON"),
        ] {
            let refusal = with_comment(comment).unwrap_err().to_string();
            assert!(refusal.contains(says), "{comment}: {refusal}");
        }
        assert_eq!(with_comment(r#"{"seed":"4","painter":"FAE341","edit":"7:-0.8,2:1.5"}"#).map(|p| p.edits), Ok("2:1.5,7:-0.8".into()));
    }

    proptest::proptest! {
        /// Any bytes are a portrait or a refusal, never a panic.
        #[test]
        fn any_bytes_are_a_portrait_or_a_refusal(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), cut in 0usize..200) {
            let _ = provenance_of_png(&bytes);
            let good = png_with_provenance(&tiny_png(), &Provenance { seed: 3, painter: "fae341".into(), edits: "1:1".into() }).unwrap();
            let _ = provenance_of_png(&good[..cut.min(good.len())]);
            let mut spliced = good.clone();
            spliced.splice(8..8.min(good.len()), bytes);
            let _ = provenance_of_png(&spliced);
        }
    }
}
