import SwapMoECore

/// The archive's table of contents: UTF-8 JSON at the end of the file, checksummed in the header.
/// Key names are the snake_case ones of Docs/ArchiveFormat.md; checksums are 16-hex-digit strings (JSON
/// numbers cannot carry 64 bits in every language).
public struct Manifest: Codable, Sendable {
    public var format = "swapmoe-archive"
    public var version = Int(ArchiveFormat.oldestMajor)
    public var createdBy: String
    /// The `model_type` of the source model (`mixtral`, `qwen2_moe`, ...).
    public var family: String
    public var model: ModelSummary
    /// `config.json` of the source checkpoint, verbatim.
    public var config: JSONValue
    public var pack: PackSettings
    public var regions: [Region]
    /// Tokenizer and generation files carried from the checkpoint folder.
    public var files: [FileEntry]
    public var dense: [DenseTensor]
    public var expertLayouts: [ExpertLayout]
    public var experts: [ExpertEntry]

    enum CodingKeys: String, CodingKey {
        case format, version, createdBy = "created_by", family, model, config, pack, regions, files, dense
        case expertLayouts = "expert_layouts", experts
    }

    public init(createdBy: String, family: String, model: ModelSummary, config: JSONValue, pack: PackSettings,
                regions: [Region] = [], files: [FileEntry] = [], dense: [DenseTensor] = [],
                expertLayouts: [ExpertLayout] = [], experts: [ExpertEntry] = []) {
        self.createdBy = createdBy; self.family = family; self.model = model; self.config = config; self.pack = pack
        self.regions = regions; self.files = files; self.dense = dense; self.expertLayouts = expertLayouts; self.experts = experts
    }
}

/// Family-independent facts about the model, computed at pack time so `inspect` needs no family code.
public struct ModelSummary: Codable, Sendable, Equatable {
    public var architecture: String
    public var stacks: [StackSummary]
    public var hiddenSize: Int
    public var vocabSize: Int
    public var expertsPerToken: Int
    public var tieWordEmbeddings: Bool

    enum CodingKeys: String, CodingKey {
        case architecture, stacks, hiddenSize = "hidden_size", vocabSize = "vocab_size"
        case expertsPerToken = "experts_per_token", tieWordEmbeddings = "tie_word_embeddings"
    }

    public init(architecture: String, stacks: [StackSummary], hiddenSize: Int, vocabSize: Int, expertsPerToken: Int, tieWordEmbeddings: Bool) {
        self.architecture = architecture; self.stacks = stacks; self.hiddenSize = hiddenSize; self.vocabSize = vocabSize
        self.expertsPerToken = expertsPerToken; self.tieWordEmbeddings = tieWordEmbeddings
    }
}

/// One stack of layers (`decoder`; encoder-decoder families add `encoder`).
public struct StackSummary: Codable, Sendable, Equatable {
    public var name: ExpertStack
    public var layers: Int
    public var moeLayers: [Int]
    public var expertsPerLayer: Int

    enum CodingKeys: String, CodingKey { case name, layers, moeLayers = "moe_layers", expertsPerLayer = "experts_per_layer" }

    public init(name: ExpertStack, layers: Int, moeLayers: [Int], expertsPerLayer: Int) {
        self.name = name; self.layers = layers; self.moeLayers = moeLayers; self.expertsPerLayer = expertsPerLayer
    }
}

/// How the archive was packed.
public struct PackSettings: Codable, Sendable, Equatable {
    /// `keep`, `bf16`, `f16` or `f32`.
    public var dtype: String
    /// `none` or `lz4` (the codec requested; a block that does not shrink is stored raw).
    public var compress: String
    /// Element width of the byte-shuffle filter applied before LZ4 (0 = off).
    public var shuffle: Bool
    public var chunkSize: Int
    /// The `--quant` request (`experts=Q4_K,dense=Q8_0`), absent when nothing was quantized. Informational: each
    /// tensor records its own type.
    public var quant: String?
    /// Where the model came from when not a Hugging Face safetensors folder (`{"format": "gguf", "file": ...}`);
    /// absent for safetensors and in archives written before GGUF input existed (optional, so the synthesized
    /// decoder reads it with decodeIfPresent and older archives still open).
    public var source: SourceInfo?
    /// What the packer dequantized on reading (`fp8 e4m3, 128x128 blocks`: a fine-grained FP8 checkpoint's weights,
    /// stored as floats and the config's `quantization_config` dropped); absent otherwise and in older archives.
    public var dequantized: String?

    enum CodingKeys: String, CodingKey { case dtype, compress, shuffle, chunkSize = "chunk_size", quant, source, dequantized }

    public init(dtype: String, compress: String, shuffle: Bool, chunkSize: Int = ArchiveFormat.chunkSize, quant: String? = nil,
                source: SourceInfo? = nil, dequantized: String? = nil) {
        self.dtype = dtype; self.compress = compress; self.shuffle = shuffle; self.chunkSize = chunkSize; self.quant = quant
        self.source = source; self.dequantized = dequantized
    }
}

/// The file a model was packed from when it was not a Hugging Face folder.
public struct SourceInfo: Codable, Sendable, Equatable {
    /// `gguf`.
    public var format: String
    /// The file name (the first part of a split set), without its folder.
    public var file: String
    /// Parts of a split set (absent for one file).
    public var parts: Int?

    public init(format: String, file: String, parts: Int? = nil) { self.format = format; self.file = file; self.parts = parts }

    /// `GGUF (model.gguf)`, `GGUF (model-00001-of-00003.gguf, 3 parts)`.
    public var text: String { "\(format.uppercased()) (\(file)\(parts.map { ", \($0) parts" } ?? ""))" }
}

