#!/usr/bin/env bash
# Reproduces Docs/Quality.md: packs the embedded demo model (LZ4 + shuffle) and runs `swapmoe sweep` on its two
# held-out texts (Austen, in domain; a Python-docs page, the other domain; and the two in a row, a topic
# change), for the exact, swap and static policies at several shares of the expert bytes, writing the tables (Markdown) and plots (SVG) to $OUT.
#
#   bash Tools/quality.sh [OUT_DIR]        # default Docs/quality; ~8 minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
swift build -c release --product swapmoe 2>&1 | grep -E 'error|Build' || true
bin=.build/release/swapmoe
model=${SWAPMOE_DEMO_MODEL:-Tests/Fixtures/models/demo-moe}
out=${1:-Docs/quality}
caps=${SWAPMOE_QUALITY_CAPS:-30%,40%,50%,65%,80%,100%}
archive=.build/demo-quality.swm
mkdir -p "$out"
"$bin" pack "$model" -o "$archive" --compress lz4 --shuffle
# A topic change: the Austen text, then the Python-docs page, in one evaluation.
cat "$model/heldout_in_domain.txt" "$model/heldout_out_of_domain.txt" > .build/heldout_topic_change.txt
for text in in_domain out_of_domain topic_change; do
    file=$model/heldout_$text.txt
    [ "$text" = topic_change ] && file=.build/heldout_topic_change.txt
    echo "== swapmoe sweep $archive --text $file --caps $caps --calibration $model/calibration.txt"
    "$bin" sweep "$archive" --text "$file" --caps "$caps" --policies exact,swap,static \
        --calibration "$model/calibration.txt" ${SWAPMOE_THREADS:+--threads $SWAPMOE_THREADS} --svg "$out/sweep_$text.svg" | tee "$out/sweep_$text.md"
done
