import Foundation
import Testing
import SwapMoECore
@testable import SwapMoETemplates

/// The language pieces one at a time (snippets.json: whitespace control, trim/lstrip blocks, loops, namespace,
/// macros, slices, filters, tests, Python printing, tojson, errors), each against what jinja2 rendered in
/// transformers' environment (snippet_goldens.json, from Tools/make_template_goldens.py).
enum Snippets {
    static let cases: [JSONValue] = (try? TemplateFixtures.json(
        TemplateFixtures.directory.appendingPathComponent("snippets.json")))?.arrayValue ?? []
    static let goldens: JSONObject = (try? TemplateFixtures.json(
        TemplateFixtures.directory.appendingPathComponent("snippet_goldens.json")))?.objectValue ?? JSONObject()
    static var names: [String] { cases.compactMap { $0["name"]?.stringValue } }
    static func snippet(_ name: String) -> JSONValue? { cases.first { $0["name"]?.stringValue == name } }
}

@Suite struct LanguageTests {
    @Test("each snippet renders (or fails) as jinja2 does", arguments: Snippets.names)
    func snippet(_ name: String) throws {
        let snippet = try #require(Snippets.snippet(name))
        let source = try #require(snippet["template"]?.stringValue)
        let golden = try #require(Snippets.goldens[name])
        let result = Result { () throws(TemplateError) in
            try ChatTemplate(source: source).render(snippet["variables"]?.objectValue ?? JSONObject(),
                                                    now: TemplateFixtures.fixedNow)
        }
        if let want = golden["output"]?.stringValue {
            #expect(try result.get() == want, "\(source)")
            return
        }
        let error = try #require(golden["error"]?.stringValue)
        guard case .failure(let e) = result else {
            Issue.record("\(name): rendered \((try? result.get()) ?? ""), jinja2 raised \(error)"); return
        }
        if error.hasPrefix("TemplateError: ") {
            #expect(e == .raised(String(error.dropFirst("TemplateError: ".count)), e.position))
        }
        if error.hasPrefix("TemplateSyntaxError") || error.hasPrefix("TemplateAssertionError") {
            // jinja2 refuses these when it compiles: so must the parser.
            #expect(throws: TemplateError.self) { try ChatTemplate(source: source) }
        }
        #expect(e.position.line >= 1, "\(name): \(e) has no position")
    }

    @Test func snippetsLoaded() { #expect(Snippets.names.count >= 70 && Snippets.goldens.count == Snippets.names.count) }
}

@Suite struct ErrorTests {
    func parseError(_ source: String) -> TemplateError? {
        do { _ = try ChatTemplate(source: source); return nil } catch { return error }
    }

    @Test func errorsNameLineAndColumn() throws {
        let unclosed = try #require(parseError("line one\n  {% for m in messages %}\n{{ m }}"))
        #expect(unclosed.position == SourcePosition(line: 2, column: 6))
        #expect(unclosed.description.hasPrefix("chat template line 2:6: syntax error: unclosed 'for'"))

        let filter = try #require(parseError("a\nbc {{ x | from_json }}"))
        #expect(filter == .syntax("no filter named 'from_json'", SourcePosition(line: 2, column: 11)))
        // Inside an `if`, jinja2 defers an unknown filter to the render that reaches it.
        let deferred = try ChatTemplate(source: "{% if x %}{{ x | from_json }}{% endif %}")
        #expect(try deferred.render([:]) == "")
        #expect(throws: TemplateError.self) { try deferred.render(["x": .string("{}")]) }

        let unknown = try #require(parseError("{{ 1 }}\n{% frobnicate %}"))
        #expect(unknown == .syntax("unknown tag 'frobnicate'", SourcePosition(line: 2, column: 4)))

        let expression = try #require(parseError("{{ (1 + ) }}"))
        #expect(expression.position == SourcePosition(line: 1, column: 9))
    }

