//! Adam's update of one parameter tensor in one parallel pass, in place: burn's Adam runs as a
//! dozen whole-tensor operations per parameter, each a pass over memory on the calling thread.
//! The arithmetic is burn's, operation for operation, in the same order and precision, so
//! training gives the same numbers as with burn's optimiser.

use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::{SPAN, written};

/// The scalars of one Adam step, as burn's `Adam` derives them from its configuration, the
/// step number `time` (from 1) and the learning rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub beta_1: f32,
    pub beta_2: f32,
    /// Multiplies the first moment: √(1 − β₂ᵗ) / (1 − β₁ᵗ).
    pub moment_scale: f32,
    /// Added to √(second moment): ε · √(1 − β₂ᵗ).
    pub epsilon: f32,
    pub learning_rate: f32,
}

impl AdamStep {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, time: usize, learning_rate: f64) -> Self {
        let time = time as i32;
        let bias_correction_2_sqrt = (1.0 - beta_2.powi(time)).sqrt();
        Self {
            beta_1,
            beta_2,
            moment_scale: bias_correction_2_sqrt / (1.0 - beta_1.powi(time)),
            epsilon: epsilon * bias_correction_2_sqrt,
            learning_rate: learning_rate as f32,
        }
    }

    /// The parameter after the step, from the moments after it.
    fn moved(&self, param: f32, m1: f32, m2: f32) -> f32 {
        param - (m1 * self.moment_scale) / (m2.sqrt() + self.epsilon) * self.learning_rate
    }
}

/// One step with gradient `grad`: the moments `m1`, `m2` move (`m ← m·β + g·(1 − β)`, with g² for
/// the second) and `param` along them, all in place.
pub fn adam_step(param: &mut [f32], grad: &[f32], m1: &mut [f32], m2: &mut [f32], s: AdamStep) {
    check(param, grad, m1.len(), m2.len());
    let (keep_1, take_1, keep_2, take_2) = (s.beta_1, 1.0 - s.beta_1, s.beta_2, 1.0 - s.beta_2);
    let spans = param.par_chunks_mut(SPAN).zip(grad.par_chunks(SPAN)).zip(m1.par_chunks_mut(SPAN).zip(m2.par_chunks_mut(SPAN)));
    spans.for_each(move |((param, grad), (m1, m2))| {
        for (((p, &g), m1), m2) in param.iter_mut().zip(grad).zip(m1.iter_mut()).zip(m2.iter_mut()) {
            *m1 = *m1 * keep_1 + g * take_1;
            *m2 = *m2 * keep_2 + (g * g) * take_2;
            *p = s.moved(*p, *m1, *m2);
        }
    });
}

/// The first step, where burn starts the moments from the gradient alone (`g·(1 − β)`):
/// `param` moves in place; returns the moments.
pub fn adam_first_step(param: &mut [f32], grad: &[f32], s: AdamStep) -> (Vec<f32>, Vec<f32>) {
    check(param, grad, param.len(), param.len());
    let (take_1, take_2) = (1.0 - s.beta_1, 1.0 - s.beta_2);
    let mut m2 = Vec::new();
    // SAFETY: the spans cover both moments, each written value by value.
    let m1 = unsafe {
        written(param.len(), |m1: &mut [MaybeUninit<f32>]| {
            m2 = written(param.len(), |m2| {
                let spans = param.par_chunks_mut(SPAN).zip(grad.par_chunks(SPAN)).zip(m1.par_chunks_mut(SPAN).zip(m2.par_chunks_mut(SPAN)));
                spans.for_each(move |((param, grad), (m1, m2))| {
                    for (((p, &g), m1), m2) in param.iter_mut().zip(grad).zip(m1.iter_mut()).zip(m2.iter_mut()) {
                        let (first, second) = (g * take_1, (g * g) * take_2);
                        m1.write(first);
                        m2.write(second);
                        *p = s.moved(*p, first, second);
                    }
                });
            });
        })
    };
    (m1, m2)
}

fn check(param: &[f32], grad: &[f32], m1: usize, m2: usize) {
    let len = param.len();
    assert!(grad.len() == len && m1 == len && m2 == len, "Adam: {len} parameters, {} gradients, moments of {m1} and {m2}", grad.len());
}
