#!/usr/bin/env python3
"""Build the tokenizer fixtures under Tests/Fixtures/tokenizers/<name>/.

    .venv/bin/python Tools/make_tokenizers.py [--only NAME ...]

Fixtures (each a folder with tokenizer.json + tokenizer_config.json, written by
transformers' save_pretrained):

  bytelevel-small         Qwen2-style byte-level BPE trained here on Austen +
                          Python docs (NFC, Split(Qwen2 regex) + ByteLevel).
  sentencepiece-small     Llama/Mistral-v0.1-style SentencePiece BPE with byte
                          fallback, trained here with the `sentencepiece` library
                          and laid out like the Mixtral-8x7B hub tokenizer.json
                          (normalizer Prepend+Replace, no pre-tokenizer).
  sentencepiece-metaspace the same model, laid out the way transformers 5's
                          LlamaTokenizer builds it (Metaspace pre-tokenizer with
                          prepend_scheme "first", no normalizer) -- the layout
                          newer hub checkpoints (e.g. Mistral v0.3) ship.
  gpt2                    the real GPT-2 BPE, from whisper's gpt2.tiktoken.
  mistral                 the real Mistral 7B v0.1 / Mixtral SentencePiece BPE
                          (32000 pieces), from mistral-common's tokenizer.model.v1,
                          Mixtral-8x7B hub layout.
  mistral-v1              the same tokenizer.model.v1 converted the way the hub
                          files were: transformers 4.x
                          LlamaTokenizerFast(legacy=True, from_slow=True), saved
                          by transformers 4.x ("tokenizer_class": "LlamaTokenizer",
                          "legacy": true). Needs a transformers 4 interpreter; see
                          transformers4_python().
  t5-unigram              T5 / Switch-Transformer-style SentencePiece *unigram*
                          (2000 pieces + 100 <extra_id_N> sentinels) trained here
                          with T5's trainer settings (nmt_nfkc, <pad>=0, </s>=1,
                          <unk>=2, no <s>), converted by transformers' own
                          T5Tokenizer: Precompiled normalizer, WhitespaceSplit +
                          Metaspace, "$A </s>" template -- the google/t5-* and
                          google/switch-base-* hub layout. Ships spiece.model too.

Every fixture sets tokenizer_class "TokenizersBackend" in tokenizer_config.json.
That matters with transformers 5: for a class with its own __init__ (e.g.
LlamaTokenizer) AutoTokenizer rebuilds the backend from vocab/merges and
*ignores* the normalizer / pre-tokenizer in tokenizer.json; with
TokenizersBackend it loads tokenizer.json verbatim, so goldens describe exactly
the file a Swift loader reads. (sentencepiece-metaspace deliberately keeps
"LlamaTokenizer", and t5-unigram "T5Tokenizer", since their tokenizer.json is
what that class builds anyway. mistral-v1 keeps the "LlamaTokenizer" that
transformers 4 writes, because that is the case where transformers 5's rebuild
differs from tokenizer.json; its goldens come from the `tokenizers` library.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_sources as src  # noqa: E402

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors  # noqa: E402
from tokenizers.models import BPE  # noqa: E402
from tokenizers.trainers import BpeTrainer  # noqa: E402

OUT = src.ROOT / "Tests" / "Fixtures" / "tokenizers"

# Qwen2's pre-tokenizer regex (note \p{N} = one digit per piece, unlike GPT-4's \p{N}{1,3}).
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# 1531 learned + 5 added tokens = 1536 ids (a multiple of 64, handy for the model fixtures).
BYTELEVEL_BPE_SIZE = 1531
BYTELEVEL_ADDED = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    # Qwen3 ships these as *non-special* added tokens: they are matched before
    # pre-tokenization but survive decode(skip_special_tokens=True).
    ("<think>", False),
    ("</think>", False),
]
SPM_VOCAB_SIZE = 1536  # includes <unk>, <s>, </s> and the 256 <0xNN> byte pieces
T5_VOCAB_SIZE = 2000  # SentencePiece pieces incl. <pad>, </s>, <unk>; the 100 sentinels come on top
T5_EXTRA_IDS = 100

# transformers 4.x, only for converting mistral-v1 (and cross-checking its goldens): transformers 5 converts a
# SentencePiece model differently (merges ordered by vocabulary id instead of piece score, a Metaspace
# pre-tokenizer instead of the Prepend + Replace normalizer, no BOS in the template, "legacy" not saved), so only
# transformers 4 reproduces the tokenizer.json / tokenizer_config.json pairs that Mistral 7B v0.1 and Mixtral
# ship. 4.57.6 is the last 4.x release; it needs tokenizers < 0.23.
TRANSFORMERS4_REQUIREMENTS = ["transformers==4.57.6", "tokenizers==0.22.2", "sentencepiece==0.2.3", "protobuf==7.36.2"]


# --------------------------------------------------------------------------- corpus
def training_corpus() -> list[str]:
    """Deterministic training text: all six Austen novels (paragraphs) plus the
    Python tutorial/howto/FAQ reST sources (code, punctuation, indentation)."""
    lines: list[str] = []
    for novel in src.AUSTEN_ORDER:
        lines.extend(src.austen_paragraphs(novel))
    for path, text in src.python_doc_sources():
        if path.split("/")[0] in ("tutorial", "howto", "faq"):
            # keep reST line structure (newlines / indentation matter for code)
            lines.extend(chunk for chunk in re.split(r"\n\s*\n", text) if chunk.strip())
    return lines


# --------------------------------------------------------------------------- helpers
def save_with_transformers(tok: Tokenizer, out: Path, tokenizer_class: str = "TokenizersBackend", **special) -> None:
    """Wrap a tokenizers.Tokenizer in transformers' TokenizersBackend and
    save_pretrained it, so tokenizer_config.json is what transformers writes."""
    from transformers import TokenizersBackend

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    hf = TokenizersBackend(tokenizer_object=tok, **special)
    # save_pretrained re-serialises the backend; make sure our post-processor survived.
    assert json.dumps(json.loads(hf.backend_tokenizer.to_str())["post_processor"]) == json.dumps(
        json.loads(tok.to_str())["post_processor"]
    ), "transformers replaced the post-processor"
    hf.save_pretrained(str(out))
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = tokenizer_class
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def llama_legacy_layout(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Tokenizer:
    """SentencePiece BPE laid out exactly like Mistral-7B-v0.1 / Mixtral-8x7B's
    hub tokenizer.json (transformers 4.x LlamaConverter with legacy=True)."""
    tok = Tokenizer(
        BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True, dropout=None)
    )
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ("<unk>", "<s>", "</s>")])
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", vocab["<s>"])]
    )
    return tok


def spm_vocab_merges(model_file: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """vocab + merges of a SentencePiece BPE model, the way transformers converts it."""
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    kw = SentencePieceExtractor(str(model_file)).extract(BPE)
    return kw["vocab"], [tuple(m) for m in kw["merges"]]


# --------------------------------------------------------------------------- builders
def build_bytelevel_small(out: Path) -> None:
    tok = Tokenizer(BPE(dropout=None, fuse_unk=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(
        vocab_size=BYTELEVEL_BPE_SIZE,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes reachable
        special_tokens=[],
    )
    tok.train_from_iterator(training_corpus(), trainer=trainer)
    assert tok.get_vocab_size() == BYTELEVEL_BPE_SIZE, tok.get_vocab_size()
    # Added after training so they get the highest ids, like Qwen2 (151643+).
    tok.add_tokens([AddedToken(t, normalized=False, special=s) for t, s in BYTELEVEL_ADDED])
    save_with_transformers(
        tok, out, eos_token="<|endoftext|>", pad_token="<|endoftext|>", bos_token=None, unk_token=None,
        clean_up_tokenization_spaces=False,
    )


def write_spm_corpus(path: Path) -> Path:
    """training_corpus() as SentencePiece input: one "sentence" per line
    (SentencePiece treats newlines as separators)."""
    with path.open("w", encoding="utf-8") as f:
        for chunk in training_corpus():
            for line in chunk.split("\n"):
                if line.strip():
                    f.write(line + "\n")
    return path


def make_spm_reproducible(path: Path) -> None:
    """The model proto records the (random) temp paths it was trained from;
    blank them so the .model file is byte-for-byte reproducible."""
    from transformers.convert_slow_tokenizer import import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString(path.read_bytes())
    del proto.trainer_spec.input[:]
    proto.trainer_spec.input.append("corpus.txt")
    proto.trainer_spec.model_prefix = "spm"
    path.write_bytes(proto.SerializeToString())


def train_spm(model_prefix: Path) -> Path:
    """Train a Llama-style SentencePiece BPE (same trainer flags as Llama/Mistral:
    byte_fallback, split_digits, identity normalisation, dummy prefix, whitespace kept)."""
    import sentencepiece as spm

    corpus = write_spm_corpus(model_prefix.parent / "corpus.txt")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(model_prefix),
        model_type="bpe",
        vocab_size=SPM_VOCAB_SIZE,
        character_coverage=0.9995,
        byte_fallback=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        input_sentence_size=0,          # use every line: no random sampling
        shuffle_input_sentence=False,
        max_sentence_length=16384,
        num_threads=1,                  # single thread => deterministic merges
        minloglevel=2,
    )
    path = model_prefix.with_suffix(".model")
    make_spm_reproducible(path)
    return path


def train_t5_spm(model_prefix: Path) -> Path:
    """Train a SentencePiece unigram model with T5's trainer settings (the
    C4 "spiece.model" of t5-* / switch-base-*): nmt_nfkc normalisation, extra
    spaces removed, dummy prefix, <pad>=0, </s>=1, <unk>=2 and no <s>; no byte
    fallback, digits not split."""
    import sentencepiece as spm

    corpus = write_spm_corpus(model_prefix.parent / "corpus.txt")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(model_prefix),
        model_type="unigram",
        vocab_size=T5_VOCAB_SIZE,
        character_coverage=0.9995,
        normalization_rule_name="nmt_nfkc",
        add_dummy_prefix=True,
        remove_extra_whitespaces=True,
        byte_fallback=False,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        input_sentence_size=0,          # use every line: no random sampling
        shuffle_input_sentence=False,
        max_sentence_length=16384,
        num_threads=1,                  # single thread => deterministic EM
        minloglevel=2,
    )
    path = model_prefix.with_suffix(".model")
    make_spm_reproducible(path)
    return path


def build_t5_unigram(out: Path) -> None:
    """Convert the unigram model the way a user would: transformers'
    T5Tokenizer.from_pretrained on a folder holding spiece.model (its T5
    converter appends the 100 <extra_id_N> sentinels, highest first, and sets
    the T5 pipeline), then save like the other fixtures."""
    from transformers import T5Tokenizer

    with tempfile.TemporaryDirectory() as td:
        model = train_t5_spm(Path(td) / "spm")
        src_dir = Path(td) / "t5"
        src_dir.mkdir()
        shutil.copy(model, src_dir / "spiece.model")
        hf = T5Tokenizer.from_pretrained(str(src_dir), extra_ids=T5_EXTRA_IDS)
        tok = hf.backend_tokenizer
        assert tok.get_vocab_size() == T5_VOCAB_SIZE + T5_EXTRA_IDS, tok.get_vocab_size()
        j = json.loads(tok.to_str())
        assert j["model"]["type"] == "Unigram" and j["normalizer"]["type"] == "Precompiled", j["normalizer"]
        save_with_transformers(
            tok, out, tokenizer_class="T5Tokenizer",
            eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=T5_EXTRA_IDS,
            additional_special_tokens=[f"<extra_id_{i}>" for i in range(T5_EXTRA_IDS)],
            clean_up_tokenization_spaces=False,
        )
        # Hub T5 checkpoints ship the SentencePiece model next to tokenizer.json;
        # the goldens script cross-checks against it.
        shutil.copy(model, out / "spiece.model")


def build_sentencepiece_small(out: Path, metaspace_out: Path | None) -> None:
    with tempfile.TemporaryDirectory() as td:
        model = train_spm(Path(td) / "spm")
        vocab, merges = spm_vocab_merges(model)
        assert len(vocab) == SPM_VOCAB_SIZE
        save_with_transformers(
            llama_legacy_layout(vocab, merges), out,
            bos_token="<s>", eos_token="</s>", unk_token="<unk>", add_bos_token=True, add_eos_token=False,
            clean_up_tokenization_spaces=False, legacy=True,
        )
        # Keep the SentencePiece model too (hub checkpoints ship tokenizer.model
        # next to tokenizer.json; the goldens script cross-checks against it).
        shutil.copy(model, out / "tokenizer.model")
        if metaspace_out is not None:
            # transformers 5's own Llama layout (what LlamaTokenizer(vocab, merges) builds).
            from transformers import LlamaTokenizer

            if metaspace_out.exists():
                shutil.rmtree(metaspace_out)
            hf = LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False)
            hf.save_pretrained(str(metaspace_out))


def recover_bpe_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The original merge list of a rank-ordered byte BPE (tiktoken format).

    For every multi-byte token, re-run BPE on its own bytes using only ranks
    below the token's rank; what is left is exactly two parts, the merge that
    created it. This gives GPT-2's 50000 merges.txt entries; transformers'
    TikTokenConverter instead emits *every* split whose parts exist (108k
    merges), which tokenises the same but doubles the file size.
    """
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        parts = [bytes([b]) for b in token]
        while True:
            best, best_i = None, None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best):
                    best, best_i = r, i
            if best is None:
                break
            parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
        assert len(parts) == 2, (token, parts)
        merges.append((parts[0], parts[1]))
    return merges


