#!/usr/bin/env bash
# Issue 21's quality-under-a-budget tables for one trained model (Docs/Quality.md, "The ordinary model"):
#   1. packs it (bf16, raw) and measures its layer profile on calibration.txt (`swapmoe profile`: the training
#      mixture, not the texts scored below);
#   2. `swapmoe sweep` on each held-out text (Austen: in domain; a Python-docs page: the other domain; the two in a
#      row: a topic change) at 25%, 50% and 75% of the expert bytes for exact, swap (split by the profile),
#      swap-uniform (split evenly), static (calibrated on calibration.txt) and shadow (swap plus a low-bit copy of
#      every expert: auto's type, and q4_K and q2_K shadows, at swap's caps);
#   3. the same process caps as bf16 swap's 25% and 50%, given to archives whose experts are quantized (q8_0, q6_K,
#      q4_K, q3_K; dense weights bf16): all experts quantized, served by swap (or resident once they all fit).
# Writes Markdown tables and SVG plots to OUT_DIR.
#
#   bash Tools/quality_budget.sh [MODEL_DIR] [OUT_DIR]
#        # defaults: Tests/Fixtures/models/demo-moe-ordinary, Docs/quality-ordinary; ~15 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
swift build -c release --product swapmoe 2>&1 | grep -E 'error|Build' || true
bin=.build/release/swapmoe
model=${1:-Tests/Fixtures/models/demo-moe-ordinary}
out=${2:-Docs/quality-ordinary}
ctx=${SWAPMOE_QUALITY_CTX:-256}
caps=${SWAPMOE_QUALITY_CAPS:-25%,50%,75%}
policies=${SWAPMOE_QUALITY_POLICIES:-exact,swap,swap-uniform,static,shadow,shadow:q4_K,shadow:q2_K}
work=.build/quality-budget
mkdir -p "$out" "$work"
archive=$work/bf16.swm
"$bin" pack "$model" -o "$archive" >/dev/null 2>&1
echo "== swapmoe profile $archive --text $model/calibration.txt --ctx $ctx --experts"
"$bin" profile "$archive" --text "$model/calibration.txt" --ctx "$ctx" --experts 2>&1 | tee "$out/profile.txt"
cat "$model/heldout_in_domain.txt" "$model/heldout_out_of_domain.txt" > "$work/heldout_topic_change.txt"
for text in in_domain out_of_domain topic_change; do
    file=$model/heldout_$text.txt
    [ "$text" = topic_change ] && file=$work/heldout_topic_change.txt
    echo "== swapmoe sweep $archive --text $file --caps $caps --policies $policies --calibration $model/calibration.txt --ctx $ctx"
    "$bin" sweep "$archive" --text "$file" --caps "$caps" --policies "$policies" \
        --calibration "$model/calibration.txt" --ctx "$ctx" --svg "$out/sweep_$text.svg" | tee "$out/sweep_$text.md"
done

# All experts quantized, at the process caps bf16 swap gets at 25% and 50% of its expert bytes.
types=${SWAPMOE_QUALITY_TYPES:-q8_0 q6_K q4_K q3_K}
for t in $types; do "$bin" pack "$model" -o "$work/$t.swm" --quant "experts=$t" >/dev/null 2>&1; done
{
    echo "| experts | cap (bf16 swap's share) | text | experts held | perplexity | vs resident bf16 | top-1 vs bf16 | KL vs bf16 |"
    echo "|---|---|---|---:|---:|---:|---:|---:|"
    for share in 25% 50%; do
        cap=$("$bin" plan "$archive" --experts "$share" --policy swap --ctx "$ctx" --json --profile none | python3 -c 'import json,sys; print(json.load(sys.stdin)["cap_bytes"])')
        for text in in_domain out_of_domain; do
            file=$model/heldout_$text.txt
            "$bin" eval "$archive" --text "$file" --ctx "$ctx" --save-logits "$work/bf16_$text.logits" --json > "$work/bf16_$text.json"
            for t in $types; do
                "$bin" eval "$work/$t.swm" --text "$file" --ctx "$ctx" --policy swap --max-rss "$cap" --profile none \
                    --reference "$work/bf16_$text.logits" --json > "$work/${t}_${share%\%}_$text.json" 2>"$work/err.txt" || true
                python3 - "$work" "$t" "${share%\%}" "$text" "$cap" <<'PY'
import json, sys
work, t, share, text, cap = sys.argv[1:6]
ref = json.load(open(f"{work}/bf16_{text}.json"))
try:
    j = json.load(open(f"{work}/{t}_{share}_{text}.json"))
except Exception:
    print(f"| {t} | {int(cap) / 2**20:.1f} MiB ({share}%) | {text} | | {open(f'{work}/err.txt').read().strip()} | | | |")
    sys.exit()
held = min(1.0, j.get("expert_fraction", 1.0))
print(f"| {t} | {int(cap) / 2**20:.1f} MiB ({share}%) | {text} | {100 * held:.0f}% | {j['ppl']:.3f} | "
      f"{100 * (j['ppl'] / ref['ppl'] - 1):+.2f}% | {100 * j['top1_agreement']:.1f}% | {j['kl']:.5f} |")
PY
            done
        done
    done
} | tee "$out/quantized_same_bytes.md"
