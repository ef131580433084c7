//! The CPU painter's matrix product, `lhs · rhs` with `rhs` (a layer's kernel) laid out once in
//! panels of [`PANEL`] columns, in a shape that WebAssembly's engines run well.
//!
//! WebAssembly SIMD has 4-lane vectors and no fused multiply-add, and V8 gives it the 16 vector
//! registers of x86-64 with one kept for itself. A tile of 4 rows × 8 columns needs only its 8
//! vector sums, one row of the panel (2 vectors) and a broadcast value; in Node's V8 it ran the
//! painter's products at 18–20 G multiply-adds/s, 1.2–1.3× gemm's kernel (12 sums, unrolled
//! twice), on a 2-core AMD EPYC (trainer/BENCHMARKS.md). The tile's loops are plain arrays of
//! fixed size, which the compiler turns into vector code for any target (SIMD in
//! WebAssembly with `+simd128`, SSE or AVX natively), summing in the same order everywhere: each
//! output is `Σ_k lhs[r, k] · rhs[k, c]` with k ascending, a multiply then an add.

/// Columns of `rhs` in a panel: two 4-lane vectors.
pub const PANEL: usize = 8;
/// Rows of `lhs` a tile multiplies at once.
pub const TILE_ROWS: usize = 4;

/// `rhs` (`[depth, columns]`, row-major; `columns` a multiple of [`PANEL`]) laid out panel by
/// panel: each panel its `depth` rows of [`PANEL`] values, one after the other.
pub struct Panels {
    values: Vec<f32>,
    depth: usize,
    columns: usize,
}

impl Panels {
    pub fn new(rhs: &[f32], depth: usize, columns: usize) -> Self {
        assert!(columns % PANEL == 0 && rhs.len() == depth * columns, "a [{depth}, {columns}] matrix in panels of {PANEL}");
        let mut values = Vec::with_capacity(rhs.len());
        for panel in 0..columns / PANEL {
            for row in rhs.chunks_exact(columns) {
                values.extend_from_slice(&row[panel * PANEL..][..PANEL]);
            }
        }
        Panels { values, depth, columns }
    }

    /// `out = lhs · rhs` for up to [`TILE_ROWS`] rows: `lhs` holds `rows` rows of `depth` values,
    /// `out` `rows` rows of `columns`.
    pub fn multiply_tile(&self, lhs: &[f32], out: &mut [f32]) {
        let depth = self.depth;
        let rows = lhs.len() / depth.max(1);
        assert!(rows <= TILE_ROWS && lhs.len() == rows * depth && out.len() == rows * self.columns);
        if rows == TILE_ROWS {
            let (a0, rest) = lhs.split_at(depth);
            let (a1, rest) = rest.split_at(depth);
            let (a2, a3) = rest.split_at(depth);
            for (panel, columns) in self.panels().zip((0..self.columns).step_by(PANEL)) {
                let mut sums = [[0.0f32; PANEL]; TILE_ROWS];
                for ((((b, &x0), &x1), &x2), &x3) in panel.chunks_exact(PANEL).zip(a0).zip(a1).zip(a2).zip(a3) {
                    for (row, x) in [x0, x1, x2, x3].into_iter().enumerate() {
                        for (sum, &b) in sums[row].iter_mut().zip(b) {
                            *sum += x * b;
                        }
                    }
                }
                for (row, sums) in sums.iter().enumerate() {
                    out[row * self.columns + columns..][..PANEL].copy_from_slice(sums);
                }
            }
        } else {
            for (a, out) in lhs.chunks_exact(depth).zip(out.chunks_exact_mut(self.columns)) {
                for (panel, out) in self.panels().zip(out.chunks_exact_mut(PANEL)) {
                    let mut sums = [0.0f32; PANEL];
                    for (b, &x) in panel.chunks_exact(PANEL).zip(a) {
                        for (sum, &b) in sums.iter_mut().zip(b) {
                            *sum += x * b;
                        }
                    }
                    out.copy_from_slice(&sums);
                }
            }
        }
    }

    /// `out = lhs · rhs` for any number of rows, tile by tile.
    pub fn multiply(&self, lhs: &[f32], out: &mut [f32]) {
        let (depth, columns) = (self.depth, self.columns);
        for (lhs, out) in lhs.chunks(TILE_ROWS * depth).zip(out.chunks_mut(TILE_ROWS * columns)) {
            self.multiply_tile(lhs, out);
        }
    }

    fn panels(&self) -> std::slice::ChunksExact<'_, f32> {
        self.values.chunks_exact(self.depth * PANEL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn multiplies_as_the_schoolbook_product(
            rows in 0usize..11, depth in 1usize..20, panels in 1usize..4,
            seed in any::<u64>(),
        ) {
            let columns = panels * PANEL;
            // Small integers: every sum exact, whatever the order.
            let value = |i: usize| (((i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59) as f32) - 16.0;
            let lhs: Vec<f32> = (0..rows * depth).map(value).collect();
            let rhs: Vec<f32> = (0..depth * columns).map(|i| value(i + 1000)).collect();
            let mut out = vec![f32::NAN; rows * columns];
            Panels::new(&rhs, depth, columns).multiply(&lhs, &mut out);
            for r in 0..rows {
                for c in 0..columns {
                    let expected: f32 = (0..depth).map(|k| lhs[r * depth + k] * rhs[k * columns + c]).sum();
                    prop_assert_eq!(out[r * columns + c], expected, "row {} column {}", r, c);
                }
            }
        }
    }
}