def compact_tokenizer_json(path: Path) -> None:
    """Rewrite a big tokenizer.json without indentation and with merges as
    "left right" strings -- the format of the hub's gpt2 / Mixtral-8x7B files
    (safe here: neither vocabulary has a token containing a plain space). Cuts
    the file to about a third of what tokenizers' pretty printer writes."""
    j = json.loads(path.read_text(encoding="utf-8"))
    merges = j["model"]["merges"]
    assert all(" " not in a and " " not in b for a, b in merges)
    j["model"]["merges"] = [f"{a} {b}" for a, b in merges]
    path.write_text(json.dumps(j, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def build_gpt2(out: Path) -> None:
    from tiktoken.load import load_tiktoken_bpe
    from transformers import GPT2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    ranks = load_tiktoken_bpe(str(src.gpt2_tiktoken()))
    assert len(ranks) == 50256
    byte_encoder = bytes_to_unicode()  # GPT-2's byte -> printable unicode table

    def s(b: bytes) -> str:
        return "".join(byte_encoder[x] for x in b)

    vocab = {s(tok): rank for tok, rank in ranks.items()}
    merges = [(s(a), s(b)) for a, b in recover_bpe_merges(ranks)]
    assert len(merges) == 50000
    vocab["<|endoftext|>"] = 50256
    hf = GPT2Tokenizer(vocab=vocab, merges=merges)  # GPT-2's ByteLevel(add_prefix_space=False) pre-tokenizer
    tok = hf.backend_tokenizer
    # Same post-processor as the hub's gpt2 tokenizer.json (a no-op for ids).
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken("<|endoftext|>", normalized=False, special=True)])
    save_with_transformers(
        tok, out, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
    )
    compact_tokenizer_json(out / "tokenizer.json")


