//! The three products behind a 4×4, stride-2, padding-1 convolution, on plain `f32` slices in
//! NCHW order, each folded into wide matrix products.
//!
//! The layer joins a *large* image `[batch, large_channels, 2h, 2w]` and a *small* one
//! `[batch, small_channels, h, w]` through a kernel `[small_channels, large_channels, 4, 4]`:
//! - [`down`]: large → small, the convolution (the discriminator's layers);
//! - [`up`]: small → large, the transposed convolution (the generator's layers), which is also
//!   the convolution's input gradient;
//! - [`kernel_gradient`]: the kernel's gradient, the same for both directions.
//!
//! Each unrolls the large image into patches (`im2col`: one row of `large_channels·16` values per
//! small-image pixel) so that every product is a wide matrix product:
//! - images with enough pixels go one per product, straight from and into NCHW order;
//! - smaller images go in groups of a few megabytes of patches, the small images transposed to
//!   pixel-major order around the product.
//!
//! Where there are at least as many images (or groups) as threads, each thread takes its share
//! and runs every step of it on its own core; only with fewer are the steps split across the
//! cores ([`Spread`]).

use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::written;

/// Kernel taps per channel: 4×4.
const TAPS: usize = 16;
/// Small images with at least this many pixels are multiplied one at a time, straight from and
/// into NCHW order; smaller ones in groups.
const PIXELS_PER_PRODUCT: usize = 256;
/// A group of small images unrolls into about `machine().group_bytes` of patches, but at least
/// this many rows, or the products get too thin to run fast.
const MIN_GROUP_ROWS: usize = 512;

/// The shapes of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub large_channels: usize,
    pub small_channels: usize,
    /// Height and width of the small image; the large one is twice as tall and wide.
    pub small_height: usize,
    pub small_width: usize,
}

impl Geometry {
    fn small_pixels(&self) -> usize {
        self.small_height * self.small_width
    }
    fn large_pixels(&self) -> usize {
        4 * self.small_pixels()
    }
    /// Values in one patch row: every large channel's 4×4 taps.
    fn patch_len(&self) -> usize {
        self.large_channels * TAPS
    }
    fn large_image_len(&self) -> usize {
        self.large_channels * self.large_pixels()
    }
    fn small_image_len(&self) -> usize {
        self.small_channels * self.small_pixels()
    }
    pub fn large_len(&self) -> usize {
        self.batch * self.large_image_len()
    }
    pub fn small_len(&self) -> usize {
        self.batch * self.small_image_len()
    }
    pub fn kernel_len(&self) -> usize {
        self.small_channels * self.patch_len()
    }

    /// How many images go through one matrix product (see [`PIXELS_PER_PRODUCT`]).
    fn group(&self) -> usize {
        if self.small_pixels() >= PIXELS_PER_PRODUCT {
            return 1;
        }
        self.wide_group()
    }

    /// Images per product for [`down`]: one image at a time, its products are short and deep
    /// (a few hundred pixels × thousands of patch values) and run at about half the speed, so
    /// only short patches go one image at a time.
    fn down_group(&self) -> usize {
        if self.patch_len() < 512 { self.group() } else { self.wide_group() }
    }

    /// Images per group: about `group_bytes` of patches, in a number of groups that the threads
    /// share evenly where there are enough for all of them (see [`Spread`]).
    fn wide_group(&self) -> usize {
        let rows = (super::machine().group_bytes / (self.patch_len() * 4)).max(MIN_GROUP_ROWS);
        let group = (rows / self.small_pixels()).clamp(1, self.batch);
        let (groups, threads) = (self.batch.div_ceil(group), rayon::current_num_threads());
        if groups < threads { group } else { self.batch.div_ceil(groups.next_multiple_of(threads)) }
    }
}

/// How a layer's work shares the threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spread {
    /// At least one group of images per thread: the groups go to the threads, and each group's
    /// unrolling, product and transposes run on one core, its operands still in that core's
    /// cache, with no hand-offs between the threads.
    Groups,
    /// Fewer groups than threads: one group after another, each step split across the threads.
    Steps,
}

