#!/usr/bin/env python3
"""Write Tests/Fixtures/tokenizers/<name>/golden.json for every tokenizer fixture.

    .venv/bin/python Tools/make_tokenizer_goldens.py [--only NAME ...]

golden.json = {"tokenizer": name, "meta": {...}, "cases": [
    {"text", "ids", "ids_no_special", "tokens", "decoded", "decoded_skip_special"}, ...]}

  ids                  AutoTokenizer.from_pretrained(dir)(text)["input_ids"]  (add_special_tokens=True)
  ids_no_special       same with add_special_tokens=False
  tokens               convert_ids_to_tokens(ids)
  decoded              decode(ids, skip_special_tokens=False)
  decoded_skip_special decode(ids, skip_special_tokens=True)

For the fixtures in TOKENIZERS_REFERENCE (mistral-v1) the same fields come from
the `tokenizers` library (`Tokenizer.from_file(tokenizer.json)`: encode, id_to_token,
decode), because transformers 5's AutoTokenizer rebuilds their pipeline and
gives other ids; a case where it does has an extra field
  transformers5        {"ids", "ids_no_special"} from AutoTokenizer (transformers 5).

The same ~300 strings are used for every tokenizer (see golden_texts()); they
are drawn with a fixed seed, so the output is byte-for-byte reproducible.

Cross-checks (the script fails if they do not hold):
  * AutoTokenizer agrees with the raw `tokenizers.Tokenizer.from_file` on ids and
    decoding, i.e. transformers added nothing a Swift loader of tokenizer.json
    would not see (TOKENIZERS_REFERENCE fixtures: on decoding only; their
    differing ids are recorded instead);
  * gpt2 agrees with tiktoken on GPT-2's own pattern (the real reference);
  * mistral / sentencepiece-small / t5-unigram are compared with the
    `sentencepiece` library on the texts without special tokens inside;
    mismatches are counted and recorded in meta;
  * mistral-v1 equals the `sentencepiece` library on every text, special tokens
    included (sentencepiece encodes the text between them, as transformers'
    slow LlamaTokenizer(legacy=True) does), and equals transformers 4's
    AutoTokenizer on ids and decoding (run in the interpreter of
    make_tokenizers.transformers4_python()).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_sources as src  # noqa: E402

TOK_DIR = src.ROOT / "Tests" / "Fixtures" / "tokenizers"
SEED = 20230829  # SwapMoE's arXiv month; any fixed value works

# Goldens from the `tokenizers` library rather than AutoTokenizer. mistral-v1 is declared "LlamaTokenizer" with
# "legacy": true (as transformers 4 saved Mistral 7B v0.1 / Mixtral): transformers 5 replaces its tokenizer.json
# pipeline (Prepend + Replace normalizer) by a Metaspace pre-tokenizer that does not add "▁" before a leading
# space or after a special token, so " Hello" loses its own "▁". sentencepiece, tokenizers and transformers 4 agree.
TOKENIZERS_REFERENCE = {"mistral-v1"}


# --------------------------------------------------------------------------- texts
def _sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", paragraph) if s.strip()]


def austen_cases(rng: random.Random) -> list[str]:
    """~100 real sentences (and a few whole paragraphs) from all six novels."""
    out = []
    for novel in src.AUSTEN_ORDER:
        paras = [p for p in src.austen_paragraphs(novel) if len(p) > 40 and not p.isupper()]
        sents = [s for p in paras for s in _sentences(p) if 20 <= len(s) <= 400]
        out += rng.sample(sents, 14)
        out += [p for p in rng.sample(paras, 3) if len(p) < 2500]
    return out


def python_doc_cases(rng: random.Random) -> list[str]:
    """~30 snippets of the Python docs: indented code blocks and reST prose."""
    docs = [(p, t) for p, t in src.python_doc_sources() if p.startswith(("tutorial/", "library/", "howto/"))]
    code, prose = [], []
    for _, text in docs:
        for block in re.split(r"\n\s*\n", text):
            if block.startswith("   ") and (">>>" in block or "def " in block or "import " in block):
                if 30 <= len(block) <= 600:
                    code.append(block + "\n")
            elif 60 <= len(block) <= 500 and not block.startswith((".. ", "=", "-", "*")):
                prose.append(block)
    return rng.sample(code, 20) + rng.sample(prose, 10)


HAND_WRITTEN = [
    # -- empty / whitespace
    "", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "\n\n\n", " \n", "\n ", "\t\t", " \t \n ",
    "          ", "a b", "a  b", "a   b", "a\tb", "a\nb", "a\r\nb", "a \n b", " leading space",
    "trailing space ", "   both sides   ", "\tindented with tab", "line one\nline two\n",
    "para one.\n\npara two.", "\n\n\nstarts with newlines", "ends with newlines\n\n\n",
    "multiple   internal    spaces", "space before newline \nnext", "x\u00a0y (no-break space)",
    "\u3000ideographic space\u3000", "\u2028line separator\u2029paragraph separator",
    # -- contractions and apostrophes
    "I'm", "don't", "you're", "it's", "WE'LL", "She'd", "they've", "O'Neil", "rock 'n' roll",
    "I'M SHOUTING, DON'T", "don\u2019t (curly)", "'s", "'quoted'", "It's Anne's, isn't it?",
    # -- digits and numbers
    "0", "7", "42", "123", "1234", "12345", "3.14159", "1,000,000", "-273.15", "2024-01-15T08:30:00Z",
    "1e-10", "0x1F", "0b1010", "v1.2.3", "+1 (555) 010-9999", "12345678901234567890123456789012345678901234567890",
    "99 bottles, 100 bottles, 1000 bottles", "\u00bd \u00be \u00b2 \u00b3", "\u0663\u0664\u0665 \u096a\u096b",
    "\uff11\uff12\uff13 (fullwidth)", "3rd 21st 102nd", "$1,234.56 \u20ac99 \u00a35 \u00a5100",
    # -- accents, composed and decomposed
    "caf\u00e9", "cafe\u0301", "na\u00efve", "nai\u0308ve", "\u00c5ngstr\u00f6m", "Z\u00fcrich", "S\u00e3o Paulo",
    "\u0141\u00f3d\u017a", "\u0130stanbul", "stra\u00dfe STRASSE", "\u1e9e", "\u0152uvre \u00e6sir",
    "e\u0301\u0302\u0303 stacked combining marks", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324",
    "\ufb01ne \ufb02ow (ligatures)",
    # -- other scripts
    "\u4e2d\u6587\u6d4b\u8bd5", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
    "\ud55c\uad6d\uc5b4 \ud14c\uc2a4\ud2b8", "\u0627\u0644\u0633\u0644\u0627\u0645 \u0639\u0644\u064a\u0643\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "mixed \u05e2\u05d1\u05e8\u05d9\u05ea and English",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8", "\u1200\u1208\u1218", "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522",
    "\u2200x \u2208 \u211d: x\u00b2 \u2265 0", "\u2192 \u2190 \u21d2 \u2260 \u2264 \u221e",
    # -- emoji
    "\U0001f44d", "\U0001f600\U0001f603\U0001f604", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f1ef\U0001f1f5\U0001f1eb\U0001f1f7", "\U0001f44b\U0001f3fd", "\u2764\ufe0f", "I \u2764\ufe0f Swift \U0001f680!",
    "emoji\U0001f9d1\u200d\U0001f4bbinside", "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    # -- rare / control bytes
    "\x00", "a\x00b", "\x01\x02\x03", "\x7f", "\x1b[31mred\x1b[0m", "\x85", "\ufeffBOM at start",
    "zero\u200bwidth\u200cjoiners\u200d", "\ue000 private use", "\U0010fffd", "\ufffd replacement char",
    "\u00ff\u00fe\u00fd", "\u0100\u0120\u0121 (GPT-2 byte-map lookalikes \u0120)", "\u2581 metaspace char \u2581\u2581",
    "<0x41> literal byte token", "\\n \\t \\u0041 escaped", "\t\x0b\x0c\r mixed C0 whitespace",
    # -- code
    "def f(x):\n    return x * 2\n", "for i in range(10):\n\tprint(i)\n",
    "let xs = [1, 2, 3].map { $0 * 2 } // Swift\n", "func foo<T: Equatable>(_ a: T) -> Bool { a == a }",
    "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }\n",
    "{\"key\": \"value\", \"n\": [1, 2.5, null, true]}", "SELECT * FROM t WHERE a >= 10 AND b <> 'x';",
    "<div class=\"a\">Hello &amp; welcome</div>", "$ ls -la | grep '^d' && echo done",
    "if (a&&b||!c) { x+=1; y-=2; z**=3; }", "/^[a-z0-9_-]{3,16}$/", "https://example.com/path?q=1&r=two#frag",
    "user@example.org", "    indented four\n        indented eight\n", "x = {'a': 1}  # comment",
    "```python\nprint('hi')\n```", "@@ -1,3 +1,4 @@\n-old\n+new\n", "::: ;;; ,,, ... !!! ???",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    # -- special tokens inside text (each tokenizer treats only its own as special)
    "<|endoftext|>", "Hello<|endoftext|>world", "<|endoftext|><|endoftext|>", "text <|endoftext|> text",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
    "<think>hmm</think>answer", "<s>", "</s>", "<unk>", "<s>Hello</s>", "Hello <s> world </s> !",
    "<s><s></s></s>", " <s>", "<s> ", "< s>", "<|endof", "|endoftext|>", "<|ENDOFTEXT|>", "<<s>>",
]


# Extra cases for one tokenizer only (appended after the shared texts, so the
# other goldens do not change).
EXTRA_TEXTS = {
    "mistral-v1": [
        # -- leading whitespace: the text's own space is a "▁" next to the one SentencePiece adds
        " Hello world", "  two leading", "   three leading", "    four leading", " a", "  a", " 1", "  42",
        " \u00e9t\u00e9", " \u4e2d\u6587", " \U0001f680", " \tspace then tab", "\t tab then space", " \nspace newline",
        "\n leading newline then space", "\t\tx", " \u2581 space then metaspace", "\u2581leading metaspace char",
        "\u2581", " \u2581", "\u2581\u2581 two metaspace chars",
        # -- only whitespace
        "    ", "     ", "        ", " \t", "\t ", " \n ", "  \n\n  ",
        # -- trailing whitespace
        "trailing one ", "trailing two  ", "trailing three   ", "end\t", "end \n", "end\n ", "x  ", "1 ",
        # -- text right after (and before) special tokens
        "<s> literal bos", "<s>literal bos", "<s>  two after bos", "<s>   three after bos", "<s>\ttab after bos",
        "<s>\nnewline after bos", "<s> 42", "<s>42", "<s> caf\u00e9", "<s>\u4e2d\u6587", "</s> after eos",
        "</s>after eos",
        "</s>  two after eos", "<unk> after unk", "<unk>after unk", "a<unk>b", "a <unk> b", "a  <unk>  b",
        "Hello <s>", "Hello<s>", "Hello  <s>", "<s></s>", "<s> </s>", "<s>  </s>", "<s> <s> <s>", "</s></s> x",
        "<unk><unk>", "<s>\u2581x", "<s> \u2581x", "</s>\n", "<s>\t",
        # -- Mistral / Mixtral instruction format
        "[INST] What is 2+2? [/INST]", "<s>[INST] Hi [/INST] Hello</s>[INST] Again [/INST]",
        "<s> [INST] spaced [/INST] answer </s>", "[INST]  two spaces inside [/INST]",
        # -- digits after spaces (split_digits)
        " 2024", "3 14", " 1 2 3", "  007", "x 1,000 y",
    ],
    "t5-unigram": [
        # -- T5 usage: task prefixes, sentinels (special added tokens, also pieces of the Unigram vocabulary)
        "translate English to German: That is good.", "summarize: The quick brown fox jumps over the lazy dog.",
        "The <extra_id_0> walks in <extra_id_1> park", "<extra_id_0> cute dog <extra_id_1> the <extra_id_2>",
        "<extra_id_99>", "<extra_id_100>", "<extra_id_0><extra_id_1>", "a<extra_id_5>b", "<pad>", "<pad> text </s>",
        "\uff1cextra_id_0\uff1e (fullwidth brackets)", "< extra_id_0 >", "<EXTRA_ID_0>",
        # -- the precompiled nmt_nfkc charsmap
        "\uff21\uff22\uff23 \uff44\uff45\uff46 \uff11\uff12\uff13", "\ufb00 \ufb01 \ufb02 \ufb03 \ufb04 \ufb05 \ufb06",
        "\u2460\u2461\u2462 \u2474 \u2488", "\u337f \u3300 \u3231", "\uff76\uff9e\uff77\uff9e \uff8a\uff9f",
        "\u216b \u2173 x\u00b2 H\u2082O", "K\u212a \u2126 \u00c5\u212b", "\u01c4 \u01c5 \u01c6",
        "\u2122 \u2120 \u2026 \u00bc", "\uff21\u0301 \uff21\u0301\u0302 (cluster with a mapped start)",
        "e\u0301 a\u0308 o\u0302\u0323", "\u1100\u1161\u11a8 (conjoining jamo)", "\u0915\u094d\u0937 \u0e01\u0e33",
        "a\u00a0b\u2002c\u2003d\u2009e\u200af\u202fg\u205fh", "a\u200bb\u200cc\u200dd\u2060e\ufeff",
        "line\r\nbreaks\rand\u0085next\u2028line", "\x01\x02 ctrl \x7f \x9f", "\u00ad soft hyphen",
        "\u3000\u3000\u5168\u89d2\u3000", "\u2018quotes\u2019 \u201cdouble\u201d \u2013 \u2014 \u2212",
        "\U0001d400\U0001d401\U0001d402 \U0001d7ce\U0001d7cf", "\uff08\uff09\uff3b\uff3d\uff5b\uff5d",
        # -- unknown characters: fused runs, mixed with known ones, long words
        "a\u4e2db\u6587c", "\u4e2d\u6587\u5b57\u7b26\u6d4b\u8bd5\u4e2d\u6587", "x\U0001f600y\U0001f600\U0001f600z",
        "unbelievably" * 30, "\u4e2d" * 100, "tokenization tokenizer tokenized tokens token",
    ],
}


def single_characters(rng: random.Random) -> list[str]:
    """Single characters: printable ASCII (every 3rd), plus a few multibyte ones."""
    ascii_ = [chr(c) for c in range(0x21, 0x7F, 3)]
    others = ["\u00e9", "\u00df", "\u20ac", "\u4e2d", "\u3042", "\U0001f600", "\u0301", "\u05d0", "\ufffd", "\u2581"]
    return ascii_ + others


def random_unicode(rng: random.Random, n: int) -> list[str]:
    """Seeded random strings of code points from many blocks (excluding surrogates)."""
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF), (0x0, 0x1F)]
    out = []
    for _ in range(n):
        k = rng.randint(1, 12)
        chars = []
        for _ in range(k):
            lo, hi = rng.choice(blocks)
            chars.append(chr(rng.randint(lo, hi)))
        out.append("".join(chars))
    return out


def golden_texts() -> list[str]:
    rng = random.Random(SEED)
    texts = austen_cases(rng) + python_doc_cases(rng) + HAND_WRITTEN + single_characters(rng) + random_unicode(rng, 20)
    seen, out = set(), []
    for t in texts:  # dedupe, keep order
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


# --------------------------------------------------------------------------- goldens
def make_golden(name: str, texts: list[str]) -> dict:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    d = TOK_DIR / name
    hf = AutoTokenizer.from_pretrained(str(d))
    raw = Tokenizer.from_file(str(d / "tokenizer.json"))
    by_tokenizers = name in TOKENIZERS_REFERENCE
    cases = []
    transformers5_mismatches = []
    for t in texts:
        hf_ids = hf(t)["input_ids"]
        hf_ids_ns = hf(t, add_special_tokens=False)["input_ids"]
        if by_tokenizers:
            ids = raw.encode(t).ids
            ids_ns = raw.encode(t, add_special_tokens=False).ids
            tokens = [raw.id_to_token(i) for i in ids]
        else:
            ids, ids_ns, tokens = hf_ids, hf_ids_ns, hf.convert_ids_to_tokens(hf_ids)
        case = {
            "text": t,
            "ids": ids,
            "ids_no_special": ids_ns,
            "tokens": tokens,
            "decoded": hf.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": hf.decode(ids, skip_special_tokens=True),
        }
        if by_tokenizers:
            if (hf_ids, hf_ids_ns) != (ids, ids_ns):
                case["transformers5"] = {"ids": hf_ids, "ids_no_special": hf_ids_ns}
                transformers5_mismatches.append(t)
        else:
            # transformers must not add anything beyond tokenizer.json.
            assert raw.encode(t).ids == ids, (name, t)
            assert raw.encode(t, add_special_tokens=False).ids == ids_ns, (name, t)
        # Decoding agrees everywhere (for mistral-v1 too: tokenizer.json's decoder is the one transformers 5 builds),
        # so "decoded" is at once AutoTokenizer's and tokenizers' decode.
        assert raw.decode(ids, skip_special_tokens=False) == case["decoded"], (name, t)
        assert raw.decode(ids, skip_special_tokens=True) == case["decoded_skip_special"], (name, t)
        cases.append(case)
    meta = {
        "generator": "Tools/make_tokenizer_goldens.py",
        "seed": SEED,
        "tokenizer_class": type(hf).__name__,
        "vocab_size_with_added": len(hf),
        "bos_token": hf.bos_token, "eos_token": hf.eos_token, "unk_token": hf.unk_token, "pad_token": hf.pad_token,
        "clean_up_tokenization_spaces": bool(hf.clean_up_tokenization_spaces),
        "roundtrip_exact": sum(c["decoded_skip_special"] == c["text"] for c in cases),
        "notes": "ids/decoded from transformers AutoTokenizer; identical to tokenizers.Tokenizer.from_file(tokenizer.json)",
    }
    if by_tokenizers:
        import tokenizers
        import transformers

        config = json.loads((d / "tokenizer_config.json").read_text(encoding="utf-8"))
        meta["tokenizer_class"] = config["tokenizer_class"]
        meta["notes"] = (
            f"ids/tokens/decoded from tokenizers {tokenizers.__version__} Tokenizer.from_file(tokenizer.json); "
            f"transformers {transformers.__version__} AutoTokenizer ({type(hf).__name__}) gives other ids for "
            f"the cases with a \"transformers5\" field"
        )
        meta["transformers5_version"] = transformers.__version__
        meta["transformers5_mismatches"] = len(transformers5_mismatches)
        meta["transformers5_mismatch_texts"] = transformers5_mismatches
        meta.update(transformers4_check(d, texts, cases))
    meta.update(reference_check(name, texts, cases))
    return {"tokenizer": name, "meta": meta, "cases": cases}


# Run by the transformers 4 interpreter: AutoTokenizer's ids and decodes of the texts. argv: fixture folder, texts
# JSON file, output JSON file.
_TRANSFORMERS4_GOLDENS = r"""
import json, sys
import transformers
from transformers import AutoTokenizer
d, texts_file, out_file = sys.argv[1:4]
hf = AutoTokenizer.from_pretrained(d)
out = {"version": transformers.__version__, "class": type(hf).__name__, "cases": []}
for t in json.load(open(texts_file, encoding="utf-8")):
    ids = hf(t)["input_ids"]
    out["cases"].append([ids, hf(t, add_special_tokens=False)["input_ids"],
                         hf.decode(ids, skip_special_tokens=False), hf.decode(ids, skip_special_tokens=True)])
