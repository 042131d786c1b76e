#!/usr/bin/env bash
# Instructions per decoded token, swapmoe against llama.cpp on the same model and weight type (Docs/Benchmarks.md,
# "AMD Zen 3: instructions per byte, counted rather than timed"). Counted, not timed: valgrind's callgrind runs each
# engine on one thread for N1 and N2 generated tokens, and the difference over N2 - N1 tokens is one token's cost,
# free of loading, prefill and warm-up
# (llama-bench warms up with one token; swapmoe run prefills the same short prompt both times). A shared host's
# noise does not touch these counts. With the bytes a token reads (`swapmoe bench`'s active_bytes_per_token) they
# say how many instructions a core must retire per byte of weights, hence the most one core can stream at a given
# number of instructions per cycle, against what the DRAM probe reads.
#
#   bash Tools/count_instructions.sh            # after Tools/bench_llamacpp.sh made the models
# env: TYPES="q2_K q4_K", WORK=.build/bench-llamacpp, N1=8, N2=24, IPC=4 (the per-cycle rate the last columns assume)
set -euo pipefail
cd "$(dirname "$0")/.."
types=${TYPES:-bf16 q8_0 q6_K q5_K q4_K q4_0 mxfp4 iq4_xs q3_K q2_K}
work=${WORK:-.build/bench-llamacpp}
n1=${N1:-8}
n2=${N2:-24}
ipc=${IPC:-4}
command -v valgrind >/dev/null || apt-get install -y valgrind >/dev/null
bin=.build/release/swapmoe
llama=.build/llamacpp/build/bin
[ -x "$bin" ] && [ -x "$llama/llama-bench" ] || { echo "count_instructions: run Tools/bench_llamacpp.sh first (it builds both engines and the models)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The core's clock: a chain of dependent adds retires one a cycle.
cat > "$tmp/clock.c" <<'EOF'
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
    double best = 0;
    for (int r = 0; r < 5; r++) {
        unsigned long x = r, n = 200000000UL;
        double t0 = now();
        for (unsigned long i = 0; i < n; i++) __asm__ volatile("add $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0" : "+r"(x));
        double ghz = 4.0 * n / (now() - t0) / 1e9;
        if (ghz > best) best = ghz;
    }
    printf("%.3f\n", best);
}
EOF
cc -O2 "$tmp/clock.c" -o "$tmp/clock"
ghz=$("$tmp/clock")

count() {   # callgrind output file -> "total kernels" instructions
    # --auto=no: no annotated source lines, which (where the sources are found) look like function lines to the
    # pattern below and had been added to the total.
    callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null | python3 -c '
import re, sys
total = kernels = 0
for line in sys.stdin:
    t = re.match(r"\s*([\d,]+) .*PROGRAM TOTALS", line)
    if t: total = int(t.group(1).replace(",", "")); continue
    m = re.match(r"\s*([\d,]+) \([^)]*\)\s+\S*?:(.*?)(?: \[[^\]]*\])?$", line.rstrip())
    if not m: continue
    n, name = int(m.group(1).replace(",", "")), m.group(2)
    # Weight kernels: swapmoe'"'"'s row functions and activation quantization; llama.cpp'"'"'s dot products, repacked
    # GEMV/GEMM and its q8 activation quantization.
    if re.search(r"Rows|[Gg]emv|GEMV|[Gg]emm|GEMM|quantizeActivations|vec_dot|quantize_row_q8|quantize_mat_q8", name): kernels += n
print(total, kernels)'
}

echo "clock ${ghz} GHz (dependent adds); one thread; ${n1} -> ${n2} generated tokens"
printf '| type | MB a token | swapmoe instr a token (M), all / weight kernels | instr / byte | llama.cpp instr a token (M), all / weight kernels | instr / byte | llama.cpp / swapmoe | GB/s a core at IPC %s: swapmoe / llama.cpp |\n' "$ipc"
echo '|---|---:|---:|---:|---:|---:|---:|---:|'
for t in $types; do
    swm=$work/model-$t.swm; g=$work/model-$t.gguf
    [ -f "$swm" ] && [ -f "$g" ] || { echo "| $t | (no $swm or $g: run Tools/bench_llamacpp.sh with TYPES=$t) |"; continue; }
    bytes=$("$bin" bench "$swm" --prompt-tokens 1 --gen-tokens 2 --reps 1 --threads 1 --max-rss 16G --json 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["active_bytes_per_token"])')
    for n in "$n1" "$n2"; do
        valgrind --tool=callgrind --callgrind-out-file="$tmp/s.$n" "$bin" run "$swm" -p "The quick brown fox" -n "$n" \
            --ignore-eos --temp 0 --threads 1 >/dev/null 2>&1
        OMP_WAIT_POLICY=passive valgrind --tool=callgrind --callgrind-out-file="$tmp/l.$n" "$llama/llama-bench" -m "$g" \
            -p 0 -n "$n" -r 1 -t 1 >/dev/null 2>&1
    done
    read -r s1 sk1 <<< "$(count "$tmp/s.$n1")"; read -r s2 sk2 <<< "$(count "$tmp/s.$n2")"
    read -r l1 lk1 <<< "$(count "$tmp/l.$n1")"; read -r l2 lk2 <<< "$(count "$tmp/l.$n2")"
    python3 - "$t" "$bytes" "$s1" "$sk1" "$s2" "$sk2" "$l1" "$lk1" "$l2" "$lk2" "$n1" "$n2" "$ghz" "$ipc" <<'EOF'
import sys
t, b = sys.argv[1], int(sys.argv[2])
s1, sk1, s2, sk2, l1, lk1, l2, lk2, n1, n2 = map(int, sys.argv[3:13])
ghz, ipc = float(sys.argv[13]), float(sys.argv[14])
k = n2 - n1
s, sk, l, lk = (s2 - s1) / k, (sk2 - sk1) / k, (l2 - l1) / k, (lk2 - lk1) / k
rate = lambda per_token: ghz * ipc / (per_token / b)   # GB/s one core streams at that IPC
print(f"| {t} | {b / 1e6:.1f} | {s / 1e6:.1f} / {sk / 1e6:.1f} | {s / b:.3f} | {l / 1e6:.1f} / {lk / 1e6:.1f} | {l / b:.3f} | "
      f"{l / s:.2f}x | {rate(s):.1f} / {rate(l):.1f} |")
EOF
done
