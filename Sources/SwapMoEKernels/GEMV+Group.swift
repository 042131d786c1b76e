// GEMV over several matrices in one pass over the pool: q, k and v over one x; a SwiGLU's gate and up with their
// product; the matrices of a decoded token's experts, each over its own x. Every row as `gemv` computes it.

/// One output of `gemvGroup`: y (d,) = W x (+ b), W of `d` rows, x the group's or the output's own.
public struct GEMVOutput {
    public let y: UnsafeMutablePointer<Float>
    public let w: UnsafeRawPointer
    public let d: Int
    public let bias: UnsafePointer<Float>?
    /// This output's own x (nil: the group's).
    public let x: UnsafePointer<Float>?

    public init(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, d: Int, bias: UnsafePointer<Float>? = nil,
                x: UnsafePointer<Float>? = nil) {
        self.y = y; self.w = w; self.d = d; self.bias = bias; self.x = x
    }
}

/// y_j = W_j x_j (+ b_j) for several matrices of one type and width (decode's q, k and v projections over one x; a
/// SwiGLU's gate and up; the down projections of a decoded token's experts, each over its own hidden features): each
/// distinct x is converted once (quantized, or split for bf16) and the rows of all the matrices, one after another,
/// go over the pool in one pass, so small matrices (k and v) run in parallel beside a large one instead of alone on
/// the calling thread, and the group costs one dispatch. `x` is every output's without one of its own. Every row is
/// computed as `gemv` computes it (the same results).
public func gemvGroup(_ outputs: [GEMVOutput], _ type: WeightType, _ x: UnsafePointer<Float>?, n: Int, pool: ThreadPool? = nil) {
    outputs.withUnsafeBufferPointer { gemvGroup($0, type, x, n: n, pool: pool) }
}

/// `gemvGroup` over outputs in memory of the caller's (no array).
func gemvGroup(_ outputs: UnsafeBufferPointer<GEMVOutput>, _ type: WeightType, _ x: UnsafePointer<Float>?, n: Int, pool: ThreadPool? = nil) {
    func input(_ o: GEMVOutput) -> UnsafePointer<Float> {
        guard let own = o.x ?? x else { preconditionFailure("gemvGroup: an output without an x of its own or the group's") }
        return own
    }
    if n <= 0 || outputs.contains(where: { $0.d <= 0 }) {
        for o in outputs { gemv(o.y, o.w, type, input(o), d: o.d, n: n, bias: o.bias, pool: pool) }
        return
    }
    let total = outputs.reduce(0) { $0 &+ $1.d }
    // The x of each output by index into `xs`, every distinct x once (a handful: a linear search).
    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: outputs.count) { xs in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: outputs.count) { which in
            var distinct = 0
            for (i, o) in outputs.enumerated() {
                let own = input(o)
                var k = 0
                while k < distinct && xs[k] != own { k &+= 1 }
                if k == distinct { xs.initializeElement(at: k, to: own); distinct &+= 1 }
                which[i] = k
            }
            withRowKernels(type, UnsafeBufferPointer(rebasing: xs[0..<distinct]), n: n) { rows in
                forGEMVRows(total, rowBytes: type.rowBytes(n), pool: pool) { r in
                    var first = 0
                    for (i, o) in outputs.enumerated() {
                        let part = r.clamped(to: first..<(first &+ o.d))
                        if !part.isEmpty { rows[which[i]](o.y, o.w, (part.lowerBound &- first)..<(part.upperBound &- first), o.bias, false) }
                        first &+= o.d
                    }
                }
            }
        }
    }
}

/// One output of `gemvSwiGLU`: h (d,) = silu(G x) ⊙ (U x), G and U (d, n), U x into `scratch` (d floats).
public struct SwiGLUOutput {
    public let h: UnsafeMutablePointer<Float>
    public let gate: UnsafeRawPointer
    public let up: UnsafeRawPointer
    public let scratch: UnsafeMutablePointer<Float>
    public let d: Int

