import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

/// A weight matrix `W[rows, cols]`, row-major as `nn.Linear.weight`, in f32/f16/bf16, living in memory the
/// caller keeps alive (the archive's mapping or an expert slot).
public struct Matrix: @unchecked Sendable {
    // @unchecked Sendable: points at read-only weight memory owned by an Archive or an expert store that
    // outlives every use; nothing writes through it.
    public let base: UnsafeRawPointer
    public let type: WeightType
    public let rows: Int
    public let cols: Int

    public init(base: UnsafeRawPointer, type: WeightType, rows: Int, cols: Int) {
        self.base = base; self.type = type; self.rows = rows; self.cols = cols
    }

    public var byteCount: Int { rows * cols * type.byteSize }

    /// Row `r` widened to f32 into `out` (used for embedding lookups).
    public func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        convertToFloat(out, base + r * cols * type.byteSize, type, count: cols)
    }
}

extension WeightType {
    init?(_ d: DType) {
        switch d {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        default: return nil
        }
    }
}

/// The matrices of one expert: SwiGLU `down(silu(gate · x) ⊙ up · x)` (Mixtral, Qwen, OLMoE), or a plain
/// two-matrix MLP `down(act(up · x))` (Switch Transformers' ReLU experts, stored as roles `wi` = up, `wo` = down).
public struct ExpertWeights: Sendable {
    /// nil for two-matrix experts.
    public let gate: Matrix?
    public let up: Matrix
    public let down: Matrix

    /// Views the decoded bytes of an expert block through its layout.
    public init(block: UnsafeRawPointer, layout: ExpertLayout) throws(ModelError) {
        func m(_ role: String) throws(ModelError) -> Matrix {
            guard let t = layout.tensor(role), t.shape.count == 2, let type = WeightType(t.dtype) else {
                throw .badConfig(family: "archive", reason: "expert layout lacks a 2-D float '\(role)' matrix")
            }
            return Matrix(base: block + t.offset, type: type, rows: t.shape[0], cols: t.shape[1])
        }
        if layout.tensor("wi") != nil {
            gate = nil; up = try m("wi"); down = try m("wo")
        } else {
            gate = try m("gate"); up = try m("up"); down = try m("down")
        }
    }
}

/// Dense tensors of an archive by name, as kernel-ready matrices and f32 vectors.
///
/// Matrices are copied once (per tensor) onto transparent huge pages (`AnonymousMemory`, read with `pread` and
/// checksummed), as expert weights are: every decode step streams them, and 2 MiB pages read faster than the
/// mapping's 4 KiB ones (resident decode measured ~3% faster). A matrix asked for `inPlace` (an embedding
/// table only looked up by row) stays in the archive's mapping, where only the rows used become resident. If
/// the copy cannot be allocated, the mapping serves it. The copies live in `memory`, which the model keeps.
final class DenseWeights {
    let archive: Archive
    /// The huge-page copy of each tensor copied so far, by name.
    private var copies: [String: AnonymousMemory] = [:]
    /// The tensors served from the mapping whose checksum was checked.
    private var verified: Set<String> = []
    var memory: [AnonymousMemory] { Array(copies.values) }

    init(archive: Archive) { self.archive = archive }

    func has(_ name: String) -> Bool { archive.dense(name) != nil }

    /// The first of `names` present in the archive, as a matrix `[rows, cols]`.
    func matrix(_ names: [String], rows: Int? = nil, cols: Int? = nil, inPlace: Bool = false) throws(ModelError) -> Matrix {
        let t = try tensor(names)
        guard t.shape.count == 2, let type = WeightType(t.dtype) else {
            throw .badTensor(name: t.name, reason: "is \(t.dtype.rawValue) \(t.shape), expected a 2-D f32/f16/bf16 matrix")
        }
        if let rows, t.shape[0] != rows { throw .badTensor(name: t.name, reason: "has \(t.shape[0]) rows, expected \(rows)") }
        if let cols, t.shape[1] != cols { throw .badTensor(name: t.name, reason: "has \(t.shape[1]) columns, expected \(cols)") }
        return Matrix(base: try bytes(of: t, inPlace: inPlace), type: type, rows: t.shape[0], cols: t.shape[1])
    }

    /// The first of `names` the archive has.
    private func tensor(_ names: [String]) throws(ModelError) -> DenseTensor {
        for n in names { if let t = archive.dense(n) { return t } }
        throw .missingTensor(names[0])
    }

    private func bytes(of t: DenseTensor, inPlace: Bool) throws(ModelError) -> UnsafeRawPointer {
        let mapped = archive.withDenseBytes(t) { $0.baseAddress! }
        if t.length == 0 { return mapped }
        if !inPlace {
            if let copy = copies[t.name] { return UnsafeRawPointer(copy.base) }
            if let m = try? AnonymousMemory(byteCount: t.length) {
                do { try archive.readDense(t, into: m.bytes) } catch { throw .corruptArchive(error.description) }
                copies[t.name] = m
                return UnsafeRawPointer(m.base)
            }
        }
        // Served from the mapping, so never read through a checked copy: check it once here (a `pread` pass
        // through the page cache, leaving RSS as it was), as a damaged tensor would give wrong output silently.
        try verifyOnce(t)
        return mapped
    }

    /// Checks a tensor read from the mapping against its checksum, once per tensor (an encoder and a decoder
    /// may share one embedding).
    private func verifyOnce(_ t: DenseTensor) throws(ModelError) {
        guard verified.insert(t.name).inserted else { return }
        do { try archive.verifyDense(t) } catch { throw .corruptArchive(error.description) }
    }

    func matrix(_ name: String, rows: Int? = nil, cols: Int? = nil, inPlace: Bool = false) throws(ModelError) -> Matrix {
        try matrix([name], rows: rows, cols: cols, inPlace: inPlace)
    }

    /// A 1-D tensor widened to f32 (norm weights, biases).
    func vector(_ names: [String], count: Int) throws(ModelError) -> [Float] {
        let t = try tensor(names)
        guard t.elementCount == count, let type = WeightType(t.dtype) else {
            throw .badTensor(name: t.name, reason: "has shape \(t.shape) of \(t.dtype.rawValue), expected \(count) floats")
        }
        try verifyOnce(t)
        var out = [Float](repeating: 0, count: count)
        archive.withDenseBytes(t) { b in out.withUnsafeMutableBufferPointer { convertToFloat($0.baseAddress!, b.baseAddress!, type, count: count) } }
        return out
    }

    func vector(_ name: String, count: Int) throws(ModelError) -> [Float] { try vector([name], count: count) }

    func optionalVector(_ name: String, count: Int) throws(ModelError) -> [Float]? {
        has(name) ? try vector(name, count: count) : nil
    }
}