json.dump(out, open(out_file, "w", encoding="utf-8"))
"""


def transformers4_check(d: Path, texts: list[str], cases: list[dict]) -> dict:
    """transformers 4's AutoTokenizer must give every golden field (it loads tokenizer.json as it is)."""
    from make_tokenizers import transformers4_python

    with tempfile.TemporaryDirectory() as td:
        texts_file, out_file = Path(td) / "texts.json", Path(td) / "out.json"
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        env = dict(os.environ, TRANSFORMERS_VERBOSITY="error")
        subprocess.run([str(transformers4_python()), "-c", _TRANSFORMERS4_GOLDENS, str(d), str(texts_file),
                        str(out_file)], check=True, env=env)
        out = json.loads(out_file.read_text(encoding="utf-8"))
    for t, c, got in zip(texts, cases, out["cases"]):
        want = [c["ids"], c["ids_no_special"], c["decoded"], c["decoded_skip_special"]]
        assert got == want, ("transformers 4 differs", t, got, want)
    return {"transformers4_check": f"transformers {out['version']} AutoTokenizer ({out['class']}): "
                                   f"identical ids and decodes on all {len(cases)} cases"}


SPECIAL_RE = re.compile(r"<\|endoftext\|>|<s>|</s>|<unk>|<pad>|<extra_id_\d+>")