    public init(_ h: UnsafeMutablePointer<Float>, gate: UnsafeRawPointer, up: UnsafeRawPointer, d: Int, scratch: UnsafeMutablePointer<Float>) {
        self.h = h; self.gate = gate; self.up = up; self.d = d; self.scratch = scratch
    }
}

/// h (d,) = silu(G x) ⊙ (U x): a SwiGLU's gate and up projections of one decoded token, G and U (d, n) of one type.
public func gemvSwiGLU(_ h: UnsafeMutablePointer<Float>, gate: UnsafeRawPointer, up: UnsafeRawPointer, _ type: WeightType,
                       _ x: UnsafePointer<Float>, d: Int, n: Int, scratch u: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
    gemvSwiGLU([SwiGLUOutput(h, gate: gate, up: up, d: d, scratch: u)], type, x, n: n, pool: pool)
}

/// h_j (d_j,) = silu(G_j x) ⊙ (U_j x) for SwiGLUs of one type and width over one decoded token x (one expert's, or
/// every expert's of the token, whose rows then go over the pool in one pass). Each chunk of rows computes its gate
/// rows (into h), its up rows (into `scratch`) and their product while both are in cache, so the product costs no
/// pass of its own on the calling thread while the other threads wait (as `siluMul` after `gemvGroup` did: ~4% of a
/// two-thread q2_K decode's calling thread). x is converted once. The same results as `gemvGroup` over G and U
/// followed by `siluMul`: every row as `gemv` computes it, every product as `siluMul` does (lane by lane).
public func gemvSwiGLU(_ outputs: [SwiGLUOutput], _ type: WeightType, _ x: UnsafePointer<Float>, n: Int, pool: ThreadPool? = nil) {
    if n <= 0 {
        for o in outputs where o.d > 0 { o.h.initialize(repeating: 0, count: o.d) }
        return
    }
    let total = outputs.reduce(0) { $0 &+ max(0, $1.d) }
    if total == 0 { return }
    withRowKernel(type, x, n: n) { rows in
        forGEMVRows(total, rowBytes: 2 &* type.rowBytes(n), pool: pool) { r in
            var first = 0
            for o in outputs where o.d > 0 {
                let part = r.clamped(to: first..<(first &+ o.d))
                if !part.isEmpty {
                    swiGLURows(rows, h: o.h, gate: o.gate, up: o.up, scratch: o.scratch, (part.lowerBound &- first)..<(part.upperBound &- first))
                }
                first &+= o.d
            }
        }
    }
}

/// Rows r of h = silu(G x) ⊙ (U x) with `rows`, the row function of x: the gate rows into h, the up rows into
/// `scratch`, their product into h while both are in cache.
@inline(__always)
func swiGLURows(_ rows: RowKernel, h: UnsafeMutablePointer<Float>, gate: UnsafeRawPointer, up: UnsafeRawPointer,
                scratch: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
    rows(h, gate, r, nil, false)
    rows(scratch, up, r, nil, false)
    siluMul(h + r.lowerBound, h + r.lowerBound, scratch + r.lowerBound, n: r.count)
}

/// `withRowKernel` for several activations at once: `body` gets one row function per x, in order. One x (the usual
/// group) is `withRowKernel` itself; the functions of several sit in stack memory (no allocation).
func withRowKernels(_ type: WeightType, _ xs: UnsafeBufferPointer<UnsafePointer<Float>>, n: Int,
                    _ body: (UnsafeBufferPointer<RowKernel>) -> Void) {
    withUnsafeTemporaryAllocation(of: RowKernel.self, capacity: xs.count) { kernels in
        func next(_ i: Int) {
            guard i < xs.count else { body(UnsafeBufferPointer(kernels)); return }
            withRowKernel(type, xs[i], n: n) { rows in
                withoutActuallyEscaping(rows) { escapable in
                    kernels.initializeElement(at: i, to: escapable)
                    next(i &+ 1)
                    _ = kernels.moveElement(from: i)
                }
            }
        }
        next(0)
    }
}
