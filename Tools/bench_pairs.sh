#!/usr/bin/env bash
# Policy vs resident decode speed, robust to this VM's drifting DRAM bandwidth: alternates resident and capped
# runs and reports the ratio of each adjacent pair (Docs/Benchmarks.md).
#
#   bash Tools/bench_pairs.sh ARCHIVE PERCENT POLICY [PAIRS]
#
# GEN_TOKENS (default 32) sets the decoded tokens per run. PERCENT is the cap as a share of the model's bytes (dense + raw experts); POLICY is exact or swap.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SWAPMOE_BIN:-.build/release/swapmoe}
[ -x "$bin" ] || swift build -c release --product swapmoe >/dev/null
a=$1 pct=$2 policy=$3 pairs=${4:-3}
model=$("$bin" inspect "$a" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["dense_bytes"] + d["expert_raw_bytes"])')
cap=$((model * pct / 100))
tok() { "$bin" bench "$a" --prompt-tokens 16 --gen-tokens "${GEN_TOKENS:-32}" --reps 3 --json "$@" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["decode_tok_s"], d.get("dram_read_gb_s", "-"))'; }
echo "| pair | resident tok/s | $policy at $pct% tok/s | ratio | DRAM GB/s (resident, $policy) |"
echo "|---|---:|---:|---:|---|"
for i in $(seq 1 "$pairs"); do
    read -r r rb < <(tok --policy resident)
    read -r p pb < <(tok --policy "$policy" --max-rss "$cap")
    python3 -c "import sys; r,p=float(sys.argv[2]),float(sys.argv[3]); print(f'| {sys.argv[1]} | {r:.2f} | {p:.2f} | {p/r:.2f} | {float(sys.argv[4]):.1f}, {float(sys.argv[5]):.1f} |')" "$i" "$r" "$p" "$rb" "$pb"
done
