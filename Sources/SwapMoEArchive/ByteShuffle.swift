/// The byte-shuffle filter: element bytes are regrouped by significance before LZ4 (all byte 0s, then all
/// byte 1s, ...). For bf16/f16 weights the high bytes (sign + exponent) are highly repetitive and compress,
/// the mantissa bytes do not; interleaved, LZ4 finds neither. Trailing bytes that do not fill an element are
/// kept in place at the end.
public enum ByteShuffle {
    /// `dst[b * n + i] = src[i * width + b]` for `n = count / width` elements.
    public static func shuffle(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, width: Int) {
        guard width > 1 else { dst.copyMemory(from: src, byteCount: count); return }
        let n = count / width
        let s = src.assumingMemoryBound(to: UInt8.self), d = dst.assumingMemoryBound(to: UInt8.self)
        if width == 2 {
            for i in 0..<n { d[i] = s[2 &* i]; d[n &+ i] = s[2 &* i &+ 1] }
        } else {
            for b in 0..<width { for i in 0..<n { d[b &* n &+ i] = s[i &* width &+ b] } }
        }
        let tail = count - n * width
        if tail > 0 { (dst + n * width).copyMemory(from: src + n * width, byteCount: tail) }
    }

    /// The inverse of `shuffle`.
    public static func unshuffle(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, width: Int) {
        guard width > 1 else { dst.copyMemory(from: src, byteCount: count); return }
        let n = count / width
        let s = src.assumingMemoryBound(to: UInt8.self), d = dst.assumingMemoryBound(to: UInt8.self)
        if width == 2 {
            for i in 0..<n { d[2 &* i] = s[i]; d[2 &* i &+ 1] = s[n &+ i] }
        } else {
            for b in 0..<width { for i in 0..<n { d[i &* width &+ b] = s[b &* n &+ i] } }
        }
        let tail = count - n * width
        if tail > 0 { (dst + n * width).copyMemory(from: src + n * width, byteCount: tail) }
    }
}
