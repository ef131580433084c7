//! The byte a value becomes after the generator's last tanh, `to_byte(tanh(y))`, without computing
//! tanh: in WebAssembly tanh is a library call of ~20 ns, which cost the browser's painter ~4 ms
//! per 16 portraits, for a result that only has 256 possible values.
//!
//! `to_byte(tanh(y))` rises with `y` in 255 steps. The table finds, by bisection over the floats,
//! the first `y` of each step (with this platform's own `tanh`, so the bytes are the ones it
//! would paint), then cuts the range where the steps happen, |y| < 3.25, into cells narrower than
//! the narrowest step (tanh is steepest at 0, where a step is 1/127.5 wide): each cell holds at
//! most one step, so a byte is the cell's first byte plus one comparison.

use crate::pixels::to_byte;

/// Below this every byte is 0 and above `-LOW` every byte is 255 (the last steps are at ±3.115).
const LOW: f32 = -3.25;
/// Cells per unit of `y`: a cell (1/256) is half the narrowest step (1/127.5).
const CELLS_PER_UNIT: f32 = 256.0;
const CELLS: usize = 1664; // 6.5 units
/// How far a cell's bounds are widened when it is built, to cover float rounding in `byte`'s
/// index arithmetic (which is ~1e-7 at most) many times over.
const MARGIN: f32 = 1e-4;

/// `to_byte(tanh(y))` by table.
pub struct TanhBytes {
    /// The byte at each cell's lower bound.
    base: Vec<u8>,
    /// The first `y` of the step inside each cell, or NaN where there is none (no `y`, not even
    /// infinity, is at or above NaN).
    next: Vec<f32>,
}

/// What the table answers, computed directly.
fn direct(y: f32) -> u8 {
    to_byte(y.tanh())
}

impl Default for TanhBytes {
    fn default() -> Self {
        Self::new()
    }
}

impl TanhBytes {
    pub fn new() -> Self {
        let steps: Vec<f32> = (1..=255).map(first_reaching).collect();
        let reached = |y: f32| steps.iter().filter(|&&step| step <= y).count();
        let mut base = Vec::with_capacity(CELLS);
        let mut next = Vec::with_capacity(CELLS);
        for cell in 0..CELLS {
            let low = LOW + cell as f32 / CELLS_PER_UNIT - MARGIN;
            let high = LOW + (cell + 1) as f32 / CELLS_PER_UNIT + MARGIN;
            let inside: Vec<f32> = steps.iter().copied().filter(|&step| step > low && step <= high).collect();
            assert!(inside.len() <= 1, "tanh's steps are wider than a cell");
            base.push(reached(low) as u8);
            next.push(inside.first().copied().unwrap_or(f32::NAN));
        }
        Self { base, next }
    }

    /// `to_byte(tanh(y))`; NaN gives 0 as it does there.
    #[inline]
    pub fn byte(&self, y: f32) -> u8 {
        // `as usize` saturates: below LOW and NaN give cell 0.
        let cell = (((y - LOW) * CELLS_PER_UNIT) as usize).min(CELLS - 1);
        self.base[cell] + u8::from(y >= self.next[cell])
    }
}

/// The smallest float `y` with `to_byte(tanh(y)) >= byte`, by bisection over the floats in order.
fn first_reaching(byte: u8) -> f32 {
    let (mut below, mut reaching) = (order_key(-4.0), order_key(4.0));
    debug_assert!(direct(-4.0) < byte && direct(4.0) >= byte);
    while reaching - below > 1 {
        let middle = below + (reaching - below) / 2;
        if direct(from_order_key(middle)) >= byte {
            reaching = middle;
        } else {
            below = middle;
        }
    }
    from_order_key(reaching)
}

/// An integer that orders floats as their values do (−0 and +0 both 0).
fn order_key(value: f32) -> i64 {
    let bits = value.to_bits() as i32;
    i64::from(if bits < 0 { i32::MIN.wrapping_sub(bits) } else { bits })
}

fn from_order_key(key: i64) -> f32 {
    let key = key as i32;
    f32::from_bits((if key < 0 { i32::MIN.wrapping_sub(key) } else { key }) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_answers_what_tanh_and_to_byte_answer() {
        let table = TanhBytes::new();
        let mut checked = 0;
        // Every float within 3,000 of each step, where a wrong cell or an off-by-one step shows.
        for byte in 1..=255u8 {
            let step = order_key(first_reaching(byte));
            for key in step - 3000..=step + 3000 {
                let y = from_order_key(key);
                assert_eq!(table.byte(y), direct(y), "y = {y:e} (step {byte})");
                checked += 1;
            }
        }
        // And a sweep over [-5, 5] at every 997th float in order (~2 million values).
        let mut key = order_key(-5.0);
        while key <= order_key(5.0) {
            let y = from_order_key(key);
            assert_eq!(table.byte(y), direct(y), "y = {y:e}");
            key += 997;
            checked += 1;
        }
        for y in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, 0.0, -0.0, 1e30, -1e30] {
            assert_eq!(table.byte(y), direct(y), "y = {y}");
        }
        assert!(checked > 2_000_000, "{checked}");
    }

    #[test]
    fn float_order_keys_order_floats_and_come_back() {
        let values = [-f32::MAX, -2.0, -1.0, -1e-30, 0.0, 1e-30, 1.0, 2.0, f32::MAX];
        for pair in values.windows(2) {
            assert!(order_key(pair[0]) < order_key(pair[1]), "{pair:?}");
        }
        for value in values {
            assert_eq!(from_order_key(order_key(value)), value);
        }
        assert_eq!(order_key(from_order_key(-1)) , -1);
    }
}
