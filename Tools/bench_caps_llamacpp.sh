#!/usr/bin/env bash
# swapmoe and llama.cpp on the same GGUF file under the same hard memory limit: each run inside a cgroup v1
# memory cgroup whose limit is the cap (page cache included, as the kernel charges it), after dropping the page
# cache, so weights come from the disk (Docs/Benchmarks.md, "GGUF files against llama.cpp under a cap").
# llama.cpp has no cap of its own: it maps the file and the kernel evicts its pages under the limit; swapmoe
# packs the same GGUF (weights kept as stored) and runs with --max-rss CAP under each policy.
#
#   bash Tools/bench_caps_llamacpp.sh GGUF [CAP...]     # caps as sizes (580M, 1040M); needs root and cgroup v1
# env: POLICIES="exact swap", THREADS=2, PROMPT=16, GEN=32, ROUNDS=1; SWM=archive (default: GGUF's name + -gguf.swm)
set -euo pipefail
cd "$(dirname "$0")/.."
gguf=$1; shift
caps=${*:-580M 1040M}
policies=${POLICIES:-exact swap}
threads=${THREADS:-2}
prompt=${PROMPT:-16}
gen=${GEN:-32}
rounds=${ROUNDS:-1}
bin=.build/release/swapmoe
[ -x "$bin" ] || swift build -c release --product swapmoe >/dev/null
llama=$(bash Tools/build_llamacpp.sh | tail -1)
swm=${SWM:-${gguf%.gguf}-gguf.swm}
[ -f "$swm" ] || "$bin" pack "$gguf" -o "$swm" >/dev/null
source Tools/cgroup.sh
cgroup_init || exit 1
bytes() { python3 -c "import sys; s=sys.argv[1]; m={'K':1<<10,'M':1<<20,'G':1<<30}; print(int(float(s[:-1])*m[s[-1]]) if s[-1] in m else int(s))" "$1"; }
echo "| cap | engine | policy | prefill tok/s | decode tok/s | cgroup peak (page cache included) | failcnt |"
echo "|---|---|---|---:|---:|---:|---:|"
for r in $(seq 1 "$rounds"); do
for cap in $caps; do
    limit=$(bytes "$cap")
    out=$(OMP_WAIT_POLICY=passive capped "$limit" "$llama/llama-bench" -m "$gguf" -p "$prompt" -n "$gen" -t "$threads" -r 1 -o json 2>/dev/null || echo '[]')
    peak=$(cat "$cg/memory.max_usage_in_bytes"); fail=$(cat "$cg/memory.failcnt")
    echo "$out" | python3 -c "
import json, sys
rows = json.load(sys.stdin)
p = next((r['avg_ts'] for r in rows if r['n_prompt'] > 0), float('nan')); d = next((r['avg_ts'] for r in rows if r['n_gen'] > 0), float('nan'))
print(f'| $cap | llama.cpp (mmap) | - | {p:.1f} | {d:.2f} | {$peak / 2**20:.0f} MiB | $fail |')"
    for policy in $policies; do
        out=$(capped "$limit" "$bin" bench "$swm" --max-rss "$limit" --policy "$policy" --prompt-tokens "$prompt" --gen-tokens "$gen" --threads "$threads" --reps 1 --json 2>/dev/null || echo '{}')
        peak=$(cat "$cg/memory.max_usage_in_bytes"); fail=$(cat "$cg/memory.failcnt")
        echo "$out" | python3 -c "
import json, sys
j = json.load(sys.stdin)
print(f\"| $cap | swapmoe | $policy | {j.get('prefill_tok_s', float('nan')):.1f} | {j.get('decode_tok_s', float('nan')):.2f} | {$peak / 2**20:.0f} MiB | $fail |\")"
    done
done
done
