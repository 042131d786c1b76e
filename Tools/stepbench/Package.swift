// swift-tools-version:6.0
// Decode steps of several sequences batched (DecoderModel.step) against one by one, on one archive:
//   cd Tools/stepbench && swift build -c release && .build/release/stepbench ARCHIVE [ROWS]
// (Docs/Benchmarks.md, "Serving"). A package of its own so the main one keeps no benchmark executable.
import Foundation
import PackageDescription
// A path dependency's identity is its folder's name: that of this checkout, whatever it is called.
let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let package = Package(name: "stepbench", platforms: [.macOS(.v15)],
    dependencies: [.package(path: "../..")],
    targets: [.executableTarget(name: "stepbench", dependencies: [.product(name: "SwapMoERuntime", package: repo.lastPathComponent)])])
