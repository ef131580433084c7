#!/usr/bin/env bash
# The gallery's painter against onnxruntime-web, the library a web developer would pick instead,
# on the same generator in one headless Chromium: the page on its CPU fallback ("More portraits",
# 16 portraits) and onnxruntime-web's WebAssembly backend (SIMD, one thread) on the same 16
# latents, alternating, medians. It first checks both paint seed 0 alike.
#
# usage: trainer/scripts/bench-vs-onnxruntime-web.sh [ROUNDS] [BATCHES]   (default: 3 rounds of 10)
# Needs: the site built (`trunk build --release` → dist/), Python 3 with `onnx` and `numpy`
# (`pip install onnx`), npm, and Chromium (CHROMIUM, default /usr/bin/chromium). The painter is the
# gallery's default (`dist/assets/painters.json`), turned into ONNX by onnx_from_safetensors.py.
set -euo pipefail
rounds=${1:-3}
batches=${2:-10}
cd "$(dirname "$0")/../.."
trainer=${TRAINER:-target/release/trainer}
[ -x "$trainer" ] || cargo build --release --locked --workspace --bins
[ -f dist/index.html ] || trunk build --release
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

weights=$(python3 -c "import json; print(json.load(open('dist/assets/painters.json'))['painters'][0]['weights'])")
"$trainer" export --weights "dist/assets/$weights" --format safetensors --out "$scratch/generator.safetensors" >/dev/null
python3 trainer/scripts/onnxruntime-web/onnx_from_safetensors.py "$scratch/generator.safetensors" "$scratch/generator.onnx"
# Seeds 0–15's latents, from the independent Python implementation of the seed → latent algorithm.
python3 - "$scratch/latents.json" <<'PY'
import json, struct, sys
sys.path.insert(0, "shared")
import latent_reference
latents = [[struct.unpack("<f", struct.pack("<I", bits))[0] for bits in latent_reference.latent(seed, 128)] for seed in range(16)]
json.dump(latents, open(sys.argv[1], "w"))
PY
(cd trainer/scripts/onnxruntime-web && npm ci --no-audit --no-fund --silent)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | xargs)), $(nproc) cores; $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null)"
node trainer/scripts/onnxruntime-web/bench.mjs dist "$scratch/generator.onnx" "$scratch/latents.json" "$rounds" "$batches"
