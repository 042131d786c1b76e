#!/usr/bin/env bash
# Sets up a fresh machine (Debian packages only) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source Tools/setup.sh
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
swift test --skip-build 2>&1
