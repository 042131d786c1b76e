import SwapMoECore

/// Sizes and parameter counts of an archive, computed from its manifest alone.
public struct ArchiveStats: Sendable, Equatable {
    public var denseBytes = 0
    public var fileBytes = 0
    public var expertStoredBytes = 0
    public var expertRawBytes = 0
    public var paramsDense = 0
    public var paramsExperts = 0
    /// Parameters used per token: dense ones plus `experts_per_token` experts of every MoE layer.
    public var paramsActive = 0
    /// `lz4` when any expert block is LZ4-compressed, else `raw`.
    public var codec = "raw"
    public var dtypes: [String] = []
    /// Parameters and raw bytes stored in each type (dense tensors and expert matrices together).
    public var byType: [DType: TypeUsage] = [:]

    public struct TypeUsage: Sendable, Equatable {
        public var params = 0
        public var bytes = 0
        /// Bits per stored parameter.
        public var bitsPerWeight: Double { params > 0 ? Double(bytes * 8) / Double(params) : 0 }
    }

    /// The bytes of every quantized tensor, and what the same parameters would take in bf16.
    public var quantizedBytes: (stored: Int, asBF16: Int) {
        byType.filter { $0.key.isQuantized }.values.reduce((0, 0)) { ($0.0 + $1.bytes, $0.1 + 2 * $1.params) }
    }

    /// Bits per expert parameter as the experts are held in memory (raw, after any LZ4 is undone).
    public var expertBitsPerWeight: Double { paramsExperts > 0 ? Double(expertRawBytes * 8) / Double(paramsExperts) : 0 }

    /// Raw expert bytes over stored expert bytes (1.0 for raw archives).
    public var compressionRatio: Double { expertStoredBytes > 0 ? Double(expertRawBytes) / Double(expertStoredBytes) : 1 }

    public init(_ m: Manifest) {
        var types = Set<String>()
        func use(_ t: DType, params: Int, bytes: Int) {
            types.insert(t.rawValue)
            byType[t, default: TypeUsage()].params += params
            byType[t, default: TypeUsage()].bytes += bytes
        }
        for d in m.dense { denseBytes += d.length; paramsDense += d.elementCount; use(d.dtype, params: d.elementCount, bytes: d.length) }
        fileBytes = m.files.reduce(0) { $0 + $1.length }
        var perLayer: [String: (params: Int, experts: Int)] = [:]
        for e in m.experts {
            expertStoredBytes += e.storedLength
            expertRawBytes += e.rawLength
            let layout = m.expertLayouts[e.layout]
            let p = layout.tensors.reduce(0) { $0 + $1.elementCount }
            layout.tensors.forEach { use($0.dtype, params: $0.elementCount, bytes: $0.length) }
            paramsExperts += p
            let k = "\(e.stack)/\(e.layer)"
            perLayer[k, default: (0, 0)].params += p
            perLayer[k, default: (0, 0)].experts += 1
            if e.codec == .lz4 { codec = "lz4" }
        }
        paramsActive = paramsDense + perLayer.values.reduce(0) { acc, l in
            acc + l.params / max(l.experts, 1) * min(m.model.expertsPerToken, l.experts)
        }
        dtypes = types.sorted()
    }
}
