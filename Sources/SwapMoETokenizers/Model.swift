// The tokenization model behind the pipeline (tokenizer.json "model"), dispatched on its "type".

import SwapMoECore

/// A tokenization model: turns one pre-tokenized word into ids (BPE, or SentencePiece Unigram).
protocol TokenizerModel: Sendable {
    func tokenize(_ word: [Unicode.Scalar], into ids: inout [Int])
    func tokenToId(_ token: String) -> Int?
    func idToToken(_ id: Int) -> String?
    /// Number of entries in the model's vocabulary.
    var vocabCount: Int { get }
    /// Every (token, id) of the model's vocabulary.
    var vocabEntries: [(String, Int)] { get }
    /// Whether unknown characters become `<0xNN>` byte tokens.
    var byteFallback: Bool { get }
}

/// The `"type"` strings of models in tokenizer.json.
enum ModelType: String, CaseIterable {
    case bpe = "BPE"
    case unigram = "Unigram"
}

/// Builds the model named by `model.type` (BPE when the type is absent, as in old files). `overrides` only apply to
/// BPE (the transformers classes that rebuild a model are all BPE ones).
func makeModel(json: JSONValue, overrides: BPEModel.Overrides) throws -> any TokenizerModel {
    let typeName = json["type"]?.stringValue ?? ModelType.bpe.rawValue
    guard let type = ModelType(rawValue: typeName) else {
        throw TokenizerError.unsupportedComponent(kind: "model", type: typeName, supported: ModelType.allCases.map(\.rawValue))
    }
    switch type {
    case .bpe: return try BPEModel(json: json, overrides: overrides)
    case .unigram: return try UnigramModel(json: json)
    }
}

/// The ids of the `<0xNN>` byte pieces, by byte (-1 where the vocabulary has none; all -1 when `enabled` is false).
func byteFallbackTable(_ enabled: Bool, lookup: (String) -> Int?) -> [Int32] {
    var table = [Int32](repeating: -1, count: 256)
    guard enabled else { return table }
    for b in 0..<256 {
        if let id = lookup("<0x" + String(b, radix: 16, uppercase: true).leftPadded(to: 2) + ">") { table[b] = Int32(id) }
    }
    return table
}

/// A pre-tokenized word's UTF-8 bytes.
func utf8Bytes(_ word: [Unicode.Scalar]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(word.count * 2)
    for s in word { appendUTF8(s, to: &bytes) }
    return bytes
}
