import Foundation
import Testing
import SwapMoECore
@testable import SwapMoETemplates

/// Real chat templates (llama.cpp's collection of model repositories' templates) rendered over
/// conversations.json, against goldens transformers rendered (Tools/make_template_goldens.py).
enum TemplateFixtures {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // SwapMoETemplatesTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/templates")

    /// The time the goldens' `strftime_now` saw.
    static let fixedNow = TemplateDate(year: 2025, month: 7, day: 26, hour: 14, minute: 5, second: 9)

    static func json(_ url: URL) throws -> JSONValue {
        try JSONParser.parse([UInt8](try Data(contentsOf: url)), file: url.lastPathComponent)
    }

    static let conversations: [JSONValue] = (try? json(directory.appendingPathComponent("conversations.json")))?.arrayValue ?? []
    static let goldens: JSONObject = (try? json(directory.appendingPathComponent("goldens.json")))?.objectValue ?? JSONObject()
    static var templateNames: [String] { goldens.keys }

    /// Renders one conversation the way the goldens were made.
    static func render(_ template: ChatTemplate, _ c: JSONValue) throws(TemplateError) -> String {
        try template.render(messages: c["messages"]?.arrayValue ?? [], tools: c["tools"]?.arrayValue,
                            addGenerationPrompt: c["add_generation_prompt"]?.boolValue ?? false,
                            bosToken: "<s>", eosToken: "</s>", extra: c["extra"]?.objectValue ?? JSONObject(),
                            now: fixedNow)
    }

    /// Each mismatch against `golden` (`{conversation: {"output"|"error": ...}}`), as one line.
    static func mismatches(source: String, golden: JSONObject) -> [String] {
        let template: ChatTemplate
        do { template = try ChatTemplate(source: source) } catch { return ["parse: \(error)"] }
        var out: [String] = []
        for c in conversations {
            let name = c["name"]?.stringValue ?? "?"
            guard let expected = golden[name] else { out.append("\(name): no golden"); continue }
            let result = Result { () throws(TemplateError) in try render(template, c) }
            switch (result, expected["output"]?.stringValue, expected["error"]?.stringValue) {
            case (.success(let got), let want?, _):
                if got != want { out.append("\(name): output differs\n--- got\n\(got)\n--- want\n\(want)") }
            case (.failure(let e), _?, _):
                out.append("\(name): threw \(e)")
            case (.success, nil, let want?):
                out.append("\(name): rendered, jinja2 raised \(want)")
            case (.failure(let e), nil, let want?):
                // raise_exception's message must match; any other jinja2 error only needs a throw.
                if want.hasPrefix("TemplateError: ") {
                    let message = String(want.dropFirst("TemplateError: ".count))
                    if e != .raised(message, e.position) { out.append("\(name): threw \(e), jinja2 raised \(want)") }
                }
            default:
                out.append("\(name): bad golden")
            }
        }
        return out
    }
}

@Suite struct GoldenTests {
    @Test func fixturesLoaded() {
        #expect(TemplateFixtures.conversations.count >= 10)
        #expect(TemplateFixtures.templateNames.count >= 20)
    }

    @Test("every fixture template renders each conversation byte-identically to transformers",
          arguments: TemplateFixtures.templateNames)
    func golden(_ name: String) throws {
        let source = try String(contentsOf: TemplateFixtures.directory.appendingPathComponent("\(name).jinja"), encoding: .utf8)
        let golden = try #require(TemplateFixtures.goldens[name]?.objectValue)
        let problems = TemplateFixtures.mismatches(source: source, golden: golden)
        #expect(problems.isEmpty, "\(name):\n\(problems.joined(separator: "\n"))")
    }
}
