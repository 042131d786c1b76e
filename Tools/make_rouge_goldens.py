#!/usr/bin/env python3
"""Write Tests/Fixtures/rouge/golden.json: ROUGE scores as Google's `rouge-score` computes them.

    .venv/bin/python Tools/make_rouge_goldens.py

The reference is `rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=...)`
with its default tokenizer (rouge-score 0.1.2, nltk's PorterStemmer in its default NLTK_EXTENSIONS mode;
versions pinned in Tools/requirements.txt). golden.json =

  {"meta": {...},
   "pairs": [{"name", "reference", "prediction",
              "scores":      {"rouge1": [p, r, f], "rouge2": [...], "rougeL": [...], "rougeLsum": [...]},
              "scores_stem": {... the same with use_stemmer=True}}, ...],
   "aggregate": {"plain": {"rouge1": [mean p, mean r, mean f], ...}, "stem": {...}},
   "tokenize": [{"text", "tokens", "tokens_stem"}, ...],      # DefaultTokenizer(use_stemmer).tokenize
   "stems": [[word, PorterStemmer().stem(word)], ...]}

`aggregate` is the plain mean over all pairs (numpy.mean), not BootstrapAggregator's resampled "mid".
Pairs come from Austen sentences and Python-doc prose (Tools/fixture_sources.py) perturbed with a fixed
seed (word drops, swaps, substitutions, inflection changes, truncation, shuffles, unrelated texts,
multi-line summaries for rougeLsum), plus hand-written edge cases. The output is byte-for-byte
reproducible.
"""

from __future__ import annotations

import json
import random
import re
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from nltk.stem import porter
from rouge_score import rouge_scorer, tokenizers

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_sources as src  # noqa: E402

OUT = src.ROOT / "Tests" / "Fixtures" / "rouge" / "golden.json"
SEED = 20230829
TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


# --------------------------------------------------------------------------- source sentences
def _sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", paragraph) if s.strip()]


def austen_sentences() -> list[str]:
    out = []
    for novel in src.AUSTEN_ORDER:
        paras = [p for p in src.austen_paragraphs(novel) if len(p) > 40 and not p.isupper()]
        out += [s for p in paras for s in _sentences(p) if 40 <= len(s) <= 300]
    return out


def python_doc_prose() -> list[str]:
    """reST prose blocks (they keep their line breaks: natural multi-line texts for rougeLsum)."""
    out = []
    for path, text in src.python_doc_sources():
        if not path.startswith(("tutorial/", "library/", "howto/", "faq/")):
            continue
        for block in re.split(r"\n\s*\n", text):
            if 80 <= len(block) <= 600 and not block.startswith((" ", ".. ", "=", "-", "*", ">>>")):
                out.append(block)
    return out


# --------------------------------------------------------------------------- perturbations
INFLECT = ["s", "es", "ed", "ing", "ly", "ness", "ful", "ation", "ity", "ment"]


def inflect(w: str, rng: random.Random) -> str:
    """Change a word's ending: a case where stemming decides whether it still matches."""
    core = w.rstrip(".,;:!?\"')")
    tail = w[len(core):]
    if len(core) < 4 or not core.isalpha():
        return w
    for suf in ["ing", "ed", "es", "s", "ly"]:
        if core.endswith(suf) and len(core) - len(suf) >= 3 and rng.random() < 0.6:
            return core[: -len(suf)] + tail
    return core + rng.choice(INFLECT) + tail


