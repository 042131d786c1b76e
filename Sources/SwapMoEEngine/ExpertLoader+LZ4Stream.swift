// ExpertLoader: the streamed LZ4 read with O_DIRECT and Linux AIO (`loadStreaming`), and the multi-thread
// decode of its chunks (`DecodeJob`): idle workers claim landed chunks, decode them and place them in order.

import SwapMoECore
import SwapMoEArchive

extension LoaderCore {
    /// A streamed LZ4 block that several workers decode (`loadStreaming`): the worker that reads it owns it and
    /// hashes its chunks in order as they land; any worker (the owner included) claims a landed chunk, decodes it
    /// into its own scratch buffer and, once every chunk before it is in place, places it. Decoding reads only
    /// the chunk's stored bytes, and placing chunk `j` only overwrites stored bytes of chunks up to `j`, all
    /// decoded and hashed by then (`LZ4BlockLayout.placeChunk` checks it), so nobody reads bytes being written.
    final class DecodeJob: @unchecked Sendable {
        // @unchecked Sendable: immutable. The slot memory it points to is shared under the protocol above, whose
        // hand-offs (claims, landed and placed counts) all go through the loader's lock.
        let layout: LZ4BlockLayout
        let stored: UnsafeRawBufferPointer
        let dst: UnsafeMutableRawBufferPointer
        let label: String
        init(layout: LZ4BlockLayout, stored: UnsafeRawBufferPointer, dst: UnsafeMutableRawBufferPointer, label: String) {
            self.layout = layout; self.stored = stored; self.dst = dst; self.label = label
        }
    }

    struct DecodeProgress: Sendable {
        let job: DecodeJob
        /// Chunks whose stored bytes have landed and been hashed, claimed by a decoder, and placed (in order).
        var landed = 0, claimed = 0, placed = 0
        /// Workers other than the owner decoding one of its chunks now.
        var helpers = 0
        /// Why decoding stopped early (a chunk that does not decode, or the owner gave up).
        var failure: String?
        init(job: DecodeJob) { self.job = job }
    }

    enum Claim { case chunk(Int), failed(String), done, none }

    /// Claims the next landed chunk of the shared block, or says why there is none.
    static func claim(_ s: inout State) -> Claim {
        guard let d = s.decode else { return .none }
        if let f = d.failure { return .failed(f) }
        if d.placed == d.job.layout.chunkCount { return .done }
        guard d.claimed < d.landed else { return .none }
        s.decode!.claimed += 1
        return .chunk(d.claimed)
    }