impl Spread {
    fn of(g: Geometry, group: usize) -> Self {
        if g.batch.div_ceil(group) >= rayon::current_num_threads() { Spread::Groups } else { Spread::Steps }
    }
}

/// `each(inputs, outputs, split)` on every group of images (`inputs` and `outputs` cut into
/// groups of `input_len` and `output_len` values), where `split` says whether each step is to
/// be split across the threads.
fn for_each_group(
    inputs: &[f32],
    input_len: usize,
    outputs: &mut [MaybeUninit<f32>],
    output_len: usize,
    spread: Spread,
    each: impl Fn(&[f32], &mut [MaybeUninit<f32>], bool) + Sync,
) {
    // The groups across the threads and each step on one, or the groups in turn and each step
    // across the threads.
    let steps_split = spread == Spread::Steps;
    for_each_chunk(outputs, output_len, !steps_split, |group, outputs| {
        let start = group * input_len;
        each(&inputs[start..(start + input_len).min(inputs.len())], outputs, steps_split);
    });
}

/// `each(i, chunk)` for chunk `i` of `values` cut into `chunk_len` values (the last may be
/// shorter): spread over the threads with `split`, else in order on the calling thread.
fn for_each_chunk<T: Send>(values: &mut [T], chunk_len: usize, split: bool, each: impl Fn(usize, &mut [T]) + Sync) {
    if split {
        values.par_chunks_mut(chunk_len).enumerate().for_each(|(i, chunk)| each(i, chunk));
    } else {
        values.chunks_mut(chunk_len).enumerate().for_each(|(i, chunk)| each(i, chunk));
    }
}

/// One group's small images as a matrix of pixels × small channels: where its values are, and
/// the strides that read them (in NCHW for a single image, else transposed into `scratch`).
fn pixel_rows<'a>(small: &'a [f32], g: Geometry, scratch: &'a mut Vec<f32>, split: bool) -> (&'a [f32], (usize, usize)) {
    if small.len() == g.small_image_len() {
        (small, (1, g.small_pixels()))
    } else {
        // SAFETY: a transpose writes every value.
        *scratch = unsafe { written(small.len(), |pixel_major| transpose_images(small, pixel_major, g.small_channels, g.small_pixels(), split)) };
        (scratch, (g.small_channels, 1))
    }
}

/// The convolution: `large` → small image.
pub fn down(large: &[f32], kernel: &[f32], g: Geometry) -> Vec<f32> {
    let group = g.down_group();
    down_in_groups(large, kernel, g, group, Spread::of(g, group))
}

fn down_in_groups(large: &[f32], kernel: &[f32], g: Geometry, group: usize, spread: Spread) -> Vec<f32> {
    check(large, kernel, None, g);
    let (pixels, patch, channels) = (g.small_pixels(), g.patch_len(), g.small_channels);
    // Groups of images multiply with the kernel read row by row: ~1.3× faster than reading it
    // column-wise. SAFETY: a transpose writes every value.
    let kernel_t = if group > 1 { unsafe { written(kernel.len(), |kernel_t| transpose(kernel, kernel_t, channels, patch, true)) } } else { Vec::new() };
    // SAFETY: each product fills its buffer, each group's transpose (or product) its part of
    // the output, and the groups cover the output.
    unsafe {
        written(g.small_len(), |small| {
            for_each_group(large, group * g.large_image_len(), small, group * g.small_image_len(), spread, |images, out, split| {
                let patches = im2col(images, g, split);
                if group == 1 {
                    // small channels × pixels = kernel · patchesᵀ, straight into NCHW
                    matmul((channels, pixels, patch), Fill(out), (pixels, 1), kernel, (patch, 1), &patches, (1, patch), split);
                } else {
                    // pixels × small channels = patches · kernelᵀ
                    let rows = out.len() / channels;
                    let transposed = written(out.len(), |transposed| {
                        matmul((rows, channels, patch), Fill(transposed), (channels, 1), &patches, (patch, 1), &kernel_t, (channels, 1), split);
                    });
                    transpose_images(&transposed, out, pixels, channels, split);
                }
            });
        })
    }
}