def reference_check(name: str, texts: list[str], cases: list[dict]) -> dict:
    """Compare with the original implementations where we have them."""
    if name == "gpt2":
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        enc = tiktoken.Encoding(
            "gpt2",
            pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
            mergeable_ranks=load_tiktoken_bpe(str(src.gpt2_tiktoken())),
            special_tokens={"<|endoftext|>": 50256},
        )
        for t, c in zip(texts, cases):
            assert enc.encode(t, allowed_special="all") == c["ids"], ("tiktoken mismatch", t)
        return {"reference": "tiktoken gpt2 (whisper/assets/gpt2.tiktoken)", "reference_mismatches": 0}
    model = {"sentencepiece-small": TOK_DIR / "sentencepiece-small" / "tokenizer.model",
             "t5-unigram": TOK_DIR / "t5-unigram" / "spiece.model"}.get(name)
    if name in ("mistral", "mistral-v1"):
        model = src.mistral_sentencepiece_model()
    if model is None:
        return {}
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model))
    if name == "mistral-v1":
        return sentencepiece_segments_check(sp, texts, cases)
    mism = []
    for t, c in zip(texts, cases):
        if SPECIAL_RE.search(t):
            continue  # sentencepiece itself does not parse <s> etc. out of text
        if sp.encode(t) != c["ids_no_special"]:
            mism.append(t)
    return {"reference": f"sentencepiece {model.name}", "reference_mismatches": len(mism),
            "reference_mismatch_texts": mism}