def build_mistral(out: Path) -> None:
    vocab, merges = spm_vocab_merges(src.mistral_sentencepiece_model())
    assert len(vocab) == 32000
    save_with_transformers(
        llama_legacy_layout(vocab, merges), out,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", add_bos_token=True, add_eos_token=False,
        clean_up_tokenization_spaces=False, legacy=True,
    )
    compact_tokenizer_json(out / "tokenizer.json")


def transformers4_python() -> Path:
    """The interpreter of a virtualenv holding TRANSFORMERS4_REQUIREMENTS (no torch), created on first use
    with pip from PyPI at $SWAPMOE_TRANSFORMERS4_VENV (default <repo>/.venv/transformers4, gitignored with
    .venv). A stamp file with the pinned list makes later calls instant."""
    venv = Path(os.environ.get("SWAPMOE_TRANSFORMERS4_VENV", src.ROOT / ".venv" / "transformers4"))
    python = venv / "bin" / "python"
    stamp = venv / ".swapmoe-transformers4"
    want = " ".join(TRANSFORMERS4_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *TRANSFORMERS4_REQUIREMENTS], check=True)
    stamp.write_text(want)
    return python


# Run by the transformers 4 interpreter: convert a SentencePiece model the way Mistral's and Mixtral's hub files
# were made and save it. argv: model file, output folder.
_CONVERT_WITH_TRANSFORMERS4 = r"""
import shutil, sys, tempfile
from pathlib import Path
import transformers
from transformers import LlamaTokenizerFast
assert transformers.__version__.startswith("4."), transformers.__version__
model, out = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as td:
    shutil.copy(model, Path(td) / "tokenizer.model")
    tok = LlamaTokenizerFast.from_pretrained(td, legacy=True, from_slow=True)
    tok.save_pretrained(out)
"""


