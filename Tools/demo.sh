#!/usr/bin/env bash
# The newcomer's demo: sets up a fresh machine, builds swapmoe (release), packs the embedded demo model into an
# LZ4 archive, and generates text under a memory cap that holds about half of the experts' bytes: with SwapMoE's
# shadow policy (full-precision Virtual Experts plus a low-bit copy of every expert), from a prompt of each of the
# model's two domains, then with plain SwapMoE (masked routing), then with the exact engine (output identical to
# the whole model in memory), printing each time the engine's stats (share of routed choices served, swaps,
# peak RSS against the cap, tok/s).
#
# The embedded model (Tests/Fixtures/models/demo-moe-ordinary) is a 22M-parameter Mixtral-class MoE (6 layers,
# 16 experts, top-4) trained the ordinary way on Jane Austen and the Python docs by Tools/train_demo_moe.py;
# Docs/Quality.md shows what each memory budget costs it. SWAPMOE_DEMO_MODEL=/path/to/hf-folder runs the same
# demo on another model.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
echo "== building (release)"
swift build -c release --product swapmoe 2>&1 | grep -E 'error|warning: unre|Compiling swapmoe|Build' || true
bin=.build/release/swapmoe
model=${SWAPMOE_DEMO_MODEL:-Tests/Fixtures/models/demo-moe-ordinary}
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
echo "== swapmoe run $out --policy shadow --max-rss $cap -p \"$prompt\""
"$bin" run "$out" -p "$prompt" "${gen[@]}" --policy shadow --max-rss "$cap"
echo
echo "== swapmoe run $out --policy shadow --max-rss $cap -p \"$prompt2\"   (the other domain)"
"$bin" run "$out" -p "$prompt2" "${gen[@]}" --policy shadow --max-rss "$cap"
echo
echo "== swapmoe run $out --policy swap --max-rss $cap -p \"$prompt\"   (SwapMoE's masked routing, no shadows)"
"$bin" run "$out" -p "$prompt" "${gen[@]}" --policy swap --max-rss "$cap"
echo
echo "== swapmoe run $out --policy exact --max-rss $cap -p \"$prompt\"   (same output as all experts resident)"
"$bin" run "$out" -p "$prompt" "${gen[@]}" --policy exact --max-rss "$cap"
echo
echo "== done. Quality under each budget: Docs/Quality.md; try: $bin sweep $out --text $model/heldout_in_domain.txt"