/// The transposed convolution: `small` → large image.
pub fn up(small: &[f32], kernel: &[f32], g: Geometry) -> Vec<f32> {
    let group = g.group();
    up_in_groups(small, kernel, g, group, Spread::of(g, group))
}

fn up_in_groups(small: &[f32], kernel: &[f32], g: Geometry, group: usize, spread: Spread) -> Vec<f32> {
    check(&[], kernel, Some(small), g);
    let (patch, channels) = (g.patch_len(), g.small_channels);
    // SAFETY: each product fills its buffer, `col2im` writes every value of a group's images,
    // and the groups cover the output.
    unsafe {
        written(g.large_len(), |large| {
            for_each_group(small, group * g.small_image_len(), large, group * g.large_image_len(), spread, |inputs, images, split| {
                let rows = inputs.len() / channels;
                let mut scratch = Vec::new();
                let (inputs, strides) = pixel_rows(inputs, g, &mut scratch, split);
                // patch gradients = pixels × small channels · kernel
                let patches = written(rows * patch, |patches| {
                    matmul((rows, patch, channels), Fill(patches), (patch, 1), inputs, strides, kernel, (patch, 1), split);
                });
                col2im(&patches, g, images, split);
            });
        })
    }
}

/// The kernel's gradient, given the large image and the gradient at the small one (for
/// [`down`]), or the gradient at the large image and the small input (for [`up`]).
pub fn kernel_gradient(large: &[f32], small: &[f32], g: Geometry) -> Vec<f32> {
    let group = g.group();
    kernel_gradient_in_groups(large, small, g, group, Spread::of(g, group))
}

fn kernel_gradient_in_groups(large: &[f32], small: &[f32], g: Geometry, group: usize, spread: Spread) -> Vec<f32> {
    check(large, &[], Some(small), g);
    let (patch, channels) = (g.patch_len(), g.small_channels);
    // kernelᵀ (patch values × small channels) = Σ patchesᵀ · pixels × small channels, group by
    // group, written straight into the kernel's own layout.
    let product = |images: &[f32], inputs: &[f32], kernel: Destination<'_>, split: bool| {
        let rows = inputs.len() / channels;
        let patches = im2col(images, g, split);
        let mut scratch = Vec::new();
        let (inputs, strides) = pixel_rows(inputs, g, &mut scratch, split);
        matmul((patch, channels, rows), kernel, (1, patch), &patches, (1, patch), inputs, strides, split);
    };
    // The sum over a run of groups, in order.
    let sum = |large: &[f32], small: &[f32], split: bool| {
        let mut groups = large.chunks(group * g.large_image_len()).zip(small.chunks(group * g.small_image_len()));
        let (images, inputs) = groups.next().expect("a run of at least one image");
        // SAFETY: the product fills the kernel.
        let mut kernel = unsafe { written(g.kernel_len(), |kernel| product(images, inputs, Fill(kernel), split)) };
        for (images, inputs) in groups {
            product(images, inputs, AddTo(&mut kernel), split);
        }
        kernel
    };
    if spread == Spread::Steps {
        return sum(large, small, true);
    }
    // Each thread sums its own run of groups, then the partial sums are added in order: a fixed
    // split, so that the result does not depend on thread timing.
    let per_part = g.batch.div_ceil(group).div_ceil(rayon::current_num_threads()) * group;
    let parts = large.par_chunks(per_part * g.large_image_len()).zip(small.par_chunks(per_part * g.small_image_len()));
    let partial: Vec<Vec<f32>> = parts.map(|(images, inputs)| sum(images, inputs, false)).collect();
    let mut parts = partial.into_iter();
    let mut kernel = parts.next().expect("a batch of at least one image");
    for part in parts {
        kernel.par_chunks_mut(SUM_CHUNK).zip(part.par_chunks(SUM_CHUNK)).for_each(|(sums, values)| {
            sums.iter_mut().zip(values).for_each(|(sum, value)| *sum += value);
        });
    }
    kernel
}

/// Values per task when partial kernel gradients are added.
const SUM_CHUNK: usize = 1 << 16;

