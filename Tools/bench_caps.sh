#!/usr/bin/env bash
# Decode speed versus memory cap for the exact and swap policies (Docs/Benchmarks.md, issue 4).
#
#   bash Tools/bench_caps.sh ARCHIVE [ARCHIVE...]
#
# For each archive, runs `swapmoe bench` without a cap (resident) and with --max-rss at 25%, 45%, 70% and 100%
# of the model's bytes (dense + raw expert bytes) under --policy exact and swap. Other caps and policies:
# CAPS="20 30 35" POLICIES=exact (no resident row then, unless POLICIES names it). CAP_BASE=ARCHIVE takes the
# percentages of that archive's bytes instead (e.g. the bf16 archive, to compare quantized archives at the same
# caps in bytes). The page cache is dropped
# before every run (needs root), so expert loads come from the disk. Prints one Markdown table row per run.
# Also measures the disk's cold sequential read bandwidth with O_DIRECT (dd), the bound for exact's loads;
# `bench` measures it again in its own process (the disk-limit column), since this VM's disk speed varies by
# process; the last column is the lower of that limit and the DRAM roofline, whichever bounds decode.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SWAPMOE_BIN:-.build/release/swapmoe}
[ -x "$bin" ] || swift build -c release --product swapmoe >/dev/null
gen=${GEN_TOKENS:-32}
prompt=${PROMPT_TOKENS:-16}

drop() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; else echo "warning: cannot drop caches (not root)" >&2; fi; }

for a in "$@"; do
    drop
    mbps=$(dd if="$a" of=/dev/null bs=4M iflag=direct 2>&1 | awk '/copied/ {print $(NF-1), $NF}')
    echo "disk cold read of $a with O_DIRECT: $mbps" >&2
    model=$("$bin" inspect "${CAP_BASE:-$a}" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["dense_bytes"] + d["expert_raw_bytes"])')
    echo "| archive | policy | cap | cap bytes | decode tok/s | prefill tok/s | decode reads/token | stall s | swaps | peak RSS | disk limit tok/s (in-process GB/s), reached | lower of DRAM roofline and disk limit, reached |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    row() { # policy label args...
        local policy=$1 label=$2; shift 2
        drop
        if out=$("$bin" bench "$a" --prompt-tokens "$prompt" --gen-tokens "$gen" --reps 1 --json "$@" 2>/tmp/bench_caps.err); then
            echo "$out" | python3 Tools/bench_row.py "$a" "$label" "$policy"
        else
            echo "| ${a##*/} | $policy | $label | | fails: $(head -c 160 /tmp/bench_caps.err) | | | | | | | |"
        fi
    }
    policies=${POLICIES:-resident exact swap}
    case " $policies " in *" resident "*) row resident "none" --policy resident ;; esac
    for pct in ${CAPS:-25 45 70 100}; do
        cap=$((model * pct / 100))
        for policy in $policies; do
            [ "$policy" = resident ] || row "$policy" "$pct%" --policy "$policy" --max-rss "$cap"
        done
    done
done
