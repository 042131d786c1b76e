import Foundation
import Testing

/// Docs/Architecture.md is the map a newcomer reads first: these tests fail when a module or a source file is
/// missing from its module table, or the table names one that no longer exists.
@Suite("Docs/Architecture.md matches the sources")
struct ArchitectureDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The module table's rows: module name -> the row's text.
    static func tableRows() throws -> [String: String] {
        var rows: [String: String] = [:]
        for line in try read("Docs/Architecture.md").split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
            guard cells.count > 2 else { continue }
            let name = cells[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            rows[name] = String(line)
        }
        return rows
    }

    /// Every module under Sources/ (Swift targets and system libraries).
    static func modules() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test("every module under Sources has a row, and every row names a module")
    func everyModule() throws {
        let rows = try Self.tableRows(), modules = try Self.modules()
        for m in modules { #expect(rows[m] != nil, "Docs/Architecture.md's module table has no row for \(m)") }
        for r in rows.keys { #expect(modules.contains(r), "Docs/Architecture.md's module table names \(r), which is not under Sources/") }
    }

    @Test("every Swift file of a module is named in its row")
    func everyFile() throws {
        let rows = try Self.tableRows()
        for m in try Self.modules() {
            guard let row = rows[m] else { continue }
            let dir = Self.root.appendingPathComponent("Sources/\(m)").path
            let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".swift") }
            for f in files {
                let name = String(f.dropLast(".swift".count))
                #expect(row.contains("`\(name)`"), "Docs/Architecture.md: the row of \(m) does not name \(name)")
            }
        }
    }

    @Test("the module graph lists the dependencies Package.swift declares")
    func graph() throws {
        let package = try Self.read("Package.swift"), doc = try Self.read("Docs/Architecture.md")
        // `.target(name: "X", dependencies: ["A", "B"] ...)`: each arrow X -> A must appear in the doc's graph
        // section as a line `X -> A, B` (the list in any order).
        let arrows = doc.split(separator: "\n").filter { $0.contains(" -> ") }.reduce(into: [String: Set<String>]()) { out, line in
            let parts = line.replacingOccurrences(of: "`", with: "").components(separatedBy: " -> ")
            guard parts.count == 2 else { return }
            let from = parts[0].trimmingCharacters(in: .whitespaces)
            out[from, default: []].formUnion(parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
        let declared = try NSRegularExpression(pattern: #"\.(?:target|executableTarget)\(name: "([A-Za-z]+)", dependencies: \[([^\]]*)\]"#)
        let ns = package as NSString
        var checked = 0
        for match in declared.matches(in: package, range: NSRange(location: 0, length: ns.length)) {
            let name = ns.substring(with: match.range(at: 1))
            guard (try Self.modules()).contains(name) else { continue }  // test-only targets live under Tests/
            let deps = ns.substring(with: match.range(at: 2)).split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")) }
            #expect(arrows[name] == Set(deps), "Docs/Architecture.md's graph: \(name) -> \(deps.sorted().joined(separator: ", ")) expected, found \(arrows[name].map { $0.sorted() } ?? [])")
            checked += 1
        }
        #expect(checked >= 8)
    }
}
