#!/usr/bin/env bash
# The kernels as other CPUs' compilers see them, measured on this machine (Docs/Benchmarks.md, "Other CPU
# targets"): builds swapmoe for each CPU target in TARGETS (SWAPMOE_TARGET_CPU, its own scratch path) and runs
# `swapmoe bench` of each archive type with every build in interleaved rounds (native, then each target, back to
# back), one thread, resident. Prints per type and target the median decode tok/s, its ratio to the native build
# (median of per-round ratios) and the fraction of the DRAM roofline (each build's own probe).
#
# What it shows: the code each target's instruction set and LLVM tuning produce (cascadelake: an Intel Xeon with
# AVX-512 but no AVX512_BF16, whose LLVM tuning prefers 256-bit vectors; haswell: AVX2 only). What it cannot show:
# that CPU's own memory system. The archives are those of Tools/bench_llamacpp.sh (run it first).
#
#   bash Tools/bench_targets.sh [ROUNDS]        # default 3
# env: TARGETS="cascadelake haswell", TYPES="bf16 q8_0 q4_0 q4_K q5_K q6_K", THREADS=1, GEN=128,
#      WORK=.build/bench-llamacpp
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
targets=${TARGETS:-cascadelake haswell}
types=${TYPES:-bf16 q8_0 q4_0 q4_K q5_K q6_K}
threads=${THREADS:-1}
gen=${GEN:-128}
work=${WORK:-.build/bench-llamacpp}
source Tools/setup.sh
swift build -c release --product swapmoe 2>&1 | grep -E 'error|Build' || true
for c in $targets; do
    SWAPMOE_TARGET_CPU=$c swift build -c release --product swapmoe --scratch-path ".build/target-$c" 2>&1 | grep -E 'error|Build' || true
done
for t in $types; do
    [ -f "$work/model-$t.swm" ] || { echo "no $work/model-$t.swm: run TYPES=$t bash Tools/bench_llamacpp.sh first" >&2; exit 1; }
done
bin() { if [ "$1" = native ]; then echo .build/release/swapmoe; else echo ".build/target-$1/release/swapmoe"; fi; }
results=$work/targets.jsonl
: > "$results"
for r in $(seq 1 "$rounds"); do
    for t in $types; do
        for c in native $targets; do
            "$(bin "$c")" bench "$work/model-$t.swm" --prompt-tokens 8 --gen-tokens "$gen" --threads "$threads" --reps 1 --json 2>/dev/null |
                python3 -c "
import json, sys
j = json.load(sys.stdin)
print(json.dumps({'type': '$t', 'target': '$c', 'round': $r, 'tps': j['decode_tok_s'], 'roofline': j.get('roofline_fraction')}))" >> "$results"
        done
    done
done
python3 - "$results" "native $targets" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
targets = sys.argv[2].split()
print("| type | target | decode tok/s | vs native | decode / roofline |")
print("|---|---|---:|---:|---:|")
for t in dict.fromkeys(r['type'] for r in rows):
    for c in targets:
        mine = [r for r in rows if r['type'] == t and r['target'] == c]
        ratios = []
        for r in mine:
            base = [b['tps'] for b in rows if b['type'] == t and b['target'] == 'native' and b['round'] == r['round']]
            if base and base[0] > 0: ratios.append(r['tps'] / base[0])
        roof = [r['roofline'] for r in mine if r.get('roofline') is not None]
        print(f"| {t} | {c} | {statistics.median(r['tps'] for r in mine):.2f} | {statistics.median(ratios):.2f}x | "
              f"{100 * statistics.median(roof):.0f}% |" if roof else "")
PY
