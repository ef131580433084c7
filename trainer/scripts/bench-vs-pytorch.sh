#!/usr/bin/env bash
# Times atelier and the PyTorch reference of the same network on this machine, in one run,
# alternating so that both see the same machine state, and prints the ratio of their medians.
#
# usage: trainer/scripts/bench-vs-pytorch.sh REFERENCE.py [cpu|gpu] [ROUNDS]
#   REFERENCE.py  the PyTorch reference (`dcgan_pytorch.py`, with its `bench` and `infer-bench`)
#   cpu|gpu       atelier's `--device cpu` against PyTorch `--device cpu`, or `--device gpu`
#                 (wgpu) against `--device cuda` (default: cpu)
#   ROUNDS        alternations (default: 3)
# Environment: PYTHON (default python3), TRAINER (default target/release/trainer, built if missing).
set -euo pipefail

reference=${1:?usage: $0 REFERENCE.py [cpu|gpu] [ROUNDS]}
device=${2:-cpu}
rounds=${3:-3}
python=${PYTHON:-python3}
case $device in
    cpu) torch_device=cpu ;;
    gpu) torch_device=cuda ;;
    *) echo "device must be cpu or gpu, not '$device'" >&2; exit 2 ;;
esac
[ -f "$reference" ] || { echo "no PyTorch reference at $reference" >&2; exit 2; }
cd "$(dirname "$0")/../.."
trainer=${TRAINER:-target/release/trainer}
if [ ! -x "$trainer" ]; then
    cargo build --release --locked -p trainer
fi

ours=() theirs=() ours_g16=() theirs_g16=()
for round in $(seq "$rounds"); do
    json=$("$trainer" bench --device "$device" --widths 64 --steps 5 --warmup 2 --json 2>/dev/null)
    ours+=("$(echo "$json" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["training"][0]["images_per_second"])')")
    ours_g16+=("$(echo "$json" | "$python" -c 'import json,sys; print(dict(json.load(sys.stdin)["generator_latency_ms"])[16])')")
    line=$("$python" "$reference" bench --device "$torch_device" --steps 5 --warmup 2 2>/dev/null | grep 'img/s')
    theirs+=("$(echo "$line" | sed -E 's/.* ([0-9.]+) img\/s.*/\1/')")
    line=$("$python" "$reference" infer-bench --device "$torch_device" --batch 16 2>/dev/null | grep 'ms/batch')
    theirs_g16+=("$(echo "$line" | sed -E 's/.*: ([0-9.]+) ms\/batch.*/\1/')")
    printf 'round %s: training atelier %.1f img/s, PyTorch %.1f img/s; 16 portraits atelier %.1f ms, PyTorch %.1f ms\n' \
        "$round" "${ours[-1]}" "${theirs[-1]}" "${ours_g16[-1]}" "${theirs_g16[-1]}"
done

"$python" - "${ours[*]}" "${theirs[*]}" "${ours_g16[*]}" "${theirs_g16[*]}" "$device" <<'PY'
import statistics, sys
ours, theirs, ours_g, theirs_g = ([float(v) for v in arg.split()] for arg in sys.argv[1:5])
a, p = statistics.median(ours), statistics.median(theirs)
ga, gp = statistics.median(ours_g), statistics.median(theirs_g)
# On a shared machine the speed of both drifts by tens of percent within minutes; each round's
# two runs are back to back, so the ratio within a round is steadier than the ratio of medians.
ratios = [o / t for o, t in zip(ours, theirs)]
paint_ratios = [t / o for o, t in zip(ours_g, theirs_g)]
ahead = sum(r > 1 for r in ratios)
print(f"training, width 64, batch 64 ({sys.argv[5]}): atelier {a:.1f} img/s, PyTorch {p:.1f} img/s: {a / p:.2f}x")
print(f"  per round: {' / '.join(f'{r:.2f}x' for r in ratios)}; median {statistics.median(ratios):.2f}x; atelier ahead in {ahead} of {len(ratios)}")
print(f"16 portraits: atelier {ga:.1f} ms, PyTorch {gp:.1f} ms: PyTorch takes {gp / ga:.2f}x atelier's time")
print(f"  per round: {' / '.join(f'{r:.2f}x' for r in paint_ratios)}; median {statistics.median(paint_ratios):.2f}x")
PY
