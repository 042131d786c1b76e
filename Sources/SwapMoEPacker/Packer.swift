import Foundation
import SwapMoECore
import SwapMoECheckpoint
import SwapMoEArchive
import SwapMoEModels
import SwapMoEKernels
import SwapMoEGGUF

/// What `swapmoe pack` was asked to do.
public struct PackOptions: Sendable {
    public enum Compression: String, Sendable, CaseIterable { case none, lz4 }
    /// A Hugging Face folder, a `.gguf` file (any part of a split set), or a folder holding one GGUF model.
    public var input: String
    public var output: String
    public var compress: Compression = .none
    public var shuffle = false
    /// nil keeps each tensor's source dtype.
    public var dtype: DType? = nil
    /// Which tensors to store as quantized blocks (`--quant`); empty keeps every tensor in float.
    public var quant = QuantSpec()
    /// Store Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and MXFP4 weight matrices (quantized here or kept from a GGUF; experts, attention, dense
    /// MLPs, LM head) as Q4_K_X8 / Q5_K_X8 / Q6_K_X8 / Q4_0_X8 / Q4_1_X8 / Q5_0_X8 / Q5_1_X8 / Q8_0_X8 / MXFP4_X8 / Q3_K_X8 / Q2_K_X8 / IQ4_NL_X8 / IQ4_XS_X8, rows interleaved eight at a time for the GEMV and GEMM (`--no-interleave`: plain
    /// rows).
    public var interleave = true

    public init(input: String, output: String, compress: Compression = .none, shuffle: Bool = false, dtype: DType? = nil,
                quant: QuantSpec = QuantSpec()) {
        self.input = input; self.output = output; self.compress = compress; self.shuffle = shuffle; self.dtype = dtype
        self.quant = quant
    }
}

/// What a pack did, for the final summary line.
public struct PackSummary: Sendable {
    public var family: String
    public var tensors: Int
    public var experts: Int
    public var bytesIn: Int
    public var bytesOut: Int
    public var seconds: Double
    public var output: String
    /// Matrices stored quantized, by type, and matrices asked to be quantized that stayed in float because
    /// their rows are not whole blocks.
    public var quantized: [DType: Int] = [:]
    public var keptFloat = 0
    /// Where the model came from (nil: a Hugging Face folder), and matrices already quantized there, kept as stored.
    public var source: SourceInfo? = nil
    public var keptQuantized: [DType: Int] = [:]
    /// Of the Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, MXFP4, Q3_K, Q2_K, IQ4_NL and IQ4_XS matrices above, those stored with their rows interleaved (Q4_K_X8, ...).
    public var interleaved = 0
    /// Matrices read from FP8 e4m3 blocks (`FP8Weight`), and their block format.
    public var dequantizedFP8 = 0
    public var fp8Format: FP8BlockFormat? = nil
    /// What the user should be told that did not stop the pack.
    public var warnings: [String] = []

    public var ratio: Double { bytesOut > 0 ? Double(bytesIn) / Double(bytesOut) : 1 }
    public var megabytesPerSecond: Double { seconds > 0 ? Double(bytesIn) / 1e6 / seconds : 0 }

    public var line: String {
        "packed \(family)\(source.map { " from \($0.text)" } ?? ""): \(tensors) dense tensors, \(experts) experts, \(ByteSize.format(bytesIn)) in -> \(ByteSize.format(bytesOut)) out "
            + "(ratio \(formatFixed(ratio, digits: 3))), \(formatFixed(megabytesPerSecond, digits: 1)) MB/s, \(formatFixed(seconds, digits: 1)) s -> \(output)"
            + quantLine + keptLine + fp8Line + (interleaved > 0 ? "; \(interleaved) matrices with rows interleaved by 8 (Q4_K_X8, ...)" : "")
    }

    /// "; 42 FP8 e4m3 matrices (128x128 blocks) dequantized" ("per-channel scales" for compressed-tensors') or "".
    var fp8Line: String {
        guard dequantizedFP8 > 0, let f = fp8Format else { return "" }
        return "; \(dequantizedFP8) FP8 e4m3 matrices (\(f.scalesText)) dequantized"
    }

