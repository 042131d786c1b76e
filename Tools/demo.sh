#!/usr/bin/env bash
# The newcomer's demo: sets up a fresh machine, builds swapmoe (release), packs the embedded demo model into an
# LZ4 archive, and generates text with the SwapMoE engine under a memory cap that holds about half of the
# experts, printing the text and the engine's stats (hit rate, swaps, peak RSS against the cap, tok/s). Then it
# generates once more from a prompt of the model's other domain, and once with the exact engine (output
# identical to the whole model in memory) under the same cap.
#
# The embedded model (Tests/Fixtures/models/demo-moe) is a 22M-parameter Mixtral-class MoE (6 layers, 8 experts,
# top-2) trained here on Jane Austen and the Python docs by Tools/train_demo_moe.py; Docs/Quality.md shows what
# each memory budget costs it. SWAPMOE_DEMO_MODEL=/path/to/hf-folder runs the same demo on another model.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
echo "== building (release)"
swift build -c release --product swapmoe 2>&1 | grep -E 'error|warning: unre|Compiling swapmoe|Build' || true
bin=.build/release/swapmoe
model=${SWAPMOE_DEMO_MODEL:-Tests/Fixtures/models/demo-moe}
out=${SWAPMOE_DEMO_OUT:-.build/demo.swm}
share=${SWAPMOE_DEMO_EXPERTS:-50%}
prompt=${SWAPMOE_DEMO_PROMPT:-It is a truth universally acknowledged, that}
prompt2=${SWAPMOE_DEMO_PROMPT2:-The Python interpreter}

echo "== swapmoe pack $model -o $out --compress lz4 --shuffle"
"$bin" pack "$model" -o "$out" --compress lz4 --shuffle
echo "== swapmoe inspect $out --verify"
"$bin" inspect "$out" --verify

# The cap whose expert arena holds $share of the expert bytes (the planner's own arithmetic).
cap=$("$bin" plan "$out" --policy swap --experts "$share" --json | sed -n 's/.*"cap_bytes":\([0-9]*\).*/\1/p')
echo "== swapmoe plan $out --policy swap --max-rss $cap"
"$bin" plan "$out" --policy swap --max-rss "$cap"

gen=(-n 48 --temp 0.7 --seed 7)
echo "== swapmoe run $out --policy swap --max-rss $cap -p \"$prompt\""
"$bin" run "$out" -p "$prompt" "${gen[@]}" --policy swap --max-rss "$cap"
echo
echo "== swapmoe run $out --policy swap --max-rss $cap -p \"$prompt2\"   (the other domain)"
"$bin" run "$out" -p "$prompt2" "${gen[@]}" --policy swap --max-rss "$cap"
echo
echo "== swapmoe run $out --policy exact --max-rss $cap -p \"$prompt\"   (same output as all experts resident)"
"$bin" run "$out" -p "$prompt" "${gen[@]}" --policy exact --max-rss "$cap"
echo
echo "== done. Quality under each budget: Docs/Quality.md; try: $bin sweep $out --text $model/heldout_in_domain.txt"
