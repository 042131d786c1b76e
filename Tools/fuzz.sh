#!/usr/bin/env bash
# Long fuzz campaigns through the real binary: the generator of the suite's fuzz test (Tests/SwapMoEFuzz) writes
# malformed archives, manifests (checksum recomputed), configs, safetensors headers, tokenizer files and GGUF files, and each
# case runs through the CLI as a user would (pack, inspect --verify, plan, run, eval). Counted as failures:
#   crash   the process died of a signal
#   hang    a command ran past 30 s
#   accept  `inspect --verify` exited 0 on an archive whose checked bytes were damaged
#   memory  a command's peak RSS passed 1 GiB (every input is under 10 MB)
#   unclean a failure whose message is not one line starting "swapmoe" (a raw Foundation error, a trace)
# Reproducers (the case's files and the command that failed) are kept under $OUT/reproducers.
#
# usage: Tools/fuzz.sh N [--from I] [--seed S] [--jobs J] [--out DIR]
#   SWAPMOE_BIN=path  test another swapmoe binary (default: this checkout's release build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?usage: Tools/fuzz.sh N [--from I] [--seed S] [--jobs J] [--out DIR]}
shift
FROM=0; SEED=24301; JOBS=$(nproc); OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --from) FROM=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --jobs) JOBS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "fuzz.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
source Tools/setup.sh
[ -x /usr/bin/time ] || { apt-get update -qq >/dev/null || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
swift build -c release --product swapmoe 2>&1 | { grep -E "error|complete" || true; } | tail -2 >&2
swift build -c release --product swapmoe-fuzz 2>&1 | { grep -E "error|complete" || true; } | tail -2 >&2
BIN=${SWAPMOE_BIN:-$(swift build -c release --show-bin-path)/swapmoe}
GEN=$(swift build -c release --show-bin-path)/swapmoe-fuzz
OUT=${OUT:-$(mktemp -d /tmp/swapmoe-fuzz.XXXXXX)}
mkdir -p "$OUT/reproducers" "$OUT/results"
TEXT="$OUT/text.txt"
echo "Hello world. The quick brown fox jumps over the lazy dog, twice over." > "$TEXT"
export BIN OUT TEXT

# One case: "<index>\t<kind>\t<path>\t<mutation>" on stdin's line; writes "<index> <kind> <outcome> [detail]".
run_case() {
    IFS=$'\t' read -r idx kind path mutation <<< "$1"
    local work="$OUT/work-$idx"; mkdir -p "$work"
    local result="ok" detail=""
    step() {  # step NAME args...: runs one command, classifies it; returns the command's status
        local name=$1; shift
        local st=0
        timeout -s KILL 30 /usr/bin/time -f "%M" -o "$work/rss" "$BIN" "$@" > "$work/stdout" 2> "$work/stderr" < /dev/null || st=$?
        local rss; rss=$(tail -1 "$work/rss" 2>/dev/null | tr -dc 0-9); rss=${rss:-0}
        # timeout kills /usr/bin/time itself (137, nothing written); a child that dies of a signal is reported by time.
        if [ "$st" -eq 137 ] && ! grep -q "Command terminated by signal" "$work/rss" 2>/dev/null; then result="hang"; detail="$name"
        elif grep -q "Command terminated by signal" "$work/rss" 2>/dev/null || [ "$st" -gt 128 ]; then result="crash"; detail="$name: $(grep -o 'signal [0-9]*' "$work/rss" | head -1)"
        elif [ "$rss" -gt 1048576 ]; then result="memory"; detail="$name: ${rss} KiB"
        elif [ "$st" -ne 0 ]; then
            local first; first=$(grep -v '^\s*$' "$work/stderr" | grep -v '^warning:' | head -1)
            if ! [[ "$first" == swapmoe* ]]; then result="unclean"; detail="$name: ${first:0:160}"
            elif [ "$st" -ne 64 ] && [ "$(grep -v '^\s*$' "$work/stderr" | grep -vc '^warning:')" -gt 1 ]; then result="unclean"; detail="$name: several lines"
            fi
        fi
        if [ "$result" != "ok" ]; then
            local keep="$OUT/reproducers/case-$idx"; mkdir -p "$keep"
            cp -r "$path" "$keep/" 2>/dev/null || true
            { echo "mutation: $mutation"; echo "command: swapmoe $*"; echo "exit: $st"; cat "$work/stderr"; } > "$keep/README.txt"
        fi
        return $st
    }
    local archive=$path st=0
    if [ -d "$path" ] || [ "$kind" = "gguf" ]; then
        archive="$work/packed.swapmoe"
        step pack pack "$path" -o "$archive" || st=$?
    fi
    if [ "$result" = "ok" ] && [ "$st" -eq 0 ]; then
        local vst=0
        step verify inspect "$archive" --verify --experts --tensors || vst=$?
        if [ "$result" = "ok" ] && [ "$kind" = "archive-bytes" ] && [ "$vst" -eq 0 ]; then
            result="accept"; detail="inspect --verify exit 0"
            mkdir -p "$OUT/reproducers/case-$idx"; cp "$path" "$OUT/reproducers/case-$idx/"
            echo "mutation: $mutation" > "$OUT/reproducers/case-$idx/README.txt"
        fi
        if [ "$result" = "ok" ] && { [ "$vst" -eq 0 ] || [ "$kind" = "archive-bytes" ]; }; then
            for cmd in "plan $archive --experts 60% --policy swap" \
                       "run $archive -p Hello_world -n 2 --threads 1" \
                       "run $archive --input Hello_world -n 2 --threads 1" \
                       "run $archive -p Hello -n 2 --threads 1 --policy exact --max-rss 16G --io buffered" \
                       "eval $archive --text $TEXT --threads 1"; do
                # shellcheck disable=SC2086
                step "${cmd%% *}" $cmd || true
                [ "$result" = "ok" ] || break
            done
        fi
    fi
    echo "$idx $kind $result $detail"
    rm -rf "$work"; [ "$result" = "ok" ] && rm -rf "$path"
    return 0
}
export -f run_case

START=$(date +%s)
BATCH=200
i=$FROM
END=$((FROM + N))
while [ "$i" -lt "$END" ]; do
    n=$((END - i < BATCH ? END - i : BATCH))
    "$GEN" --fixtures Tests/Fixtures --out "$OUT/cases" --from "$i" --count "$n" --seed "$SEED" \
        | tr '\n' '\0' | xargs -0 -P "$JOBS" -I{} bash -c 'run_case "$1"' _ {} >> "$OUT/results/all.txt"
    i=$((i + n))
    echo "fuzz: $((i - FROM)) of $N cases, $(grep -vc ' ok' "$OUT/results/all.txt" || true) failing" >&2
done
SECS=$(( $(date +%s) - START ))

echo "fuzz: $N cases (from $FROM, seed $SEED) in ${SECS} s, binary $BIN"
printf "%-14s %6s %6s %6s %6s %6s %6s\n" kind cases crash hang accept memory unclean
for k in archive-bytes manifest config safetensors tokenizer gguf; do
    printf "%-14s %6d %6d %6d %6d %6d %6d\n" "$k" \
        "$(grep -c " $k " "$OUT/results/all.txt" || true)" \
        "$(grep -c " $k crash" "$OUT/results/all.txt" || true)" "$(grep -c " $k hang" "$OUT/results/all.txt" || true)" \
        "$(grep -c " $k accept" "$OUT/results/all.txt" || true)" "$(grep -c " $k memory" "$OUT/results/all.txt" || true)" \
        "$(grep -c " $k unclean" "$OUT/results/all.txt" || true)"
done
BAD=$(grep -vc ' ok' "$OUT/results/all.txt" || true)
if [ "$BAD" -gt 0 ]; then
    echo "fuzz: $BAD failing cases; reproducers in $OUT/reproducers:"
    grep -v ' ok' "$OUT/results/all.txt" | head -40
    exit 1
fi
echo "fuzz: 0 failing cases"
