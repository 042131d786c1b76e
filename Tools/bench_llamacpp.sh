#!/usr/bin/env bash
# swapmoe against llama.cpp on the same model, same weight types, same machine, in one run (Docs/Benchmarks.md,
# "Against llama.cpp"). For each type: llama.cpp's converter writes a bf16 GGUF of CHECKPOINT, llama-quantize
# --pure makes every matrix that type; swapmoe packs CHECKPOINT with --quant experts=T,dense=T,embed=T,head=T
# (routers and norms stay float in both). Then rounds of interleaved pairs: `llama-bench` and `swapmoe bench`,
# prefill P tokens and decode N tokens, resident, 2 threads (llama.cpp with OMP_WAIT_POLICY=passive: its
# spinning OpenMP threads collapse on a shared 2-core machine) and 1 thread each. Prints a Markdown table of
# medians and the swapmoe / llama.cpp ratios.
#
#   bash Tools/bench_llamacpp.sh [CHECKPOINT] [ROUNDS]   # default work-data/big-mixtral, 3 rounds
# env: TYPES="bf16 q8_0 q4_K", THREADS="2 1", PROMPT=64, GEN=32, WORK=.build/bench-llamacpp
#      SOURCE=gguf: swapmoe packs llama.cpp's own GGUF of each type (`swapmoe pack model-T.gguf`, weights kept as
#      stored) instead of the checkpoint, so both engines read the very same blocks; then TYPES may also name
#      llama-quantize's mixtures (q4_K_M, q5_K_M, ...), quantized without --pure as users get them.
#      DEPTH=D: decode only, after D tokens of context (llama-bench -p 0 -d D; swapmoe bench --prompt-tokens D,
#      whose prefill of those D tokens is not compared): long-context decode, where attention reads the KV cache.
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=${1:-work-data/big-mixtral}
rounds=${2:-3}
types=${TYPES:-bf16 q8_0 q4_K}
threads=${THREADS:-2 1}
prompt=${PROMPT:-64}
gen=${GEN:-32}
depth=${DEPTH:-}
llama_context="-p $prompt"
if [ -n "$depth" ]; then prompt=$depth; llama_context="-p 0 -d $depth"; fi
work=${WORK:-.build/bench-llamacpp}
mkdir -p "$work"
source Tools/setup.sh
bash Tools/setup_venv.sh >/dev/null
swift build -c release --product swapmoe 2>&1 | grep -E 'error|Build' || true
bin=.build/release/swapmoe
llama=$(bash Tools/build_llamacpp.sh | tail -1)
src=$(dirname "$(dirname "$llama")")/$(ls "$(dirname "$(dirname "$llama")")" | grep llama_cpp_python | head -1)/vendor/llama.cpp
[ -d "$src" ] || src=$(ls -d .build/llamacpp/llama_cpp_python-*/vendor/llama.cpp | head -1)

# The converter needs a SentencePiece model for a llama-family vocabulary: the Mistral v1 one (same ids as the
# tokenizer.json the checkpoint carries), from PyPI's mistral-common.
if [ ! -f "$ckpt/tokenizer.model" ]; then
    .venv/bin/python -c "import mistral_common, os, shutil, sys; shutil.copy(os.path.join(os.path.dirname(mistral_common.__file__), 'data', 'tokenizer.model.v1'), sys.argv[1])" "$ckpt/tokenizer.model"
fi
[ -f "$ckpt/tokenizer.json" ] || cp Tests/Fixtures/tokenizers/mistral/tokenizer.json Tests/Fixtures/tokenizers/mistral/tokenizer_config.json "$ckpt/"
gguf_bf16=$work/model-bf16.gguf
if [ ! -f "$gguf_bf16" ]; then
    PYTHONPATH="$src/gguf-py" .venv/bin/python "$src/convert_hf_to_gguf.py" "$ckpt" --outtype bf16 --outfile "$gguf_bf16" >/dev/null
fi
for t in $types; do
    upper=$(echo "$t" | tr a-z A-Z)
    [ "$t" = mxfp4 ] && upper=MXFP4_MOE   # llama-quantize's name for it (with --pure: every matrix MXFP4)
    pure=--pure
    case "$t" in *_[SML]) pure= ;; esac
    [ "$t" = bf16 ] || [ -f "$work/model-$t.gguf" ] || "$llama/llama-quantize" $pure "$gguf_bf16" "$work/model-$t.gguf" "$upper" >/dev/null 2>&1
    if [ "${SOURCE:-}" = gguf ]; then
        g=$work/model-$t.gguf; [ "$t" = bf16 ] && g=$gguf_bf16
        [ "$work/model-$t-gguf.swm" -nt "$bin" ] || "$bin" pack "$g" -o "$work/model-$t-gguf.swm" 2>/dev/null
    elif [ ! "$work/model-$t.swm" -nt "$bin" ]; then   # re-packed by every new swapmoe build (layouts change)
        if [ "$t" = bf16 ]; then "$bin" pack "$ckpt" -o "$work/model-$t.swm" 2>/dev/null
        else "$bin" pack "$ckpt" -o "$work/model-$t.swm" --quant "experts=$t,dense=$t,embed=$t,head=$t" 2>/dev/null; fi
    fi
