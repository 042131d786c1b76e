import Synchronization

// A decoded token's SwiGLU experts on every thread of the pool at once, balanced. Each expert whole on one thread
// ("side by side": one pool job a layer) left the faster thread waiting whenever one vCPU ran slower than the other:
// `bench`'s `decode_wait_fraction` reached 16-19% in some two-thread runs on the Intel host (2026-12-06). Here the
// threads still start on experts of their own, but take each expert's rows in chunks from shared counters, so a thread
// that runs out of its own work takes the chunks left of the others': first every expert's gate and up rows, then,
// once an expert's hidden features are complete, its down rows. Every row is computed as `gemv` computes it, by
// whichever thread claims it: the same results as any other schedule.

/// One expert of `swiGLUExperts`: out (1, d) = down · (silu(gate · x) ⊙ (up · x)), its hidden features into `h`
/// (1, inter) and the up projection into `scratch` (1, inter).
public struct SwiGLUExpert {
    public let gate: Matrix, up: Matrix, down: Matrix
    public let h: Rows, scratch: Rows, out: Rows

    public init(gate: Matrix, up: Matrix, down: Matrix, h: Rows, scratch: Rows, out: Rows) {
        self.gate = gate; self.up = up; self.down = down; self.h = h; self.scratch = scratch; self.out = out
    }
}

/// out_j = down_j · (silu(gate_j · x) ⊙ (up_j · x)) for the experts of one decoded token x (1, n), every gate and up
/// matrix of one type (x is converted once a thread for them), over every thread of `pool` in one job. Thread slot t starts on experts t, t + threads, ...; each expert's gate and up rows are
/// claimed in chunks (about eight an expert), then its down rows once all of its gate and up chunks are done (the
/// thread that takes down rows converts h itself: twice only for an expert two threads share). A thread waits only
/// for a chunk another thread is computing.
public func swiGLUExperts(_ experts: [SwiGLUExpert], _ x: Rows, pool: ThreadPool) {
    for e in experts {
        precondition(x.count == 1 && e.gate.cols == x.width && e.up.cols == x.width && e.gate.type == experts[0].gate.type && e.up.type == e.gate.type
                        && e.gate.rows == e.up.rows && e.down.cols == e.gate.rows && e.h.width == e.gate.rows && e.h.count == 1
                        && e.scratch.width == e.h.width && e.scratch.count == 1 && e.out.width == e.down.rows && e.out.count == 1,
                     "swiGLUExperts: [1, \(e.out.width)] = [\(e.down.rows), \(e.down.cols)] · silu([\(e.gate.rows), \(e.gate.cols)] · x) ⊙ [\(e.up.rows), \(e.up.cols)] · [\(x.count), \(x.width)]")
    }
    let k = experts.count, threads = pool.threadCount
    if k == 0 { return }
    let plan = ExpertChunks(experts)
    defer { plan.release() }
    pool.runDisjoint(chunks: threads) { t in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: k) { order in
            // Thread slot t's own experts first (t, t + threads, ...), then the others, those their owners reach
            // last first (least likely to have been started).
            var n = 0
            for j in Swift.stride(from: t, to: k, by: threads) { order[n] = j; n &+= 1 }
            for j in (0..<k).reversed() where j % threads != t { order[n] = j; n &+= 1 }
            runExpertChunks(experts, x, plan, order: UnsafeBufferPointer(order))
        }
    }
}

/// One thread's part of `swiGLUExperts`: gate and up chunks of the experts in `order`, then their down chunks.
private func runExpertChunks(_ experts: [SwiGLUExpert], _ x: Rows, _ plan: ExpertChunks, order: UnsafeBufferPointer<Int>) {
    withRowKernel(experts[0].gate.type, x.base, n: x.width) { rows in
        for j in order {
            let e = experts[j], size = plan.gateUpRows(j)
            while let c = plan.claim(.gateUp, j) {
                swiGLURows(rows, h: e.h.base, gate: e.gate.base, up: e.up.base, scratch: e.scratch.base, (c &* size)..<min(e.gate.rows, (c &+ 1) &* size))
                plan.finished(j)
            }
        }
    }
    for j in order {
        let e = experts[j], size = plan.downRows(j)
        guard plan.hasDownLeft(j) else { continue }
        plan.waitForHidden(j)
        withRowKernel(e.down.type, UnsafePointer(e.h.base), n: e.down.cols) { rows in
            while let c = plan.claim(.down, j) {
                rows(e.out.base, e.down.base, (c &* size)..<min(e.down.rows, (c &+ 1) &* size), nil, false)
            }
        }
    }
}

