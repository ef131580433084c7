//! Choosing where to train: the first wgpu adapter (Vulkan, Metal or DX12), or burn's pure-Rust
//! `flex` CPU backend when there is none.

use anyhow::{Result, bail};
use burn::tensor::Device;
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// The first wgpu GPU adapter; the CPU backend if there is none (or only a software one).
    Auto,
    /// A wgpu adapter, or an error.
    Gpu,
    /// burn's `flex` CPU backend.
    Cpu,
}

/// A device ready for tensors, with a human description of it.
pub struct SelectedDevice {
    pub device: Device,
    pub description: String,
}

/// Initialises the requested device. Only the first wgpu initialisation in a process
/// acquires an adapter; later calls reuse it.
pub fn select(choice: DeviceChoice) -> Result<SelectedDevice> {
    if choice == DeviceChoice::Cpu {
        return Ok(cpu());
    }
    match init_wgpu() {
        Ok((selected, true)) if choice == DeviceChoice::Auto => {
            println!(
                "wgpu found only a software adapter ({}); burn's CPU backend is faster, using it (--device gpu forces wgpu)",
                selected.description
            );
            Ok(cpu())
        }
        Ok((selected, _)) => Ok(selected),
        Err(why) if choice == DeviceChoice::Auto => {
            eprintln!("warning: no GPU adapter found ({why}); training on the CPU, which is much slower");
            Ok(cpu())
        }
        Err(why) => bail!(
            "no GPU adapter found: {why}\n  install your GPU's Vulkan, Metal or DX12 driver \
             (on Debian without a GPU, `mesa-vulkan-drivers` gives a CPU Vulkan driver), \
             or run with --device cpu"
        ),
    }
}

fn cpu() -> SelectedDevice {
    // The pool burn flex and our kernels run on: RAYON_NUM_THREADS, when set, sizes it.
    let threads = rayon::current_num_threads();
    let plural = if threads == 1 { "" } else { "s" };
    SelectedDevice { device: Device::flex(), description: format!("CPU (burn flex, {threads} thread{plural})") }
}

/// The wgpu device, and whether its adapter is a CPU (software) one such as lavapipe.
fn init_wgpu() -> Result<(SelectedDevice, bool), String> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<Result<(Device, String, bool), String>> = OnceLock::new();
    let result = WGPU.get_or_init(|| {
        // A broken driver may panic inside wgpu: report it as "no adapter", not a crash.
        let previous_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let outcome = std::panic::catch_unwind(|| Device::wgpu_options().init_with_setup());
        std::panic::set_hook(previous_hook);
        match outcome {
            Ok(Ok((device, setup))) => {
                let info = setup.adapter.get_info();
                let software = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
                Ok((device, format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type), software))
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the wgpu driver failed while starting".to_string()),
        }
    });
    result.clone().map(|(device, description, software)| (SelectedDevice { device, description }, software))
}