    /// Reads an LZ4 block into the slot's end (`tail`) as pieces submitted together and decodes each chunk to
    /// its place at the slot's front as soon as its stored bytes have landed (the trailer first, on the block's
    /// first load: it says where the chunks are). The checksum is computed over the same bytes in order, each
    /// chunk's before it is decoded (decoding only ever overwrites stored bytes already hashed), and checked at
    /// the end; a block that fails to decode is reported as a checksum mismatch when its checksum is wrong too
    /// (the likelier cause). Returns false, having read nothing, if the kernel refuses the AIO submission.
    func loadStreaming(_ e: ExpertEntry, entry: Int, dst: UnsafeMutableRawBufferPointer, tail: UnsafeMutableRawBufferPointer,
                               _ b: WorkerBuffers, reader: PieceReader, fd: Int32) throws(ArchiveError) -> Bool {
        let known = layouts.withLock { $0[entry] }
        guard try reader.start(fd: fd, offset: e.offset, length: e.storedLength, into: tail.baseAddress!, tailFirst: known == nil,
                               path: archive.path) else { return false }
        defer { reader.drain() }
        let stored = UnsafeRawBufferPointer(start: tail.baseAddress, count: e.storedLength)
        let end = e.storedLength, fixed = ArchiveFormat.lz4TrailerFixed
        b.hash.reset()
        var hashed = 0
        func corrupt(_ reason: String) throws(ArchiveError) -> ArchiveError {
            try reader.wait(for: hashed..<end)
            if verify {
                b.hash.update(UnsafeRawBufferPointer(rebasing: stored[hashed..<end]))
                if b.hash.digest != checksums[entry] { return .checksumMismatch(path: archive.path, block: e.label) }
            }
            return .corruptBlock(path: archive.path, block: e.label, reason: reason)
        }
        let layout: LZ4BlockLayout
        if let known {
            layout = known
        } else {
            guard end >= fixed else { throw try corrupt("is too short for its LZ4 trailer") }
            try reader.wait(for: (end - fixed)..<end)
            guard let length = LZ4BlockLayout.trailerLength(tail: UnsafeRawBufferPointer(rebasing: stored[(end - fixed)..<end])), length <= end else {
                throw try corrupt("has no LZ4 trailer")
            }
            try reader.wait(for: (end - length)..<end)
            do { layout = try LZ4BlockLayout(stored, rawLength: e.rawLength) } catch { throw try corrupt(error.reason) }
        }
        let trailer = layout.trailerLength, n = layout.chunkCount
        /// Hashes chunk `i`'s stored bytes, which must have landed, in order after the chunks before it.
        func hash(chunk i: Int) {
            let r = layout.storedRange(i)
            if verify { b.hash.update(UnsafeRawBufferPointer(rebasing: stored[r])) }
            hashed = r.upperBound
        }
        let job = DecodeJob(layout: layout, stored: stored, dst: UnsafeMutableRawBufferPointer(rebasing: dst[0..<e.rawLength]), label: e.label)
        let shared = n > 1 && lock.withLockNotifying { s -> Bool in
            guard s.decode == nil, !s.stopping else { return false }
            s.decode = DecodeProgress(job: job)
            return true
        }
        if shared {
            defer { retire(job) }
            // Hash the chunks that have landed, in order, and offer them; decode one when there is one to claim,
            // else wait for the next chunk's bytes (or for helpers to place the last ones).
            var landed = 0
            decoding: while true {
                var more = false
                while landed < n, try reader.hasLanded(layout.storedRange(landed)) {
                    hash(chunk: landed)
                    landed += 1
                    more = true
                }
                if more { lock.withLockNotifying { $0.decode!.landed = landed } }
                switch lock.withLock({ LoaderCore.claim(&$0) }) {
                case .chunk(let j): decodeClaimed(job, j, scratch: b.scratch!, helper: false)
                case .failed(let reason): throw try corrupt(reason)
                case .done: break decoding
                case .none:
                    if landed < n {
                        try reader.wait(for: layout.storedRange(landed))
                    } else {
                        lock.wait { s in s.decode!.placed == n || s.decode!.failure != nil ? () : nil }
                    }
                }
            }
        } else {
            for i in 0..<n {
                try reader.wait(for: layout.storedRange(i))
                hash(chunk: i)
                do { try layout.decodeChunk(i, stored: stored, into: dst, scratch: b.scratch, label: e.label) } catch { throw try corrupt(error.reason) }
            }
        }
        try reader.wait(for: (end - trailer)..<end)
        if verify {
            b.hash.update(UnsafeRawBufferPointer(rebasing: stored[(end - trailer)..<end]))
            guard b.hash.digest == checksums[entry] else { throw .checksumMismatch(path: archive.path, block: e.label) }
        }
        if known == nil { layouts.withLock { $0[entry] = layout } }
        counters.add(LoaderCore.directCounter)
        counters.add(LoaderCore.streamedCounter)
        return true
    }

    /// Decodes chunk `j` of `job`, claimed by this worker, into `scratch`, waits until the chunks before it are in
    /// place, and places it; a failure stops every decoder of the block (the owner reports it). A helper
    /// (`helper`) leaves the job when done, which the owner waits for before it hands the slot on.
    func decodeClaimed(_ job: DecodeJob, _ j: Int, scratch: UnsafeMutableRawBufferPointer, helper: Bool) {
        var failure: String?
        do { try job.layout.decompressChunk(j, stored: job.stored, into: scratch, label: job.label) } catch { failure = error.reason }
        let turn = failure == nil && lock.wait { s -> Bool? in s.decode!.failure != nil ? false : s.decode!.placed == j ? true : nil }
        if turn {
            do { try job.layout.placeChunk(j, from: UnsafeRawBufferPointer(scratch), stored: job.stored, into: job.dst, label: job.label) }
            catch { failure = error.reason }
        }
        lock.withLockNotifying { s in
            if let failure { s.decode!.failure = s.decode!.failure ?? failure } else if turn { s.decode!.placed += 1 }
            if helper { s.decode!.helpers -= 1 }
        }
    }

    /// Ends the owner's shared decoding of `job`: unfinished, it is marked failed (so helpers waiting for their
    /// turn give up); then the owner waits for the helpers still on a chunk, and withdraws the job.
    private func retire(_ job: DecodeJob) {
        lock.withLockNotifying { s in
            if s.decode!.failure == nil && s.decode!.placed < job.layout.chunkCount { s.decode!.failure = "abandoned" }
        }
        lock.wait { s -> Void? in
            guard s.decode!.helpers == 0 else { return nil }
            s.decode = nil
            return ()
        }
    }
}
