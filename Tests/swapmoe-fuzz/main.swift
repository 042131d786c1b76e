// swapmoe-fuzz: writes the fuzz test's cases to disk for long campaigns through the real binary (Tools/fuzz.sh).
//
//     swapmoe-fuzz --fixtures Tests/Fixtures --out DIR --from I --count N [--seed S]
//
// Packs the seed archives into DIR once, then writes cases I ..< I+N and prints one line per case:
// `<index>\t<kind>\t<path>\t<mutation>`.
import Foundation
import SwapMoEFuzz
import SwapMoECLI

var options: [String: String] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while args.count >= 2 { options[args.removeFirst()] = args.removeFirst() }
guard let fixtures = options["--fixtures"], let out = options["--out"] else {
    FileHandle.standardError.write(Data("usage: swapmoe-fuzz --fixtures DIR --out DIR [--from I] [--count N] [--seed S]\n".utf8))
    exit(64)
}
let from = Int(options["--from"] ?? "0") ?? 0, count = Int(options["--count"] ?? "100") ?? 100
let seed = UInt64(options["--seed"] ?? "") ?? 0x5EED
do {
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let generator = try Terminal.withMutedOutput { try FuzzSeeds.generator(fixtures: fixtures, in: out, seed: seed) }
    for i in from..<(from + count) {
        let c = try generator.make(index: i, in: out)
        let mutation = c.mutation.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ")
        print("\(i)\t\(c.kind.rawValue)\t\(c.path)\t\(mutation)")
    }
} catch {
    FileHandle.standardError.write(Data("swapmoe-fuzz: \(error)\n".utf8))
    exit(1)
}
