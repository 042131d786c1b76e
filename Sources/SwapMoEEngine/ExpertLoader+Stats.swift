// ExpertLoader: its counters (the slots of `LoaderCore.counters`) and the `LoaderStats` snapshot read from them.

extension LoaderCore {
    static let loadsCounter = 0, bytesCounter = 1, failuresCounter = 2, cancelledCounter = 3, directCounter = 4, streamedCounter = 5
    static let helpedCounter = 6
}

extension ExpertLoader {
    public var stats: LoaderStats {
        var s = LoaderStats()
        s.loads = core.counters.get(LoaderCore.loadsCounter)
        s.bytesRead = core.counters.get(LoaderCore.bytesCounter)
        s.failures = core.counters.get(LoaderCore.failuresCounter)
        s.cancelled = core.counters.get(LoaderCore.cancelledCounter)
        s.directReads = core.counters.get(LoaderCore.directCounter)
        s.streamedReads = core.counters.get(LoaderCore.streamedCounter)
        s.helpedChunks = core.counters.get(LoaderCore.helpedCounter)
        return s
    }
}
