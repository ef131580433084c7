//! What the trainer and the browser must agree on: the DCGAN itself, the seed → latent
//! algorithm, the tensor → pixel conversion, the generator weights file format, edits along a
//! painter's directions in latent space, the provenance a portrait's PNG file carries, and
//! animated PNG of a blend.
//!
//! Everything here compiles for native targets and for `wasm32` (except the `cpu-kernels`
//! feature, native only), and nothing here picks a backend: callers pass a burn
//! [`Device`](burn::tensor::Device).

pub mod animation;
#[cfg(feature = "cpu-kernels")]
pub mod cpu_kernels;
mod convolutions;
pub mod cpu_painter;
pub mod edits;
pub mod finite;
pub mod latent;
pub mod model;
pub mod panel_product;
pub mod pixels;
pub mod provenance;
pub mod tanh_bytes;
pub mod weights;

pub use cpu_painter::CpuPainter;
pub use edits::{Directions, Edit, EditError, edited_latent, format_edits, parse_edits};
pub use finite::{NotFinite, check_finite};
pub use latent::{LATENT_ALGORITHM, latent_batch, latent_for_seed};
pub use model::{
    DiscNorm, Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, IMAGE_SIZE, LATENT_DIM,
    trainable_params,
};
pub use pixels::{RgbImage, to_rgb_images};
pub use provenance::{Provenance, ProvenanceError, png_with_provenance, provenance_of_png};
pub use weights::{PAINTER_ID_LEN, Precision, WeightsError, generator_to_bytes, load_generator, painter_id, parse_painter_id, read_generator_config, sha256_hex};
