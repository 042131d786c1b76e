import SwapMoECore
import SwapMoEArchive

/// The swapper thread: waits for a round to be asked for, plans it (`SwapPolicy`) and carries it out.
extension SwapCore {
    func requestRound() { lock.withLockNotifying { $0.roundRequested = true } }

    func stop() { lock.withLockNotifying { $0.stopping = true } }

    func waitIdle() {
        lock.wait { s in (s.stopping || (!s.roundRunning && !s.roundRequested)) ? () : nil }
    }

    func runSwapper() {
        while true {
            let go: Bool = lock.wait { s in
                if s.stopping { return false }
                guard s.roundRequested else { return nil }
                s.roundRequested = false
                s.roundRunning = true
                return true
            }
            guard go else { return }
            runRound()
            lock.withLockNotifying { $0.roundRunning = false }
        }
    }

    /// One round: `SwapPolicy.planRound` decides from the sliding-window importance and the state; this starts
    /// its loads (background priority) and books its reclaims under the lock (the loader's lock nests inside
    /// ours, never the reverse), then waits for each load and queues it for its layer's safe point. A load that
    /// cannot start ends the round's loads and drops its reclaims.
    private func runRound() {
        let imp = SwapPolicy.shares(layers.indices.map { importance.importance(layerIndex: $0) })
        let started: [(li: Int, arrival: Arrival)] = lock.withLock { s in
            let plan = policy.planRound(s, imp: imp)
            for p in plan.promotions {
                s.lingering[p.layer][p.demoted] = true
                s.lingering[p.layer][p.promoted] = false
            }
            var started: [(li: Int, arrival: Arrival)] = []
            for l in plan.loads {
                guard let slot = s.spares.popLast() else { break }
                assert(slot == l.arrival.slot, "the plan's slot is the last empty one")
                do throws(EngineError) { try loader.load(key(l.layer, l.arrival.expert), into: slot, priority: .background) } catch {
                    s.spares.append(slot)
                    s.starved = false
                    return started
                }
                s.table.assign(key(l.layer, l.arrival.expert), to: slot)
                s.inFlight.insert(slot)
                s.incoming[l.layer].insert(l.arrival.expert)
                started.append((l.layer, l.arrival))
            }
            for i in plan.reclaimOnArrival { started[i].arrival.thenReclaim = true }
            for r in plan.reclaims { s.reclaim[r.layer].insert(r.expert) }
            s.starved = plan.starved
            return started
        }
        counters.add(SwapCore.rounds)
        for (li, a) in started {
            let result = loader.waitUntilSettled(slot: a.slot)
            lock.withLock { s in
                s.inFlight.remove(a.slot)
                if result.isReady(key(li, a.expert)) {
                    s.pending[li].append(a)
                    s.pendingCount += 1
                } else {
                    // The newcomer is not tried again.
                    counters.add(SwapCore.failedSwaps)
                    s.broken.insert(li * experts + a.expert)
                    s.incoming[li].remove(a.expert)
                    empty(&s, a.slot)
                }
            }
        }
    }
}
