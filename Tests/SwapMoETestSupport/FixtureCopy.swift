import Foundation
import SwapMoECore

extension CheckpointMaker {
    /// The tensors of a single-file safetensors checkpoint, in file order (the inverse of `writeSafetensors`).
    public static func readSafetensors(_ path: String) throws -> [Tensor] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = Int(data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any] ?? [:]
        return header.compactMap { name, v -> (Int, Tensor)? in
            guard let e = v as? [String: Any], let dtype = (e["dtype"] as? String).flatMap(DType.init(rawValue:)),
                  let shape = e["shape"] as? [Int], let offs = e["data_offsets"] as? [Int] else { return nil }
            return (offs[0], Tensor(name: name, dtype: dtype, shape: shape, bytes: [UInt8](data.subdata(in: (8 + n + offs[0])..<(8 + n + offs[1])))))
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Copies the model fixture `name` into `folder` with its config and tensors edited (a single-file fixture).
    public static func copyFixture(_ name: String, to folder: String, config edit: (inout [String: Any]) -> Void = { _ in },
                                   tensors editTensors: (inout [Tensor]) -> Void = { _ in }) throws {
        let src = TestPaths.fixtures + "/models/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: src) where f != "model.safetensors" && f != "config.json" {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: folder + "/" + f)
        }
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/config.json"))) as? [String: Any] ?? [:]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: folder + "/config.json"))
        var tensors = try readSafetensors(src + "/model.safetensors")
        editTensors(&tensors)
        try writeSafetensors(tensors, to: folder + "/model.safetensors")
    }
}

extension CheckpointMaker.Tensor {
    /// The same name and shape with other bytes.
    public func with(dtype: DType, bytes: [UInt8]) -> Self { Self(name: name, dtype: dtype, shape: shape, bytes: bytes) }
}
