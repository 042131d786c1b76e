#!/usr/bin/env python3
"""GGUF fixtures for SwapMoEGGUF's tests, made by llama.cpp's own tools (the reference is llama.cpp, not us).

    .venv/bin/python Tools/make_gguf_fixtures.py [LLAMA_CPP_SRC] [LLAMA_BIN_DIR]

LLAMA_CPP_SRC defaults to the source Tools/build_llamacpp.sh unpacks (.build/llamacpp/llama_cpp_python-*/vendor/
llama.cpp, looked for here and in the main checkout); LLAMA_BIN_DIR (default .build/llamacpp/build/bin) holds
llama-quantize, llama-tokenize and llama-gguf-split (built by Tools/build_llamacpp.sh). The committed fixtures were
made with llama-cpp-python 0.3.36's llama.cpp and gguf-py.

What it writes to Tests/Fixtures/gguf/:
- `<model>-<type>.gguf`: the project's tiny HF fixtures (Tests/Fixtures/models/{mixtral,qwen2_moe,qwen3_moe,olmoe})
  converted by the vendored convert_hf_to_gguf.py (f32 / bf16), and quantized by llama-quantize (Q8_0, Q4_K_M);
- `olmoe-split-0000N-of-0000M.gguf`: the OLMoE file cut by llama-gguf-split;
- `<file>.json`: gguf-py's GGUFReader view of every file (header, every key with its type and value, every
  tensor's name, ggml dims, type, offset and size), which the Swift reader is checked against;
- `mistral-vocab.gguf`: a vocabulary-only file of Mistral's real SentencePiece model (Mixtral's tokenizer,
  mistral_common's tokenizer.model.v1), and with --with-gpt2 `gpt2-vocab.gguf` (GPT-2's byte-level BPE, not
  committed: 1.8 MB);
- `tokens-<model>.json`: llama-tokenize's ids for a set of texts on each GGUF (and HF tokenizers' ids on the
  tokenizer.json the GGUF was converted from, for comparison; for Mistral they differ on runs of spaces, where
  llama.cpp agrees with the sentencepiece library).

Two adjustments the tiny fixtures need, both outside the model data:
- mixtral's folder has tokenizer.json only; the converter reads SentencePiece vocabularies from tokenizer.model,
  so the sentencepiece-small tokenizer.model (the model its tokenizer.json was made from) is copied next to it;
- the byte-level fixtures' tokenizer is a toy the converter's pre-tokenizer hash table does not know; its regex
  is Qwen2's, so the converter is told `qwen2` (what it would pick for a real Qwen tokenizer).
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/Fixtures/gguf")
MODELS = os.path.join(ROOT, "Tests/Fixtures/models")


def find_llama_src():
    if len(sys.argv) > 1:
        return sys.argv[1]
    for base in [ROOT, os.path.join(os.path.dirname(ROOT), "main")]:
        hits = sorted(glob.glob(os.path.join(base, ".build/llamacpp/llama_cpp_python-*/vendor/llama.cpp")))
        if hits:
            return hits[-1]
    sys.exit("llama.cpp source not found; run Tools/build_llamacpp.sh or pass its path")


WITH_GPT2 = "--with-gpt2" in sys.argv
if WITH_GPT2:
    sys.argv.remove("--with-gpt2")
SRC = find_llama_src()
BIN_DIRS = [sys.argv[2]] if len(sys.argv) > 2 else [
    os.path.join(ROOT, ".build/llamacpp-tools"), os.path.join(ROOT, ".build/llamacpp/build/bin"),
    os.path.join(os.path.dirname(ROOT), "main/.build/llamacpp/build/bin")]
sys.path.insert(0, os.path.join(SRC, "gguf-py"))
sys.path.insert(0, SRC)
import gguf  # noqa: E402  (the vendored gguf-py, the converter's own)


def tool(name):
    for d in BIN_DIRS:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return None


def convert(model, outtype, dest, vocab=None):
    """Runs the vendored converter in this process (so the pre-tokenizer name can be given for the toy BPE).

    With `vocab` = (tokenizer folder, tokenizer.model or None, vocab size): a vocabulary-only file of that real
    tokenizer, written for the architecture of `model` (the model's config with its vocab_size changed)."""
    import convert_hf_to_gguf as conv
    from conversion import base
    tmp = tempfile.mkdtemp()
    src = os.path.join(MODELS, model)
    for f in os.listdir(src):
        if f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            shutil.copy(os.path.join(src, f), tmp)
    if model == "mixtral" and vocab is None:
        shutil.copy(os.path.join(ROOT, "Tests/Fixtures/tokenizers/sentencepiece-small/tokenizer.model"), tmp)
    if vocab is not None:
        folder, spm, size = vocab
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(folder, f), tmp)
        if spm:
            shutil.copy(spm, os.path.join(tmp, "tokenizer.model"))
        cfg = json.load(open(os.path.join(tmp, "config.json")))
        cfg["vocab_size"] = size
        json.dump(cfg, open(os.path.join(tmp, "config.json"), "w"))
    if not hasattr(base.TextModel, "_swapmoe_pre"):
        # The toy byte-level tokenizer is unknown to the converter's hash table; its regex is Qwen2's.
        original = base.TextModel.get_vocab_base_pre

        def pre(self, tokenizer):
            try:
                return original(self, tokenizer)
            except NotImplementedError:
                return "qwen2"
        base.TextModel.get_vocab_base_pre = pre
        base.TextModel._swapmoe_pre = True
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", tmp, "--outtype", outtype, "--outfile", dest, "--model-name", f"swapmoe-{model}"]
    if vocab is not None:
        sys.argv.append("--vocab-only")
    try:
        conv.main()
    finally:
        sys.argv = argv
        shutil.rmtree(tmp)


