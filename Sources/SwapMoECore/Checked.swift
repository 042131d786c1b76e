/// Overflow-checked size arithmetic for values read from files (shapes, lengths, offsets), where a wrapped
/// product would let a crafted file pass a bounds check. Every function returns nil instead of trapping or
/// wrapping, so the caller can name the bad field in its error.
public enum Checked {
    /// The product of `factors` (1 for none), or nil when a factor is negative or the product overflows.
    public static func product<S: Sequence<Int>>(_ factors: S) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, o) = p.multipliedReportingOverflow(by: f)
            if o { return nil }
            p = r
        }
        return p
    }

    /// `a + b`, or nil on overflow.
    public static func sum(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : r
    }

    /// The sum of non-negative `terms`, or nil when one is negative or the sum overflows.
    public static func total<S: Sequence<Int>>(_ terms: S) -> Int? {
        var s = 0
        for t in terms {
            guard t >= 0, let r = sum(s, t) else { return nil }
            s = r
        }
        return s
    }

    /// The bytes of a tensor of `shape` with `elementSize`-byte elements, or nil on a negative extent or overflow.
    public static func byteCount(shape: [Int], elementSize: Int) -> Int? {
        product(shape).flatMap { product([$0, elementSize]) }
    }
}
