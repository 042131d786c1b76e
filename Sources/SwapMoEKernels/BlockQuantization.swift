import SwapMoECore

/// `count` floats (a whole number of `type`'s blocks) -> `type.rowBytes(count)` bytes of blocks, split over
/// `pool`'s threads by whole blocks. Blocks are quantized independently, so the bytes are the same for any
/// thread count. Used by the packer on pieces of a tensor.
public func quantizeBlocks(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ type: WeightType,
                           count: Int, pool: ThreadPool?) {
    precondition(type.isQuantized && count % type.blockSize == 0, "quantizeBlocks: \(count) floats are not whole \(type) blocks")
    let blocks = count / type.blockSize
    // 64 blocks (2048-16384 weights) per chunk at least: enough work to be worth a thread hand-off.
    if let pool, pool.threadCount > 1, blocks >= 128 {
        pool.forEachRange(blocks, alignment: 1, minimum: 64) { r in
            quantizeRow(src + r.lowerBound &* type.blockSize, dst + r.lowerBound &* type.blockBytes, type,
                        count: r.count &* type.blockSize)
        }
    } else {
        quantizeRow(src, dst, type, count: count)
    }
}
