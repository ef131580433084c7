//! The CPU the kernels run on, as the operating system reports it (model, vector instructions,
//! cache sizes), and the sizes the kernels derive from it, so that no block size is tuned to one
//! machine's caches. Read once per process.

use std::sync::OnceLock;

/// Bytes of unrolled patches per grouped product when the OS reports no L3 cache size.
const FALLBACK_GROUP_BYTES: usize = 8 << 20;

/// What the kernels know of this CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The model name (`/proc/cpuinfo`), or "unknown CPU".
    pub model: String,
    /// The widest vector instructions the matrix products use here: "AVX-512", "AVX2", "NEON", ….
    pub vectors: &'static str,
    /// Threads the kernels split work over.
    pub threads: usize,
    /// Per-core L2 and shared L3 cache in bytes, where the OS says.
    pub l2_bytes: Option<usize>,
    pub l3_bytes: Option<usize>,
    /// Patches unrolled per grouped product (see `conv`): half of each thread's share of the
    /// L3 cache (a quarter of it on two threads), since every thread unrolls a group of its own,
    /// so that a group's patches, written by the unrolling and read back by the product, stay in
    /// it while the product's own blocks and the other operands share the rest; between 2 and
    /// 16 MB.
    pub group_bytes: usize,
}

impl Machine {
    fn detect() -> Self {
        let (l2_bytes, l3_bytes, threads) = (cache_bytes(2), cache_bytes(3), rayon::current_num_threads());
        let group_bytes = l3_bytes.map_or(FALLBACK_GROUP_BYTES, |l3| (l3 / (2 * threads)).clamp(2 << 20, 16 << 20));
        Self {
            model: cpu_model().unwrap_or_else(|| "unknown CPU".to_string()),
            vectors: vector_instructions(),
            threads,
            l2_bytes,
            l3_bytes,
            group_bytes,
        }
    }

    /// One line for benchmark reports: model, instructions, caches and the derived group size.
    pub fn describe(&self) -> String {
        let size = |bytes: Option<usize>| bytes.map_or("?".to_string(), mib);
        format!(
            "{} · {} · {} threads · L2 {} per core, L3 {} · {} of patches per grouped product",
            self.model,
            self.vectors,
            self.threads,
            size(self.l2_bytes),
            size(self.l3_bytes),
            mib(self.group_bytes)
        )
    }
}

fn mib(bytes: usize) -> String {
    if bytes >= 1 << 20 { format!("{} MiB", bytes as f64 / (1 << 20) as f64) } else { format!("{} KiB", bytes >> 10) }
}

/// This machine, detected on first use.
pub fn machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(Machine::detect)
}

/// The model name, with the family and model numbers where the OS gives them: virtual machines
/// often report a bare "AMD EPYC", and the numbers still tell one generation from another.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let field = |name: &str| {
        let line = info.lines().find(|line| line.split(':').next().is_some_and(|key| key.trim() == name))?;
        Some(line.split_once(':')?.1.trim().to_string())
    };
    let name = field("model name")?;
    Some(match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name,
    })
}

/// The size of the first data or unified cache of `level` that CPU 0 sees (Linux sysfs).
fn cache_bytes(level: u32) -> Option<usize> {
    let caches = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    caches.flatten().find_map(|entry| {
        let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok().map(|text| text.trim().to_string());
        let kind = read("type")?;
        (read("level")? == level.to_string() && kind != "Instruction").then(|| parse_size(&read("size")?)).flatten()
    })
}

/// Parses sysfs cache sizes: "512K", "32768K", "2M", "1024".
fn parse_size(text: &str) -> Option<usize> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let value: usize = digits.parse().ok()?;
    match unit.trim() {
        "" => Some(value),
        "K" | "KB" | "KiB" => Some(value << 10),
        "M" | "MB" | "MiB" => Some(value << 20),
        _ => None,
    }
}

fn vector_instructions() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "AVX-512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return "AVX2";
        }
        "SSE"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "NEON"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("3G"), None);
    }

    #[test]
    fn the_group_size_stays_within_its_bounds() {
        let m = machine();
        assert!((2 << 20..=16 << 20).contains(&m.group_bytes), "{m:?}");
        assert!(m.threads >= 1 && !m.model.is_empty());
        assert!(m.describe().contains(m.vectors));
    }
}