fn check(large: &[f32], kernel: &[f32], small: Option<&[f32]>, g: Geometry) {
    assert!(large.is_empty() || large.len() == g.large_len(), "large image: {} values for {g:?}", large.len());
    assert!(kernel.is_empty() || kernel.len() == g.kernel_len(), "kernel: {} values for {g:?}", kernel.len());
    if let Some(small) = small {
        assert_eq!(small.len(), g.small_len(), "small image: {} values for {g:?}", small.len());
    }
}

/// Where a product goes.
enum Destination<'a> {
    /// Memory the product fills, every value of it (not read, so it need not hold values yet).
    Fill(&'a mut [MaybeUninit<f32>]),
    /// Values the product is added to.
    AddTo(&'a mut [f32]),
}
use Destination::{AddTo, Fill};

/// `dst (m×n) = lhs (m×k) · rhs (k×n)`, or `dst += …`; strides are (row, column) pairs in
/// elements. With `split`, large products are split across threads; without, the product runs
/// on the calling thread (whose caller spreads the work itself).
#[allow(clippy::too_many_arguments)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: Destination,
    dst_strides: (usize, usize),
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
    split: bool,
) {
    let extent = |(rows, cols): (usize, usize), (row_stride, col_stride): (usize, usize)| {
        (rows - 1) * row_stride + (cols - 1) * col_stride + 1
    };
    let (dst, dst_len, accumulate) = match dst {
        Fill(dst) => {
            assert!(dst.len() == m * n && (dst_strides == (n, 1) || dst_strides == (1, m)), "a product fills all of its destination");
            (dst.as_mut_ptr().cast::<f32>(), dst.len(), false)
        }
        AddTo(dst) => (dst.as_mut_ptr(), dst.len(), true),
    };
    assert!(m > 0 && n > 0 && k > 0);
    assert!(dst_len >= extent((m, n), dst_strides));
    assert!(lhs.len() >= extent((m, k), lhs_strides));
    assert!(rhs.len() >= extent((k, n), rhs_strides));
    // Below ~2 M multiply-adds, splitting the product across threads costs more than it saves.
    let parallelism = if split && m * n * k >= 1 << 21 { Parallelism::Rayon(0) } else { Parallelism::None };
    // SAFETY: the asserts above keep every index the product touches inside the three slices;
    // without `accumulate`, gemm writes the destination without reading it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_strides.1 as isize,
            dst_strides.0 as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides.1 as isize,
            lhs_strides.0 as isize,
            rhs.as_ptr(),
            rhs_strides.1 as isize,
            rhs_strides.0 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Large images → patch rows `[images · small pixels, large_channels · 16]` in `patches`: row
/// `(n, y, x)` holds `large[n, c, 2y+ky-1, 2x+kx-1]` at `c·16 + ky·4 + kx` (zero outside the
/// image).
fn im2col(large: &[f32], g: Geometry, split: bool) -> Vec<f32> {
    let (h, w) = (g.small_height, g.small_width);
    let patch = g.patch_len();
    // One task per row of small-image pixels.
    let row = |i: usize, rows: &mut [MaybeUninit<f32>]| {
        let (image, y) = (i / h, i % h);
        im2col_row(&large[image * g.large_image_len()..(image + 1) * g.large_image_len()], g, y, rows);
    };
    // SAFETY: `im2col_row` writes every value of its rows, and the rows cover the patches.
    unsafe { written(large.len() / g.large_image_len() * g.small_pixels() * patch, |patches| for_each_chunk(patches, w * patch, split, row)) }
}

/// The patch rows of small-image row `y`, written in order (pixel by pixel, each row channel
/// by channel): ~2× faster than walking the large image's planes in order.
fn im2col_row(image: &[f32], g: Geometry, y: usize, rows: &mut [MaybeUninit<f32>]) {
    let (h, w) = (g.small_height, g.small_width);
    let large_w = 2 * w;
    for (x, row) in rows.chunks_exact_mut(g.patch_len()).enumerate() {
        // Columns 2x-1 ..= 2x+2: the first and last pixels reach one column past the edge.
        let inside = x > 0 && x + 1 < w;
        for (plane, taps) in image.chunks_exact(g.large_pixels()).zip(row.chunks_exact_mut(TAPS)) {
            for (ky, out) in taps.chunks_exact_mut(4).enumerate() {
                // Large row 2y+ky-1: above the image for y = 0, ky = 0; below for y = h-1, ky = 3.
                let source_y = 2 * y + ky;
                if source_y == 0 || source_y > 2 * h {
                    out.fill(MaybeUninit::new(0.0));
                    continue;
                }
                let source = &plane[(source_y - 1) * large_w..source_y * large_w];
                if inside {
                    out.write_copy_of_slice(&source[2 * x - 1..2 * x + 3]);
                } else {
                    for (kx, tap) in out.iter_mut().enumerate() {
                        let source_x = (2 * x + kx).checked_sub(1).filter(|&sx| sx < large_w);
                        tap.write(source_x.map_or(0.0, |sx| source[sx]));
                    }
                }
            }
        }
    }
}

/// Patch rows → large images, summing every tap that lands on each pixel. One task per
/// (image, channel) plane.
fn col2im(patches: &[f32], g: Geometry, large: &mut [MaybeUninit<f32>], split: bool) {
    let image_patches = g.small_pixels() * g.patch_len();
    for_each_chunk(large, g.large_pixels(), split, |i, plane| {
        let (image, c) = (i / g.large_channels, i % g.large_channels);
        col2im_plane(&patches[image * image_patches..(image + 1) * image_patches], g, c, plane);
    });
}

/// Channel `c` of one image from its patch rows, each pixel written once as the sum of the
/// (up to) four taps that land on it: large row `2a` takes kernel row 3 of small row `a-1` and
/// row 1 of small row `a`; large row `2a+1` row 2 of small row `a` and row 0 of small row `a+1`
/// (likewise for columns). The taps are added in order of small pixel (by row, then column):
/// a fixed order, the one of scattering them pixel by pixel.
fn col2im_plane(rows: &[f32], g: Geometry, c: usize, plane: &mut [MaybeUninit<f32>]) {
    let h = g.small_height;
    for (large_y, out) in plane.chunks_exact_mut(2 * g.small_width).enumerate() {
        let a = large_y / 2;
        // (small row, kernel row) of the taps that land on this row, in order.
        match (large_y % 2 == 0, a) {
            (true, 0) => col2im_row(rows, g, c, [(0, 1)], out),
            (true, _) => col2im_row(rows, g, c, [(a - 1, 3), (a, 1)], out),
            (false, _) if a + 1 < h => col2im_row(rows, g, c, [(a, 2), (a + 1, 0)], out),
            (false, _) => col2im_row(rows, g, c, [(a, 2)], out),
        }
    }
}

/// One row of a large plane (see [`col2im_plane`]) from the taps of `sources`: large column
/// `2x` takes kernel column 3 of small pixel `x-1` and column 1 of pixel `x`; column `2x-1`
/// column 2 of pixel `x-1` and column 0 of pixel `x`.
fn col2im_row<const SOURCES: usize>(rows: &[f32], g: Geometry, c: usize, sources: [(usize, usize); SOURCES], out: &mut [MaybeUninit<f32>]) {
    let (w, patch) = (g.small_width, g.patch_len());
    let taps = |(y, ky): (usize, usize), x: usize| -> [f32; 4] {
        let start = (y * w + x) * patch + c * TAPS + ky * 4;
        rows[start..start + 4].try_into().expect("four taps")
    };
    let mut previous: Option<[[f32; 4]; SOURCES]> = None;
    for x in 0..w {
        let current = sources.map(|source| taps(source, x));
        let (mut even, mut odd) = (0.0, 0.0);
        for (s, taps) in current.iter().enumerate() {
            if let Some(previous) = &previous {
                odd += previous[s][2];
                odd += taps[0];
                even += previous[s][3];
            }
            even += taps[1];
        }
        if x > 0 {
            out[2 * x - 1].write(odd);
        }
        out[2 * x].write(even);
        previous = Some(current);
    }
    let last = previous.expect("a row of at least one pixel");
    let mut odd = 0.0;
    for taps in &last {
        odd += taps[2];
    }
    out[2 * w - 1].write(odd);
}

/// Per image, a `rows × cols` row-major matrix becomes `cols × rows`: one task per image, or
/// all on the calling thread.
fn transpose_images(src: &[f32], dst: &mut [MaybeUninit<f32>], rows: usize, cols: usize, split: bool) {
    let len = rows * cols;
    for_each_chunk(dst, len, split, |image, dst| transpose(&src[image * len..(image + 1) * len], dst, rows, cols, split));
}

/// Output rows per task of [`transpose`], and the side of the tiles it moves.
const TILE: usize = 8;

/// `src` is `rows × cols` row-major; `dst` becomes `cols × rows`, in stripes of [`TILE`] output
/// rows, spread over the threads with `split` (a kernel transposed on one thread kept the others
/// waiting).
fn transpose(src: &[f32], dst: &mut [MaybeUninit<f32>], rows: usize, cols: usize, split: bool) {
    assert_eq!((src.len(), dst.len()), (rows * cols, rows * cols), "transpose of {rows}×{cols}");
    if dst.is_empty() {
        return;
    }
    for_each_chunk(dst, TILE * rows, split, |stripe, dst| transpose_stripe(src, dst, rows, cols, stripe * TILE));
}

/// Output rows `first_col..` (as many as `dst` holds) of [`transpose`]: 8×8 tiles go through
/// registers (eight contiguous reads, eight contiguous writes); the ragged edges one by one.
fn transpose_stripe(src: &[f32], dst: &mut [MaybeUninit<f32>], rows: usize, cols: usize, first_col: usize) {
    let width = dst.len() / rows;
    let full_rows = if width == TILE { rows / TILE * TILE } else { 0 };
    for r0 in (0..full_rows).step_by(TILE) {
        let mut tile = [[0.0f32; TILE]; TILE];
        for (i, row) in tile.iter_mut().enumerate() {
            row.copy_from_slice(&src[(r0 + i) * cols + first_col..][..TILE]);
        }
        for j in 0..TILE {
            let column = &mut dst[j * rows + r0..][..TILE];
            for (i, value) in column.iter_mut().enumerate() {
                value.write(tile[i][j]);
            }
        }
    }
    for r in full_rows..rows {
        for j in 0..width {
            dst[j * rows + r].write(src[r * cols + first_col + j]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straight from the definition: small[n, o, y, x] = Σ kernel[o, c, ky, kx] ·
    /// large[n, c, 2y+ky-1, 2x+kx-1].
    fn naive_down(large: &[f32], kernel: &[f32], g: Geometry) -> Vec<f32> {
        let (h, w) = (g.small_height, g.small_width);
        let mut small = vec![0.0; g.small_len()];
        for n in 0..g.batch {
            for o in 0..g.small_channels {
                for y in 0..h {
                    for x in 0..w {
                        let mut sum = 0.0f64;
                        for c in 0..g.large_channels {
                            for ky in 0..4 {
                                for kx in 0..4 {
                                    let (sy, sx) = ((2 * y + ky) as isize - 1, (2 * x + kx) as isize - 1);
                                    if sy < 0 || sx < 0 || sy >= 2 * h as isize || sx >= 2 * w as isize {
                                        continue;
                                    }
                                    let l = large[((n * g.large_channels + c) * 2 * h + sy as usize) * 2 * w + sx as usize];
                                    sum += (kernel[((o * g.large_channels + c) * 4 + ky) * 4 + kx] * l) as f64;
                                }
                            }
                        }
                        small[((n * g.small_channels + o) * h + y) * w + x] = sum as f32;
                    }
                }
            }
        }
        small
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(747_796_405).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (*x as f64) * (*y as f64)).sum()
    }

    fn assert_close(actual: &[f32], expected: &[f32]) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() <= 1e-4 * (1.0 + e.abs()), "value {i}: {a} vs {e}");
        }
    }

    const SHAPES: [Geometry; 4] = [
        Geometry { batch: 2, large_channels: 3, small_channels: 5, small_height: 4, small_width: 3 },
        Geometry { batch: 3, large_channels: 2, small_channels: 3, small_height: 16, small_width: 17 },
        Geometry { batch: 3, large_channels: 7, small_channels: 2, small_height: 1, small_width: 1 },
        Geometry { batch: 1, large_channels: 4, small_channels: 6, small_height: 2, small_width: 5 },
    ];

    /// Every way of grouping the batch into products (one image at a time, uneven groups, all),
    /// each with the groups on their own threads and with every step split across the threads.
    fn groupings(g: Geometry) -> Vec<(usize, Spread)> {
        let mut groups = vec![1, 2, g.batch, g.group(), g.down_group()];
        groups.sort();
        groups.dedup();
        groups.into_iter().flat_map(|group| [(group, Spread::Groups), (group, Spread::Steps)]).collect()
    }

    #[test]
    fn transpose_moves_every_value() {
        for (rows, cols) in [(1, 1), (3, 5), (8, 8), (16, 24), (13, 21), (64, 9)] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            // SAFETY: a transpose writes every value (and the test build starts from NaN).
            let dst = unsafe { written(rows * cols, |dst| transpose(&src, dst, rows, cols, true)) };
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], src[r * cols + c], "{rows}×{cols} at ({r}, {c})");
                }
            }
        }
    }

    #[test]
    fn down_is_the_convolution() {
        for g in SHAPES {
            let (large, kernel) = (values(g.large_len(), 1), values(g.kernel_len(), 2));
            for (group, spread) in groupings(g) {
                assert_close(&down_in_groups(&large, &kernel, g, group, spread), &naive_down(&large, &kernel, g));
            }
        }
    }

    /// `up` is the adjoint of `down` in the image, and `kernel_gradient` its adjoint in the
    /// kernel: ⟨down(L, K), S⟩ = ⟨L, up(S, K)⟩ = ⟨K, kernel_gradient(L, S)⟩ for all L, K, S.
    #[test]
    fn up_and_kernel_gradient_are_the_adjoints_of_down() {
        for g in SHAPES {
            let (large, kernel, small) = (values(g.large_len(), 3), values(g.kernel_len(), 4), values(g.small_len(), 5));
            let forward = dot(&naive_down(&large, &kernel, g), &small);
            for (group, spread) in groupings(g) {
                let through_up = dot(&large, &up_in_groups(&small, &kernel, g, group, spread));
                let through_kernel = dot(&kernel, &kernel_gradient_in_groups(&large, &small, g, group, spread));
                assert!((forward - through_up).abs() < 1e-4 * (1.0 + forward.abs()), "{g:?} in groups of {group}, {spread:?}: {forward} vs {through_up}");
                assert!((forward - through_kernel).abs() < 1e-4 * (1.0 + forward.abs()), "{g:?} in groups of {group}, {spread:?}: {forward} vs {through_kernel}");
            }
        }
    }

    /// The adjoint identities hold for any linear maps that happen to agree on one random probe;
    /// compare every value too, one unit vector at a time, on a small shape.
    #[test]
    fn up_matches_down_value_by_value() {
        let g = SHAPES[0];
        let kernel = values(g.kernel_len(), 6);
        let small = values(g.small_len(), 7);
        let through_up = up(&small, &kernel, g);
        for i in 0..g.large_len() {
            let mut unit = vec![0.0; g.large_len()];
            unit[i] = 1.0;
            let expected = dot(&naive_down(&unit, &kernel, g), &small);
            assert!((through_up[i] as f64 - expected).abs() < 1e-5, "value {i}: {} vs {expected}", through_up[i]);
        }
        let large = values(g.large_len(), 8);
        let gradient = kernel_gradient(&large, &small, g);
        for i in 0..g.kernel_len() {
            let mut unit = vec![0.0; g.kernel_len()];
            unit[i] = 1.0;
            let expected = dot(&naive_down(&large, &unit, g), &small);
            assert!((gradient[i] as f64 - expected).abs() < 1e-5, "tap {i}: {} vs {expected}", gradient[i]);
        }
    }
}