def value_json(field):
    """The value of a GGUFReader field as JSON (strings decoded, arrays as lists)."""
    types = field.types
    if types[0] == gguf.GGUFValueType.ARRAY:
        if len(types) > 1 and types[1] == gguf.GGUFValueType.ARRAY:
            return None  # nested arrays: element values not dumped (none in these files)
        if len(types) > 1 and types[1] == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8", errors="surrogateescape") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    if types[0] == gguf.GGUFValueType.STRING:
        return bytes(field.parts[-1]).decode("utf-8")
    return field.parts[-1].tolist()[0]


def dump(path):
    r = gguf.GGUFReader(path)
    kv = []
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        t = [gguf.GGUFValueType(x).name for x in f.types]
        kv.append({"key": f.name, "type": t, "value": value_json(f)})
    tensors = [{"name": t.name, "dims": [int(x) for x in t.shape], "type": t.tensor_type.name,
                "offset": int(t.data_offset), "bytes": int(t.n_bytes)} for t in r.tensors]
    version = int(r.fields["GGUF.version"].parts[-1][0])
    out = {"file": os.path.basename(path), "version": version, "size": os.path.getsize(path),
           "alignment": r.alignment, "data_offset": r.data_offset, "kv": kv, "tensors": tensors}
    with open(path + ".json", "w") as fp:
        json.dump(out, fp, ensure_ascii=False, indent=0)


TEXTS = [
    "Hello world",
    " Hello  world ",
    "The quick brown fox jumps over the lazy dog.",
    "  leading and trailing spaces   ",
    "tabs\tand\nnewlines\n\n  indented",
    "numbers 0 12 345 6789 3.14159 1,000,000",
    "unicode: café naïve Zürich Ελληνικά русский 日本語 中文 한국어",
    "emoji 😀🚀 and symbols © ® ™ € £ ¥",
    "def f(x):\n    return x ** 2  # square\n",
    "if (a != b && c <= d) { printf(\"%d %s\", a, s); }",  # no backslash: llama-tokenize -f unescapes \\n
    "I'm sure you've seen it, they'll say we'd DONE it.",
    "MiXeD CaSe and UPPER and lower",
    "<s> special </s> tokens in text",
    "<|im_start|>user\nhi<|im_end|>",
    "",
    " ",
    "a",
    "\u2581already\u2581metaspaced",
    "byte fallback: \u0000\u0001 \uffff \U0001F9EA",
]


