#!/usr/bin/env bash
# Create (or refresh) a Python virtualenv for swapmoe's offline tools and tests:
#   Tools/setup_venv.sh          <repo>/.venv        from Tools/requirements.txt (fixtures, goldens: torch CPU, transformers, gguf, ...)
#   Tools/setup_venv.sh serve    <repo>/.venv-serve  from Tools/requirements-serve.txt (the server test's clients: openai,
#                                                    and transformers without torch for token counts; ~40 s, ~340 MB)
# Idempotent: a stamp file holding the hash of the requirements lets a second run finish in well under a second.
# Installs Debian's python3-venv first when `python3 -m venv` cannot work.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
    "") VENV="$ROOT/.venv"; REQ="$ROOT/Tools/requirements.txt" ;;
    serve) VENV="$ROOT/.venv-serve"; REQ="$ROOT/Tools/requirements-serve.txt" ;;
    *) echo "setup_venv: unknown venv '$1' (use no argument, or 'serve')" >&2; exit 64 ;;
esac
STAMP="$VENV/.swapmoe-requirements.sha256"

if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        echo "setup_venv: installing python3-venv" >&2
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    fi
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
echo "setup_venv: installed $(grep -cv '^#' "$REQ") requirements into $VENV"
