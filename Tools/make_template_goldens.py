#!/usr/bin/env python3
"""Goldens for the chat-template engine (Sources/SwapMoETemplates), rendered by transformers itself.

Every template under Tests/Fixtures/templates/*.jinja is rendered over every conversation in
Tests/Fixtures/templates/conversations.json the way `tokenizer.apply_chat_template` does: messages
normalised (keys whose value is None dropped), then transformers' `render_jinja_template`, which compiles
the template in its ImmutableSandboxedEnvironment (trim_blocks, lstrip_blocks, loopcontrols, its tojson,
raise_exception, strftime_now, dict, namespace) and aliases reasoning fields. `strftime_now` reads a fixed
clock (2025-07-26 14:05:09) so the goldens are deterministic; the Swift tests inject the same time.

Output: goldens.json, {template: {conversation: {"output": str} | {"error": str}}}; and
snippet_goldens.json: each small template of snippets.json (the language pieces the unit tests check)
rendered in the same environment with its own variables, {name: {"output": str} | {"error": str}}.

    /work/main/.venv/bin/python Tools/make_template_goldens.py            # the fixtures
    /work/main/.venv/bin/python Tools/make_template_goldens.py DIR OUT    # every DIR/*.jinja into OUT
                                                                          # (the coverage report's input)
"""
import datetime as _dt
import json
import pathlib
import sys

import jinja2
import transformers.utils.chat_template_utils as ctu

assert jinja2.__version__ == "3.1.6", jinja2.__version__

FIXED_NOW = _dt.datetime(2025, 7, 26, 14, 5, 9)


class _FixedDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


# strftime_now looks `datetime` up in the module's globals when it runs.
ctu.datetime = _FixedDatetime

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures" / "templates"
BOS, EOS = "<s>", "</s>"


def render(source, case):
    messages = ctu._normalize_chat_messages(case["messages"])
    kwargs = dict(case.get("extra", {}))
    try:
        out, _ = ctu.render_jinja_template(
            conversations=[messages],
            tools=case.get("tools"),
            chat_template=source,
            add_generation_prompt=case["add_generation_prompt"],
            bos_token=BOS,
            eos_token=EOS,
            **kwargs,
        )
        return {"output": out[0]}
    except Exception as e:  # the template raised (raise_exception, a type error, ...): record what
        return {"error": f"{type(e).__name__}: {e}"}


def render_snippet(snippet):
    try:
        compiled = ctu._compile_jinja_template(snippet["template"])
        return {"output": compiled.render(**snippet["variables"])}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    src_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES
    out_path = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else FIXTURES / "goldens.json"
    cases = json.loads((FIXTURES / "conversations.json").read_text())
    goldens = {}
    for path in sorted(src_dir.glob("*.jinja")):
        source = path.read_text()
        goldens[path.stem] = {case["name"]: render(source, case) for case in cases}
    out_path.write_text(json.dumps(goldens, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    errors = sum("error" in r for t in goldens.values() for r in t.values())
    print(f"{len(goldens)} templates x {len(cases)} conversations -> {out_path} ({errors} raise)")
    if len(sys.argv) == 1:
        snippets = json.loads((FIXTURES / "snippets.json").read_text())
        results = {s["name"]: render_snippet(s) for s in snippets}
        (FIXTURES / "snippet_goldens.json").write_text(json.dumps(results, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        print(f"{len(results)} snippets -> snippet_goldens.json")


if __name__ == "__main__":
    main()
