import Foundation
import SwapMoEArchive
import SwapMoEModels
import SwapMoEEngine

extension Session {
    /// Where `swapmoe profile` writes an archive's layer profile, and where sessions look for it.
    public static func defaultProfilePath(archive: String) -> String { archive + ".profile.json" }

    /// The layer profile a session of `options` plans with: the file `options.profile` names (an error if it cannot
    /// be read or does not fit the archive), none for `none`, else the archive's own when it exists.
    public static func loadProfile(_ options: SessionOptions, archive: Archive) throws -> LayerProfile? {
        if options.profile == "none" { return nil }
        let path = options.profile ?? defaultProfilePath(archive: options.archive)
        guard FileManager.default.fileExists(atPath: path) else {
            if options.profile != nil { throw SessionError.badProfile(path, "no such file") }
            return nil
        }
        let profile: LayerProfile
        do {
            profile = try JSONDecoder().decode(LayerProfile.self, from: try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw SessionError.badProfile(path, "it is not a profile written by swapmoe profile (\(error))".replacingOccurrences(of: "\n", with: " "))
        }
        let m = archive.manifest.model
        let layers = m.stacks.flatMap { st in st.moeLayers.map { MoELayer(stack: st.name, layer: $0) } }
        if let why = profile.problem(moeLayers: layers, experts: m.stacks.map(\.expertsPerLayer).max() ?? 0) {
            throw SessionError.badProfile(path, why)
        }
        return profile
    }

    /// SwapMoE's offline profiling pass (`swapmoe profile`): with every expert resident, the model reads the first
    /// `tokens` tokens of `file` in windows of `context`; then, for each MoE layer and each budget n (default: every
    /// n from 1 to E - 1, or 8 of them for wider layers), it reads them again with that layer alone masked to
    /// its n most routed experts, and records the mean KL of the next-token distributions from the first pass.
    /// Decoder-only models.
    /// With `experts`, also each expert's own cost (the KL and the loss change when it alone is masked out of its
    /// layer) beside its importance over the text, to check how well SwapMoE's importance ranks experts.
    public static func profile(archive path: String, text file: String, tokens: Int, context: Int, threads: Int,
                               budgets requested: [Int]? = nil, experts perExpert: Bool = false,
                               progress: (String) -> Void = { _ in }) throws -> LayerProfile {
        let archive = try Archive(path: path)
        let config = try archive.modelConfig()
        if config.isEncoderDecoder { throw SessionError.encoderDecoder("profile", config.family.rawValue) }
        let tokenizer = try loadTokenizer(archive)
        let ids = Array(tokenizer.encode(try readText(file)).prefix(tokens))
        guard ids.count >= 2 else { throw SessionError.emptyCalibration(file) }
        let m = archive.manifest.model
        let experts = m.stacks.map(\.expertsPerLayer).max() ?? 0, k = m.expertsPerToken
        let layers = m.stacks.flatMap { st in st.moeLayers.map { MoELayer(stack: st.name, layer: $0) } }
        let budgets = requested ?? defaultBudgets(topK: k, experts: experts)
        let counter = RoutingCounter(wrapping: try ResidentExperts(archive: archive), expertsPerToken: k)
        let mask = LayerMask(wrapping: counter)
        let model = try DecoderModel(archive: archive, experts: mask, context: context, threads: threads)
        let windows = stride(from: 0, to: ids.count, by: context).map { Array(ids[$0..<min(ids.count, $0 + context)]) }.filter { $0.count >= 2 }
        let vocab = model.spec.vocab
        func logProbabilities() throws -> [[Float]] {
            try windows.map { w in
                model.reset()
                var rows = try model.forward(w, logits: .all)
                for r in 0..<w.count { logSoftmax(&rows, row: r, width: vocab) }
                return rows
            }
        }
        let reference = try logProbabilities()
        let rows = windows.reduce(0) { $0 + $1.count }
        let predicted = windows.reduce(0) { $0 + $1.count - 1 }
        /// Mean KL(reference ‖ masked) over every row, and the mean next-token loss over every predicted token.
        func compare(_ masked: [[Float]]) -> (kl: Double, loss: Double) {
            var kl = 0.0, loss = 0.0
            for ((p, q), w) in zip(zip(reference, masked), windows) {
                for i in 0..<p.count where p[i] > -30 { kl += Double(expf(p[i])) * Double(p[i] - q[i]) }
                for r in 0..<(w.count - 1) { loss -= Double(q[r * vocab + w[r + 1]]) }
            }
            return (max(0, kl / Double(rows)), loss / Double(max(predicted, 1)))
        }
        let baseLoss = compare(reference).loss
        var out: [LayerProfile.Layer] = []
        for layer in layers {
            let counts = counter.routingCounts(stack: layer.stack)[layer.layer] ?? []
            let ranked = counts.indices.sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }
            var cost: [Double] = []
            for n in budgets {
                var allowed = [Bool](repeating: false, count: counts.count)
                for e in ranked.prefix(n) { allowed[e] = true }
                mask.set(layer, allowed: allowed)
                cost.append(compare(try logProbabilities()).kl)
            }
            var entry = LayerProfile.Layer(stack: layer.stack, layer: layer.layer, budgets: budgets, cost: cost)
            if perExpert {
                var kls: [Double] = [], losses: [Double] = []
                for e in counts.indices {
                    mask.set(layer, allowed: counts.indices.map { $0 != e })
                    let c = compare(try logProbabilities())
                    kls.append(c.kl)
                    losses.append(c.loss - baseLoss)
                }
                let norms = Dictionary(archive.experts.filter { $0.stack == layer.stack && $0.layer == layer.layer }.map { ($0.expert, $0.norm) }) { a, _ in a }
                entry.maskedKL = kls
                entry.maskedLossChange = losses
                entry.importance = counter.routerMass(layer).enumerated().map { $1 * (norms[$0] ?? 0) }
                entry.routed = counts
            }
            mask.clear()
            out.append(entry)
            var line = "layer \(layer.layer): " + zip(budgets, cost).map { "\($0) experts \(formatKL($1))" }.joined(separator: ", ")
            if let imp = entry.importance, let loss = entry.maskedLossChange, let kl = entry.maskedKL {
                func rho(_ a: [Double], _ b: [Double]) -> String { LayerProfile.spearman(a, b).map { String(format: "%.2f", $0) } ?? "n/a" }
                let freq = counts.map(Double.init)
                line += "; rank correlation with masking one expert (KL / loss change): importance \(rho(imp, kl)) / \(rho(imp, loss)),"
                    + " routing frequency \(rho(freq, kl)) / \(rho(freq, loss))"
            }
            progress(line)
        }
        return LayerProfile(text: (file as NSString).lastPathComponent, tokens: ids.count, expertsPerLayer: experts, layers: out)
    }

    /// Every budget from 1 to E - 1 (a layer may hold fewer experts than top-k under a small cap), or 8 spread
    /// over that range (both ends kept) for wider layers.
    static func defaultBudgets(topK k: Int, experts: Int) -> [Int] {
        let all = Array(1..<max(1, experts))
        guard all.count > 8 else { return all }
        return (0..<8).map { all[Int((Double($0) * Double(all.count - 1) / 7).rounded())] }
    }

    static func formatKL(_ v: Double) -> String { String(format: "%.4f", v) }

    /// Row `r` of `rows` (rows of `width`) replaced by its log-softmax.
    private static func logSoftmax(_ rows: inout [Float], row r: Int, width: Int) {
        let range = (r * width)..<((r + 1) * width)
        let top = rows[range].max() ?? 0
        var sum = 0.0
        for i in range { sum += Double(expf(rows[i] - top)) }
        let log = top + Float(Foundation.log(sum))
        for i in range { rows[i] -= log }
    }
}
