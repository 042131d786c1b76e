#!/usr/bin/env bash
# Exact policy against its disk-bound limit (Docs/Benchmarks.md, issue 4): for each run, drops the page cache,
# measures the archive's cold sequential read bandwidth with O_DIRECT (dd), drops the cache again and runs
# `swapmoe bench --policy exact` at PERCENT of the model's bytes. The limit is bandwidth / stored bytes read per
# decoded token; the row reports decode tok/s as a share of it, against dd's bandwidth and against the one
# `bench` measures in its own process before the run. Needs root (drop_caches).
#
#   bash Tools/bench_exact_limit.sh ARCHIVE PERCENT [RUNS]
#   SWAPMOE_BINS="old/swapmoe new/swapmoe" bash Tools/bench_exact_limit.sh ARCHIVE 45 3   # alternate two builds
#   SWAPMOE_VARIANTS="--prefetch-depth 1;--prefetch-depth 2" bash Tools/bench_exact_limit.sh ARCHIVE 45 3
#                                                              # alternate option sets (';'-separated)
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 pct=$2 runs=${3:-3}
bins=${SWAPMOE_BINS:-.build/release/swapmoe}
for b in $bins; do [ -x "$b" ] || swift build -c release --product swapmoe >/dev/null; done
first=${bins%% *}
model=$("$first" inspect "$a" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["dense_bytes"] + d["expert_raw_bytes"])')
cap=$((model * pct / 100))
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
IFS=';' read -r -a variants <<< "${SWAPMOE_VARIANTS:-}"
[ ${#variants[@]} -gt 0 ] || variants=("")
echo "| run | binary | options | dd GB/s | decode tok/s | reads/token | limit tok/s (dd) | share (dd) | in-process GB/s | share (in-process) | stall s |"
echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for i in $(seq 1 "$runs"); do
    for b in $bins; do for v in "${variants[@]}"; do
        drop
        bw=$(dd if="$a" of=/dev/null bs=4M iflag=direct 2>&1 | awk '/copied/ {for (k=1;k<=NF;k++) if ($k=="copied,") print $1/$(k+1)}')
        drop
        # shellcheck disable=SC2086  # $v is a list of options
        "$b" bench "$a" --prompt-tokens 16 --gen-tokens 32 --reps 1 --json --policy exact --max-rss "$cap" $v \
            | python3 -c '
import json, sys
d = json.load(sys.stdin)
i, b, bw, v = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1e9, sys.argv[4]
per = d["decode_bytes_read_per_token"]
limit = bw * 1e9 / per if per else float("inf")
tok, stall = d["decode_tok_s"], d.get("stall_seconds", 0)
own, share = d.get("disk_read_gb_s"), d.get("disk_limit_fraction")
own_cells = f"{own:.2f} | {share:.0%}" if own and share else "- | -"
print(f"| {i} | {b} | {v} | {bw:.2f} | {tok:.2f} | {per / 2**20:.1f} MiB | {limit:.1f} | {tok / limit:.0%} | {own_cells} | {stall:.2f} |")
' "$i" "$b" "$bw" "$v"
    done; done
done
