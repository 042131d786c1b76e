/// Byte counts as users type and read them: `1.5G`, `800M`, `4096`, `2GiB`; binary multiples (1G = 2^30),
/// as `ulimit`, cgroups and `free -h` use them.
public enum ByteSize {
    /// Parses `1.5G`, `800M`, `64k`, `2GiB`, `2GB`, `123` (bytes). Returns nil when it is not a size.
    public static func parse(_ text: String) -> UInt64? {
        var s = text.trimmingCharactersInSet()
        guard !s.isEmpty else { return nil }
        let lower = s.lowercased()
        var mult: Double = 1
        for (suffixes, m) in [(["kib", "kb", "k"], 1024.0), (["mib", "mb", "m"], 1_048_576.0),
                              (["gib", "gb", "g"], 1_073_741_824.0), (["tib", "tb", "t"], 1_099_511_627_776.0),
                              (["b"], 1.0)] {
            if let suf = suffixes.first(where: { lower.hasSuffix($0) }) {
                mult = m; s = String(s.dropLast(suf.count)); break
            }
        }
        guard let v = Double(s.trimmingCharactersInSet()), v.isFinite, v >= 0 else { return nil }
        let bytes = (v * mult).rounded(.down)
        guard bytes < 1.8e19 else { return nil }
        return UInt64(bytes)
    }

    /// `1.50 GiB`, `812.3 MiB`, `4.0 KiB`, `17 B`.
    public static func format(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes), u = 0
        while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
        if u == 0 { return "\(bytes) B" }
        return formatFixed(v, digits: v < 10 ? 2 : 1) + " " + units[u]
    }

    public static func format(_ bytes: Int) -> String { format(UInt64(max(0, bytes))) }
}

/// Fixed-point formatting without Foundation's locale machinery.
public func formatFixed(_ v: Double, digits: Int) -> String {
    guard v.isFinite else { return "\(v)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(v) * scale).rounded()
    // Past what UInt64 holds (a norm of 1e300 from a hand-edited manifest), Swift's shortest form ("1e+300").
    guard r < 9.2e18 else { return "\(v)" }
    let whole = UInt64(r / scale)
    var frac = UInt64(r) - whole * UInt64(scale)
    var fracDigits = ""
    for _ in 0..<digits { fracDigits = String(frac % 10) + fracDigits; frac /= 10 }
    let sign = v < 0 && r != 0 ? "-" : ""
    return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fracDigits)"
}

extension String {
    func trimmingCharactersInSet() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
