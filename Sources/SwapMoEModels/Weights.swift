import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

/// The matrices of one expert: SwiGLU `down(silu(gate · x) ⊙ up · x)` (Mixtral, Qwen, OLMoE), or a plain
/// two-matrix MLP `down(act(up · x))` (Switch Transformers' ReLU experts, stored as roles `wi` = up, `wo` = down),
/// or gpt-oss's `down(clampedSwiGLU(gateUp · x + b_gu)) + b_d` (roles `gate_up`, `gate_up_bias`, `down`, `down_bias`).
public struct ExpertWeights: Sendable {
    /// nil for two-matrix experts and for gpt-oss's interleaved `gateUp`.
    public let gate: Matrix?
    /// For gpt-oss: `gate_up` `[2I, H]`, rows alternating gate and up.
    public let up: Matrix
    public let down: Matrix
    /// Biases of `up` and `down` (gpt-oss) as one-row views (the block's bytes may not be filled yet when the
    /// weights are made: read them when serving); nil without.
    public let upBias: Matrix?
    public let downBias: Matrix?
    /// `up` is gpt-oss's interleaved `gate_up`.
    public let gateUpInterleaved: Bool

    /// Views the decoded bytes of an expert block (an expert slot or the archive's mapping, kept alive and
    /// unchanged by whoever serves the expert) through its layout.
    public init(block: BorrowedBytes, layout: ExpertLayout) throws(ModelError) {
        func m(_ role: String) throws(ModelError) -> Matrix {
            guard let t = layout.tensor(role), t.shape.count == 2, let type = WeightType(t.dtype),
                  let matrix = Matrix(bytes: block, offset: t.offset, type: type, rows: t.shape[0], cols: t.shape[1]) else {
                throw .badConfig(family: "archive", reason: "expert layout lacks a 2-D float '\(role)' matrix inside its block")
            }
            return matrix
        }
        func v(_ role: String) throws(ModelError) -> Matrix? {
            guard let t = layout.tensor(role) else { return nil }
            guard t.shape.count == 1, let type = WeightType(t.dtype), !t.dtype.isQuantized,
                  let row = Matrix(bytes: block, offset: t.offset, type: type, rows: 1, cols: t.shape[0]) else {
                throw .badConfig(family: "archive", reason: "expert layout's '\(role)' is not a 1-D float vector inside its block")
            }
            return row
        }
        gateUpInterleaved = layout.tensor("gate_up") != nil
        if layout.tensor("wi") != nil {
            gate = nil; up = try m("wi"); down = try m("wo")
        } else if gateUpInterleaved {
            gate = nil; up = try m("gate_up"); down = try m("down")
        } else {
            gate = try m("gate"); up = try m("up"); down = try m("down")
        }
        upBias = try v("gate_up_bias"); downBias = try v("down_bias")
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
            throw .badTensor(name: t.name, reason: "is \(t.dtype.rawValue) \(t.shape), expected a 2-D float or quantized matrix")
        }
        if let rows, t.shape[0] != rows { throw .badTensor(name: t.name, reason: "has \(t.shape[0]) rows, expected \(rows)") }
        if let cols, t.shape[1] != cols { throw .badTensor(name: t.name, reason: "has \(t.shape[1]) columns, expected \(cols)") }
        guard let m = Matrix(bytes: try bytes(of: t, inPlace: inPlace), type: type, rows: t.shape[0], cols: t.shape[1]) else {
            throw .badTensor(name: t.name, reason: "has \(t.length) bytes, too few for \(t.dtype.rawValue) \(t.shape)")
        }
        return m
    }

    /// The first of `names` the archive has.
    private func tensor(_ names: [String]) throws(ModelError) -> DenseTensor {
        for n in names { if let t = archive.dense(n) { return t } }
        throw .missingTensor(names[0])
    }

    private func bytes(of t: DenseTensor, inPlace: Bool) throws(ModelError) -> BorrowedBytes {
        let mapped = archive.denseBytes(t)
        if t.length == 0 { return mapped }
        if !inPlace {
            if let copy = copies[t.name] { return copy.borrowedBytes }
            if let m = try? AnonymousMemory(byteCount: t.length) {
                do { try archive.readDense(t, into: m) } catch { throw .corruptArchive(error.description) }
                copies[t.name] = m
                return m.borrowedBytes
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
        guard let row = Matrix(bytes: archive.denseBytes(t), type: type, rows: 1, cols: count) else {
            throw .badTensor(name: t.name, reason: "has \(t.length) bytes, too few for \(count) \(t.dtype.rawValue) values")
        }
        return row.row(0)
    }

    func vector(_ name: String, count: Int) throws(ModelError) -> [Float] { try vector([name], count: count) }

    func optionalVector(_ name: String, count: Int) throws(ModelError) -> [Float]? {
        has(name) ? try vector(name, count: count) : nil
    }
}
