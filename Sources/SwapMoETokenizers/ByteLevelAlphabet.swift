// GPT-2's reversible byte <-> printable character mapping used by ByteLevel components.

import SwapMoECore

enum ByteLevelAlphabet {
    /// Byte value -> the character that stands for it in byte-level vocabularies.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(256 + n)!
                n += 1
            }
        }
        return table
    }()

    /// Inverse table indexed by scalar value (all mapped scalars are below 0x144); -1 for others.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    @inline(__always)
    static func byte(for s: Unicode.Scalar) -> UInt8? {
        let v = Int(s.value)
        guard v < scalarToByte.count else { return nil }
        let b = scalarToByte[v]
        return b < 0 ? nil : UInt8(b)
    }

    /// Maps text to its byte-level form: each UTF-8 byte becomes one character.
    static func encode(_ text: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var buf: [UInt8] = []
        buf.reserveCapacity(4)
        for s in text {
            if s.value < 0x80 {
                out.append(byteToScalar[Int(s.value)])
            } else {
                buf.removeAll(keepingCapacity: true)
                appendUTF8(s, to: &buf)
                for b in buf { out.append(byteToScalar[Int(b)]) }
            }
        }
        return out
    }
}
