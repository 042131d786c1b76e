import Foundation
import Testing
@testable import SwapMoECore

/// The one JSON value type: what the tokenizer files' parser keeps, and that Codable (archives, checkpoints)
/// sees the same values.
@Suite("JSON")
struct JSONTests {
    static func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8), file: "t.json") }

    @Test("the parser keeps keys in file order with duplicates; lookups take the last one")
    func keyOrder() throws {
        let o = try #require(try Self.parse(#"{"b": 1, "a": 2, "b": 3}"#).objectValue)
        #expect(o.keys == ["b", "a", "b"])
        #expect(o.count == 3)
        #expect(o["b"] == .int(3))
        #expect(o["c"] == nil)
        #expect(o == ["a": .int(2), "b": .int(3)])
    }

    @Test("integers stay exact and distinct from doubles; intValue is nil for fractional or huge doubles")
    func numbers() throws {
        #expect(try Self.parse("9007199254740993") == .int(9_007_199_254_740_993))
        #expect(try Self.parse("-0") == .int(0))
        #expect(try Self.parse("2.0") == .double(2))
        #expect(try Self.parse("2.0").intValue == 2)
        #expect(try Self.parse("2.5").intValue == nil)
        #expect(try Self.parse("1e19").intValue == nil)
        #expect(try Self.parse("99999999999999999999").intValue == nil)
        #expect(try Self.parse("true") == .bool(true))
        #expect(try Self.parse("true").intValue == nil)
    }

    @Test("a syntax error names the file, line and column")
    func syntaxError() {
        #expect {
            _ = try Self.parse("{\n  \"a\": 1,, }")
        } throws: { e in
            guard let e = e as? JSONSyntaxError else { return false }
            return e.file == "t.json" && e.location.hasPrefix("line 2, column") && "\(e)".hasPrefix("t.json is not valid JSON at line 2")
        }
        #expect(throws: JSONSyntaxError.self) { _ = try Self.parse("[1, 2") }
        #expect(throws: JSONSyntaxError.self) { _ = try Self.parse(#""\ud800""#) }
    }

    @Test("JSONDecoder and the parser read the same value; encoding keeps the members")
    func codable() throws {
        let text = #"{"b": 1, "a": [true, null, "x\n", 1.5, {"k": -7}]}"#
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(decoded == (try Self.parse(text)))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let encoded = String(decoding: try enc.encode(decoded), as: UTF8.self)
        #expect(encoded == #"{"a":[true,null,"x\n",1.5,{"k":-7}],"b":1}"#)
        #expect(Set([decoded, try Self.parse(#"{"a": [true, null, "x\n", 1.5, {"k": -7}], "b": 1}"#)]).count == 1)
    }

    @Test("appendUTF8 encodes every scalar width like String does")
    func utf8() {
        for s in ["a", "é", "€", "😀"] {
            var out: [UInt8] = []
            appendUTF8(s.unicodeScalars.first!, to: &out)
            #expect(out == Array(s.utf8))
        }
    }
}
