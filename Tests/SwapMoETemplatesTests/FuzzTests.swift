import Foundation
import Testing
import SwapMoETestSupport
import SwapMoECore
@testable import SwapMoETemplates

/// Seeded random mutations of the fixture templates: each must parse and render, or throw `TemplateError`;
/// never trap or hang.
@Suite struct FuzzTests {
    typealias Generator = SplitMix64

    static let fragments = ["{%", "%}", "{{", "}}", "{#", "#}", "-%}", "{%-", "(", ")", "[", "]", "{", "}", "|", "'",
                            "\"", "\\", ",", ":", ".", "=", "not ", " is ", " in ", " if ", " else ", "endif", "endfor",
                            "loop.", "ns.x", "range(99999)", "**", "//", "~", "{% for x in messages %}", "{% endfor %}",
                            "{% set ns = namespace(x=0) %}", "|tojson", "|length", "[::-1]", "[1:]", "none", "-9999999999",
                            "{% macro m(a) %}{{ m(a) }}{% endmacro %}{{ m(1) }}", "\n", "  ", "é", "\u{0}", "1e999"]

    static func mutate(_ source: String, _ rng: inout Generator) -> String {
        var scalars = Array(source.unicodeScalars)
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let i = scalars.isEmpty ? 0 : Int.random(in: 0..<scalars.count, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:  // delete a range
                let end = min(scalars.count, i + Int.random(in: 1...40, using: &rng))
                scalars.removeSubrange(i..<end)
            case 1:  // insert a fragment
                scalars.insert(contentsOf: fragments.randomElement(using: &rng)?.unicodeScalars ?? "".unicodeScalars, at: i)
            case 2:  // duplicate a range
                let end = min(scalars.count, i + Int.random(in: 1...80, using: &rng))
                scalars.insert(contentsOf: scalars[i..<end], at: end)
            default:  // swap two characters
                let j = scalars.isEmpty ? 0 : Int.random(in: 0..<scalars.count, using: &rng)
                if i < scalars.count && j < scalars.count { scalars.swapAt(i, j) }
            }
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    @Test func mutatedTemplatesRenderOrThrow() throws {
        let names = TemplateFixtures.templateNames
        let conversations = TemplateFixtures.conversations
        try #require(!names.isEmpty && !conversations.isEmpty)
        var sources: [String] = []
        for name in names {
            sources.append(try String(contentsOf: TemplateFixtures.directory.appendingPathComponent("\(name).jinja"), encoding: .utf8))
        }
        var rng = Generator(state: 20)
        var parsed = 0, rendered = 0, threw = 0
        for _ in 0..<400 {
            let source = Self.mutate(sources[Int.random(in: 0..<sources.count, using: &rng)], &rng)
            let conversation = conversations[Int.random(in: 0..<conversations.count, using: &rng)]
            do {
                let template = try ChatTemplate(source: source)
                parsed += 1
                _ = try TemplateFixtures.render(template, conversation)
                rendered += 1
            } catch {
                threw += 1
            }
        }
        #expect(parsed > 40 && rendered > 20, "mutations too destructive: \(parsed) parsed, \(rendered) rendered, \(threw) threw")
    }

    @Test func hostileTemplatesHitLimits() throws {
        let grow = try ChatTemplate(source: "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}")
        #expect(throws: TemplateError.self) { try grow.render([:]) }
        let deepButFine = String(repeating: "(", count: 60) + "1" + String(repeating: ")", count: 60)
        #expect(try ChatTemplate(source: "{{ \(deepButFine) }}").render([:]) == "1")
        let wideRange = try ChatTemplate(source: "{{ range(-9223372036854775807, 9223372036854775807)|length }}")
        #expect(throws: TemplateError.self) { try wideRange.render([:]) }
        // Each would print, copy or walk far more than the limits allow: all must stop at a limit, quickly. The
        // limits are made small here; the defaults (32 MiB of output, 1e9 units of work) stop them the same way.
        var small = Evaluator.Limits()
        small.outputScalars = 1 << 20
        small.collectionSize = 100_000
        small.work = 5_000_000
        let bombs = [
            "{% set s = 'x' * 500000 %}{{ [s] * 100000 }}",
            "{% set s = 'x' * 500000 %}{{ ([s] * 100000)|join(',') }}",
            "{% set s = 'x' * 2000 %}{{ s.replace('x', s) }}",
            "{{ ('x' * 1000)|replace('', 'y' * 10000) }}",
            "{{ 'x'|indent(999999999) }}",
            "{{ '%999999999s' % 'a' }}",
            "{{ [1]|tojson(indent=999999999) }}",
            "{{ [1, 2]|batch(999999999, 0)|list }}",
            "{{ range(1000000)|list }}",
            "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
            "{% set big = range(100000)|list %}{% for i in range(100000) %}{% if i in big %}{% endif %}{% endfor %}",
        ]
        for source in bombs {
            let t = try ChatTemplate(source: source)
            #expect(throws: TemplateError.self, "\(source)") { try t.render([:], now: TemplateFixtures.fixedNow, limits: small) }
        }
        #expect(try ChatTemplate(source: "{{ range(20000)|unique|list|length }}").render([:]) == "20000")
    }
}