def goldens(model, gguf_path, tokenizer_json=None):
    llama_tokenize = tool("llama-tokenize")
    results = []
    from tokenizers import Tokenizer as HFTokenizer
    hf = HFTokenizer.from_file(tokenizer_json or os.path.join(MODELS, model, "tokenizer.json"))
    for text in TEXTS:
        entry = {"text": text, "hf_ids": hf.encode(text).ids}
        if llama_tokenize:
            with tempfile.NamedTemporaryFile("wb", delete=False) as fp:
                fp.write(text.encode("utf-8"))
            for parse in (True, False):
                args = [llama_tokenize, "-m", gguf_path, "-f", fp.name, "--ids", "--log-disable"]
                if not parse:
                    args.append("--no-parse-special")
                p = subprocess.run(args, capture_output=True, text=True)
                if p.returncode != 0:
                    raise SystemExit(f"llama-tokenize failed on {gguf_path}: {p.stderr[-500:]}")
                line = [l for l in p.stdout.splitlines() if l.startswith("[")][-1]
                entry["llama_ids" if parse else "llama_ids_no_special"] = json.loads(line)
            os.unlink(fp.name)
        results.append(entry)
    with open(os.path.join(OUT, f"tokens-{model}.json"), "w") as fp:
        json.dump({"gguf": os.path.basename(gguf_path), "reference": "llama-tokenize (llama.cpp) --ids",
                   "cases": results}, fp, ensure_ascii=False, indent=0)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in glob.glob(os.path.join(OUT, "*")):
        os.unlink(f)
    made = []
    for model, outtype in [("mixtral", "f32"), ("qwen2_moe", "f32"), ("qwen3_moe", "bf16"), ("olmoe", "f32")]:
        dest = os.path.join(OUT, f"{model}-{outtype}.gguf")
        convert(model, outtype, dest)
        made.append(dest)
        goldens(model, dest)
    # Real tokenizers, vocabulary only: Mistral's SentencePiece model (Mixtral's) and GPT-2's byte-level BPE.
    import mistral_common
    spm = os.path.join(os.path.dirname(mistral_common.__file__), "data/tokenizer.model.v1")
    tokenizers = os.path.join(ROOT, "Tests/Fixtures/tokenizers")
    # GPT-2's (1.8 MB) is written only with --with-gpt2: it keeps the committed fixtures under 5 MB.
    real = [("mistral", "mixtral", "mistral", spm, 32000)]
    vocab_files = []
    if WITH_GPT2:
        real.append(("gpt2", "qwen2_moe", "gpt2", None, 50257))
    for name, model, folder, spm_file, size in real:
        dest = os.path.join(OUT, f"{name}-vocab.gguf")
        convert(model, "f32", dest, vocab=(os.path.join(tokenizers, folder), spm_file, size))
        goldens(name, dest, os.path.join(tokenizers, folder, "tokenizer.json"))
        vocab_files.append(dest)
    quantize = tool("llama-quantize")
    if quantize:
        for model, qtype in [("qwen3_moe", "Q8_0"), ("mixtral", "Q4_K_M")]:
            src = os.path.join(tempfile.mkdtemp(), "f32.gguf")
            convert(model, "f32", src)
            dest = os.path.join(OUT, f"{model}-{qtype.lower()}.gguf")
            subprocess.run([quantize, src, dest, qtype], check=True, capture_output=True)
            made.append(dest)
    split = tool("llama-gguf-split")
    if split:
        prefix = os.path.join(OUT, "olmoe-split")
        subprocess.run([split, "--split", "--split-max-tensors", "12", os.path.join(OUT, "olmoe-f32.gguf"), prefix],
                       check=True, capture_output=True)
        made += sorted(glob.glob(prefix + "-*.gguf"))
    for path in made:
        dump(path)
    manifest = {os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest() for p in made + vocab_files}
    with open(os.path.join(OUT, "fixtures.json"), "w") as fp:
        json.dump({"generator": "Tools/make_gguf_fixtures.py", "llama_cpp": os.path.relpath(SRC, ROOT),
                   "files": manifest}, fp, indent=1)
    total = sum(os.path.getsize(f) for f in glob.glob(os.path.join(OUT, "*")))
    print(f"wrote {len(made)} GGUF files, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