done
swm() { if [ "${SOURCE:-}" = gguf ]; then echo "$work/model-$1-gguf.swm"; else echo "$work/model-$1.swm"; fi; }

results=$work/results.jsonl
: > "$results"
for r in $(seq 1 "$rounds"); do
    for t in $types; do
        g=$work/model-$t.gguf; [ "$t" = bf16 ] && g=$gguf_bf16
        for th in $threads; do
            # One pair: llama.cpp, then swapmoe, back to back.
            OMP_WAIT_POLICY=passive "$llama/llama-bench" -m "$g" $llama_context -n "$gen" -t "$th" -r 1 -o json 2>/dev/null |
                python3 -c "
import json, sys
for row in json.load(sys.stdin):
    kind = 'prefill' if row['n_prompt'] > 0 else 'decode'
    print(json.dumps({'engine': 'llama.cpp', 'type': '$t', 'threads': $th, 'round': $r, 'kind': kind, 'tps': row['avg_ts']}))" >> "$results"
            "$bin" bench "$(swm "$t")" --prompt-tokens "$prompt" --gen-tokens "$gen" --threads "$th" --reps 1 --json 2>/dev/null |
                python3 -c "
import json, sys
j = json.load(sys.stdin)
print(json.dumps({'engine': 'swapmoe', 'type': '$t', 'threads': $th, 'round': $r, 'kind': 'prefill', 'tps': j['prefill_tok_s']}))
print(json.dumps({'engine': 'swapmoe', 'type': '$t', 'threads': $th, 'round': $r, 'kind': 'decode', 'tps': j['decode_tok_s'], 'roofline': j.get('roofline_fraction'), 'roofline_median_pass': j.get('roofline_fraction_median_pass')}))" >> "$results"
        done
    done
done
python3 - "$results" "$depth" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
depth = sys.argv[2]
keys = sorted({(r['type'], r['threads']) for r in rows}, key=lambda k: (k[0], -k[1]))
print(f"| type | threads | llama.cpp prefill | swapmoe prefill | ratio | llama.cpp decode | swapmoe decode | ratio | swapmoe decode / roofline | / the probe's median pass |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for t, th in keys:
    def med(engine, kind, field='tps'):
        v = [r[field] for r in rows if r['type'] == t and r['threads'] == th and r['engine'] == engine and r['kind'] == kind and r.get(field) is not None]
        return statistics.median(v) if v else float('nan')
    # Ratio of medians of per-round ratios (pairs measured back to back).
    def ratio(kind):
        pairs = []
        for rd in sorted({r['round'] for r in rows}):
            a = [r['tps'] for r in rows if (r['type'], r['threads'], r['round'], r['kind'], r['engine']) == (t, th, rd, kind, 'swapmoe')]
            b = [r['tps'] for r in rows if (r['type'], r['threads'], r['round'], r['kind'], r['engine']) == (t, th, rd, kind, 'llama.cpp')]
            if a and b and b[0] > 0: pairs.append(a[0] / b[0])
        return statistics.median(pairs) if pairs else float('nan')
    # With DEPTH the decode also reads the KV cache, which the roofline (weights only) leaves out.
    roof = float('nan') if depth else med('swapmoe', 'decode', 'roofline')
    typical = float('nan') if depth else med('swapmoe', 'decode', 'roofline_median_pass')
    def cell(v, fmt): return '-' if v != v else format(v, fmt)   # nan (nothing to compare): a dash
    prefill = ratio('prefill')
    print(f"| {t} | {th} | {cell(med('llama.cpp', 'prefill'), '.1f')} | {cell(med('swapmoe', 'prefill') if prefill == prefill else float('nan'), '.1f')} | "
          f"{cell(prefill, '.2f')}{'x' if prefill == prefill else ''} | "
          f"{med('llama.cpp', 'decode'):.2f} | {med('swapmoe', 'decode'):.2f} | {ratio('decode'):.2f}x | {cell(100 * roof, '.0f')}{'' if roof != roof else '%'} | {cell(100 * typical, '.0f')}{'' if typical != typical else '%'} |")
PY
