#!/usr/bin/env bash
# Issue 21, item 4: the swap policy's importance window and swap interval chosen from data, not by hand.
# On a calibration text (the training mixture: never the held-out texts Docs/Quality.md scores), evaluates swap
# at one cap for every pair of --swap-interval and --window, and prints perplexity, KL and top-1 agreement
# against resident for each, best first. Defaults: the ordinary demo model at 50% of its expert bytes.
# Scored with `eval --decode` (one token per forward pass, as generation runs): a prefill batch reaches the
# swapper's safe point once for all its tokens, so in batches every interval up to the batch acts the same.
#
#   bash Tools/tune_swap.sh [MODEL_DIR] [SHARE] [POLICY]
#        # defaults: Tests/Fixtures/models/demo-moe-ordinary 50% swap; ~15 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product swapmoe 2>&1 | grep -E 'error|Build' || true
bin=.build/release/swapmoe
model=${1:-Tests/Fixtures/models/demo-moe-ordinary}
share=${2:-50%}
policy=${3:-swap}
ctx=${SWAPMOE_QUALITY_CTX:-256}
intervals=${INTERVALS:-1 2 4 8 16 32 64}
windows=${WINDOWS:-32 64 128 256 512}
work=.build/tune-swap
mkdir -p "$work"
archive=$work/model.swm
[ -f "$archive" ] || "$bin" pack "$model" -o "$archive" >/dev/null 2>&1
text=$model/calibration.txt
"$bin" eval "$archive" --text "$text" --ctx "$ctx" --decode --save-logits "$work/ref.logits" --json > "$work/ref.json"
cap=$("$bin" plan "$archive" --experts "$share" --policy "$policy" --ctx "$ctx" --json --profile none | python3 -c 'import json,sys; print(json.load(sys.stdin)["cap_bytes"])')
echo "swapmoe eval $archive --text $text --ctx $ctx --policy $policy --max-rss $cap --profile none --swap-interval I --window W --decode (--experts $share)"
for i in $intervals; do
    for w in $windows; do
        "$bin" eval "$archive" --text "$text" --ctx "$ctx" --decode --policy "$policy" --max-rss "$cap" --profile none \
            --swap-interval "$i" --window "$w" --reference "$work/ref.logits" --json > "$work/i${i}_w${w}.json"
    done
done
python3 - "$work" "$intervals" "$windows" <<'PY'
import json, sys
work, intervals, windows = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
ref = json.load(open(f"{work}/ref.json"))["ppl"]
rows = []
for i in intervals:
    for w in windows:
        j = json.load(open(f"{work}/i{i}_w{w}.json"))
        rows.append((j["ppl"], int(i), int(w), j["kl"], j["top1_agreement"], j.get("swaps", 0)))
print(f"resident perplexity {ref:.3f}")
print("| swap interval | window | perplexity | vs resident | KL | top-1 | swaps |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for p, i, w, kl, t1, sw in sorted(rows):
    print(f"| {i} | {w} | {p:.3f} | {100 * (p / ref - 1):+.2f}% | {kl:.5f} | {100 * t1:.1f}% | {sw} |")
PY
