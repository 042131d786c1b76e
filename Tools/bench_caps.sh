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
# CGROUP=1 runs every capped row inside a cgroup v1 memory limit equal to its cap (Tools/cgroup.sh; needs root)
# and adds the cgroup's peak (page cache included) and failcnt after the row.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SWAPMOE_BIN:-.build/release/swapmoe}
[ -x "$bin" ] || swift build -c release --product swapmoe >/dev/null
gen=${GEN_TOKENS:-32}
prompt=${PROMPT_TOKENS:-16}

if [ "${CGROUP:-0}" = 1 ]; then source Tools/cgroup.sh; cgroup_init || exit 1; fi

drop() { sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; else echo "warning: cannot drop caches (not root)" >&2; fi; }

for a in "$@"; do
    drop
    mbps=$(dd if="$a" of=/dev/null bs=4M iflag=direct 2>&1 | awk '/copied/ {print $(NF-1), $NF}')
    echo "disk cold read of $a with O_DIRECT: $mbps" >&2
    model=$("$bin" inspect "${CAP_BASE:-$a}" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["dense_bytes"] + d["expert_raw_bytes"])')
    echo "| archive | policy | cap | cap bytes | decode tok/s | prefill tok/s | decode reads/token | stall s | swaps | peak RSS | disk limit tok/s (in-process GB/s), reached | lower of DRAM roofline and disk limit, reached |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    row() { # policy label cap-bytes-or-empty args...
        local policy=$1 label=$2 limit=$3; shift 3
        drop
        local run=("$bin" bench "$a" --prompt-tokens "$prompt" --gen-tokens "$gen" --reps 1 --json "$@")
        [ "${CGROUP:-0}" = 1 ] && [ -n "$limit" ] && run=(capped "$limit" "${run[@]}")
        if out=$("${run[@]}" 2>/tmp/bench_caps.err); then
            local extra=""
            [ "${CGROUP:-0}" = 1 ] && [ -n "$limit" ] && extra=" cgroup peak $(( $(cat "$cg/memory.max_usage_in_bytes") >> 20 )) MiB, failcnt $(cat "$cg/memory.failcnt") |"
            echo "$(echo "$out" | python3 Tools/bench_row.py "$a" "$label" "$policy")$extra"
        else
            echo "| ${a##*/} | $policy | $label | | fails: $(head -c 160 /tmp/bench_caps.err) | | | | | | | |"
        fi
    }
    policies=${POLICIES:-resident exact swap}
    case " $policies " in *" resident "*) row resident "none" "" --policy resident ;; esac
    for pct in ${CAPS:-25 45 70 100}; do
        cap=$((model * pct / 100))
        for policy in $policies; do
            [ "$policy" = resident ] || row "$policy" "$pct%" "$cap" --policy "$policy" --max-rss "$cap"
        done
    done
done