def sentencepiece_segments_check(sp, texts: list[str], cases: list[dict]) -> dict:
    """Every case, special tokens included: sentencepiece encodes each piece of text between the special tokens
    on its own (each gets its dummy-prefix "▁"), the way transformers' slow LlamaTokenizer(legacy=True) did."""
    specials = {sp.id_to_piece(i): i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)}
    pattern = re.compile("(" + "|".join(re.escape(p) for p in sorted(specials, key=len, reverse=True)) + ")")
    for t, c in zip(texts, cases):
        want = []
        for piece in pattern.split(t):
            want += [specials[piece]] if piece in specials else sp.encode(piece) if piece else []
        assert want == c["ids_no_special"], ("sentencepiece differs", t, want, c["ids_no_special"])
    return {"reference": "sentencepiece tokenizer.model.v1, on the text between special tokens (every case)",
            "reference_mismatches": 0, "reference_mismatch_texts": []}


def write_golden(path: Path, golden: dict) -> None:
    """One case per line: readable diffs, deterministic bytes."""
    head = {k: v for k, v in golden.items() if k != "cases"}
    lines = [json.dumps(c, ensure_ascii=False) for c in golden["cases"]]
    body = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    path.write_text(body + ',\n "cases": [\n' + ",\n".join(lines) + "\n ]\n}\n", encoding="utf-8")
    json.loads(path.read_text(encoding="utf-8"))  # sanity


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    texts = golden_texts()
    names = args.only or sorted(p.name for p in TOK_DIR.iterdir() if (p / "tokenizer.json").exists())
    for name in names:
        g = make_golden(name, texts + [t for t in EXTRA_TEXTS.get(name, []) if t not in texts])
        write_golden(TOK_DIR / name / "golden.json", g)
        m = g["meta"]
        print(f"{name:26s} {len(g['cases'])} cases, roundtrip-exact {m['roundtrip_exact']}, "
              f"reference mismatches {m.get('reference_mismatches', '-')}")


if __name__ == "__main__":
    main()
