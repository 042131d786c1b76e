/// A command line misused: printed with the command's usage to stderr, exit code 64 (EX_USAGE).
public struct UsageError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Parsed arguments of one subcommand: options with values, flags, positionals.
///
/// Behaves like swift-argument-parser: `--key value` and `--key=value`, short aliases, `--` ends options,
/// unknown options are usage errors.
public struct Arguments {
    public struct Spec: Sendable {
        /// Options taking a value: long name -> short aliases.
        public var options: [String: [String]] = [:]
        /// Flags without a value.
        public var flags: [String: [String]] = [:]
        public init(options: [String: [String]] = [:], flags: [String: [String]] = [:]) { self.options = options; self.flags = flags }
    }

    public private(set) var values: [String: String] = [:]
    public private(set) var set: Set<String> = []
    public private(set) var positionals: [String] = []

    public init(_ args: [String], spec: Spec) throws(UsageError) {
        var i = 0
        var onlyPositionals = false
        func canonical(_ name: String, in table: [String: [String]]) -> String? {
            if table[name] != nil { return name }
            return table.first { $0.value.contains(name) }?.key
        }
        while i < args.count {
            let a = args[i]
            i += 1
            if onlyPositionals || !a.hasPrefix("-") || a == "-" { positionals.append(a); continue }
            if a == "--" { onlyPositionals = true; continue }
            var name = a
            var inline: String? = nil
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                name = String(a[..<eq]); inline = String(a[a.index(after: eq)...])
            }
            if let opt = canonical(name, in: spec.options) {
                if let inline { values[opt] = inline; continue }
                guard i < args.count else { throw UsageError("option \(name) needs a value") }
                values[opt] = args[i]
                i += 1
            } else if let flag = canonical(name, in: spec.flags) {
                guard inline == nil else { throw UsageError("flag \(name) takes no value") }
                set.insert(flag)
            } else if Double(a) != nil {
                positionals.append(a)
            } else {
                throw UsageError("unknown option \(name)")
            }
        }
    }

    public func has(_ flag: String) -> Bool { set.contains(flag) }
    public func value(_ option: String) -> String? { values[option] }
}
