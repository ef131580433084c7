//! Per-layer times of the portrait DCGAN's building blocks on burn's CPU backend (`flex`), at
//! the article's width 64 and batch 64: forward, and forward + backward (input and weight
//! gradients). Each is timed twice: burn's own kernels, and the ones the model uses on the CPU
//! (`atelier_shared::cpu_kernels`). `layer_times.py` beside this file times
//! the same layers in PyTorch, so the tables show which kernels limit training speed on a CPU.
//!
//! cargo run --release -p trainer --example layer_times

use atelier_shared::cpu_kernels;
use burn::nn::BatchNormConfig;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 64;
const REPETITIONS: usize = 5;

/// Mean milliseconds of `f` after one untimed call.
fn time(device: &Device, mut f: impl FnMut()) -> f64 {
    f();
    device.sync().expect("device sync");
    let start = Instant::now();
    for _ in 0..REPETITIONS {
        f();
    }
    device.sync().expect("device sync");
    start.elapsed().as_secs_f64() * 1000.0 / REPETITIONS as f64
}

fn normal(shape: [usize; 4], std: f64, device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Normal(0.0, std), device).require_grad()
}

/// Forward alone, then forward + backward with gradients for the input and the weight.
fn measure(device: &Device, x: &Tensor<4>, weight: &Tensor<4>, layer: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>) -> (f64, f64) {
    let forward = time(device, || {
        layer(x.clone().inner(), weight.clone().inner()).into_data();
    });
    let both = time(device, || {
        let grads = layer(x.clone(), weight.clone()).sum().backward();
        x.grad(&grads).expect("input gradient").into_data();
        weight.grad(&grads).expect("weight gradient").into_data();
    });
    (forward, both)
}

fn row(name: &str, burn: (f64, f64), atelier: Option<(f64, f64)>) {
    let (forward, both) = burn;
    let ours = atelier.map_or(String::new(), |(forward, both)| format!(" {forward:>12.1} {both:>16.1}"));
    println!("{name:<28} {forward:>8.1} {both:>14.1}{ours}");
}

fn main() {
    let device = Device::flex();
    let train = device.clone().autodiff();
    println!("{:<28} {:>8} {:>14} {:>12} {:>16}", "layer (batch 64)", "fwd ms", "fwd+bwd ms", "atelier fwd", "atelier fwd+bwd");
    for (from, to, side) in [(1024, 512, 4), (512, 256, 8), (256, 128, 16), (128, 3, 32)] {
        let x = normal([BATCH, from, side, side], 1.0, &train);
        let weight = normal([from, to, 4, 4], 0.02, &train);
        let options = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        let burn = measure(&device, &x, &weight, |x, w| conv_transpose2d(x, w, None, options.clone()));
        let atelier = measure(&device, &x, &weight, cpu_kernels::conv_up);
        row(&format!("conv_transpose {from}->{to} @{side}"), burn, Some(atelier));
    }
    for (from, to, side) in [(3, 64, 64), (64, 128, 32), (128, 256, 16), (256, 512, 8)] {
        let x = normal([BATCH, from, side, side], 1.0, &train);
        let weight = normal([to, from, 4, 4], 0.02, &train);
        let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let burn = measure(&device, &x, &weight, |x, w| conv2d(x, w, None, options.clone()));
        let atelier = measure(&device, &x, &weight, cpu_kernels::conv_down);
        row(&format!("conv {from}->{to} @{side}"), burn, Some(atelier));
    }
    for (channels, side) in [(512, 8), (256, 16), (128, 32)] {
        let norm = BatchNormConfig::new(channels).init(&train);
        let x = normal([BATCH, channels, side, side], 1.0, &train);
        let measure_norm = |layer: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let forward = time(&device, || {
                layer(x.clone()).inner().into_data();
            });
            let both = time(&device, || {
                let grads = layer(x.clone()).sum().backward();
                x.grad(&grads).expect("input gradient").into_data();
            });
            (forward, both)
        };
        let burn = measure_norm(&|x| norm.forward(x));
        let atelier = measure_norm(&|x| cpu_kernels::batch_norm_train(&norm, x));
        row(&format!("batch_norm {channels} @{side}"), burn, Some(atelier));
    }
}
