//! LeakyReLU, tanh and training-mode BatchNorm on plain `f32` slices, each one pass over the
//! data forward and one backward, spread over the cores. burn builds them from several
//! whole-tensor operations on one thread (BatchNorm's statistics through transposing copies,
//! tanh's gradient by computing tanh again), each a pass over memory of its own.

use rayon::prelude::*;

use super::{SPAN, written};

/// `x` where positive, `slope · x` elsewhere.
pub fn leaky_relu(x: &[f32], slope: f32) -> Vec<f32> {
    // A branch-free select: the loop compiles to vector instructions.
    each_value(x, move |v| v * if v > 0.0 { 1.0 } else { slope })
}

/// The gradient at the input of [`leaky_relu`], given the gradient at its output.
pub fn leaky_relu_backward(x: &[f32], grad: &[f32], slope: f32) -> Vec<f32> {
    assert_eq!(x.len(), grad.len(), "leaky_relu backward: input and gradient sizes differ");
    each_pair(x, grad, move |v, g| g * if v > 0.0 { 1.0 } else { slope })
}

/// tanh of every value (the same `f32::tanh` as burn's).
pub fn tanh(x: &[f32]) -> Vec<f32> {
    each_value(x, f32::tanh)
}

/// The gradient at the input of [`tanh`], from its output `y` and the gradient at it:
/// `grad · (1 − y²)`.
pub fn tanh_backward(y: &[f32], grad: &[f32]) -> Vec<f32> {
    assert_eq!(y.len(), grad.len(), "tanh backward: output and gradient sizes differ");
    each_pair(y, grad, |y, g| g * (1.0 - y * y))
}

/// `f` of every value, span by span across the threads.
fn each_value(x: &[f32], f: impl Fn(f32) -> f32 + Copy + Send + Sync) -> Vec<f32> {
    // SAFETY: the spans cover the output, each written value by value.
    unsafe {
        written(x.len(), |out| {
            out.par_chunks_mut(SPAN).zip(x.par_chunks(SPAN)).for_each(move |(out, x)| {
                for (o, &v) in out.iter_mut().zip(x) {
                    o.write(f(v));
                }
            });
        })
    }
}

/// `f` of the values at each place of `a` and `b` (of one length), as [`each_value`].
fn each_pair(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Copy + Send + Sync) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "element-wise kernel on slices of {} and {} values", a.len(), b.len());
    // SAFETY: as in `each_value` (the slices have one length).
    unsafe {
        written(a.len(), |out| {
            out.par_chunks_mut(SPAN).zip(a.par_chunks(SPAN).zip(b.par_chunks(SPAN))).for_each(move |(out, (a, b))| {
                for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                    o.write(f(a, b));
                }
            });
        })
    }
}

/// The layout of a BatchNorm input: `[batch, channels, pixels…]`, statistics per channel.
#[derive(Clone, Copy, Debug)]
pub struct Planes {
    pub batch: usize,
    pub channels: usize,
    /// Values per (image, channel) plane.
    pub pixels: usize,
}

impl Planes {
    fn len(&self) -> usize {
        self.batch * self.channels * self.pixels
    }

    /// Values per channel across the batch.
    fn count(&self) -> f64 {
        (self.batch * self.pixels) as f64
    }

    /// Channel `c`'s planes, one per image.
    fn planes<'a>(&self, values: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        (0..self.batch).map(move |n| &values[(n * self.channels + c) * self.pixels..][..self.pixels])
    }
}

/// The batch statistics of one channel, and what normalising with them takes.
#[derive(Clone, Copy)]
struct Statistics {
    mean: f32,
    /// Biased (divided by the count), as burn and PyTorch normalise with.
    variance: f32,
    inv_std: f32,
}

/// What a training-mode BatchNorm returns: the output and each channel's batch statistics.
pub struct Normalized {
    pub output: Vec<f32>,
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
}

