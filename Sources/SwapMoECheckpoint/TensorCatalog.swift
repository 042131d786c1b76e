import SwapMoECore

/// What finding a model's tensors by name needs: whether a tensor exists, and its dtype, shape and byte range.
/// A Hugging Face folder (`Checkpoint`) is one; a GGUF file seen under Hugging Face names (the packer's
/// `GGUFSource`) is another, so expert resolution (`ExpertNaming.resolve`) works the same on both.
public protocol TensorCatalog {
    func contains(_ name: String) -> Bool
    func info(_ name: String) -> TensorInfo?
}

extension Checkpoint: TensorCatalog {}

extension TensorInfo {
    /// A tensor of `dtype` and `shape` at `range` of its file (for catalogs other than safetensors files).
    public init(_ name: String, dtype: DType, shape: [Int], range: Range<Int>) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.range = range
    }
}
