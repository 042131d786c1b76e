#!/usr/bin/env bash
# Sets up a fresh machine, builds swapmoe (release), packs the embedded model into an LZ4 archive, verifies it,
# and generates text with the SwapMoE engine under a memory cap, then with the exact engine under the same cap.
#
# The embedded model is a tiny random-weight Mixtral fixture (its text is gibberish by design); a trained demo
# model is planned. Point SWAPMOE_DEMO_MODEL at any supported Hugging Face folder to use another model.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
echo "== building (release)"
swift build -c release --product swapmoe 2>&1 | grep -E 'error|warning: unre|Compiling swapmoe|Build' || true
bin=.build/release/swapmoe
model=${SWAPMOE_DEMO_MODEL:-Tests/Fixtures/models/mixtral}
out=${SWAPMOE_DEMO_OUT:-.build/demo.swm}
prompt=${SWAPMOE_DEMO_PROMPT:-It is a truth universally acknowledged, that}

echo "== swapmoe pack $model -o $out --compress lz4 --shuffle"
"$bin" pack "$model" -o "$out" --compress lz4 --shuffle
echo "== swapmoe inspect $out --verify"
"$bin" inspect "$out" --verify

# The smallest cap the swap policy accepts for this model (the planner names it in bytes): top-k Virtual
# Experts per layer plus spare slots for swaps in flight.
cap=$( ("$bin" plan "$out" --policy swap --max-rss 1M --ctx 256 2>&1 || true) | sed -n 's/.*(\([0-9]*\) bytes).*/\1/p')
echo "== swapmoe plan $out --policy swap --max-rss $cap --ctx 256"
"$bin" plan "$out" --policy swap --max-rss "$cap" --ctx 256
echo "== swapmoe run $out --policy swap --max-rss $cap -n 32 --temp 0"
"$bin" run "$out" -p "$prompt" -n 32 --temp 0 --ctx 256 --policy swap --max-rss "$cap"
echo "== swapmoe run $out --policy exact --max-rss $cap -n 32 --temp 0"
"$bin" run "$out" -p "$prompt" -n 32 --temp 0 --ctx 256 --policy exact --max-rss "$cap"
