import Foundation
import Testing
import SwapMoECore
@testable import SwapMoETemplates

/// A report, never a failure: how many templates of a whole folder render byte-identically to transformers.
/// Run with goldens made by `Tools/make_template_goldens.py DIR OUT`:
///
///     SWAPMOE_TEMPLATE_COVERAGE_DIR=DIR SWAPMOE_TEMPLATE_COVERAGE_GOLDENS=OUT \
///         swift test --filter SwapMoETemplatesTests.coverageReport
///
/// Without the variables it does nothing (the goldens of all templates are too big to commit).
@Test func coverageReport() throws {
    let env = ProcessInfo.processInfo.environment
    guard let dir = env["SWAPMOE_TEMPLATE_COVERAGE_DIR"], let goldensPath = env["SWAPMOE_TEMPLATE_COVERAGE_GOLDENS"] else { return }
    let goldens = try #require(try TemplateFixtures.json(URL(fileURLWithPath: goldensPath)).objectValue)
    var passed: [String] = [], failed: [String] = []
    for (name, golden) in zip(goldens.keys, goldens.values) {
        let url = URL(fileURLWithPath: dir).appendingPathComponent("\(name).jinja")
        guard let source = try? String(contentsOf: url, encoding: .utf8), let golden = golden.objectValue else { continue }
        let problems = TemplateFixtures.mismatches(source: source, golden: golden)
        if problems.isEmpty { passed.append(name) } else {
            failed.append(name)
            print("COVERAGE FAIL \(name): \(problems.count) of \(golden.count)\n  " + problems.prefix(2).map {
                String($0.prefix(env["SWAPMOE_TEMPLATE_COVERAGE_VERBOSE"] == nil ? 300 : 100_000))
            }.joined(separator: "\n  "))
        }
    }
    print("COVERAGE: \(passed.count) of \(passed.count + failed.count) templates byte-identical to transformers")
    print("COVERAGE failing: \(failed.joined(separator: ", "))")
}
