import SwapMoECore

/// How an FP8 checkpoint's `F8_E4M3` weights are scaled: one scale per block of a grid over each matrix, a weight's
/// value being its e4m3 value times its block's scale (a multiplier), computed in f32. Two hub layouts share it:
///
/// - Fine-grained FP8 (DeepSeek-V3 and Kimi-K2's hub weights, Qwen3's and Qwen3-Next's `-FP8` releases):
///   `quantization_config = {quant_method: "fp8", fmt: "e4m3", activation_scheme: "dynamic", weight_block_size: [bm, bn]}`,
///   `X.weight` `[..., rows, cols]` beside `X.weight_scale_inv` `[..., ceil(rows / bm), ceil(cols / bn)]`, as
///   transformers' `Fp8Dequantize` and DeepSeek's `weight_dequant` read it.
/// - compressed-tensors FP8 (llm-compressor's `FP8_DYNAMIC` / `FP8` / `FP8_BLOCK` schemes, RedHatAI's `-FP8-dynamic`
///   releases, GLM-4.5-Air-FP8): `X.weight` beside `X.weight_scale`, whose grid follows the weights' `strategy`:
///   `channel` (`[rows, 1]`, one scale per row: a `1 x cols` block), `tensor` (`[]` or `[1]`: the whole matrix),
///   `block` (`block_structure` `[bm, bn]`, as above). See `FP8BlockFormat+CompressedTensors.swift`.
///
/// Scales may be f32, bf16 or f16; edge blocks are partial. Tensors left in float (embeddings, norms, routers, the
/// LM head) have no scale and are read as they are.
public struct FP8BlockFormat: Sendable, Hashable {
    /// Which config and naming the checkpoint uses.
    public enum Method: String, Sendable, Hashable {
        case fp8 = "fp8"
        case compressedTensors = "compressed-tensors"
    }

    /// What one scale covers.
    public enum Strategy: String, Sendable, Hashable { case block, channel, tensor }

    /// Rows and columns of one block; `Int.max` stands for "the whole dimension" (channel columns, tensor).
    public let blockRows: Int
    public let blockCols: Int
    public let method: Method
    public let strategy: Strategy

    /// A fine-grained `fp8` checkpoint's `bm x bn` blocks.
    public init(blockRows: Int, blockCols: Int) {
        self.init(method: .fp8, strategy: .block, blockRows: blockRows, blockCols: blockCols)
    }

    init(method: Method, strategy: Strategy, blockRows: Int = .max, blockCols: Int = .max) {
        self.method = method; self.strategy = strategy
        switch strategy {
        case .block: self.blockRows = blockRows; self.blockCols = blockCols
        case .channel: self.blockRows = 1; self.blockCols = .max
        case .tensor: self.blockRows = .max; self.blockCols = .max
        }
    }

    /// `128x128`, `per-channel`, `per-tensor`.
    public var text: String {
        switch strategy {
        case .block: "\(blockRows)x\(blockCols)"
        case .channel: "per-channel"
        case .tensor: "per-tensor"
        }
    }

    /// `128x128 blocks`, `per-channel scales`, `per-tensor scales`.
    public var scalesText: String { text + (strategy == .block ? " blocks" : " scales") }

    /// What the archive's `pack.dequantized` says: `fp8 e4m3, 128x128 blocks` or
    /// `compressed-tensors fp8 e4m3, per-channel scales`.
    public var summary: String { (method == .fp8 ? "fp8 e4m3, " : "compressed-tensors fp8 e4m3, ") + scalesText }

    /// The scale tensor of an FP8 weight: `X.weight` -> `X.weight_scale_inv` (transformers' fp8 naming) or
    /// `X.weight_scale` (compressed-tensors').
    public func scaleName(of weight: String) -> String { weight + (method == .fp8 ? "_scale_inv" : "_scale") }

    /// Reads `quantization_config` from a parsed `config.json`: nil without one or for a method another layer
    /// owns (gpt-oss's `mxfp4`; unknown methods are refused by the model families' config check), the format for
    /// `quant_method: fp8` or a compressed-tensors FP8 scheme, or the one-line error naming what this reader does not do.
    static func parse(config: JSONValue, path: String) throws(CheckpointError) -> FP8BlockFormat? {
        guard let q = config["quantization_config"], !q.isNull else { return nil }
        switch q["quant_method"]?.stringValue {
        case "fp8": return try parseFP8(q, path: path)
        case "compressed-tensors": return try parseCompressedTensors(q, path: path)
        default: return nil
        }
    }

