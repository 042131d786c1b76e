// swift-tools-version:6.0
// Decode steps of several sequences batched (DecoderModel.step) against one by one, on one archive:
//   cd Tools/stepbench && swift build -c release && .build/release/stepbench ARCHIVE [ROWS]
// (Docs/Benchmarks.md, "Serving"). A package of its own so the main one keeps no benchmark executable.
import PackageDescription
let package = Package(name: "stepbench", platforms: [.macOS(.v15)],
    dependencies: [.package(path: "../..")],
    targets: [.executableTarget(name: "stepbench", dependencies: [.product(name: "SwapMoERuntime", package: "main")])])
