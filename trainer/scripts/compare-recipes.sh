#!/usr/bin/env bash
# Trains recipes side by side on the same crops, at the same width and for the same number of
# steps, then measures the live generator and its weight average (EMA) of each with
# `trainer evaluate` (1,000 portraits against all the crops) and prints one table.
#
# Usage: trainer/scripts/compare-recipes.sh CROPS OUT [WIDTH] [STEPS] [RECIPE ...]
#   CROPS   face crops, e.g. `trainer preprocess`'s output
#   OUT     folder for the runs and the evaluations (runs already there are resumed)
#   WIDTH   network width (default 16)
#   STEPS   training steps per recipe (default 5000; rounded up to whole epochs)
#   RECIPE  names from the list below (default: all of them)
# TRAINER names the binary (default target/release/trainer); SEED the runs' seed (default 0).
# Every run evaluates itself every 500 steps (its metrics.csv), which gives each recipe's curve.
set -euo pipefail

crops=${1:?usage: compare-recipes.sh CROPS OUT [WIDTH] [STEPS] [RECIPE ...]}
out=${2:?usage: compare-recipes.sh CROPS OUT [WIDTH] [STEPS] [RECIPE ...]}
width=${3:-16}
steps=${4:-5000}
shift $(( $# < 4 ? $# : 4 ))
trainer=${TRAINER:-target/release/trainer}
seed=${SEED:-0}

# Every recipe keeps a weight average, so each run gives two rows: live and EMA.
declare -A flags=(
  [article]="--recipe article --ema-decay 0.999"
  [diffaugment]="--recipe small-data"
  [diffaugment-no-color]="--recipe small-data --diffaugment translation,cutout"
  [lecam]="--recipe small-data --lecam 0.3"
  [reconstruction]="--recipe small-data --reconstruction 1"
  [consistency]="--recipe small-data --consistency 10"
  [lsgan-term]="--recipe small-data --lsgan-term 0.1"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(article diffaugment diffaugment-no-color)

images=$(find "$crops" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) | wc -l)
steps_per_epoch=$(( images / 64 ))
[ "$steps_per_epoch" -gt 0 ] || { echo "fewer than 64 images in $crops" >&2; exit 1; }
epochs=$(( (steps + steps_per_epoch - 1) / steps_per_epoch ))
mkdir -p "$out"

for name in "${names[@]}"; do
  [ -n "${flags[$name]:-}" ] || { echo "unknown recipe $name (known: ${!flags[*]})" >&2; exit 1; }
  run="$out/$name"
  resume=()
  [ -f "$run/checkpoint/state.json" ] && resume=(--resume)
  # shellcheck disable=SC2086
  "$trainer" train --data "$crops" --run "$run" --width "$width" --epochs "$epochs" \
    --eval-every 500 --seed "$seed" --device cpu ${flags[$name]} "${resume[@]}"
  "$trainer" export --run "$run" --out "$run/live.bpk" --live
  "$trainer" export --run "$run" --out "$run/ema.bpk"
  for which in live ema; do
    "$trainer" evaluate --weights "$run/$which.bpk" --data "$crops" --json > "$run/evaluate-$which.json"
  done
done

python3 - "$out" "${names[@]}" <<'EOF'
import json, sys
out, names = sys.argv[1], sys.argv[2:]
print("| recipe | generator | SWD 64 / 32 / 16, avg (floor) | face rate (real) | diversity (real) | nearest crop (crops') | high freq. |")
print("|---|---|---|---|---|---|---:|")
for name in names:
    for which in ("live", "ema"):
        e = json.load(open(f"{out}/{name}/evaluate-{which}.json"))
        s, f = e["swd"], e["swd_floor"]
        levels = " / ".join(f"{v:.0f}" for v in s["levels"])
        print(f"| {name} | {which} | {levels}, **{s['average']:.1f}** ({f['average']:.1f}) | "
              f"{e['face_rate']:.2f} ({e['real_face_rate']:.2f}) | {e['diversity']:.3f} ({e['real_diversity']:.3f}) | "
              f"{e['nearest_crop']:.3f} ({e['crops_nearest_crop']:.3f}) | {e['high_frequency']:.2f} |")
EOF
