import Foundation
import Testing
import SwapMoECore
import SwapMoETestSupport
@testable import SwapMoEGGUF

@Suite("GGUF reading: fixtures against gguf-py, split sets")
struct GGUFFileTests {
    /// gguf-py's dump of a fixture (Tools/make_gguf_fixtures.py).
    func dump(_ name: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.path(name + ".json")))
        return try JSONParser.parse([UInt8](data), file: name + ".json")
    }

    /// Whether a metadata value equals gguf-py's JSON rendering of it.
    func matches(_ v: GGUFValue, _ j: JSONValue) -> Bool {
        switch v {
        case .uint, .int: return v.intValue == j.intValue
        case .float(let d, _): return j.doubleValue == d
        case .bool(let b): return j.boolValue == b
        case .string(let s): return j.stringValue == s
        case .array(let a):
            guard let items = j.arrayValue, items.count == a.count else { return false }
            switch a {
            case .strings(let s): return zip(s, items).allSatisfy { $0 == $1.stringValue }
            case .bools(let b): return zip(b, items).allSatisfy { $0 == $1.boolValue }
            case .floats(let f, _): return zip(f, items).allSatisfy { $0 == $1.doubleValue }
            default: return a.ints.map { zip($0, items).allSatisfy { $0 == $1.intValue } } ?? false
            }
        }
    }

    @Test("every fixture's header, keys (name, type, value) and tensors (name, dims, type, offset, size) equal gguf-py's reading",
          arguments: GGUFFixtures.files + GGUFFixtures.splitParts)
    func fixtureMatchesGGUFPy(name: String) throws {
        let f = try GGUFFile(path: GGUFFixtures.path(name))
        let d = try dump(name)
        #expect(Int(f.version) == d["version"]?.intValue)
        #expect(f.alignment == d["alignment"]?.intValue)
        #expect(f.dataOffset == d["data_offset"]?.intValue)
        #expect(f.fileSize == d["size"]?.intValue)
        let kv = try #require(d["kv"]?.arrayValue)
        #expect(f.keys == kv.compactMap { $0["key"]?.stringValue })
        for entry in kv {
            let key = try #require(entry["key"]?.stringValue)
            let v = try #require(f.metadata[key])
            #expect(v.typePath == entry["type"]?.arrayValue?.compactMap(\.stringValue), "type of \(key)")
            #expect(matches(v, entry["value"] ?? .null), "value of \(key)")
        }
        let tensors = try #require(d["tensors"]?.arrayValue)
        #expect(f.tensors.count == tensors.count)
        for (t, e) in zip(f.tensors, tensors) {
            #expect(t.name == e["name"]?.stringValue)
            #expect(t.ne == e["dims"]?.arrayValue?.compactMap(\.intValue), "dims of \(t.name)")
            #expect(t.type.name == e["type"]?.stringValue, "type of \(t.name)")
            #expect(t.range.lowerBound == e["offset"]?.intValue, "offset of \(t.name)")
            #expect(t.byteCount == e["bytes"]?.intValue, "size of \(t.name)")
        }
    }

    @Test("a split set opened from any part has one tensor table whose bytes equal the unsplit file's")
    func splitSet() throws {
        let whole = try GGUFModel(path: GGUFFixtures.path("olmoe-f32.gguf"))
        for part in GGUFFixtures.splitParts {
            let split = try GGUFModel(path: GGUFFixtures.path(part))
            #expect(split.parts.count == 3)
            #expect(split.metadata["general.architecture"]?.stringValue == "olmoe")
            #expect(split.tensors.map(\.name).sorted() == whole.tensors.map(\.name).sorted())
            for t in whole.tensors {
                let s = try #require(split.tensor(t.name))
                #expect(s.ne == t.ne && s.type == t.type)
                #expect(split.bytes(of: s) == whole.bytes(of: t), "bytes of \(t.name)")
            }
        }
        #expect(Set(try GGUFModel(path: GGUFFixtures.path(GGUFFixtures.splitParts[0])).tensors.map(\.part)) == [0, 1, 2])
    }

    @Test("a split set with a part missing or from another set is refused, naming the part")
    func splitMissing() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        for p in [GGUFFixtures.splitParts[0], GGUFFixtures.splitParts[2]] {
            try FileManager.default.copyItem(atPath: GGUFFixtures.path(p), toPath: dir + "/" + p)
        }
        #expect { try GGUFModel(path: dir + "/" + GGUFFixtures.splitParts[0]) } throws: {
            "\($0)".contains("olmoe-split-00002-of-00003.gguf") && "\($0)".contains("missing")
        }
        // A part renamed so its name disagrees with its split.no.
        try FileManager.default.copyItem(atPath: GGUFFixtures.path(GGUFFixtures.splitParts[2]), toPath: dir + "/olmoe-split-00002-of-00003.gguf")
        #expect { try GGUFModel(path: dir + "/" + GGUFFixtures.splitParts[0]) } throws: { "\($0)".contains("split.no") }
    }

    /// A part of a hand-made split set: split keys as llama-gguf-split writes them (UINT16, UINT16, INT32).
    static func part(no: UInt16, count: UInt16, total: Int32?, tensors: [String]) -> GGUFBuilder {
        var b = GGUFBuilder()
        if no == 0 { b.add("general.architecture", string: "olmoe") }
        b.add("split.no", type: 2, value: GGUFBuilder.le(no))
        b.add("split.count", type: 2, value: GGUFBuilder.le(count))
        if let total { b.add("split.tensors.count", type: 5, value: GGUFBuilder.le(total)) }
        for t in tensors { b.addTensor(t, ne: [8]) }
        return b
    }

    @Test("hand-made split sets: one part reads as a plain file; a wrong split.tensors.count, a tensor in two parts, a renamed part are refused")
    func splitRules() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try Self.part(no: 0, count: 1, total: 1, tensors: ["a.weight"]).write(to: dir + "/single.gguf")
        #expect(try GGUFModel(path: dir + "/single.gguf").parts.count == 1)
        func set(_ parts: [GGUFBuilder], prefix: String) throws -> String {
            for (i, p) in parts.enumerated() { try p.write(to: dir + "/\(prefix)-0000\(i + 1)-of-0000\(parts.count).gguf") }
            return dir + "/\(prefix)-00001-of-0000\(parts.count).gguf"
        }
        let good = try set([Self.part(no: 0, count: 2, total: 2, tensors: ["a.weight"]), Self.part(no: 1, count: 2, total: nil, tensors: ["b.weight"])], prefix: "good")
        #expect(try GGUFModel(path: good).tensors.map(\.name) == ["a.weight", "b.weight"])
        let wrongTotal = try set([Self.part(no: 0, count: 2, total: 3, tensors: ["a.weight"]), Self.part(no: 1, count: 2, total: nil, tensors: ["b.weight"])], prefix: "total")
        #expect { try GGUFModel(path: wrongTotal) } throws: { "\($0)".contains("split.tensors.count is 3") }
        let twice = try set([Self.part(no: 0, count: 2, total: 2, tensors: ["a.weight"]), Self.part(no: 1, count: 2, total: nil, tensors: ["a.weight"])], prefix: "twice")
        #expect { try GGUFModel(path: twice) } throws: { "\($0)".contains("'a.weight' is also in part 1") }
        try Self.part(no: 1, count: 2, total: nil, tensors: ["b.weight"]).write(to: dir + "/renamed.gguf")
        #expect { try GGUFModel(path: dir + "/renamed.gguf") } throws: { "\($0)".contains("-00002-of-00002.gguf") }
        let count = try set([Self.part(no: 0, count: 2, total: 2, tensors: ["a.weight"]), Self.part(no: 1, count: 3, total: nil, tensors: ["b.weight"])], prefix: "count")
        #expect { try GGUFModel(path: count) } throws: { "\($0)".contains("split.count") }
    }

    @Test("tensor bytes come straight from the mapping: the Q8_0 fixture's blocks, F32 values of the f32 fixture")
    func tensorBytes() throws {
        let m = try GGUFModel(path: GGUFFixtures.path("qwen3_moe-q8_0.gguf"))
        let q = try #require(m.tensors.first { $0.type.name == "Q8_0" })
        #expect(try m.dtype(of: q) == .q8_0)
        #expect(q.byteCount == q.elementCount / 32 * 34)
        let n = m.withTensorBytes(q) { $0.count }
        #expect(n == q.byteCount)
        let f = try GGUFModel(path: GGUFFixtures.path("mixtral-f32.gguf"))
        let norm = try f.requireTensor("output_norm.weight")
        #expect(try f.dtype(of: norm) == .f32)
        #expect(f.bytes(of: norm).count == 32 * 4)
    }

    @Test("a tensor type swapmoe cannot compute with is named with the tensor and a llama-quantize remedy")
    func unsupportedType() throws {
        // The 256-wide Q4_K_M fixture with one Q4_K tensor relabelled IQ3_XXS (98 bytes per 256 weights, Q4_K has 144).
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let fixture = [UInt8](try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.path("mixtral-wide-q4_k_m.gguf"))))
        let bytes = try #require(GGUFBuilder.settingType(of: "blk.1.ffn_up_exps.weight", to: 18, in: fixture))
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/iq3.gguf"))
        let m = try GGUFModel(path: dir + "/iq3.gguf")
        let t = try #require(m.tensors.first { $0.type.name == "IQ3_XXS" })
        #expect(t.name == "blk.1.ffn_up_exps.weight" && t.dtype == nil)
        #expect { try m.checkTypesSupported() } throws: {
            let s = "\($0)"
            return s.contains("IQ3_XXS") && s.contains("llama-quantize") && s.contains("iq3.gguf") && s.contains("'blk.1.ffn_up_exps.weight'")
        }
    }

    @Test("llama-quantize's fallback types for rows that are not whole 256-blocks are kept as stored (Q4_K_M fixture: Q5_0)")
    func fallbackTypes() throws {
        // llama-quantize Q4_K_M on rows of 32 (not a multiple of 256) falls back to Q5_0 for most tensors.
        let m = try GGUFModel(path: GGUFFixtures.path("mixtral-q4_k_m.gguf"))
        let q5 = m.tensors.filter { $0.type.name == "Q5_0" }
        #expect(q5.count == 13 && q5.allSatisfy { $0.dtype == .q5_0 })
        try m.checkTypesSupported()
    }

    @Test("GGMLType's table agrees with DType's block layouts for every type kept as stored")
    func typeTable() {
        for (id, dtype) in GGMLType.keptAsStored {
            let t = GGMLType(id: id)!
            #expect(t.name == dtype.rawValue)
            #expect(t.blockSize == dtype.blockSize && t.blockBytes == dtype.blockBytes, "\(t.name)")
        }
        #expect(GGMLType.name(ofID: 31)?.contains("Q4_0_4_4") == true)
        #expect(GGMLType(id: 31) == nil && GGMLType(id: 1000) == nil)
    }
}
