#!/usr/bin/env bash
# Two builds of swapmoe side by side on one model, in interleaved pairs (this VM's speed drifts from minute to
# minute, so only ratios of adjacent runs mean anything): pack MB/s, then decode tok/s resident and under caps.
#
#   bash Tools/bench_builds.sh A_BINARY B_BINARY CHECKPOINT_FOLDER [PAIRS]
#
# Packs CHECKPOINT_FOLDER with each binary (raw, then LZ4), then runs `bench` on the raw archive packed by A
# (resident, exact at 45% of the model's bytes, swap at 45%). Prints a Markdown table row per pair and the median
# B/A ratio per measure. GEN_TOKENS (default 32) sets the decoded tokens per bench run; WORK the scratch folder;
# ONLY (an extended regex, e.g. 'decode resident') keeps only the measures it matches.
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 ckpt=$3 pairs=${4:-3}
work=${WORK:-work-data/bench-builds}
mkdir -p "$work"
echo "A: $a"; echo "B: $b"; echo "model: $ckpt, $(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

packrate() {  # packrate BIN ARGS...: MB/s of input read
    local bin=$1; shift
    # Remove the previous run's output first: freeing its pages (gigabytes, in /dev/shm) inside the next pack's
    # run slowed that run by up to 4x, whichever build it was.
    rm -f "$work/p.swapmoe"; sync
    "$bin" pack "$ckpt" -o "$work/p.swapmoe" "$@" 2>&1 | grep -o '[0-9.]* MB/s' | tail -1 | cut -d' ' -f1
}
tok() {  # tok BIN ARGS...: decode tok/s of one bench run
    local bin=$1; shift
    "$bin" bench "$work/a.swapmoe" --prompt-tokens 16 --gen-tokens "${GEN_TOKENS:-32}" --reps 3 --json "$@" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["decode_tok_s"])'
}
"$a" pack "$ckpt" -o "$work/a.swapmoe" > /dev/null 2>&1
model=$("$a" inspect "$work/a.swapmoe" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["dense_bytes"] + d["expert_raw_bytes"])')
cap=$((model * 45 / 100))

declare -A ratios
row() {  # row NAME VALUE_A VALUE_B
    python3 -c "import sys; a,b=float(sys.argv[2]),float(sys.argv[3]); print(f'| {sys.argv[1]} | {a:.2f} | {b:.2f} | {b/a:.3f} |')" "$@"
    ratios[$1]+="$(python3 -c "import sys; print(float(sys.argv[2])/float(sys.argv[1]))" "$2" "$3") "
}
echo "| measure (pair) | A | B | B/A |"
echo "|---|---:|---:|---:|"
for i in $(seq 1 "$pairs"); do
    # Alternate which build goes first, so a drift within a pair does not always favour one side.
    if [ $((i % 2)) -eq 1 ]; then x=$a y=$b; else x=$b y=$a; fi
    for what in "pack raw MB/s" "pack lz4 MB/s" "decode resident tok/s" "decode exact 45% tok/s" "decode swap 45% tok/s"; do
        [[ "$what" =~ ${ONLY:-.} ]] || continue
        case "$what" in
            "pack raw MB/s") args=(packrate) ; extra=() ;;
            "pack lz4 MB/s") args=(packrate) ; extra=(--compress lz4) ;;
            "decode resident tok/s") args=(tok) ; extra=(--policy resident) ;;
            "decode exact 45% tok/s") args=(tok) ; extra=(--policy exact --max-rss "$cap") ;;
            "decode swap 45% tok/s") args=(tok) ; extra=(--policy swap --max-rss "$cap") ;;
        esac
        vx=$("${args[0]}" "$x" "${extra[@]}"); vy=$("${args[0]}" "$y" "${extra[@]}")
        if [ "$x" = "$a" ]; then row "$what ($i)" "$vx" "$vy"; else row "$what ($i)" "$vy" "$vx"; fi
    done
done
echo
echo "| measure | median B/A over $pairs pairs |"
echo "|---|---:|"
for k in "pack raw MB/s" "pack lz4 MB/s" "decode resident tok/s" "decode exact 45% tok/s" "decode swap 45% tok/s"; do
    [[ "$k" =~ ${ONLY:-.} ]] || continue
    vals=""; for i in $(seq 1 "$pairs"); do vals+="${ratios["$k ($i)"]}"; done
    python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[2].split()]; print(f'| {sys.argv[1]} | {statistics.median(v):.3f} (range {min(v):.3f}-{max(v):.3f}) |')" "$k" "$vals"
done
rm -f "$work/p.swapmoe"
