import Testing
@testable import SwapMoEKernels

@Suite("Attention")
struct AttentionTests {
    static let configs: [(heads: Int, kvHeads: Int, headDim: Int)] = [(4, 4, 16), (8, 2, 48), (6, 1, 33), (4, 2, 128)]

    /// 9 random queries at positions 3..<12 of configuration `config`, and keys and values for positions 0..<12.
    static func prefill(_ config: Int, _ rng: inout TestRNG) -> (start: Int, tokens: Int, q: [Float], k: [Float], v: [Float]) {
        let (heads, kvHeads, hd) = configs[config]
        let start = 3, tokens = 9, len = start + tokens
        let q = randomFloats(tokens * heads * hd, &rng, range: -2...2)
        let k = randomFloats(len * kvHeads * hd, &rng, range: -2...2), v = randomFloats(len * kvHeads * hd, &rng)
        return (start, tokens, q, k, v)
    }

    @Test("decode GQA attention matches a naive Double reference, bit for bit the same for any pool", arguments: 0..<4)
    func decodeMatches(config: Int) {
        let (heads, kvHeads, hd) = Self.configs[config]
        var rng = TestRNG(seed: UInt64(config + 20))
        for len in [1, 2, 7, 65] {
            let q = randomFloats(heads * hd, &rng, range: -2...2)
            let k = randomFloats(len * kvHeads * hd, &rng, range: -2...2), v = randomFloats(len * kvHeads * hd, &rng)
            var ref = [Float](repeating: 0, count: heads * hd)
            attentionReference(&ref, q, keys: k, values: v, start: len - 1, tokens: 1, heads: heads, kvHeads: kvHeads, headDim: hd)
            var first: [Float]?
            for pool in testPools {
                var out = [Float](repeating: .nan, count: heads * hd)
                attention(&out, q, keys: k, values: v, length: len, heads: heads, kvHeads: kvHeads, headDim: hd, pool: pool)
                for i in 0..<out.count { #expect(abs(out[i] - ref[i]) < 1e-5, "len=\(len) i=\(i)") }
                // The pool splits heads by kv head range or by head; each head's arithmetic is the same.
                if let first { #expect(bitsEqual(out, first), "len=\(len) threads=\(pool?.threadCount ?? 0)") } else { first = out }
            }
        }
    }

    @Test("batched causal prefill attention matches the reference and equals decode token by token, bit for bit",
          arguments: 0..<4)
    func prefillMatchesDecode(config: Int) {
        let (heads, kvHeads, hd) = Self.configs[config]
        var rng = TestRNG(seed: UInt64(config + 30))
        let (start, tokens, q, k, v) = Self.prefill(config, &rng)
        for window in [nil, 4] as [Int?] {
            var ref = [Float](repeating: 0, count: tokens * heads * hd)
            attentionReference(&ref, q, keys: k, values: v, start: start, tokens: tokens, heads: heads,
                               kvHeads: kvHeads, headDim: hd, window: window)
            for pool in testPools {
                var out = [Float](repeating: .nan, count: tokens * heads * hd)
                causalAttention(&out, q, keys: k, values: v, start: start, tokens: tokens, heads: heads,
                                kvHeads: kvHeads, headDim: hd, window: window, pool: pool)
                for i in 0..<out.count { #expect(abs(out[i] - ref[i]) < 1e-5) }
                for t in 0..<tokens {
                    var one = [Float](repeating: .nan, count: heads * hd)
                    q.withUnsafeBufferPointer { qp in
                        attention(&one, qp.baseAddress! + t * heads * hd, keys: k, values: v, length: start + t + 1,
                                  heads: heads, kvHeads: kvHeads, headDim: hd, window: window)
                    }
                    #expect(bitsEqual(one, Array(out[t * heads * hd ..< (t + 1) * heads * hd])))
                }
            }
        }
    }

    @Test("long caches (several chunks of AttentionSpan.chunk positions): the reference, with windows, sinks and a ring; bit for bit the same for any pool and for prefill",
          arguments: [(8, 2, 48), (4, 4, 64)])
    func longCaches(heads: Int, kvHeads: Int, hd: Int) {
        var rng = TestRNG(seed: UInt64(heads * 100 + hd))
        let len = 2 * AttentionSpan.chunk + 77, width = kvHeads * hd
        let k = randomFloats(len * width, &rng, range: -1...1), v = randomFloats(len * width, &rng)
        let sinks = randomFloats(heads, &rng, range: -1...1)
        for (window, withSinks) in [(nil, false), (nil, true), (AttentionSpan.chunk + 30, false), (300, true)] as [(Int?, Bool)] {
            // Decode of the last position, against the reference and across pools.
            let q = randomFloats(heads * hd, &rng, range: -1...1)
            var ref = [Float](repeating: 0, count: heads * hd)
            attentionReference(&ref, q, keys: k, values: v, start: len - 1, tokens: 1, heads: heads, kvHeads: kvHeads,
                               headDim: hd, window: window, sinks: withSinks ? sinks : nil)
            var first: [Float]?
            for pool in testPools {
                var out = [Float](repeating: .nan, count: heads * hd)
                sinks.withUnsafeBufferPointer { sp in
                    causalAttention(&out, q, keys: k, values: v, start: len - 1, tokens: 1, heads: heads, kvHeads: kvHeads,
                                    headDim: hd, window: window, sinks: withSinks ? sp.baseAddress : nil, pool: pool)
                }
                for i in 0..<out.count { #expect(abs(out[i] - ref[i]) < 2e-5, "window=\(String(describing: window)) i=\(i)") }
                if let first { #expect(bitsEqual(out, first), "threads=\(pool?.threadCount ?? 0)") } else { first = out }
            }
            // The same position as the last of a prefill batch of 5 gives the same bits.
            let tokens = 5, qs = randomFloats((tokens - 1) * heads * hd, &rng, range: -1...1) + q
            for pool in testPools {
                var out = [Float](repeating: .nan, count: tokens * heads * hd)
                sinks.withUnsafeBufferPointer { sp in
                    causalAttention(&out, qs, keys: k, values: v, start: len - tokens, tokens: tokens, heads: heads, kvHeads: kvHeads,
                                    headDim: hd, window: window, sinks: withSinks ? sp.baseAddress : nil, pool: pool)
                }
                #expect(bitsEqual(Array(out[(tokens - 1) * heads * hd ..< tokens * heads * hd]), first!))
            }
            // A ring of `window` rows (position p at row p % window) holding the positions the last one attends to.
            if let window {
                var ring = ([Float](repeating: .nan, count: window * width), [Float](repeating: .nan, count: window * width))
                for p in (len - window)..<len {
                    for i in 0..<width { ring.0[(p % window) * width + i] = k[p * width + i]; ring.1[(p % window) * width + i] = v[p * width + i] }
                }
                var out = [Float](repeating: .nan, count: heads * hd)
                sinks.withUnsafeBufferPointer { sp in
                    causalAttention(&out, q, keys: ring.0, values: ring.1, start: len - 1, tokens: 1, heads: heads, kvHeads: kvHeads,
                                    headDim: hd, window: window, sinks: withSinks ? sp.baseAddress : nil, ring: window, pool: testPools[2])
                }
                #expect(bitsEqual(out, first!))
            }
        }
    }

    @Test("a chunk's scores and o are a head alone's: dot, exponentiate and axpy per head, bit for bit, for any head range")
    func chunkEqualsPerHeadKernels() {
        var rng = TestRNG(seed: 31)
        for (heads, kvHeads, hd) in [(16, 4, 64), (8, 8, 80), (8, 2, 96), (32, 4, 128), (6, 3, 48), (4, 1, 20), (12, 4, 16)] {
            for length in [1, 17, 255, 300] {
                let kvs = kvHeads * hd, group = heads / kvHeads, stride = AttentionSpan.partialStride(hd)
                let k = randomFloats(length * kvs, &rng, range: -2...2), v = randomFloats(length * kvs, &rng)
                let q = randomFloats(heads * hd, &rng, range: -2...2)
                let span = AttentionSpan(length: length, window: nil)
                for chunk in 0..<span.chunks {
                    let from = chunk * AttentionSpan.chunk, m = min(AttentionSpan.chunk, length - from)
                    for split in [heads, 3, 1] {
                        var got = [Float](repeating: .nan, count: heads * span.chunks * stride)
                        for lo in Swift.stride(from: 0, to: heads, by: split) {
                            attendChunk(&got, q, keys: k, values: v, heads: lo..<min(heads, lo + split), of: heads, group: group,
                                        span: span, chunk: chunk, headDim: hd, kvStride: kvs, scale: 0.125, ring: nil)
                        }
                        for h in 0..<heads {
                            // Head h alone, as the kernels `dot`, `exponentiate` and `axpy` compute it.
                            var scores = (0..<m).map { j in
                                q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in
                                    dot(qp.baseAddress! + h * hd, kp.baseAddress! + (from + j) * kvs + h / group * hd, n: hd) * 0.125
                                } }
                            }
                            let (mx, sum) = exponentiate(&scores, n: m)
                            var o = [Float](repeating: 0, count: hd)
                            for j in 0..<m {
                                v.withUnsafeBufferPointer { vp in axpy(&o, scores[j], vp.baseAddress! + (from + j) * kvs + h / group * hd, n: hd) }
                            }
                            let base = (chunk * heads + h) * stride
                            #expect(bitsEqual(Array(got[base..<(base + hd)]), o), "heads \(heads) hd \(hd) length \(length) chunk \(chunk) split \(split) head \(h)")
                            #expect(got[base + stride - 16].bitPattern == mx.bitPattern && got[base + stride - 15].bitPattern == sum.bitPattern)
                        }
                    }
                }
            }
        }
    }

    @Test("hsum4 is hsum of each of its four vectors, bit for bit")
    func hsum4EqualsHsum() {
        var rng = TestRNG(seed: 32)
        for _ in 0..<200 {
            let vs = (0..<4).map { _ in SIMD16<Float>(randomFloats(16, &rng, range: -1e4...1e4)) }
            let r = hsum4(vs[0], vs[1], vs[2], vs[3])
            for i in 0..<4 { #expect(r[i].bitPattern == hsum(vs[i]).bitPattern) }
        }
    }

    @Test("relative-position attention (T5: unscaled scores plus a per-offset bias) matches a Double reference, any pool",
          arguments: [false, true])
    func relativeBias(causal: Bool) {
        var rng = TestRNG(seed: causal ? 41 : 42)
        for (heads, hd, start, tokens, keyCount) in [(3, 12, 0, 7, 7), (4, 8, 5, 3, 8), (2, 33, 9, 1, 10), (4, 16, 0, 40, 40)] {
            let q = randomFloats(tokens * heads * hd, &rng, range: -1...1)
            let k = randomFloats(keyCount * heads * hd, &rng, range: -1...1), v = randomFloats(keyCount * heads * hd, &rng)
            // Offsets j - (start + t) span [-(start + tokens - 1), keyCount - 1 - start].
            let from = -(start + tokens - 1), width = keyCount + tokens + start
            let table = randomFloats(heads * width, &rng, range: -2...2)
            for withBias in [false, true] {
                var ref = [Float](repeating: 0, count: tokens * heads * hd)
                relativeAttentionReference(&ref, q, keys: k, values: v, keyCount: keyCount, start: start, tokens: tokens, heads: heads,
                                           headDim: hd, causal: causal, scale: 1) { h, off in withBias ? Double(table[h * width + off - from]) : 0 }
                for pool in testPools {
                    var out = [Float](repeating: .nan, count: tokens * heads * hd)
                    table.withUnsafeBufferPointer { b in
                        relativeAttention(&out, q, keys: k, values: v, keyCount: keyCount, start: start, tokens: tokens, heads: heads,
                                          headDim: hd, causal: causal, bias: withBias ? b.baseAddress : nil, biasStride: width,
                                          biasFrom: from, pool: pool)
                    }
                    for i in 0..<out.count { #expect(abs(out[i] - ref[i]) < 1e-5, "heads \(heads) t \(tokens) i \(i)") }
                }
            }
        }
    }
}