def build_mistral_v1(out: Path) -> None:
    """tokenizer.model.v1 through transformers 4's LlamaTokenizerFast(legacy=True, from_slow=True), saved by
    transformers 4: normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer, merges in SentencePiece score
    order, template "<s> $A", tokenizer_config.json with "tokenizer_class": "LlamaTokenizer" and "legacy": true.
    Not kept: the copy of tokenizer.model it saves (the goldens script reads mistral-common's). tokenizer.json is
    compacted like `mistral`'s (the same JSON, a third of the size)."""
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error")
    subprocess.run([str(transformers4_python()), "-c", _CONVERT_WITH_TRANSFORMERS4,
                    str(src.mistral_sentencepiece_model()), str(out)], check=True, env=env)
    (out / "tokenizer.model").unlink()
    j = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert [n["type"] for n in j["normalizer"]["normalizers"]] == ["Prepend", "Replace"] and j["pre_tokenizer"] is None
    cfg = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert cfg["tokenizer_class"] == "LlamaTokenizer" and cfg["legacy"] is True, cfg
    compact_tokenizer_json(out / "tokenizer.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="subset of fixture names")
    args = ap.parse_args()
    want = set(args.only or ["bytelevel-small", "sentencepiece-small", "sentencepiece-metaspace", "gpt2", "mistral",
                             "mistral-v1", "t5-unigram"])
    if "bytelevel-small" in want:
        build_bytelevel_small(OUT / "bytelevel-small")
    if "sentencepiece-small" in want or "sentencepiece-metaspace" in want:
        build_sentencepiece_small(
            OUT / "sentencepiece-small",
            OUT / "sentencepiece-metaspace" if "sentencepiece-metaspace" in want else None,
        )
    if "gpt2" in want:
        build_gpt2(OUT / "gpt2")
    if "mistral" in want:
        build_mistral(OUT / "mistral")
    if "mistral-v1" in want:
        build_mistral_v1(OUT / "mistral-v1")
    if "t5-unigram" in want:
        build_t5_unigram(OUT / "t5-unigram")
    for d in sorted(OUT.iterdir()):
        if d.is_dir():
            size = sum(p.stat().st_size for p in d.iterdir())
            n = Tokenizer.from_file(str(d / "tokenizer.json")).get_vocab_size(with_added_tokens=True)
            print(f"{d.name:26s} vocab {n:6d}  {size / 1024:8.1f} KiB  {sorted(p.name for p in d.iterdir())}")


if __name__ == "__main__":
    main()
