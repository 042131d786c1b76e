import Foundation
import Testing
import SwapMoEFuzz
import SwapMoECLI
import SwapMoETestSupport

/// A few hundred malformed archives, manifests (checksum recomputed), configs, safetensors headers, tokenizer
/// files and GGUF files through the CLI's commands in process: every one must fail with a domain error on one line,
/// or succeed, and never crash. `Tools/fuzz.sh N` runs the same generator through the binary for long campaigns.
@Suite("Fuzzing") struct FuzzTests {
    @Test("malformed inputs of every kind give clean one-line errors, never a crash")
    func malformedInputs() throws {
        let count = Int(ProcessInfo.processInfo.environment["SWAPMOE_FUZZ_CASES"] ?? "") ?? 250
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try Terminal.withMutedOutput { try run(count: count, in: dir) }
    }

    func run(count: Int, in dir: String) throws {
        let generator = try FuzzSeeds.generator(fixtures: TestPaths.fixtures, in: dir)
        let text = dir + "/text.txt"
        try "Hello world. The quick brown fox jumps over the lazy dog, twice over.\n".write(toFile: text, atomically: true, encoding: .utf8)
        var problems: [String] = []
        var perKind: [FuzzKind: Int] = [:]
        for i in 0..<count {
            let c = try generator.make(index: i, in: dir)
            // Named before it runs, so a crash shows which case it was.
            FileHandle.standardError.write(Data("fuzz case \(i) (\(c.kind.rawValue)): \(c.mutation.prefix(160))\n".utf8))
            problems += FuzzRunner.check(c, scratch: dir, text: text).map { "case \(i) [\(c.mutation.prefix(120))]: \($0)" }
            perKind[c.kind, default: 0] += 1
            try? FileManager.default.removeItem(atPath: c.path)
        }
        #expect(perKind.count == FuzzKind.allCases.count)
        #expect(problems.isEmpty, "\(problems.count) problems:\n\(problems.prefix(30).joined(separator: "\n"))")
    }

    @Test("the generator is deterministic: the same seed and index give the same case")
    func deterministic() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let g = try Terminal.withMutedOutput { try FuzzSeeds.generator(fixtures: TestPaths.fixtures, in: dir) }
        for i in 0..<10 {
            let a = try g.make(index: i, in: dir + "/a"), b = try g.make(index: i, in: dir + "/b")
            #expect(a.mutation == b.mutation)
            if a.kind.isArchive { #expect(FileManager.default.contentsEqual(atPath: a.path, andPath: b.path)) }
        }
    }
}
