import SwapMoECore
import SwapMoEModels

/// Which tensors `pack --quant SPEC` stores as quantized blocks, and as which type.
///
/// SPEC is a type (`q4_K`: experts only) or comma-separated `part=type` pairs: `experts`, `dense` (attention
/// and dense/shared-expert MLP matrices), `embed` (token embeddings), `head` (LM head), e.g.
/// `experts=q4_K,dense=q8_0`. Routers, norms and biases always stay in float (`TensorRole`).
public struct QuantSpec: Sendable, Equatable, CustomStringConvertible {
    public var experts: DType?
    public var dense: DType?
    public var embed: DType?
    public var head: DType?

    public static let parts = ["experts", "dense", "embed", "head"]
    public static var typeList: String { DType.quantized.map(\.rawValue).joined(separator: ", ") }

    public init(experts: DType? = nil, dense: DType? = nil, embed: DType? = nil, head: DType? = nil) {
        self.experts = experts; self.dense = dense; self.embed = embed; self.head = head
    }

    /// Parses SPEC; the error names the bad part and what is accepted.
    public init(parsing spec: String) throws(QuantSpecError) {
        func type(_ s: Substring) throws(QuantSpecError) -> DType {
            guard let t = DType(userSpelling: String(s)), DType.quantized.contains(t) else { throw .badType(String(s)) }
            return t
        }
        let items = spec.split(separator: ",", omittingEmptySubsequences: false)
        if items.count == 1, !spec.contains("=") { self.init(experts: try type(items[0])); return }
        self.init()
        for item in items {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else { throw .badItem(String(item)) }
            let t = try type(kv[1])
            switch kv[0].lowercased() {
            case "experts": experts = t
            case "dense": dense = t
            case "embed": embed = t
            case "head": head = t
            default: throw .badPart(String(kv[0]))
            }
        }
    }

    public var isEmpty: Bool { experts == nil && dense == nil && embed == nil && head == nil }

    /// `experts=Q4_K,dense=Q8_0` (the parts set, in a fixed order), as recorded in the manifest.
    public var description: String {
        zip(Self.parts, [experts, dense, embed, head]).compactMap { p, t in t.map { "\(p)=\($0.rawValue)" } }
            .joined(separator: ",")
    }

    /// The type requested for a dense tensor of `role` (nil: keep it as it is).
    public func requested(for role: TensorRole) -> DType? {
        switch role {
        case .matrix: dense
        case .embedding: embed
        case .head: head
        case .router, .other: nil
        }
    }

    /// The type a matrix whose rows hold `cols` weights is stored as when `requested` was asked for
    /// (`DType.stored(asking:cols:)`: llama-quantize's 32-weight fallback for K-types, nil: kept in float).
    public static func resolve(_ requested: DType?, cols: Int) -> DType? { DType.stored(asking: requested, cols: cols) }
}

public enum QuantSpecError: Error, CustomStringConvertible, Equatable {
    case badType(String)
    case badPart(String)
    case badItem(String)

    public var description: String {
        switch self {
        case .badType(let t): "--quant: '\(t)' is not a quantized type; use one of \(QuantSpec.typeList)"
        case .badPart(let p): "--quant: unknown part '\(p)'; parts are \(QuantSpec.parts.joined(separator: ", ")) (e.g. experts=q4_K,dense=q8_0)"
        case .badItem(let i): "--quant: '\(i)' is not part=type; write e.g. experts=q4_K,dense=q8_0, or one type for the experts"
        }
    }
}
