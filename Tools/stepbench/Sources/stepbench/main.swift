import Foundation
import SwapMoERuntime
import SwapMoEModels
import SwapMoECore

let args = CommandLine.arguments
var o = SessionOptions(archive: args[1])
o.threads = 2
o.context = 256
o.contextGiven = true
let s = try Session(options: o)
let m = s.decoder!
let n = Int(args.count > 2 ? args[2] : "4")!
let seqs = (0..<n).map { i -> DecoderSequence in let q = m.makeSequence(); m.use(q); _ = try! m.forward(s.encode("Client \(i) says hello to")); return q }
for round in 0..<3 {
    var t0 = monotonicSeconds()
    for k in 0..<16 { _ = try m.step(seqs.map { (sequence: $0, token: 100 + k) }) }
    let batched = monotonicSeconds() - t0
    t0 = monotonicSeconds()
    for k in 0..<16 { for q in seqs { m.use(q); _ = try m.forward([200 + k]) } }
    let alone = monotonicSeconds() - t0
    print("round \(round): \(n) rows x 16 steps: batched \(formatFixed(Double(16 * n) / batched, digits: 1)) tok/s, one by one \(formatFixed(Double(16 * n) / alone, digits: 1)) tok/s")
}