def perturb(text: str, kind: str, rng: random.Random, pool: list[str]) -> str:
    words = text.split()
    if not words:
        return text
    n = len(words)
    if kind == "drop":
        k = max(1, int(n * rng.uniform(0.1, 0.4)))
        drop = set(rng.sample(range(n), min(k, n - 1) if n > 1 else 1))
        words = [w for i, w in enumerate(words) if i not in drop]
    elif kind == "swap":
        for _ in range(max(1, n // 5)):
            i, j = rng.randrange(n), rng.randrange(n)
            words[i], words[j] = words[j], words[i]
    elif kind == "adjacent":
        for _ in range(max(1, n // 4)):
            i = rng.randrange(max(1, n - 1))
            if i + 1 < n:
                words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == "substitute":
        for _ in range(max(1, n // 4)):
            words[rng.randrange(n)] = rng.choice(pool)
    elif kind == "inflect":
        words = [inflect(w, rng) if rng.random() < 0.5 else w for w in words]
    elif kind == "truncate":
        words = words[: max(1, int(n * rng.uniform(0.3, 0.8)))]
    elif kind == "shuffle":
        rng.shuffle(words)
    elif kind == "insert":
        for _ in range(max(1, n // 4)):
            words.insert(rng.randrange(n + 1), rng.choice(pool))
    elif kind == "repeat":
        i = rng.randrange(n)
        words = words[: i + 1] + words[max(0, i - 3): i + 1] * 2 + words[i + 1:]
    elif kind == "mixed":
        for k in rng.sample(["drop", "swap", "substitute", "inflect", "truncate", "insert"], 3):
            words = perturb(" ".join(words), k, rng, pool).split() or words
    elif kind == "case":
        words = [w.upper() if rng.random() < 0.3 else w for w in words]
    else:
        raise ValueError(kind)
    return " ".join(words)


KINDS = ["drop", "swap", "adjacent", "substitute", "inflect", "truncate", "shuffle", "insert", "repeat", "mixed", "case"]


def changed(text: str, kind: str, rng: random.Random, pool: list[str]) -> str:
    """perturb(), retried a few times when random choices happen to cancel out."""
    for _ in range(5):
        out = perturb(text, kind, rng, pool)
        if out != text:
            break
    return out


def corpus_pairs(rng: random.Random) -> list[tuple[str, str, str]]:
    """(name, reference, prediction) from real text."""
    sents = austen_sentences()
    prose = python_doc_prose()
    pool = [w for s in rng.sample(sents, 400) for w in s.split()]
    pairs = []
    for i, ref in enumerate(rng.sample(sents, 132)):
        kind = KINDS[i % len(KINDS)]
        pairs.append((f"austen-{kind}-{i}", ref, changed(ref, kind, rng, pool)))
    for i in range(12):  # an unrelated sentence as the prediction
        a, b = rng.sample(sents, 2)
        pairs.append((f"austen-unrelated-{i}", a, b))
    for i, ref in enumerate(rng.sample(prose, 44)):
        kind = KINDS[i % len(KINDS)]
        # Perturb line by line so the prediction keeps multi-line structure (rougeLsum sees the lines).
        lines = ref.split("\n")
        pred = "\n".join(perturb(l, kind, rng, pool) if l.strip() else l for l in lines)
        pairs.append((f"pydoc-{kind}-{i}", ref, pred))
    # Multi-sentence summaries, one sentence per line (how rougeLsum is meant to be fed).
    for i in range(40):
        k = rng.randint(2, 5)
        ref_sents = rng.sample(sents, k)
        pred_sents = [perturb(s, rng.choice(KINDS), rng, pool) for s in ref_sents]
        style = i % 5
        if style == 1:
            rng.shuffle(pred_sents)  # same sentences, other order
        elif style == 2:
            pred_sents = pred_sents[: max(1, k - 2)] + [rng.choice(sents)]  # some missing, one extra
        elif style == 3:
            pred_sents = [" ".join(pred_sents)]  # all on one line
        elif style == 4:
            pred_sents = [w for s in pred_sents for w in (s, "")]  # blank lines between
        pairs.append((f"multiline-{style}-{i}", "\n".join(ref_sents), "\n".join(pred_sents)))
    return pairs


# --------------------------------------------------------------------------- hand-written cases
EDGE = [
    ("empty-prediction", "the cat sat on the mat", ""),
    ("empty-reference", "", "the cat sat on the mat"),
    ("both-empty", "", ""),
    ("whitespace-only", "   \t ", " \n "),
    ("punctuation-only-prediction", "the cat sat", "... ,,, !!! ???"),
    ("punctuation-only-both", "--- ***", "!!! ..."),
    ("identical", "the quick brown fox jumps over the lazy dog", "the quick brown fox jumps over the lazy dog"),
    ("single-word-match", "hello", "hello"),
    ("single-word-miss", "hello", "world"),
    ("one-word-prediction", "the cat sat on the mat", "mat"),
    ("no-bigram", "alpha beta", "beta alpha"),
    ("case-insensitive", "The Cat SAT on THE mat", "the cat sat ON the MAT"),
    ("numbers", "In 2023 there were 1,234 experts and 56 layers.", "in 2023 there were 1234 experts and 56.0 layers"),
    ("numbers-units", "Mixtral-8x7B uses 2 of 8 experts per token (46.7B params).",
     "mixtral 8x7b uses two of 8 experts per token 46 7b params"),
    ("hyphens", "state-of-the-art mixture-of-experts models", "state of the art mixture of experts models"),
    ("hyphen-vs-joined", "e-mail co-operate re-enter", "email cooperate reenter"),
    ("apostrophes", "Don't you think it's John's book? I'm sure they'll agree.",
     "dont you think its johns book im sure theyll agree"),
    ("curly-apostrophes", "Don\u2019t stop; it\u2019s Anne\u2019s turn", "don t stop it s anne s turn"),
    ("non-ascii-dropped", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade", "cafe naive resume facade"),
    ("non-ascii-both", "the caf\u00e9 was na\u00efve", "the cafe was naive"),
    ("non-ascii-only", "\u4e2d\u6587 \u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
     "\u4e2d\u6587 \u0440\u0443\u0441\u0441\u043a\u0438\u0439"),
    ("dotted-capital-i", "\u0130stanbul is a city", "i stanbul is a city"),
    ("kelvin-sign", "300 \u212aelvin", "300 kelvin"),
    ("decomposed-accent", "cafe\u0301 naive", "cafe naive"),
    ("fullwidth-digits", "\uff11\uff12\uff13 apples", "123 apples"),
    ("emoji", "great job \U0001F600 team", "great job team"),
    ("repeated-words", "the the the the cat", "the cat the cat the cat"),
    ("repeated-prediction", "a b c d e", "a a a a a a a a"),
    ("repeated-reference", "go go go go go go", "go"),
    ("repeated-bigrams", "to be or not to be to be", "to be to be to be"),
    ("stem-running", "running runs ran", "run run run"),
    ("stem-generous", "generously generous", "generous generosity"),
    ("stem-caresses", "caresses ponies ties", "caress pony tie"),
    ("stem-short-words", "cats dogs are fun", "cat dog is funny"),
    ("stem-irregular-pool", "the skies were dying lying tying", "the sky was die lie tie"),
    ("stem-news-innings", "news innings outings cannings", "new inning outing canning"),
    ("stem-proceed", "proceed exceed succeed proceeding", "proceeds exceeded succeeding proceeded"),
    ("stem-derivational", "relational conditional hopefulness electrical", "relate condition hopeful electric"),
    ("stem-ies-ied", "flies dies spied died", "fly die spy die"),
    ("stem-y", "happy happiness enjoy enjoyment", "happi happy enjoying enjoyed"),
    ("stem-logi-alli", "geology archaeology radically", "geologic archaeological radical"),
    ("stem-double-consonant", "hopping tanned falling hissing fizzed", "hop tan fall hiss fizz"),
    ("stem-digits", "1990s 2nd 3rd abc123 x86", "1990 2 3 abc123s x86s"),
    ("multiline-identical", "First sentence here.\nSecond one follows.\nThird ends it.",
     "First sentence here.\nSecond one follows.\nThird ends it."),
    ("multiline-reordered", "the cat sat on the mat\nthe dog ate the bone\nbirds sing",
     "the dog ate the bone\nbirds sing\nthe cat sat on the mat"),
    ("multiline-vs-single", "the cat sat on the mat\nthe dog ate the bone",
     "the cat sat on the mat the dog ate the bone"),
    ("multiline-double-count", "the cat the cat\nthe cat", "the cat\nthe cat\nthe cat\nthe cat"),
    ("multiline-empty-lines", "\n\nthe cat sat\n\n\non the mat\n", "the cat\n\nsat on\n\nthe mat"),
    ("multiline-punct-lines", "...\nthe cat sat\n!!!", "the cat sat\n---\n???"),
    ("multiline-crlf", "the cat sat\r\non the mat", "the cat sat\r\non the mat"),
    ("multiline-union-lcs", "a b c d e\nf g h", "a c e\nb d\nf h g"),
    ("multiline-shared-tokens", "a a b b\nb a", "b a a\nb b a\na"),
    ("tabs-and-spaces", "the\tcat\t\tsat", "the   cat    sat"),
    ("underscore-and-symbols", "snake_case and camelCase and x+y=z", "snake case and camelcase and x y z"),
    ("urls", "see https://example.org/path?a=1&b=2", "see example org path a 1 b 2"),
    ("code", "def f(x):\n    return x * 2", "def f x return x 2"),
    ("long-word", "pneumonoultramicroscopicsilicovolcanoconiosis is long", "pneumonoultramicroscopicsilicovolcanoconiosis"),
    ("yyyy", "yyyy yyyyy syzygy", "yyyy syzygies"),
    ("prediction-superset", "the cat", "the big cat sat on the mat"),
    ("prediction-subset", "the big cat sat on the mat", "the cat"),
    ("reversed", "one two three four five six", "six five four three two one"),
    ("control-chars", "tab\there\x00null\x1bescape", "tab here null escape"),
    ("nbsp-and-zero-width", "no\u00a0break\u200bzero width", "no break zero width"),
]

TOKENIZE_EXTRA = [
    "Hello, World!", "It's 5 o'clock", "A-B-C", "ALL CAPS TEXT", "x", "ab", "abc", "abcd", "a1b2c3d4",
    "\u0130I\u0131i", "\u212a\u212b", "stra\u00dfe", "\u00c9COLE", "\u1e9e", "\ufb01le", "  spaced  out  ",
]

STEM_TRICKY = """
caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled sized hopping
tanned falling hissing fizzed failing filing happy sky skies dying lying tying news innings inning outings
outing cannings canning howe proceed exceed succeed proceeding exceeded succeeding relational conditional
rational valenci hesitanci digitizer conformabli radicalli differentli vileli analogousli vietnamization
predication operator feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti
triplicate formative formalize electriciti electrical hopeful goodness revival allowance inference airliner
gyroscopic adjustable defensible irritant replacement adjustment dependent adoption homologou communism
activate angulariti homologous effective bowdlerize probate rate cease controll roll running runs ran
generously generous generosity dies died flies spied tied spies cries cried fly try spy enjoy enjoyment
toy toys syzygy yyyy yyyyy yyyyyy archaeology geology theology geologi hopefulli beautifulli carefully
table tables abli ably bli alli logi fulli ies ied eed ing ed y yy ay ow a is as at by bies bied
sses ss s e ee eee oed aed 1990s 2nd 3rd abc123 x86 123 1234 ed1 ing2 agreement agreements national
nationality generalization generalizations organization organizational abilities ability possibly
possible mess messes bless blessing blessed feeling feelings meeting meetings being beings doing
sizing dizzying buzzing rolling rolled controlled controlling fitted fitting hoped hoping hopped
traditional traditionally sensational conditionally mysterious mysteriously argument arguments
university universities universal electricity electric emphasize emphasized emphasizing oxen
skying skied dyed dye lied lies tie ieee happiness happily happier happiest
""".split()


# --------------------------------------------------------------------------- goldens
def score_pairs(pairs):
    plain = rouge_scorer.RougeScorer(TYPES, use_stemmer=False)
    stem = rouge_scorer.RougeScorer(TYPES, use_stemmer=True)
    out = []
    for name, ref, pred in pairs:
        s0 = plain.score(ref, pred)  # score(target, prediction)
        s1 = stem.score(ref, pred)
        out.append({"name": name, "reference": ref, "prediction": pred,
                    "scores": {t: [float(v) for v in s0[t]] for t in TYPES},
                    "scores_stem": {t: [float(v) for v in s1[t]] for t in TYPES}})
    return out


def aggregate(cases, key):
    return {t: [float(np.mean([c[key][t][i] for c in cases])) for i in range(3)] for t in TYPES}


def stem_words(rng: random.Random, texts: list[str]) -> list[list[str]]:
    tok = tokenizers.DefaultTokenizer(use_stemmer=False)
    vocab = sorted({w for t in texts for w in tok.tokenize(t)})
    longer = [w for w in vocab if len(w) > 3]
    words = list(dict.fromkeys(STEM_TRICKY + rng.sample(longer, 900) + rng.sample(vocab, 100)
                               + ["Running", "CARESSES", "Skies", "NEWS", "Is"]))
    stemmer = porter.PorterStemmer()
    assert stemmer.mode == porter.PorterStemmer.NLTK_EXTENSIONS
    return [[w, stemmer.stem(w)] for w in words]


def main() -> None:
    rng = random.Random(SEED)
    pairs = corpus_pairs(rng) + EDGE
    names = [p[0] for p in pairs]
    assert len(names) == len(set(names)), "pair names must be unique"
    cases = score_pairs(pairs)
    texts = [t for _, r, p in pairs for t in (r, p)]
    tok0, tok1 = tokenizers.DefaultTokenizer(False), tokenizers.DefaultTokenizer(True)
    tok_texts = list(dict.fromkeys([t for _, r, p in EDGE for t in (r, p)] + TOKENIZE_EXTRA))
    golden = {
        "meta": {
            "reference": "rouge_score.rouge_scorer.RougeScorer(types, use_stemmer) with the default tokenizer",
            "rouge_score": version("rouge-score"), "nltk": version("nltk"), "numpy": version("numpy"),
            "python": sys.version.split()[0], "seed": SEED, "types": TYPES,
            "score_order": ["precision", "recall", "fmeasure"],
            "aggregate": "numpy.mean over all pairs of each score (not BootstrapAggregator's resampled mid)",
        },
        "pairs": cases,
        "aggregate": {"plain": aggregate(cases, "scores"), "stem": aggregate(cases, "scores_stem")},
        "tokenize": [{"text": t, "tokens": tok0.tokenize(t), "tokens_stem": tok1.tokenize(t)} for t in tok_texts],
        "stems": stem_words(rng, texts),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # One pair / token list / stem per line: readable diffs, deterministic bytes, ASCII only.
    def block(key, items):
        return f' "{key}": [\n' + ",\n".join("  " + json.dumps(x) for x in items) + "\n ]"
    meta = json.dumps(golden["meta"], indent=1).replace("\n", "\n ")
    body = ",\n".join([f' "meta": {meta}', block("pairs", cases), f' "aggregate": {json.dumps(golden["aggregate"])}',
                       block("tokenize", golden["tokenize"]), block("stems", golden["stems"])])
    OUT.write_text("{\n" + body + "\n}\n", encoding="ascii")
    assert json.loads(OUT.read_text()) == golden
    print(f"{OUT.relative_to(src.ROOT)}: {len(cases)} pairs ({len(EDGE)} hand-written), "
          f"{len(golden['tokenize'])} tokenizations, {len(golden['stems'])} stems, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