    private static func parseFP8(_ q: JSONValue, path: String) throws(CheckpointError) -> FP8BlockFormat {
        func bad(_ reason: String) -> CheckpointError { .badConfig(path: path, reason: "quantization_config (quant_method fp8): " + reason) }
        if let fmt = q["fmt"]?.stringValue, fmt.lowercased() != "e4m3" {
            throw bad("fmt '\(fmt)' is not supported (only e4m3 weights); convert the checkpoint to bf16 first (DeepSeek's fp8_cast_bf16.py)")
        }
        if let scheme = q["activation_scheme"]?.stringValue, scheme.lowercased() != "dynamic" {
            throw bad("activation_scheme '\(scheme)' is not supported (only dynamic, which needs no activation scales); use the model's dynamic FP8 or bf16 release")
        }
        if let fmt = q["scale_fmt"]?.stringValue, fmt != "float" && fmt != "ue8m0" {
            throw bad("scale_fmt '\(fmt)' is not supported (float or ue8m0 scales stored as floats)")
        }
        guard let sizes = q["weight_block_size"]?.arrayValue else {
            throw bad("no weight_block_size (per-tensor FP8 is not supported); use a block-quantized release or convert to bf16 first")
        }
        let (bm, bn) = try blockSizes(sizes, key: "weight_block_size", bad: bad)
        return FP8BlockFormat(blockRows: bm, blockCols: bn)
    }

    /// Two block sizes between 1 and 2^20 (so a grid's ceil-division cannot overflow), or `bad`'s error.
    static func blockSizes(_ sizes: [JSONValue], key: String, bad: (String) -> CheckpointError) throws(CheckpointError) -> (Int, Int) {
        let ints = sizes.compactMap(\.intValue)
        guard ints.count == 2, sizes.count == 2, ints.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 }) else {
            throw bad("\(key) \(describe(.array(sizes))) must be two block sizes between 1 and 2^20")
        }
        return (ints[0], ints[1])
    }

    /// A config value as JSON-like text for messages: `[16, 8]`, `channel`.
    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): s
        case .int(let i): String(i)
        case .bool(let b): String(b)
        case .double(let d): String(d)
        case .null: "null"
        case .array(let a): "[" + a.map(describe).joined(separator: ", ") + "]"
        case .object: "{...}"
        }
    }
}

/// An `F8_E4M3` weight and its scales, checked against each other when the checkpoint is opened.
public struct FP8Weight: Sendable, Hashable {
    public let weight: TensorInfo
    public let scale: TensorInfo
    public let format: FP8BlockFormat
    /// The last dimension (weights per row).
    public let cols: Int
    /// Rows of the tensor viewed as 2-D `[rowCount, cols]` (leading dimensions folded in).
    public let rowCount: Int
    /// Rows of one matrix (the second-to-last dimension), this matrix's block (the format's, clamped to the
    /// matrix: a channel's `1 x cols`, a tensor's `rows x cols`) and the block grid of one matrix.
    let matrixRows: Int
    let blockRows: Int
    let blockCols: Int
    let gridRows: Int
    let gridCols: Int

