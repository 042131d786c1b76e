#!/usr/bin/env bash
# Create (or refresh) the fixture-tooling virtualenv at <repo>/.venv.
# Idempotent: re-running only installs what is missing; a stamp file holding the
# hash of requirements.txt lets a second run finish in well under a second.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/Tools/requirements.txt"
STAMP="$VENV/.swapmoe-requirements.sha256"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    echo "setup_venv: $VENV is up to date"
    exit 0
fi

"$VENV/bin/pip" install --quiet --upgrade pip
# torch==2.13.0 is pinned on purpose (CPU wheel); see requirements.txt.
"$VENV/bin/pip" install --quiet -r "$REQ"
echo "$want" > "$STAMP"
echo "setup_venv: installed $(wc -l < "$REQ") requirement lines into $VENV"
