import Foundation
import Testing
import SwapMoECore
import SwapMoETestSupport
@testable import SwapMoECheckpoint
@testable import SwapMoEModels

@Suite("Checkpoint reading")
struct CheckpointTests {
    @Test("safetensors tensors are found across shards of an index")
    func sharded() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let maker = CheckpointMaker.mixtral(layers: 2, experts: 2)
        try maker.write(to: dir, shards: 3)
        let c = try Checkpoint(folder: dir)
        #expect(c.shards.count == 3)
        #expect(Set(c.tensorNames) == Set(maker.tensors.map(\.name)))
        for t in maker.tensors {
            let bytes = c.withTensorBytes(t.name) { _, b in Array(b) }
            #expect(bytes == t.bytes)
        }
    }

    @Test("a shard named by the index but missing is reported by name")
    func missingShard() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(layers: 1, experts: 2).write(to: dir, shards: 2)
        try FileManager.default.removeItem(atPath: dir + "/model-00002-of-00002.safetensors")
        #expect { try Checkpoint(folder: dir) } throws: { "\($0)".contains("model-00002-of-00002.safetensors") }
    }

    @Test("truncated and malformed safetensors files are rejected at open")
    func corruptSafetensors() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(layers: 1, experts: 2).write(to: dir)
        let path = dir + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: path))
        #expect { try SafetensorsFile(path: path) } throws: { "\($0)".contains("truncated or corrupt") }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect { try SafetensorsFile(path: path) } throws: { "\($0)".contains("fewer than the 8-byte header") }
        var bad = Data()
        withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { bad.append(contentsOf: $0) }
        try bad.write(to: URL(fileURLWithPath: path))
        #expect { try SafetensorsFile(path: path) } throws: { "\($0)".contains("header length") }
    }

    @Test("folder errors say what to do")
    func folderErrors() throws {
        #expect { try Checkpoint(folder: "/nonexistent/model") } throws: { "\($0)".contains("is not a directory") }
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        #expect { try Checkpoint(folder: dir) } throws: { "\($0)".contains("no config.json") }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        #expect { try Checkpoint(folder: dir) } throws: { "\($0)".contains("no *.safetensors") }
    }

    @Test("configs: rope_theta or rope_parameters, explicit head_dim, dense layers among MoE layers")
    func configs() throws {
        let qwen3 = #"{"model_type":"qwen3_moe","hidden_size":80,"num_hidden_layers":4,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":48,"num_experts":8,"num_experts_per_tok":2,"moe_intermediate_size":32,"vocab_size":100,"mlp_only_layers":[1],"tie_word_embeddings":true,"rope_parameters":{"rope_theta":5000.0,"rope_type":"default"},"dtype":"float32"}"#
        let c = try #require(try ModelFamily.detect(configData: Data(qwen3.utf8)) as? Qwen3MoEConfig)
        #expect(c.headDim == 48 && c.ropeTheta == 5000 && c.tieWordEmbeddings)
        #expect(c.moeLayers == [0, 2, 3])
        let qwen2 = #"{"model_type":"qwen2_moe","hidden_size":64,"num_hidden_layers":4,"num_attention_heads":4,"num_experts":4,"num_experts_per_tok":2,"vocab_size":100,"decoder_sparse_step":2,"rope_theta":1000000.0}"#
        let q2 = try #require(try ModelFamily.detect(configData: Data(qwen2.utf8)) as? Qwen2MoEConfig)
        #expect(q2.moeLayers == [1, 3] && q2.ropeTheta == 1e6 && q2.headDim == 16)
        #expect { try ModelFamily.detect(configData: Data(#"{"model_type":"llama"}"#.utf8)) } throws: { "\($0)".contains("supported: mixtral") }
        #expect { try ModelFamily.detect(configData: Data(#"{"hidden_size":3}"#.utf8)) } throws: { "\($0)".contains("no \"model_type\"") }
        let bad = #"{"model_type":"mixtral","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":3,"vocab_size":10,"intermediate_size":8}"#
        #expect { try ModelFamily.detect(configData: Data(bad.utf8)) } throws: { "\($0)".contains("multiple of num_key_value_heads") }
        for scaled in [#""rope_scaling":{"type":"linear","factor":2.0}"#, #""rope_parameters":{"rope_theta":1e6,"rope_type":"yarn","factor":4}"#] {
            let cfg = #"{"model_type":"mixtral","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10,"intermediate_size":8,"#
                + scaled + "}"
            #expect { try ModelFamily.detect(configData: Data(cfg.utf8)) } throws: { "\($0)".contains("RoPE scaling") && "\($0)".contains("not supported yet") }
        }
        let plain = #"{"model_type":"mixtral","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10,"intermediate_size":8,"rope_scaling":null,"rope_parameters":{"rope_theta":1e6,"rope_type":"default"}}"#
        #expect(throws: Never.self) { try ModelFamily.detect(configData: Data(plain.utf8)) }
    }
}