/// A byte range of the file holding one kind of data (`files`, `dense`, `experts`).
public struct Region: Codable, Sendable, Equatable {
    public var name: String
    public var offset: Int
    public var length: Int
    public init(name: String, offset: Int, length: Int) { self.name = name; self.offset = offset; self.length = length }
}

public struct FileEntry: Codable, Sendable, Equatable {
    public var name: String
    public var offset: Int
    public var length: Int
    public var xxh3: String
    public init(name: String, offset: Int, length: Int, xxh3: String) { self.name = name; self.offset = offset; self.length = length; self.xxh3 = xxh3 }
}

/// A tensor outside the experts (embeddings, attention, norms, routers, shared experts), stored raw and
/// 64-byte aligned so it can be used straight from the mapping.
public struct DenseTensor: Codable, Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var offset: Int
    public var length: Int
    public var xxh3: String

    public init(name: String, dtype: DType, shape: [Int], offset: Int, length: Int, xxh3: String) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.offset = offset; self.length = length; self.xxh3 = xxh3
    }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The matrices of one expert block and where each sits in the block's raw (decoded) bytes. Experts of one
/// layer share a layout; the archive keeps each distinct layout once.
public struct ExpertLayout: Codable, Sendable, Equatable, Hashable {
    public struct Tensor: Codable, Sendable, Equatable, Hashable {
        /// `gate`, `up`, `down` for SwiGLU experts.
        public var role: String
        public var dtype: DType
        /// `[out, in]`, row-major, as `nn.Linear.weight`.
        public var shape: [Int]
        public var offset: Int
        public var length: Int
        public init(role: String, dtype: DType, shape: [Int], offset: Int, length: Int) {
            self.role = role; self.dtype = dtype; self.shape = shape; self.offset = offset; self.length = length
        }
        public var elementCount: Int { shape.reduce(1, *) }
    }
    public var tensors: [Tensor]
    public var rawLength: Int

    enum CodingKeys: String, CodingKey { case tensors, rawLength = "raw_length" }

    public init(tensors: [Tensor], rawLength: Int) { self.tensors = tensors; self.rawLength = rawLength }

    /// Lays out `parts` (role, dtype, shape) back to back, each 64-byte aligned.
    public init(parts: [(role: String, dtype: DType, shape: [Int])]) {
        var off = 0
        var ts: [Tensor] = []
        for p in parts {
            off = ArchiveFormat.align(off, ArchiveFormat.tensorAlignment)
            let len = p.dtype.byteCount(shape: p.shape)!
            ts.append(Tensor(role: p.role, dtype: p.dtype, shape: p.shape, offset: off, length: len))
            off += len
        }
        self.init(tensors: ts, rawLength: off)
    }

    public func tensor(_ role: String) -> Tensor? { tensors.first { $0.role == role } }
}

public enum ExpertCodec: String, Codable, Sendable { case raw, lz4 }

/// Where one expert's block is, how it is stored, and its importance prior.
public struct ExpertEntry: Codable, Sendable, Equatable {
    public var stack: ExpertStack
    public var layer: Int
    public var expert: Int
    public var layout: Int
    public var offset: Int
    public var storedLength: Int
    public var rawLength: Int
    public var codec: ExpertCodec
    /// Byte-shuffle element width applied before LZ4 (0 = none).
    public var shuffle: Int
    public var xxh3: String
    /// Frobenius norm of all the expert's matrices, ||E_i|| in SwapMoE's importance score.
    public var norm: Double

    enum CodingKeys: String, CodingKey {
        case stack, layer, expert, layout, offset, storedLength = "stored_length", rawLength = "raw_length"
        case codec, shuffle, xxh3, norm
    }

    public init(stack: ExpertStack, layer: Int, expert: Int, layout: Int, offset: Int, storedLength: Int, rawLength: Int,
                codec: ExpertCodec, shuffle: Int, xxh3: String, norm: Double) {
        self.stack = stack; self.layer = layer; self.expert = expert; self.layout = layout; self.offset = offset
        self.storedLength = storedLength; self.rawLength = rawLength; self.codec = codec; self.shuffle = shuffle
        self.xxh3 = xxh3; self.norm = norm
    }

    public var label: String { "expert block (\(stack) layer \(layer), expert \(expert))" }
}

/// The stacks of layers a model has: decoder-only families have `decoder`; encoder-decoder ones also have
/// `encoder`, whose layer numbers overlap the decoder's. Stored in the manifest by these names; any other name
/// makes the manifest unreadable.
public enum ExpertStack: String, Codable, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case encoder, decoder
    public var description: String { rawValue }
    /// Archive order: the encoder's layers before the decoder's.
    public static func < (a: ExpertStack, b: ExpertStack) -> Bool { a == .encoder && b == .decoder }
}

/// One MoE layer of one stack.
public struct MoELayer: Hashable, Sendable, CustomStringConvertible {
    public var stack: ExpertStack
    public var layer: Int
    public init(stack: ExpertStack = .decoder, layer: Int) { self.stack = stack; self.layer = layer }
    public var description: String { "\(stack) \(layer)" }
    /// Expert `expert` of this layer.
    public func expert(_ expert: Int) -> ExpertKey { ExpertKey(stack: stack, layer: layer, expert: expert) }
}

/// Identifies one expert of one layer of one stack.
public struct ExpertKey: Hashable, Sendable, CustomStringConvertible {
    public var stack: ExpertStack
    public var layer: Int
    public var expert: Int
    public init(stack: ExpertStack = .decoder, layer: Int, expert: Int) { self.stack = stack; self.layer = layer; self.expert = expert }
    public var description: String { "\(stack) layer \(layer) expert \(expert)" }
    /// The MoE layer this expert belongs to.
    public var moeLayer: MoELayer { MoELayer(stack: stack, layer: layer) }
}
