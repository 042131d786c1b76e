import Foundation
import Testing
import SwapMoECore
import SwapMoETestSupport
@testable import SwapMoEGGUF

@Suite("GGUF reading: malformed and hostile files are refused at open")
struct GGUFMalformedTests {
    /// Parses in memory; the error's message, or nil when the bytes open.
    func failure(_ bytes: [UInt8]) -> String? {
        do { _ = try parseGGUF(bytes: bytes, file: "model.gguf"); return nil } catch { return error.description }
    }

    func failure(_ b: GGUFBuilder) -> String? { failure(b.build().bytes) }

    @Test("the builder's valid file opens from disk with its keys, tensors and bytes")
    func validOpens() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let b = GGUFBuilder.valid()
        try b.write(to: dir + "/model.gguf")
        let f = try GGUFFile(path: dir + "/model.gguf")
        #expect(f.keys.count == b.kvs.count)
        #expect(f.metadata["tokenizer.ggml.tokens"]?.arrayValue?.strings == ["<unk>", "<s>", "a", "b", "ab"])
        #expect(f.metadata["llama.rope.freq_base"]?.doubleValue == 10000)
        #expect(f.tensors.map(\.name) == b.tensors.map(\.name))
        for (t, bt) in zip(f.tensors, b.tensors) {
            #expect(f.bytes(of: t) == bt.data)
            #expect(t.ne == bt.ne.map { Int($0) })
        }
        #expect(f.tensors[2].shape == [2, 2, 32])
    }

    @Test("truncation at every byte of a valid file is refused as truncated (header) or out of bounds (data)")
    func everyTruncation() {
        let (bytes, marks) = GGUFBuilder.valid().build()
        for n in 0..<bytes.count {
            guard let message = failure(Array(bytes[0..<n])) else {
                Issue.record("a file cut at byte \(n) of \(bytes.count) opened")
                continue
            }
            #expect(message.contains("truncated"), "cut at \(n): \(message)")
        }
        // At a structure boundary the message names what is cut (marks: magic, version, counts, 8 keys, 3 tensor infos).
        #expect(failure(Array(bytes[0..<marks[5]]))?.contains("the tensor count") == true)
        #expect(failure(Array(bytes[0..<marks[13]]))?.contains("tensor 1") == true)
        #expect(failure(Array(bytes[0..<(bytes.count - 1)]))?.contains("blk.0.ffn_gate_exps.weight") == true)
    }

    @Test("bad magic, GGUF v1, v4 and a big-endian file are refused with their own messages")
    func headers() {
        var b = GGUFBuilder.valid()
        b.magic = Array("GGML".utf8)
        #expect(failure(b)?.contains("not a GGUF file") == true)
        b = GGUFBuilder.valid()
        b.version = 1
        #expect(failure(b)?.contains("version 1") == true)
        b.version = 4
        #expect(failure(b)?.contains("version 4") == true)
        b.version = 3
        b.bigEndianVersion = true
        #expect(failure(b)?.contains("big-endian") == true)
        b.bigEndianVersion = false
        b.version = 2
        #expect(failure(b) == nil)
        #expect(failure([UInt8]("GGUF".utf8))?.contains("truncated") == true)
        #expect(failure([])?.contains("truncated") == true)
    }

    @Test("huge counts and lengths are refused before any allocation; decoded metadata has a memory budget")
    func hugeCounts() {
        var b = GGUFBuilder.valid()
        b.tensorCountOverride = UInt64.max
        #expect(failure(b)?.contains("tensor count") == true)
        b = GGUFBuilder.valid()
        b.kvCountOverride = 1 << 40
        #expect(failure(b)?.contains("metadata count") == true)
        b = GGUFBuilder.valid()
        b.add("huge.string", type: 8, value: GGUFBuilder.le(UInt64.max - 3))
        #expect(failure(b)?.contains("huge.string") == true)
        b = GGUFBuilder.valid()
        b.add("huge.array", type: 9, value: GGUFBuilder.le(UInt32(4)) + GGUFBuilder.le(UInt64(1) << 61))
        #expect(failure(b)?.contains("huge.array") == true)
        b = GGUFBuilder.valid()
        b.add("huge.strings", type: 9, value: GGUFBuilder.le(UInt32(8)) + GGUFBuilder.le(UInt64(1) << 40) + GGUFBuilder.str("x"))
        #expect(failure(b)?.contains("huge.strings") == true)
        // The decoded metadata is bounded too: a parser with a small budget refuses a large array.
        var cursorBytes = GGUFBuilder.le(UInt32(4)) + GGUFBuilder.le(UInt64(64)) + [UInt8](repeating: 0, count: 256)
        let budget: String? = cursorBytes.withUnsafeMutableBytes { raw in
            var c = ByteCursor(bytes: UnsafeRawBufferPointer(raw), file: "model.gguf")
            c.metadataBudget = 100
            do throws(GGUFError) { _ = try c.array("'big'", depth: 1); return nil } catch { return error.description }
        }
        #expect(budget?.contains("larger than 1 GiB") == true)
        cursorBytes.removeAll()
        // Nested arrays: depth is bounded.
        var nested = GGUFBuilder.le(UInt32(9)) + GGUFBuilder.le(UInt64(1))
        for _ in 0..<10 { nested += GGUFBuilder.le(UInt32(9)) + GGUFBuilder.le(UInt64(1)) }
        b = GGUFBuilder.valid()
        b.add("deep", type: 9, value: nested + GGUFBuilder.le(UInt32(0)) + GGUFBuilder.le(UInt64(0)))
        #expect(failure(b)?.contains("nests arrays") == true)
    }

    @Test("tensor infos: n_dims 0 and 5, zero and negative extents, unknown and removed types, partial blocks, overflow")
    func tensorInfos() {
        var b = GGUFBuilder.valid()
        b.tensors[0].nDimsOverride = 5
        b.tensors[0].ne = [1, 1, 1, 1, 1]
        #expect(failure(b)?.contains("5 dimensions") == true)
        b = GGUFBuilder.valid()
        b.tensors[1].nDimsOverride = 0
        b.tensors[1].ne = []
        #expect(failure(b)?.contains("0 dimensions") == true)
        b = GGUFBuilder.valid()
        b.tensors[0].ne = [8, 0]
        #expect(failure(b)?.contains("extent 0") == true)
        b = GGUFBuilder.valid()
        b.tensors[0].ne = [8, UInt64(bitPattern: -5)]
        #expect(failure(b)?.contains("extent -5") == true)
        b = GGUFBuilder.valid()
        b.tensors[0].type = 99
        #expect(failure(b)?.contains("ggml type 99") == true)
        b.tensors[0].type = 31
        #expect(failure(b)?.contains("Q4_0_4_4") == true)
        b = GGUFBuilder.valid()
        b.tensors[2].ne = [33, 2, 2]
        #expect(failure(b)?.contains("not a multiple of Q8_0's block of 32") == true)
        b = GGUFBuilder.valid()
        b.tensors[0].ne = [1 << 40, 1 << 40]
        #expect(failure(b)?.contains("overflows") == true)
        b = GGUFBuilder.valid()
        b.tensors[0].name = String(repeating: "x", count: 64)
        #expect(failure(b)?.contains("name of 64 bytes") == true)
        b = GGUFBuilder.valid()
        b.tensors[0].name = ""
        #expect(failure(b)?.contains("is empty") == true)
    }

    @Test("tensor data: misaligned, overlapping, beyond the file, duplicate names")
    func tensorData() {
        var b = GGUFBuilder.valid()
        b.tensors[1].offset = 161
        #expect(failure(b)?.contains("not a multiple of the alignment 32") == true)
        b = GGUFBuilder.valid()
        b.tensors[1].offset = 128
        #expect(failure(b)?.contains("overlap") == true)
        b = GGUFBuilder.valid()
        b.tensors[2].offset = 1 << 40
        let (bytes, _) = GGUFBuilder.valid().build()
        var far = b.build().bytes
        far = Array(far[0..<min(far.count, bytes.count)])
        #expect(failure(far)?.contains("ends at byte") == true)
        b = GGUFBuilder.valid()
        b.tensors[2].offset = UInt64.max - 31
        #expect(failure(Array(b.build().bytes.prefix(bytes.count))) != nil)
        b = GGUFBuilder.valid()
        b.tensors[1].name = "token_embd.weight"
        #expect(failure(b)?.contains("appears twice") == true)
    }

    @Test("metadata: duplicate keys, alignment not a power of two or not UINT32, bad BOOL, unknown value type, invalid UTF-8")
    func metadata() {
        var b = GGUFBuilder.valid()
        b.add("general.architecture", string: "qwen2moe")
        #expect(failure(b)?.contains("'general.architecture' appears twice") == true)
        b = GGUFBuilder.valid()
        b.kvs[1] = ("general.alignment", GGUFBuilder.le(UInt32(4)) + GGUFBuilder.le(UInt32(24)))
        #expect(failure(b)?.contains("general.alignment is 24") == true)
        b.kvs[1] = ("general.alignment", GGUFBuilder.le(UInt32(4)) + GGUFBuilder.le(UInt32(0)))
        #expect(failure(b)?.contains("general.alignment") == true)
        b.kvs[1] = ("general.alignment", GGUFBuilder.le(UInt32(10)) + GGUFBuilder.le(UInt64(32)))
        #expect(failure(b)?.contains("UINT64") == true)
        b = GGUFBuilder.valid()
        b.add("flag", type: 7, value: [2])
        #expect(failure(b)?.contains("BOOL of value 2") == true)
        b = GGUFBuilder.valid()
        b.add("odd", type: 13, value: [0])
        #expect(failure(b)?.contains("value type 13") == true)
        b = GGUFBuilder.valid()
        b.kvs.append((key: "bad", encoded: GGUFBuilder.le(UInt32(8)) + GGUFBuilder.rawStr([0xff, 0xfe])))
        #expect(failure(b)?.contains("UTF-8") == true)
        // A larger power-of-two alignment is honoured.
        b = GGUFBuilder.valid()
        b.kvs[1] = ("general.alignment", GGUFBuilder.le(UInt32(4)) + GGUFBuilder.le(UInt32(64)))
        b.alignment = 64
        #expect(failure(b) == nil)
    }

    typealias SplitMix = SplitMix64

    /// One random mutation: overwrite bytes (often with extreme values), insert, delete or truncate.
    static func mutate(_ input: [UInt8], _ rng: inout SplitMix, headerEnd: Int) -> [UInt8] {
        var b = input
        let span = max(1, min(headerEnd, b.count))
        switch rng.below(6) {
        case 0, 1:
            for _ in 0...rng.below(4) { b[rng.below(span)] = UInt8(truncatingIfNeeded: rng.next()) }
        case 2:
            let at = rng.below(max(1, span - 8))
            let v: UInt64 = [UInt64.max, 1 << 62, 1 << 32, 0, 5, 64, UInt64(rng.below(1 << 20))][rng.below(7)]
            for i in 0..<8 where at + i < b.count { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        case 3:
            b.removeSubrange(rng.below(span)..<b.count)
        case 4:
            let at = rng.below(span)
            b.removeSubrange(at..<min(b.count, at + 1 + rng.below(16)))
        default:
            b.insert(contentsOf: (0...rng.below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: rng.below(span))
        }
        return b
    }

    /// Parses `bytes`; when they open, also derives the config, tokenizer and tensor names from them (each may
    /// throw GGUFError, none may trap). Whether the file opened.
    func openAndMap(_ bytes: [UInt8]) -> Bool {
        guard let p = try? parseGGUF(bytes: bytes, file: "model.gguf") else { return false }
        let dims = Dictionary(p.tensors.map { ($0.name, $0.ne) }, uniquingKeysWith: { a, _ in a })
        _ = try? GGUFConfigMapping.config(GGUFConfigInputs(fileName: "model.gguf", metadata: p.metadata, tensorDims: dims))
        _ = try? GGUFTokenizerMapping.tokenizer(fileName: "model.gguf", metadata: p.metadata)
        if let arch = try? GGUFConfigMapping.architecture(fileName: "model.gguf", metadata: p.metadata) {
            for t in p.tensors {
                _ = GGUFTensorNames.map(t.name, arch: arch, heads: 4, kvHeads: 2, experts: t.ne.count == 3 ? t.ne[2] : 1)
            }
        }
        return true
    }

    @Test("3000 seeded random mutations of a small file and 600 of a fixture's header open or throw GGUFError, never trap; those that open map to config, tokenizer and names without trapping")
    func fuzz() throws {
        var rng = SplitMix(state: 18)
        let (small, marks) = GGUFBuilder.valid().build()
        var opened = 0, refused = 0
        for _ in 0..<3000 {
            if openAndMap(GGUFFuzz.mutate(small, &rng, headerEnd: marks.last!)) { opened += 1 } else { refused += 1 }
        }
        let fixture = [UInt8](try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.path("qwen3_moe-q8_0.gguf"))))
        let header = try GGUFFile(path: GGUFFixtures.path("qwen3_moe-q8_0.gguf")).dataOffset
        for _ in 0..<600 {
            if openAndMap(GGUFFuzz.mutate(fixture, &rng, headerEnd: header)) { opened += 1 } else { refused += 1 }
        }
        #expect(refused > 1000)
        #expect(opened > 100)
        #expect(opened + refused == 3600)
    }
}

/// The mutation helpers under a short name.
typealias GGUFFuzz = GGUFMalformedTests