    /// Pairs `weight` with `scale`, or the one-line error saying which shape or dtype is wrong.
    init(weight: TensorInfo, scale: TensorInfo?, format: FP8BlockFormat, path: String) throws(CheckpointError) {
        let scaleName = format.scaleName(of: weight.name)
        guard weight.shape.count >= 2 else {
            throw .badFP8(tensor: weight.name, path: path, reason: "is F8_E4M3 with shape \(weight.shape); only matrices ([rows, cols], or stacked [..., rows, cols]) are block-quantized")
        }
        guard let scale else {
            throw .badFP8(tensor: weight.name, path: path, reason: "is F8_E4M3 but its scales '\(scaleName)' are missing; download every file of the checkpoint")
        }
        guard scale.dtype == .f32 || scale.dtype == .bf16 || scale.dtype == .f16 else {
            throw .badFP8(tensor: weight.name, path: path, reason: "has scales '\(scaleName)' of dtype \(scale.dtype.rawValue); expected F32, BF16 or F16")
        }
        let rows = weight.shape[weight.shape.count - 2], cols = weight.shape[weight.shape.count - 1]
        // Blocks of at least 1 and at most the matrix: the format's sizes are in 1...2^20 or Int.max ("whole").
        let blockRows = max(1, min(format.blockRows, rows)), blockCols = max(1, min(format.blockCols, cols))
        // Ceil-division without overflow: both blocks are >= 1, rows and cols are non-negative.
        let gridRows = rows / blockRows + (rows % blockRows == 0 ? 0 : 1)
        let gridCols = cols / blockCols + (cols % blockCols == 0 ? 0 : 1)
        let expected = Array(weight.shape.dropLast(2) + [gridRows, gridCols])
        // compressed-tensors stores a 2-D matrix's one per-tensor scale as a scalar or a single number.
        let scalar = format.strategy == .tensor && weight.shape.count == 2 && (scale.shape == [] || scale.shape == [1])
        guard scale.shape == expected || scalar else {
            let grid = format.strategy == .block ? "in \(format.text) blocks" : "with \(format.text) scales"
            throw .badFP8(tensor: weight.name, path: path, reason: "has scales '\(scaleName)' of shape \(scale.shape), but \(weight.shape) \(grid) needs \(expected); the checkpoint is corrupt or its quantization_config does not match it")
        }
        guard let rowCount = Checked.product(weight.shape.dropLast()), Checked.product(expected) != nil else {
            throw .badFP8(tensor: weight.name, path: path, reason: "shape \(weight.shape) overflows")
        }
        self.weight = weight; self.scale = scale; self.format = format
        self.cols = cols; self.rowCount = rowCount; matrixRows = rows
        self.blockRows = blockRows; self.blockCols = blockCols
        self.gridRows = gridRows; self.gridCols = gridCols
    }

    /// Rows `rows` of the 2-D view, dequantized into `out` (`rows.count x cols` floats, row-major): each value is
    /// `e4m3(byte) * scale` in f32, one rounding, as transformers computes it.
    /// `weight` and `scales` are the whole tensors' bytes (as `withTensorBytes` hands them out).
    public func dequantize(rows: Range<Int>, weight bytes: UnsafeRawBufferPointer, scales: UnsafeRawBufferPointer,
                           into out: UnsafeMutableBufferPointer<Float>) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= rowCount && out.count >= rows.count * cols,
                     "FP8 dequantize: rows \(rows) of \(rowCount), output \(out.count)")
        precondition(bytes.count == weight.byteCount && scales.count == scale.byteCount, "FP8 dequantize: tensor sizes")
        let table = FP8E4M3.table
        var blockScales = [Float](repeating: 0, count: gridCols)
        for (i, r) in rows.enumerated() {
            // The scale row of matrix `r / matrixRows`, block row `(r % matrixRows) / blockRows`.
            let scaleRow = (r / matrixRows) * gridRows + (r % matrixRows) / blockRows
            for j in 0..<gridCols { blockScales[j] = readScale(scales, at: scaleRow * gridCols + j) }
            let src = bytes.baseAddress! + r * cols
            let dst = out.baseAddress! + i * cols
            for j in 0..<gridCols {
                let s = blockScales[j]
                for c in (j * blockCols)..<min(cols, (j + 1) * blockCols) {
                    dst[c] = table[Int(src.load(fromByteOffset: c, as: UInt8.self))] * s
                }
            }
        }
    }

    private func readScale(_ scales: UnsafeRawBufferPointer, at i: Int) -> Float {
        switch scale.dtype {
        case .bf16: bf16ToFloat(scales.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        case .f16: f16ToFloat(scales.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        default: scales.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        }
    }
}

/// OCP FP8 E4M3 as torch's `float8_e4m3fn` reads it: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0
/// is subnormal (`m/8 * 2^-6`); no infinities, and only `S.1111.111` (0x7F, 0xFF) is NaN, so the largest value is 448.
public enum FP8E4M3 {
    public static func decode(_ byte: UInt8) -> Float {
        let sign: Float = byte & 0x80 == 0 ? 1 : -1
        let e = Int(byte >> 3) & 0xF, m = Int(byte & 0x7)
        if e == 0xF && m == 0x7 { return .nan }
        if e == 0 { return sign * Float(m) / 8 * 0x1p-6 }
        return sign * (1 + Float(m) / 8) * Float(sign: .plus, exponent: e - 7, significand: 1)
    }

    /// Every byte's value (exact in f32).
    public static let table: [Float] = (0...255).map { decode(UInt8($0)) }
}
