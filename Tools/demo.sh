#!/usr/bin/env bash
# Sets up a fresh machine, builds swapmoe in release mode, packs the embedded demo model into an LZ4 archive
# and inspects it (verifying every checksum).
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
swift build -c release --product swapmoe 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]|^(Compiling|Write)' || true
bin=.build/release/swapmoe
model=${SWAPMOE_DEMO_MODEL:-Tests/Fixtures/models/mixtral}
out=${SWAPMOE_DEMO_OUT:-.build/demo.swm}
echo "== swapmoe pack $model -o $out --compress lz4 --shuffle"
"$bin" pack "$model" -o "$out" --compress lz4 --shuffle
echo "== swapmoe inspect $out --verify"
"$bin" inspect "$out" --verify