/// Training-mode BatchNorm: normalise each channel with its batch mean and (biased) variance,
/// then scale by `gamma` and shift by `beta`.
pub fn batch_norm_train(x: &[f32], gamma: &[f32], beta: &[f32], epsilon: f64, p: Planes) -> Normalized {
    check(x, gamma, p);
    assert_eq!(beta.len(), p.channels, "batch norm: {} shifts for {} channels", beta.len(), p.channels);
    let statistics: Vec<Statistics> = (0..p.channels)
        .into_par_iter()
        .map(|c| {
            // Two passes: the mean, then the spread around it (no cancellation).
            let mean = p.planes(x, c).map(|plane| sum(plane, |v| v)).sum::<f64>() / p.count();
            let centre = mean as f32;
            let variance = p.planes(x, c).map(|plane| sum(plane, |v| (v - centre) * (v - centre))).sum::<f64>() / p.count();
            Statistics { mean: mean as f32, variance: variance as f32, inv_std: (1.0 / (variance + epsilon).sqrt()) as f32 }
        })
        .collect();
    // SAFETY: the planes cover the output, each written value by value.
    let output = unsafe {
        written(p.len(), |output| {
            output.par_chunks_mut(p.pixels).zip(x.par_chunks(p.pixels)).enumerate().for_each(|(i, (out, x))| {
                let c = i % p.channels;
                let s = statistics[c];
                let scale = gamma[c] * s.inv_std;
                let shift = beta[c] - s.mean * scale;
                for (o, &v) in out.iter_mut().zip(x) {
                    o.write(v * scale + shift);
                }
            });
        })
    };
    Normalized {
        output,
        mean: statistics.iter().map(|s| s.mean).collect(),
        variance: statistics.iter().map(|s| s.variance).collect(),
    }
}

/// Gradients of [`batch_norm_train`] for its input, `gamma` and `beta`.
pub struct NormGradients {
    pub x: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// Backward of [`batch_norm_train`], given its input, the statistics it returned and the
/// gradient at its output: with x̂ the normalised input,
/// `dβ = Σ dy`, `dγ = Σ dy·x̂`, `dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))`.
pub fn batch_norm_train_backward(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    grad: &[f32],
    p: Planes,
) -> NormGradients {
    check(x, gamma, p);
    assert_eq!(grad.len(), x.len(), "batch norm backward: gradient and input sizes differ");
    let inv_std: Vec<f32> = variance.iter().map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32).collect();
    let (beta_grad, gamma_grad): (Vec<f32>, Vec<f32>) = (0..p.channels)
        .into_par_iter()
        .map(|c| {
            let (centre, inv_std) = (mean[c], inv_std[c]);
            let total: f64 = p.planes(grad, c).map(|grad| sum(grad, |g| g)).sum();
            let centred: f64 = p.planes(x, c).zip(p.planes(grad, c)).map(|(x, grad)| sum_products(x, grad, |v, g| g * (v - centre))).sum();
            (total as f32, (centred * inv_std as f64) as f32)
        })
        .unzip();
    // SAFETY: as in `batch_norm_train`.
    let x_grad = unsafe {
        written(p.len(), |x_grad| {
            let planes = x_grad.par_chunks_mut(p.pixels).zip(x.par_chunks(p.pixels).zip(grad.par_chunks(p.pixels)));
            planes.enumerate().for_each(|(i, (out, (x, grad)))| {
                let c = i % p.channels;
                let count = p.count() as f32;
                let (mean_grad, mean_normalized_grad) = (beta_grad[c] / count, gamma_grad[c] / count);
                let (centre, inv_std, scale) = (mean[c], inv_std[c], gamma[c] * inv_std[c]);
                for ((o, &v), &g) in out.iter_mut().zip(x).zip(grad) {
                    let normalized = (v - centre) * inv_std;
                    o.write(scale * (g - mean_grad - normalized * mean_normalized_grad));
                }
            });
        })
    };
    NormGradients { x: x_grad, gamma: gamma_grad, beta: beta_grad }
}

/// Lanes of the partial sums below: independent accumulators the compiler can keep in one
/// vector register, instead of one serial chain of additions.
const LANES: usize = 16;

/// Σ f(v) over one plane: `f32` partial sums across [`LANES`] (a plane has at most a few thousand
/// values), totalled in `f64`.
fn sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest: f64 = chunks.remainder().iter().map(|&v| f(v) as f64).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().map(|&lane| lane as f64).sum::<f64>() + rest
}