/// The chunk counters of `swiGLUExperts`, three an expert: the next gate/up chunk to claim, the gate/up chunks
/// finished, the next down chunk. (Atomics in one allocation: `Atomic` cannot sit in an array.)
final class ExpertChunks {
    enum Part { case gateUp, down }

    private let counters: UnsafeMutablePointer<Atomic<Int>>
    private let gateUpSize: [Int], gateUpChunks: [Int], downSize: [Int], downChunks: [Int]

    init(_ experts: [SwiGLUExpert]) {
        // About eight chunks a matrix but none under `gemvMinChunkBytes` (gate and up together for theirs), whole
        // groups of `gemvRowAlign` rows.
        func size(_ m: Matrix, matrices: Int) -> Int {
            let least = gemvMinChunkBytes / max(1, matrices &* m.type.rowBytes(m.cols))
            let rows = max(least, (m.rows &+ 7) / 8)
            return max(gemvRowAlign, (rows &+ gemvRowAlign &- 1) / gemvRowAlign &* gemvRowAlign)
        }
        gateUpSize = experts.map { size($0.gate, matrices: 2) }
        downSize = experts.map { size($0.down, matrices: 1) }
        gateUpChunks = zip(experts, gateUpSize).map { ($0.gate.rows &+ $1 &- 1) / $1 }
        downChunks = zip(experts, downSize).map { ($0.down.rows &+ $1 &- 1) / $1 }
        counters = .allocate(capacity: 3 &* ExpertChunks.stride &* experts.count)
        for i in 0..<(3 &* ExpertChunks.stride &* experts.count) { (counters + i).initialize(to: Atomic(0)) }
    }

    /// Counters a cache line apart (8 of 8 bytes): each is written by whichever thread claims or finishes a chunk,
    /// and on one line they bounced between the cores at every claim.
    private static let stride = 8

    /// Frees the counters (after the job).
    func release() {
        counters.deinitialize(count: 3 &* ExpertChunks.stride &* gateUpSize.count)
        counters.deallocate()
    }

    /// Index of expert j's counter `i` (0: next gate/up chunk, 1: gate/up chunks finished, 2: next down chunk).
    private func counter(_ j: Int, _ i: Int) -> Int { (3 &* j &+ i) &* ExpertChunks.stride }

    func gateUpRows(_ j: Int) -> Int { gateUpSize[j] }
    func downRows(_ j: Int) -> Int { downSize[j] }

    /// The next unclaimed chunk of expert j's `part`, or nil.
    func claim(_ part: Part, _ j: Int) -> Int? {
        let (slot, count) = part == .gateUp ? (counter(j, 0), gateUpChunks[j]) : (counter(j, 2), downChunks[j])
        if counters[slot].load(ordering: .relaxed) >= count { return nil }
        let c = counters[slot].wrappingAdd(1, ordering: .relaxed).oldValue
        return c < count ? c : nil
    }

    /// A gate/up chunk of expert j is computed (its hidden features written).
    func finished(_ j: Int) { counters[counter(j, 1)].add(1, ordering: .releasing) }

    /// Whether expert j has down chunks nobody has claimed yet.
    func hasDownLeft(_ j: Int) -> Bool { counters[counter(j, 2)].load(ordering: .relaxed) < downChunks[j] }

    /// Returns once every gate/up chunk of expert j is computed (each claimed one is being computed by a running
    /// thread, so this ends).
    func waitForHidden(_ j: Int) {
        while counters[counter(j, 1)].load(ordering: .acquiring) < gateUpChunks[j] {}
    }
}
