#!/usr/bin/env bash
# Builds llama.cpp (the copy vendored in PyPI's llama-cpp-python sdist) for side-by-side benchmarks and GGUF
# conversion: llama-bench and llama-quantize, plus its converter convert_hf_to_gguf.py; llama-tokenize and
# llama-gguf-split for the GGUF reader's fixtures (Tools/make_gguf_fixtures.py).
#
#   bash Tools/build_llamacpp.sh [DIR]      # default .build/llamacpp; ~10-15 minutes on 2 cores
# Prints the directory holding the binaries. Needs cmake and a C++ compiler (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.build/llamacpp}
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
mkdir -p "$dir"
command -v cmake >/dev/null || apt-get install -y cmake g++ >/dev/null
src="$dir/llama_cpp_python-$version/vendor/llama.cpp"
if [ ! -d "$src" ]; then
    # The sdist carries llama.cpp's sources; fetch it without building the Python package.
    if [ ! -f "$dir/sdist.tar.gz" ]; then
        ( [ -x .venv/bin/pip ] && .venv/bin/pip download --no-deps --no-binary :all: --no-build-isolation \
              "llama-cpp-python==$version" -d "$dir" >/dev/null 2>&1 ) || true
        sdist=$(ls "$dir"/llama_cpp_python-"$version".tar.gz 2>/dev/null || true)
        if [ -z "$sdist" ]; then
            url=$(curl -sS -H "Accept: application/vnd.pypi.simple.v1+json" https://pypi.org/simple/llama-cpp-python/ |
                  python3 -c "import json,sys; print(next(f['url'] for f in json.load(sys.stdin)['files'] if f['filename']=='llama_cpp_python-$version.tar.gz'))")
            curl -sS -o "$dir/sdist.tar.gz" "$url"
        else
            mv "$sdist" "$dir/sdist.tar.gz"
        fi
    fi
    tar xzf "$dir/sdist.tar.gz" -C "$dir"
fi
# A CPU that lists AMX but cannot run it (seen 2026-12-05: a VM whose Xeon reports amx_tile, where `ldtilecfg` raises
# SIGILL even after the kernel grants the tile state): -march=native would build llama.cpp's AMX kernels, and
# llama-bench dies on every type they serve (q4_0, q8_0, q4_K, ...). Probe it; without working AMX, build without.
flags=""
if grep -qw amx_tile /proc/cpuinfo; then
    probe=$(mktemp -d)
    printf '%s\n' '#include <immintrin.h>' '#include <sys/syscall.h>' '#include <unistd.h>' \
        'int main(void) { if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return 2;' \
        '  unsigned char c[64] = {0}; c[0] = 1; c[16] = 64; c[48] = 16;' \
        '  _tile_loadconfig(c); _tile_zero(0); _tile_release(); return 0; }' > "$probe/amx.c"
    if ! { cc -O1 -mamx-tile -o "$probe/amx" "$probe/amx.c" 2>/dev/null && bash -c '"$1"; exit $?' _ "$probe/amx" 2>/dev/null; }; then
        flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        echo "build_llamacpp: this CPU lists AMX but cannot run it; building without" >&2
    fi
    rm -rf "$probe"
fi
cmake -S "$src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
cmake --build "$dir/build" --target llama-bench llama-quantize llama-tokenize llama-gguf-split -j "$(nproc)" >/dev/null
echo "$dir/build/bin"