/// Σ f(a, b) over two planes of the same size, as [`sum`].
fn sum_products(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f64 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(&a, &b)| f(a, b) as f64).sum();
    for (chunk_a, chunk_b) in chunks_a.zip(chunks_b) {
        for ((lane, &a), &b) in lanes.iter_mut().zip(chunk_a).zip(chunk_b) {
            *lane += f(a, b);
        }
    }
    lanes.iter().map(|&lane| lane as f64).sum::<f64>() + rest
}

fn check(x: &[f32], gamma: &[f32], p: Planes) {
    assert_eq!(x.len(), p.len(), "batch norm: {} values for {p:?}", x.len());
    assert_eq!(gamma.len(), p.channels, "batch norm: {} scales for {} channels", gamma.len(), p.channels);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(747_796_405).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 1.5
            })
            .collect()
    }

    #[test]
    fn leaky_relu_and_its_gradient() {
        assert_eq!(leaky_relu(&[-2.0, -0.0, 0.5, 3.0], 0.2), vec![-0.4, 0.0, 0.5, 3.0]);
        assert_eq!(leaky_relu_backward(&[-2.0, 0.0, 0.5], &[1.0, 1.0, -4.0], 0.2), vec![0.2, 0.2, -4.0]);
    }

    #[test]
    fn batch_norm_normalises_each_channel() {
        // Planes longer than the summing lanes, with a remainder.
        let p = Planes { batch: 3, channels: 2, pixels: 37 };
        let x = values(p.len(), 1);
        let normalized = batch_norm_train(&x, &[2.0, 0.5], &[1.0, -1.0], 1e-5, p);
        for (c, (scale, shift)) in [(2.0f32, 1.0f32), (0.5, -1.0)].into_iter().enumerate() {
            let channel: Vec<f32> = p.planes(&x, c).flatten().copied().collect();
            let mean = channel.iter().sum::<f32>() / channel.len() as f32;
            let variance = channel.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / channel.len() as f32;
            assert!((normalized.mean[c] - mean).abs() < 1e-6 && (normalized.variance[c] - variance).abs() < 1e-6);
            let out: Vec<f32> = p.planes(&normalized.output, c).flatten().copied().collect();
            for (o, v) in out.iter().zip(&channel) {
                let expected = (v - mean) / (variance + 1e-5).sqrt() * scale + shift;
                assert!((o - expected).abs() < 1e-5, "{o} vs {expected}");
            }
        }
    }

    /// Every gradient against a central difference of a weighted sum of the outputs.
    #[test]
    fn batch_norm_gradients_match_finite_differences() {
        let p = Planes { batch: 2, channels: 3, pixels: 20 };
        let (x, gamma, beta, probe) = (values(p.len(), 2), values(3, 3), values(3, 4), values(p.len(), 5));
        let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
            let out = batch_norm_train(x, gamma, beta, 1e-5, p).output;
            out.iter().zip(&probe).map(|(o, w)| (*o as f64) * (*w as f64)).sum()
        };
        let forward = batch_norm_train(&x, &gamma, &beta, 1e-5, p);
        let grads = batch_norm_train_backward(&x, &gamma, &forward.mean, &forward.variance, 1e-5, &probe, p);
        let h = 1e-2f32;
        let numeric = |vary: &dyn Fn(f32) -> f64| (vary(h) - vary(-h)) / (2.0 * h as f64);
        for i in 0..x.len() {
            let d = numeric(&|e| {
                let mut x = x.clone();
                x[i] += e;
                loss(&x, &gamma, &beta)
            });
            assert!((grads.x[i] as f64 - d).abs() < 2e-3, "x[{i}]: {} vs {d}", grads.x[i]);
        }
        for c in 0..3 {
            let d = numeric(&|e| {
                let mut gamma = gamma.clone();
                gamma[c] += e;
                loss(&x, &gamma, &beta)
            });
            assert!((grads.gamma[c] as f64 - d).abs() < 2e-3, "gamma[{c}]: {} vs {d}", grads.gamma[c]);
            let d = numeric(&|e| {
                let mut beta = beta.clone();
                beta[c] += e;
                loss(&x, &gamma, &beta)
            });
            assert!((grads.beta[c] as f64 - d).abs() < 2e-3, "beta[{c}]: {} vs {d}", grads.beta[c]);
        }
    }
}
