#!/usr/bin/env bash
# Sets up a fresh machine (Debian packages only) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
# The server test talks to `swapmoe serve` with the real openai client: a small venv of its own (~40 s once).
bash Tools/setup_venv.sh serve || echo "test: could not set up .venv-serve; the server's client test will skip" >&2
# The kernels have a 512-bit and a 256-bit GEMM and the default build picks one for this CPU: test the portable
# (AVX2) build's kernels as well, so both stay covered wherever the suite runs.
SWAPMOE_TARGET_CPU=haswell swift test --scratch-path .build/portable --filter SwapMoEKernelsTests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]'
# The whole suite, default build.
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
swift test --skip-build 2>&1
