import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoETestSupport
@testable import SwapMoEPacker

/// The Switch Transformer (encoder-decoder) fixtures: config decoding and two-stack packing.
@Suite("Switch Transformers packing")
struct SwitchPackTests {
    struct Golden: Decodable {
        let isSparse: [String: [Bool]]
        enum CodingKeys: String, CodingKey { case isSparse = "is_sparse" }
    }

    @Test("without stored steps, sparse layers follow transformers' rule: i % step == 1 or step == 1, step = layers / sparse layers")
    func sparseRule() throws {
        func layers(_ n: Int, _ sparse: Int) throws -> [Int] {
            let json = #"{"model_type":"switch_transformers","num_layers":\#(n),"num_sparse_encoder_layers":\#(sparse),"num_sparse_decoder_layers":\#(sparse)}"#
            let c = try #require(try ModelFamily.detect(configData: Data(json.utf8)) as? SwitchTransformersConfig)
            #expect(c.moeLayers(.encoder) == c.moeLayers(.decoder))
            return c.moeLayers(.encoder)
        }
        #expect(try layers(12, 3) == [1, 5, 9])
        #expect(try layers(12, 6) == [1, 3, 5, 7, 9, 11])
        #expect(try layers(3, 3) == [0, 1, 2])
        #expect(try layers(2, 0) == [1], "transformers' 'no sparse layers' step still makes layer 1 sparse")
        #expect(try layers(1, 0) == [0], "and a one-layer stack's step of 1 makes layer 0 sparse")
        #expect(try layers(2, 3) == [], "step 0: none")
        #expect(try layers(4, 3) == [0, 1, 2, 3], "step 1")
    }

    @Test("stored encoder_sparse_step / decoder_sparse_step win over num_layers // num_sparse_*_layers, as in transformers")
    func storedSteps() throws {
        func config(_ extra: String) throws -> SwitchTransformersConfig {
            let json = #"{"model_type":"switch_transformers","num_layers":4,"num_decoder_layers":4,"num_sparse_encoder_layers":3,"num_sparse_decoder_layers":3\#(extra)}"#
            return try #require(try ModelFamily.detect(configData: Data(json.utf8)) as? SwitchTransformersConfig)
        }
        // Issue 15: derived, 4 // 3 = 1 makes every block sparse; the stored 2 (what transformers builds) makes 1 and 3.
        let derived = try config("")
        #expect(derived.encoderSparseStep == 1 && derived.decoderSparseStep == 1)
        #expect(derived.moeLayers(.encoder) == [0, 1, 2, 3] && derived.moeLayers(.decoder) == [0, 1, 2, 3])
        let stored = try config(#","encoder_sparse_step":2,"decoder_sparse_step":2"#)
        #expect(stored.encoderSparseStep == 2 && stored.decoderSparseStep == 2)
        #expect(stored.moeLayers(.encoder) == [1, 3] && stored.moeLayers(.decoder) == [1, 3])
        #expect(stored.stacks.map(\.moeLayers) == [[1, 3], [1, 3]])
        // Each stack takes its own key; the other one is still derived.
        let one = try config(#","decoder_sparse_step":3"#)
        #expect(one.moeLayers(.encoder) == [0, 1, 2, 3] && one.moeLayers(.decoder) == [1])
        // A stored 0 means no sparse blocks (transformers' `if sparse_step > 0 else False`), unlike the derived
        // "no sparse layers" step of num_layers, which still makes block 1 sparse.
        let zero = try config(#","encoder_sparse_step":0,"decoder_sparse_step":1"#)
        #expect(zero.moeLayers(.encoder) == [] && zero.moeLayers(.decoder) == [0, 1, 2, 3])
        // A step beyond the stack still makes block 1 sparse (1 % 5 == 1).
        #expect(try config(#","encoder_sparse_step":5"#).moeLayers(.encoder) == [1])
        #expect { try config(#","encoder_sparse_step":-1"#) } throws: {
            "\($0)" == "config.json of this switch_transformers model is not usable: encoder_sparse_step is -1; it must be >= 0 (0 means no sparse layers); correct config.json and pack the model again"
        }
        #expect { try config(#","encoder_sparse_step":2,"decoder_sparse_step":-3"#) } throws: { "\($0)".contains("decoder_sparse_step is -3;") }
    }

    @Test("config defaults are transformers' (switch-base-8 shapes) and eos may be a list")
    func defaults() throws {
        let c = try #require(try ModelFamily.detect(configData: Data(#"{"model_type":"switch_transformers","eos_token_id":[1,5]}"#.utf8)) as? SwitchTransformersConfig)
        #expect(c.dModel == 768 && c.dKV == 64 && c.dFF == 2048 && c.numHeads == 12 && c.encoderLayers == 12 && c.decoderLayers == 12)
        #expect(c.numExperts == 8 && c.expertCapacity == 64 && c.relativeAttentionNumBuckets == 32 && c.relativeAttentionMaxDistance == 128)
        #expect(c.eosTokenIds == [1, 5] && c.decoderStartTokenId == 0 && c.tieWordEmbeddings && c.expertsPerToken == 1)
        #expect(c.moeLayers(.encoder) == [1, 5, 9] && c.isEncoderDecoder)
        #expect { try ModelFamily.detect(configData: Data(#"{"model_type":"switch_transformers","dense_act_fn":"gelu"}"#.utf8)) }
            throws: { "\($0)".contains("dense_act_fn 'gelu'") }
        #expect { try ModelFamily.detectDecoder(configData: Data(#"{"model_type":"switch_transformers"}"#.utf8)) }
            throws: { "\($0)".contains("encoder-decoder") }
    }

    @Test("both stacks pack as wi/wo expert blocks keyed by stack; layers match transformers' sparse blocks",
          arguments: TestPaths.seq2seqFixtures)
    func stacks(folder: String) throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/golden.json")))
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let summary = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm", compress: .lz4, shuffle: true))
        let archive = try Archive(path: dir + "/m.swm")
        let m = archive.manifest
        #expect(m.family == "switch_transformers" && m.model.expertsPerToken == 1)
        #expect(m.model.stacks.map(\.name) == [.encoder, .decoder])
        var total = 0
        for st in m.model.stacks {
            let sparse = try #require(golden.isSparse[st.name.rawValue])
            #expect(st.layers == sparse.count)
            #expect(st.moeLayers == sparse.indices.filter { sparse[$0] }, "\(st.name) sparse layers")
            for l in st.moeLayers {
                for e in 0..<st.expertsPerLayer {
                    let entry = try #require(archive.expert(ExpertKey(stack: st.name, layer: l, expert: e)))
                    #expect(archive.layout(of: entry).tensors.map(\.role) == ["wi", "wo"])
                    total += 1
                }
            }
        }
        #expect(summary.experts == total && m.experts.count == total)
        // Routers and dense FFNs stay dense tensors.
        let l = m.model.stacks[0].moeLayers[0]
        #expect(archive.dense("encoder.block.\(l).layer.1.mlp.router.classifier.weight") != nil)
        #expect(m.dense.allSatisfy { !$0.name.contains(".experts.") })
    }
}