    /// "; kept as stored: 14 Q8_0" (a GGUF's quantized tensors) or "".
    var keptLine: String {
        keptQuantized.isEmpty ? "" : "; kept as stored: "
            + keptQuantized.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
    }

    /// "; quantized 96 matrices as Q4_K, 32 as Q8_0 (rows not whole Q4_K blocks), 2 kept in float" or "".
    var quantLine: String {
        if quantized.isEmpty && keptFloat == 0 { return "" }
        let types = quantized.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) as \($0.key.rawValue)" }
        return "; quantized matrices: " + (types.isEmpty ? "none" : types.joined(separator: ", "))
            + (keptFloat > 0 ? "; \(keptFloat) kept in float (rows not whole blocks)" : "")
    }
}

public enum PackError: Error, CustomStringConvertible {
    case checkpoint(CheckpointError)
    case gguf(GGUFError)
    case model(ModelError)
    case archive(ArchiveError)
    case conversion(ConversionError)
    case io(SystemError)
    case outputIsInput(String)
    case missingTensor(String)
    case notAModel(String)
    case severalGGUF(folder: String, files: [String])
    case noModel(folder: String)
    case fp8Layout(String)

    public var description: String {
        switch self {
        case .checkpoint(let e): e.description
        case .gguf(let e): e.description
        case .model(let e): e.description
        case .archive(let e): e.description
        case .conversion(let e): e.description
        case .io(let e): e.description
        case .outputIsInput(let p): "output '\(p)' is one of the files being packed; choose another -o path"
        case .missingTensor(let n): "the model has no tensor '\(n)'; it is incomplete, pack it again from a complete download"
        case .notAModel(let p): "'\(p)' is neither a GGUF file nor a Hugging Face folder; pass a .gguf file or a folder with config.json and *.safetensors"
        case .noModel(let f): "no config.json (Hugging Face checkpoint) nor .gguf file in '\(f)'; pass a checkpoint folder downloaded with all its files, or a .gguf file"
        case .fp8Layout(let n): "tensor '\(n)' is FP8 in a layout stored transposed or repacked (gpt-oss's); only row-major FP8 matrices are read, convert the checkpoint to bf16 first"
        case let .severalGGUF(folder, files):
            "'\(folder)' holds several GGUF models (\(files.prefix(4).joined(separator: ", "))\(files.count > 4 ? ", ..." : "")); pass the .gguf file to pack"
        }
    }

    static func wrap(_ error: any Error) -> PackError {
        switch error {
        case let e as PackError: e
        case let e as CheckpointError: .checkpoint(e)
        case let e as GGUFError: .gguf(e)
        case let e as ModelError: .model(e)
        case let e as ArchiveError: .archive(e)
        case let e as ConversionError: .conversion(e)
        case let e as SystemError: .io(e)
        default: .io(SystemError("pack", path: "\(error)", errno: EIO))
        }
    }
}

/// Converts a Hugging Face checkpoint folder or a GGUF file into an expert archive, streaming tensor by tensor.
///
/// Both inputs are read through `PackSource` under Hugging Face tensor names, so one loop serves both. A GGUF's
/// quantized tensors are copied block for block (never re-quantized); its float tensors follow `--dtype` and
/// `--quant` as a safetensors checkpoint's do.
///
/// Peak memory stays bounded whatever the model size: source tensors are read from a read-only mapping whose
/// pages are dropped (MADV_DONTNEED) as soon as each tensor is written, dtype conversion works in 1 MiB
/// pieces, and LZ4 compresses one 1 MiB chunk at a time.
public enum Packer {
    /// Progress callback: bytes of source tensors consumed so far, and in all.
    public typealias Progress = (_ done: Int, _ total: Int) -> Void

    public static func pack(_ options: PackOptions, progress: Progress? = nil) throws(PackError) -> PackSummary {
        do { return try run(options, progress: progress) } catch { throw PackError.wrap(error) }
    }

