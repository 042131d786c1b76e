// The compiled program and the backtracking matcher over Unicode scalars (see Regex.swift).

// MARK: - Compiled program and backtracking matcher

enum Inst: Sendable {
    case cls(Int)
    /// Greedy run of one class, between min and max (-1 = unbounded) scalars.
    case run(cls: Int, min: Int, max: Int)
    case split(Int, Int)
    case jump(Int)
    /// Lookahead on a single class: (?=c) or (?!c).
    case lookClass(cls: Int, negative: Bool)
    /// General lookahead: runs the program starting at `entry` (which ends in `.match`).
    case look(entry: Int, negative: Bool)
    case match
}

struct BacktrackingRegex: ScalarPattern {
    private let program: [Inst]
    private let classes: [CharClass]
    let pattern: String

    init(_ pattern: String) throws {
        var parser = RegexParser(pattern)
        let tree = try parser.parse()
        var compiler = Compiler()
        compiler.compileMain(tree)
        program = compiler.program
        classes = compiler.classes
        self.pattern = pattern
    }

    private struct Compiler {
        var program: [Inst] = []
        var classes: [CharClass] = []
        var pendingLooks: [(instIndex: Int, node: RegexNode, negative: Bool)] = []

        mutating func addClass(_ c: CharClass) -> Int {
            classes.append(c)
            return classes.count - 1
        }

        mutating func compileMain(_ node: RegexNode) {
            emit(node)
            program.append(.match)
            // Lookahead bodies are appended after the main program, each ending in .match.
            var i = 0
            while i < pendingLooks.count {
                let (index, body, negative) = pendingLooks[i]
                let entry = program.count
                emit(body)
                program.append(.match)
                program[index] = .look(entry: entry, negative: negative)
                i += 1
            }
        }

        mutating func emit(_ node: RegexNode) {
            switch node {
            case let .cls(c):
                program.append(.cls(addClass(c)))
            case let .seq(nodes):
                for n in nodes { emit(n) }
            case let .alt(nodes):
                var jumps: [Int] = []
                for (k, n) in nodes.enumerated() {
                    if k < nodes.count - 1 {
                        let split = program.count
                        program.append(.split(0, 0))
                        emit(n)
                        jumps.append(program.count)
                        program.append(.jump(0))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        emit(n)
                    }
                }
                for j in jumps { program[j] = .jump(program.count) }
            case let .rep(body, min, max, greedy):
                if greedy, case let .cls(c) = body {
                    program.append(.run(cls: addClass(c), min: min, max: max ?? -1))
                    return
                }
                for _ in 0..<min { emit(body) }
                if let max {
                    var exits: [Int] = []
                    for _ in min..<max {
                        exits.append(program.count)
                        program.append(.split(0, 0))
                        emit(body)
                    }
                    let end = program.count
                    for e in exits {
                        program[e] = greedy ? .split(e + 1, end) : .split(end, e + 1)
                    }
                } else {
                    let loop = program.count
                    program.append(.split(0, 0))
                    emit(body)
                    program.append(.jump(loop))
                    let end = program.count
                    program[loop] = greedy ? .split(loop + 1, end) : .split(end, loop + 1)
                }
            case let .look(body, negative):
                if case let .cls(c) = body {
                    program.append(.lookClass(cls: addClass(c), negative: negative))
                } else {
                    pendingLooks.append((program.count, body, negative))
                    program.append(.jump(0))  // patched to .look
                }
            }
        }
    }

    /// Runs the program from `entry` at `start`; returns the end of the first match in priority order.
    private func run(_ text: UnsafeBufferPointer<Unicode.Scalar>, entry: Int, start: Int, stack: inout [Int]) -> Int? {
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        var pc = entry
        var pos = start
        let n = text.count
        while true {
            var failed = false
            switch program[pc] {
            case let .cls(c):
                if pos < n && classes[c].contains(text[pos]) {
                    pos += 1
                    pc += 1
                } else {
                    failed = true
                }
            case let .run(c, min, max):
                let cls = classes[c]
                var k = 0
                let limit = max < 0 ? n - pos : Swift.min(max, n - pos)
                while k < limit && cls.contains(text[pos + k]) { k += 1 }
                if k < min {
                    failed = true
                } else {
                    if k > min {
                        // Backtrack point: the continuation may retry with fewer scalars, down to min.
                        stack.append(pc + 1)
                        stack.append(pos + k)
                        stack.append(pos + min)
                    }
                    pos += k
                    pc += 1
                }
            case let .split(a, b):
                stack.append(b)
                stack.append(pos)
                stack.append(-1)
                pc = a
            case let .jump(a):
                pc = a
            case let .lookClass(c, negative):
                let hit = pos < n && classes[c].contains(text[pos])
                if hit != negative { pc += 1 } else { failed = true }
            case let .look(sub, negative):
                let hit = run(text, entry: sub, start: pos, stack: &stack) != nil
                if hit != negative { pc += 1 } else { failed = true }
            case .match:
                return pos
            }
            if failed {
                // Pop a backtrack point.
                while true {
                    if stack.count == base { return nil }
                    let low = stack.removeLast()
                    let p = stack.removeLast()
                    let target = stack.removeLast()
                    if low < 0 {
                        pc = target
                        pos = p
                        break
                    }
                    let retry = p - 1
                    if retry < low { continue }
                    if retry > low {
                        stack.append(target)
                        stack.append(retry)
                        stack.append(low)
                    }
                    pc = target
                    pos = retry
                    break
                }
            }
        }
    }

    func findMatches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var stack: [Int] = []
        stack.reserveCapacity(64)
        text.withUnsafeBufferPointer { buf in
            let n = buf.count
            var searchFrom = 0
            var lastMatchEnd = -1
            while searchFrom <= n {
                var start = searchFrom
                var found: Range<Int>?
                while start <= n {
                    if let end = run(buf, entry: 0, start: start, stack: &stack) {
                        found = start..<end
                        break
                    }
                    start += 1
                }
                guard let m = found else { break }
                if m.isEmpty && m.upperBound == lastMatchEnd {
                    // No empty match right after the previous match (as onig's find_iter).
                    searchFrom += 1
                    continue
                }
                out.append(m)
                lastMatchEnd = m.upperBound
                searchFrom = m.upperBound
            }
        }
        return out
    }
}
