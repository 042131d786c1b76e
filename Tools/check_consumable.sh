#!/usr/bin/env bash
# Checks that another SwiftPM package can depend on swapmoe's `SwapMoERuntime` library by version, as a user's
# package would (SwiftPM refuses targets with unsafe flags in such a dependency), and that it can open an
# archive through it.
#
#   bash Tools/check_consumable.sh [ARCHIVE]
#
# Clones the committed HEAD into a temporary bare repository tagged 0.0.1, writes a small consumer package that
# depends on it with `exact: "0.0.1"`, and builds it twice: with SWAPMOE_UNSAFE_FLAGS=0 (must build) and
# without (SwiftPM is expected to refuse the unsafe flags; printed for the record). With ARCHIVE, the consumer
# runs the README's example on it.
set -euo pipefail
cd "$(dirname "$0")/.."
archive=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q --bare . "$tmp/swapmoe.git"
git -C "$tmp/swapmoe.git" tag 0.0.1 "$(git rev-parse HEAD)"
mkdir -p "$tmp/consumer/Sources/consumer"
cat > "$tmp/consumer/Package.swift" <<EOF
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "consumer",
    platforms: [.macOS(.v15)],
    dependencies: [.package(url: "file://$tmp/swapmoe.git", exact: "0.0.1")],
    targets: [.executableTarget(name: "consumer", dependencies: [.product(name: "SwapMoERuntime", package: "swapmoe")])]
)
EOF
cat > "$tmp/consumer/Sources/consumer/main.swift" <<'EOF'
import SwapMoERuntime

// The README's "From Swift" example, with the archive from the command line.
let args = CommandLine.arguments
if args.count > 1 {
    var options = SessionOptions(archive: args[1])
    options.maxRSS = 8 << 30
    let session = try Session(options: options)
    let result = try session.generate("The capital of France is", maxNewTokens: 8) { _, text in
        print(text, terminator: ""); return true
    }
    print("\n\(result.finishReason), \(result.tokens.count) tokens; \(session.expertStatsLine)")
} else {
    print("SwapMoERuntime links")
}
EOF
echo "== without SWAPMOE_UNSAFE_FLAGS=0 (SwiftPM should refuse the unsafe flags of a versioned dependency):"
if (cd "$tmp/consumer" && swift build 2>&1 | tail -3); then :; fi
rm -rf "$tmp/consumer/.build"
echo "== with SWAPMOE_UNSAFE_FLAGS=0:"
(cd "$tmp/consumer" && SWAPMOE_UNSAFE_FLAGS=0 swift build 2>&1 | tail -3)
(cd "$tmp/consumer" && SWAPMOE_UNSAFE_FLAGS=0 swift run -q consumer ${archive:+"$(realpath "$archive")"})