    static func run(_ options: PackOptions, progress: Progress?) throws -> PackSummary {
        let start = monotonicSeconds()
        let ckpt = try PackInput.detect(options.input).open()
        let config = try ModelFamily.detect(configData: ckpt.configData)
        // Never write over a file being read, nor a stray .safetensors into the folder (a later pack would read it).
        func canonical(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
        let outPath = canonical(options.output)
        let outDir = URL(fileURLWithPath: outPath).deletingLastPathComponent().path
        if ckpt.inputPaths.contains(where: { canonical($0) == outPath })
            || (outDir == canonical(options.input) && options.output.hasSuffix(".safetensors")) {
            throw PackError.outputIsInput(options.output)
        }

        // Which tensors are experts (per stack, layer and expert) and which are dense.
        var expertParts: [(stack: ExpertStack, layer: Int, experts: [[ExpertPart]])] = []
        var consumed = Set<String>()
        for stack in config.stacks {
            for layer in stack.moeLayers {
                let parts = try stack.resolve(layer: layer, hidden: config.hiddenSize, in: ckpt)
                expertParts.append((stack.name, layer, parts))
                for e in parts { for p in e { consumed.formUnion(p.tensors) } }
            }
        }
        let denseNames = ckpt.tensorNames.filter { !consumed.contains($0) && !config.packIgnores($0) && !ckpt.isFP8Scale($0) }

        let writer = try ArchiveWriter(path: options.output)
        do {
            let total = ckpt.totalTensorBytes
            var done = 0
            let converter = Converter(target: options.dtype, pool: options.quant.isEmpty ? nil : ThreadPool.shared)
            var quantized: [DType: Int] = [:], keptFloat = 0, keptQuantized: [DType: Int] = [:], dequantizedFP8 = 0, interleaved = 0
            /// The type a matrix of `cols` columns is written as, given the type `requested` for it. A quantized
            /// source (a GGUF's) keeps its type whatever is requested. A matrix the GEMV and GEMM alone read
            /// (`matrixRows`: its rows; `Packer.interleavable`) that ends up Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 or MXFP4 is stored as Q4_K_X8, ... where its rows
            /// are whole groups of 8 (`interleave`).
            func storedType(_ stored: DType, fp8: FP8Weight?, requested: DType?, cols: Int, matrixRows: Int? = nil) -> DType {
                let t = resolvedType(stored, fp8: fp8, requested: requested, cols: cols)
                guard options.interleave, let x8 = t.interleaved, let rows = matrixRows, interleavedFits(rows: rows, cols: cols, blockSize: x8.blockSize) else { return t }
                interleaved += 1
                return x8
            }
            func resolvedType(_ stored: DType, fp8: FP8Weight?, requested: DType?, cols: Int) -> DType {
                // An FP8 weight is read as floats (dequantized), so it is stored as a float tensor would be.
                if fp8 != nil { dequantizedFP8 += 1 }
                let source = fp8 == nil ? stored : Converter.fp8StandIn
                if source.isQuantized { keptQuantized[source, default: 0] += 1; return source }
                guard requested != nil, source.isComputeFloat else { return converter.outputType(source) }
                guard let t = QuantSpec.resolve(requested, cols: cols) else { keptFloat += 1; return converter.outputType(source) }
                quantized[t, default: 0] += 1
                return t
            }

            // Files: tokenizer and generation config, verbatim.
            writer.beginRegion("files")
            var files: [FileEntry] = []
            for (name, data) in try ckpt.sideFiles() {
                let r = try writer.writeBlock(alignment: ArchiveFormat.tensorAlignment, codec: .raw, shuffle: 0) { sink in
                    try data.withUnsafeBytes { try sink.append($0) }
                }
                files.append(FileEntry(name: name, offset: r.offset, length: r.storedLength, xxh3: Checksum.hex(r.checksum)))
            }
            writer.endRegion("files")

            // Dense tensors: raw, 64-byte aligned, usable straight from a mapping.
            writer.beginRegion("dense")
            var dense: [DenseTensor] = []
            for name in denseNames {
                let info = try ckpt.tensorInfo(name)
                let role = TensorRole(name: name, shape: info.shape)
                let requested = options.quant.requested(for: role)
                let fp8 = ckpt.fp8Weight(name)
                let outType = storedType(info.dtype, fp8: fp8, requested: requested, cols: info.shape.last ?? 0,
                                         matrixRows: info.shape.count == 2 && Packer.interleavable(name, role: role) ? info.shape[0] : nil)
                let r = try writer.writeBlock(alignment: ArchiveFormat.tensorAlignment, codec: .raw, shuffle: 0) { sink in
                    if let fp8 { _ = try converter.writeFP8(fp8, rows: nil, from: ckpt, as: outType, to: sink); return }
                    try ckpt.withBytes(name) { _, bytes in
                        _ = try converter.write(bytes, from: info.dtype, as: outType, cols: info.shape.last ?? 0, to: sink) {
                            ckpt.release(name, piece: $0, of: bytes)
                        }
                    }
                }
                dense.append(DenseTensor(name: name, dtype: outType, shape: info.shape, offset: r.offset, length: r.storedLength,
                                         xxh3: Checksum.hex(r.checksum)))
                done += info.byteCount + (fp8?.scale.byteCount ?? 0)
                progress?(done, total)
            }
            writer.endRegion("dense")

            // Experts: one block each, 4 KiB aligned, matrices 64-byte aligned inside.
            writer.beginRegion("experts")
            var layouts: [ExpertLayout] = []
            var entries: [ExpertEntry] = []
            let codec: ExpertCodec = options.compress == .lz4 ? .lz4 : .raw
            for (stack, layer, experts) in expertParts {
                for (e, parts) in experts.enumerated() {
                    let infos = try parts.map { try ckpt.tensorInfo($0.tensor) }
                    // An expert's bias vectors (gpt-oss) stay in float, as dense biases do.
                    let fp8s = parts.map { ckpt.fp8Weight($0.tensor) }
                    let types = zip(zip(parts, infos), fp8s).map { p, fp8 in
                        storedType(p.0.sourceType(p.1), fp8: fp8, requested: p.0.shape.count == 2 ? options.quant.experts : nil, cols: p.0.shape.last ?? 0,
                                   matrixRows: p.0.shape.count == 2 ? p.0.shape[0] : nil)
                    }
                    let layout = ExpertLayout(parts: zip(parts, types).map { ($0.role, $1, $0.shape) })
                    let layoutIndex: Int
                    if let i = layouts.firstIndex(of: layout) { layoutIndex = i } else { layoutIndex = layouts.count; layouts.append(layout) }
                    // Byte shuffle groups the bytes of float elements; quantized blocks have no element width.
                    let first = layout.tensors.first?.dtype
                    let width = options.shuffle && codec == .lz4 && first?.isQuantized == false ? (first?.size ?? 1) : 0
                    var sumSq = 0.0
                    let r = try writer.writeBlock(alignment: ArchiveFormat.blockAlignment, codec: codec, shuffle: width) { sink in
                        for (((part, info), type), fp8) in zip(zip(zip(parts, infos), types), fp8s) {
                            try sink.pad(to: ArchiveFormat.tensorAlignment)
                            if let fp8 {
                                guard part.transform == .none else { throw PackError.fp8Layout(part.tensor) }
                                sumSq += try converter.writeFP8(fp8, rows: part.rows, from: ckpt, as: type, to: sink, sumOfSquares: true)
                                continue
                            }
                            try part.withBytes(info, in: ckpt) { bytes, release in
                                sumSq += try converter.write(bytes, from: part.sourceType(info), as: type, cols: part.shape.last ?? 0, to: sink,
                                                             sumOfSquares: true, done: release)
                            }
                        }
                    }
                    entries.append(ExpertEntry(stack: stack, layer: layer, expert: e, layout: layoutIndex, offset: r.offset,
                                               storedLength: r.storedLength, rawLength: r.rawLength, codec: codec, shuffle: width,
                                               xxh3: Checksum.hex(r.checksum), norm: sumSq.squareRoot()))
                    done += infos.enumerated().reduce(0) { acc, x in
                        let rows = parts[x.offset].rows
                        // An FP8 expert's own scales are read with it (a fused tensor's are shared: counted as rows are not).
                        return acc + (rows.map { $0.count * rowBytes(x.element) } ?? x.element.byteCount + (fp8s[x.offset]?.scale.byteCount ?? 0))
                    }
                    progress?(done, total)
                }
            }
            writer.endRegion("experts")

            // Weights read from FP8 are stored as floats: the archive's config no longer describes a quantized
            // model (as fp8_cast_bf16.py's instructions say: drop quantization_config); `pack.dequantized` says what was done.
            let fp8Note = dequantizedFP8 > 0 ? ckpt.fp8Format.map(\.summary) : nil
            let manifest = Manifest(
                createdBy: "swapmoe \(SwapMoEVersion.string)", family: config.family.rawValue, model: config.summary,
                config: fp8Note == nil ? ckpt.config : Packer.removing("quantization_config", from: ckpt.config),
                pack: PackSettings(dtype: options.dtype?.rawValue.lowercased() ?? "keep", compress: options.compress.rawValue,
                                   shuffle: options.shuffle && codec == .lz4, quant: options.quant.isEmpty ? nil : options.quant.description,
                                   source: ckpt.origin, dequantized: fp8Note),
                files: files, dense: dense, expertLayouts: layouts, experts: entries)
            try writer.finish(manifest: manifest)
            let outSize = (try? FileHandleFD.openForReading(options.output).size()) ?? 0
            return PackSummary(family: config.family.rawValue, tensors: dense.count, experts: entries.count, bytesIn: total,
                               bytesOut: outSize, seconds: monotonicSeconds() - start, output: options.output,
                               quantized: quantized, keptFloat: keptFloat, source: ckpt.origin, keptQuantized: keptQuantized,
                               interleaved: interleaved, dequantizedFP8: dequantizedFP8, fp8Format: ckpt.fp8Format, warnings: ckpt.warnings)
        } catch {
            writer.abort()
            throw error
        }
    }

    /// `config` without its key `key` (an object keeps its other keys in order).
    static func removing(_ key: String, from config: JSONValue) -> JSONValue {
        guard case .object(let o) = config, let i = o.keys.firstIndex(of: key) else { return config }
        var keys = o.keys, values = o.values
        keys.remove(at: i); values.remove(at: i)
        return .object(JSONObject(keys: keys, values: values))
    }

    /// Whether a dense tensor is only ever multiplied by (GEMV, GEMM) and may be stored interleaved: attention
    /// projections, dense and shared-expert MLPs, the LM head; not the embedding (looked up by row), routers and
    /// vectors, nor MLA's `kv_b_proj` (latent attention reads it by head slices and key rows).
    static func interleavable(_ name: String, role: TensorRole) -> Bool {
        (role == .matrix || role == .head) && !name.hasSuffix("kv_b_proj.weight")
    }

    static func rowBytes(_ info: TensorInfo) -> Int {
        guard let last = info.shape.last, last > 0 else { return info.byteCount }
        return info.dtype.isQuantized ? last / info.dtype.blockSize * info.dtype.blockBytes : last * info.dtype.size
    }

    /// The bytes of `rows` of a tensor viewed as 2-D `[rows, last_dim]` (the whole tensor when nil).
    static func rowSlice(_ bytes: UnsafeRawBufferPointer, info: TensorInfo, rows: Range<Int>?) -> UnsafeRawBufferPointer {
        guard let rows else { return bytes }
        let rb = rowBytes(info)
        return UnsafeRawBufferPointer(rebasing: bytes[(rows.lowerBound * rb)..<(rows.upperBound * rb)])
    }
}
