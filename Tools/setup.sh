#!/usr/bin/env bash
# Installs what swapmoe needs on a fresh Debian/Ubuntu machine that has the Swift toolchain:
# Debian's liblz4-dev, libxxhash-dev and libmicrohttpd-dev (linked through system-library targets; libmicrohttpd
# is the HTTP server under `swapmoe serve`), and the kernel headers of linux-libc-dev for the loader's AIO calls
# (normally already there with libc6-dev). Idempotent.
set -euo pipefail

need=()
pkg-config --exists liblz4 2>/dev/null || need+=(liblz4-dev)
pkg-config --exists libxxhash 2>/dev/null || need+=(libxxhash-dev)
pkg-config --exists libmicrohttpd 2>/dev/null || need+=(libmicrohttpd-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
[ -f /usr/include/linux/aio_abi.h ] || need+=(linux-libc-dev)

if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "setup: need root to install ${need[*]}: run 'apt-get install -y ${need[*]}' as root" >&2; exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null || true
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do [ -x "$d/swift" ] && export PATH="$d:$PATH"; done
fi
command -v swift >/dev/null 2>&1 || { echo "setup: the Swift toolchain (6.x) is not on PATH; install it from swift.org" >&2; exit 1; }
