#!/usr/bin/env bash
# Quality of quantized weights on the embedded demo model (Docs/Quality.md, "Quantized weights"): packs it in
# bf16 (as trained) and with `--quant experts=T,dense=T` for every type, then scores each on the two held-out
# texts with `swapmoe eval`, against the bf16 archive's logits: perplexity, mean KL(bf16 || quantized) and top-1
# agreement. Prints one Markdown table per text.
#
#   bash Tools/quant_quality.sh [OUT_DIR]     # default .build/quant-quality; a few minutes on 2 cores
#   SWAPMOE_QUANT_DECODE=1 bash Tools/quant_quality.sh   # the quantized archives scored with `eval --decode`
#                                                        # (one token per pass: the decode GEMV and its 8-bit x)
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
swift build -c release --product swapmoe 2>&1 | grep -E 'error|Build' || true
bin=.build/release/swapmoe
model=${SWAPMOE_DEMO_MODEL:-Tests/Fixtures/models/demo-moe}
out=${1:-.build/quant-quality}
types=${SWAPMOE_QUANT_TYPES:-q8_0 q6_K q5_K q4_K q4_0}
ctx=${SWAPMOE_QUANT_CTX:-256}
mode=(); [ "${SWAPMOE_QUANT_DECODE:-0}" = 1 ] && mode=(--decode)
mkdir -p "$out"
"$bin" pack "$model" -o "$out/bf16.swm" >/dev/null 2>&1
for t in $types; do
    "$bin" pack "$model" -o "$out/$t.swm" --quant "experts=$t,dense=$t" >/dev/null 2>&1
done
for text in in_domain out_of_domain; do
    file=$model/heldout_$text.txt
    "$bin" eval "$out/bf16.swm" --text "$file" --ctx "$ctx" --save-logits "$out/bf16_$text.logits" --json > "$out/bf16_$text.json"
    echo
    echo "### $text ($file, --ctx $ctx${mode:+, quantized archives with --decode})"
    echo
    echo "| weights | archive MiB | perplexity | vs bf16 | KL(bf16 ‖ q) | top-1 agreement |"
    echo "|---|---:|---:|---:|---:|---:|"
    python3 - "$out" bf16 "$text" <<'PY'
import json, os, sys
out, name, text = sys.argv[1:4]
j = json.load(open(f"{out}/{name}_{text}.json"))
print(f"| bf16 (as trained) | {os.path.getsize(f'{out}/{name}.swm') / 2**20:.1f} | {j['ppl']:.3f} | | | |")
PY
    for t in $types; do
        "$bin" eval "$out/$t.swm" --text "$file" --ctx "$ctx" "${mode[@]}" --reference "$out/bf16_$text.logits" --json > "$out/${t}_$text.json"
        python3 - "$out" "$t" "$text" <<'PY'
import json, os, sys
out, name, text = sys.argv[1:4]
b = json.load(open(f"{out}/bf16_{text}.json"))
j = json.load(open(f"{out}/{name}_{text}.json"))
print(f"| {name} (experts and dense) | {os.path.getsize(f'{out}/{name}.swm') / 2**20:.1f} | {j['ppl']:.3f} | "
      f"{100 * (j['ppl'] / b['ppl'] - 1):+.2f}% | {j['kl']:.5f} | {100 * j['top1_agreement']:.2f}% |")
PY
    done
done