    @Test func unsupportedFilterSaysHowToRecover() throws {
        let t = try ChatTemplate(source: "x\n{{ items | groupby('a') }}")
        #expect(throws: TemplateError.unsupported("unsupported filter 'groupby'", SourcePosition(line: 2, column: 12))) {
            try t.render(["items": .array([])])
        }
        let message = TemplateError.unsupported("unsupported filter 'groupby'", SourcePosition(line: 2, column: 12)).description
        #expect(message == "chat template line 2:12: unsupported filter 'groupby'; pass --chat-template FILE with a template swapmoe can render")
    }

    @Test func raiseExceptionCarriesTheTemplatesMessage() throws {
        let t = try ChatTemplate(source: "{% if messages[0].role != 'user' %}\n  {{- raise_exception('Roles must alternate!') }}\n{% endif %}")
        let messages: JSONValue = .array([.object(["role": .string("assistant"), "content": .string("x")])])
        #expect(throws: TemplateError.raised("Roles must alternate!", SourcePosition(line: 2, column: 7))) {
            try t.render(["messages": messages])
        }
    }

    @Test func limitsStopRunawayTemplates() throws {
        let deep = String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)
        #expect(throws: TemplateError.self) { try ChatTemplate(source: "{{ \(deep) }}") }
        let nested = String(repeating: "{% if true %}", count: 300) + String(repeating: "{% endif %}", count: 300)
        #expect(throws: TemplateError.self) { try ChatTemplate(source: nested) }
        let recursive = try ChatTemplate(source: "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        #expect(throws: TemplateError.self) { try recursive.render([:]) }
        var few = Evaluator.Limits()
        few.loopIterations = 10_000  // the default is 1e6
        let loops = try ChatTemplate(source: "{% for a in range(101) %}{% for b in range(100) %}{% endfor %}{% endfor %}")
        #expect(throws: TemplateError.limit("more than 10000 loop iterations", SourcePosition(line: 1, column: 29))) {
            try loops.render([:], now: TemplateFixtures.fixedNow, limits: few)
        }
        #expect(try loops.render([:], now: TemplateFixtures.fixedNow, limits: Evaluator.Limits()) == "")
        let big = try ChatTemplate(source: "{{ 'x' * 100000000 }}")
        #expect(throws: TemplateError.self) { try big.render([:]) }
        let huge = try ChatTemplate(source: "{{ range(100000000)|length }}")
        #expect(throws: TemplateError.self) { try huge.render([:]) }
        let overflow = try ChatTemplate(source: "{{ 2 ** 64 }}")
        #expect(throws: TemplateError.self) { try overflow.render([:]) }
    }

    @Test func renderConvenienceAliasesReasoningAndDropsNulls() throws {
        let t = try ChatTemplate(source: "{% for m in messages %}{{ m }}{% endfor %}|{{ tools }}|{{ documents }}|{{ add_generation_prompt }}{{ bos_token }}{{ eos_token }}{{ extra_flag }}")
        let message: JSONValue = .object(JSONObject(keys: ["role", "content", "tool_calls", "reasoning"],
                                                    values: [.string("assistant"), .string("a"), .null, .string("r")]))
        let out = try t.render(messages: [message], addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>",
                               extra: ["extra_flag": .bool(false)])
        #expect(out == "{'thinking': 'r', 'role': 'assistant', 'content': 'a', 'reasoning': 'r', 'reasoning_content': 'r'}|None|None|True<s></s>False")
    }
}

@Suite struct PositionTests {
    @Test func runtimeErrorsPointAtTheirConstruct() throws {
        func failure(_ source: String, _ variables: JSONObject = [:]) -> TemplateError? {
            do { _ = try ChatTemplate(source: source).render(variables, now: TemplateFixtures.fixedNow); return nil }
            catch { return error }
        }
        #expect(failure("ok\n  {{ 'a' + 1 }}")?.position == SourcePosition(line: 2, column: 10))
        #expect(failure("{% for x in 5 %}{% endfor %}")?.position == SourcePosition(line: 1, column: 4))
        #expect(failure("{% with a, b = [1] %}{% endwith %}")?.position == SourcePosition(line: 1, column: 9))
        #expect(failure("\n\n{{ missing.attr }}")?.position == SourcePosition(line: 3, column: 11))
        #expect(failure("{{ 'x'|tojson(indent='a', separators=1) }}")?.position.line == 1)
    }
}
