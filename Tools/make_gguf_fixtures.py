#!/usr/bin/env python3
"""GGUF fixtures for SwapMoEGGUF's tests, made by llama.cpp's own tools (the reference is llama.cpp, not us).

    .venv/bin/python Tools/make_gguf_fixtures.py [--only mla|qwen3next] [LLAMA_CPP_SRC] [LLAMA_BIN_DIR]

LLAMA_CPP_SRC defaults to the source Tools/build_llamacpp.sh unpacks (.build/llamacpp/llama_cpp_python-*/vendor/
llama.cpp, looked for here and in the main checkout); LLAMA_BIN_DIR (default .build/llamacpp/build/bin) holds
llama-quantize, llama-tokenize and llama-gguf-split (built by Tools/build_llamacpp.sh). The committed fixtures were
made with llama-cpp-python 0.3.36's llama.cpp and gguf-py. `--only mla` (or `--mla-only`) remakes only the
DeepSeek / GLM files, `--only qwen3next` only the Qwen3-Next ones, keeping every other fixture and golden.

What it writes to Tests/Fixtures/gguf/:
- `<model>-<type>.gguf`: the project's tiny HF fixtures (Tests/Fixtures/models/{mixtral,qwen2_moe,qwen3_moe,olmoe,
  gpt_oss}) converted by the vendored convert_hf_to_gguf.py (f32 / bf16), and quantized by llama-quantize (Q8_0,
  Q4_K_M); `gpt_oss-mxfp4.gguf` from the hub-MXFP4 gpt_oss_mxfp4 fixture (experts MXFP4 as the converter repacks them);
- `qwen3_next_sparse-f32.gguf` and `qwen3_next_sparse-wide-q4_k_m.gguf`: Qwen3-Next from the fixture shaped as
  llama.cpp's converter and loader need (every layer MoE, key and value heads of one size), converted with --no-mtp;
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
  is Qwen2's, so the converter is told `qwen2` (what it would pick for a real Qwen tokenizer); the gpt-oss files
  `gpt-4o`, what real gpt-oss files (o200k) say.
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
ONLY = None
if "--mla-only" in sys.argv:
    sys.argv.remove("--mla-only")
    ONLY = "mla"
if "--only" in sys.argv:
    i = sys.argv.index("--only")
    ONLY = sys.argv[i + 1] if i + 1 < len(sys.argv) else None
    if ONLY not in ("mla", "qwen3next"):
        sys.exit("--only takes mla or qwen3next")
    del sys.argv[i:i + 2]
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


PRE_FALLBACK = ["qwen2"]


def convert(model, outtype, dest, vocab=None, folder=None):
    """Runs the vendored converter in this process (so the pre-tokenizer name can be given for the toy BPE).

    With `vocab` = (tokenizer folder, tokenizer.model or None, vocab size): a vocabulary-only file of that real
    tokenizer, written for the architecture of `model` (the model's config with its vocab_size changed)."""
    import convert_hf_to_gguf as conv
    from conversion import base
    tmp = tempfile.mkdtemp()
    src = folder or os.path.join(MODELS, model)
    for f in os.listdir(src):
        if f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
                 "tokenizer.model"):
            shutil.copy(os.path.join(src, f), tmp)
    if model == "mixtral" and vocab is None and folder is None:
        shutil.copy(os.path.join(ROOT, "Tests/Fixtures/tokenizers/sentencepiece-small/tokenizer.model"), tmp)
    hub_config(model, tmp)
    if vocab is not None:
        folder, spm, size = vocab
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(folder, f), tmp)
        if spm:
            shutil.copy(spm, os.path.join(tmp, "tokenizer.model"))
        cfg = json.load(open(os.path.join(tmp, "config.json")))
        cfg["vocab_size"] = size
        json.dump(cfg, open(os.path.join(tmp, "config.json"), "w"))
    # The toy byte-level tokenizer is unknown to the converter's hash table; its regex is Qwen2's. gpt-oss files
    # are declared as real ones are (o200k: `gpt-4o`), so that llama.cpp's gpt-4o regex is what they are checked with.
    PRE_FALLBACK[0] = "gpt-4o" if model.startswith("gpt_oss") else "qwen2"
    if not hasattr(base.TextModel, "_swapmoe_pre"):
        original = base.TextModel.get_vocab_base_pre

        def pre(self, tokenizer):
            try:
                return original(self, tokenizer)
            except NotImplementedError:
                return PRE_FALLBACK[0]
        base.TextModel.get_vocab_base_pre = pre
        base.TextModel._swapmoe_pre = True
    # GLM-4.5's converter looks up GLM's own specials ([gMASK], <|user|>, <|observation|>) the toy tokenizer has not;
    # it is a byte-level BPE like GLM's, so it is written as any gpt2-model vocabulary is.
    from conversion import glm
    glm.Glm4MoeModel.set_vocab = lambda self: self._set_vocab_gpt2()
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", tmp, "--outtype", outtype, "--outfile", dest, "--model-name", f"swapmoe-{model}"]
    if model.startswith("qwen3_next"):
        # The fixtures have no multi-token-prediction head; without --no-mtp the Qwen3-Next converter asserts one.
        sys.argv.append("--no-mtp")
    if vocab is not None:
        sys.argv.append("--vocab-only")
    try:
        conv.main()
    finally:
        sys.argv = argv
        shutil.rmtree(tmp)


# Keys real hub config.json files of these families carry and transformers' save_pretrained drops; the converter reads
# them (DeepSeek-V3's scoring_func decides expert_gating_func: without it llama.cpp takes a softmax router), so the
# fixtures' configs get them back before conversion. The weights are untouched.
HUB_KEYS = {"deepseek_v3": {"scoring_func": "sigmoid", "topk_method": "noaux_tc"},
            "deepseek_v2": {"scoring_func": "softmax"}}


def hub_config(model, folder):
    family = FAMILY.get(model, model)
    if family in HUB_KEYS:
        path = os.path.join(folder, "config.json")
        cfg = json.load(open(path))
        cfg.update(HUB_KEYS[family])
        json.dump(cfg, open(path, "w"), indent=1)


# Fixture folder -> family, where they differ.
FAMILY = {"deepseek_v3_yarn": "deepseek_v3"}


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


def token_texts():
    """The hand-picked TEXTS, then the ~360 strings every tokenizer fixture's golden uses (Austen, Python docs,
    whitespace, numbers, scripts, emoji, control bytes; Tools/make_tokenizer_goldens.py), without repeats."""
    golden = json.load(open(os.path.join(ROOT, "Tests/Fixtures/tokenizers/bytelevel-small/golden.json")))
    out = []
    for t in TEXTS + [c["text"] for c in golden["cases"]]:
        if t not in out:
            out.append(t)
    return out


def reference(mode, gguf_path, *args):
    """Runs Tools/llama_reference.c (built once, against libllama) and parses its JSON."""
    p = subprocess.run([reference_tool(), mode, gguf_path, *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"llama_reference {mode} failed on {gguf_path}: {p.stderr[-500:]}")
    return json.loads(p.stdout)


_REFERENCE = []


def reference_tool():
    if not _REFERENCE:
        lib = next((d for d in BIN_DIRS if os.path.exists(os.path.join(d, "libllama.so"))), None)
        if lib is None:
            sys.exit("libllama.so not found; run Tools/build_llamacpp.sh")
        exe = os.path.join(tempfile.mkdtemp(), "llama_reference")
        subprocess.run(["gcc", "-O1", "-o", exe, os.path.join(ROOT, "Tools/llama_reference.c"),
                        f"-I{SRC}/include", f"-I{SRC}/ggml/include", f"-L{lib}", "-lllama", "-lggml", "-lggml-base",
                        "-lm", f"-Wl,-rpath,{lib}"], check=True)
        _REFERENCE.append(exe)
    return _REFERENCE[0]


def tokenize(gguf_path, texts, parse_special=True):
    """llama.cpp's ids of each text (BOS/EOS as the file says), specials parsed or not."""
    with tempfile.NamedTemporaryFile("wb", delete=False) as fp:
        for t in texts:
            b = t.encode("utf-8")
            fp.write(len(b).to_bytes(4, "little") + b)
    try:
        return reference("tokenize" if parse_special else "tokenize-raw", gguf_path, fp.name)
    finally:
        os.unlink(fp.name)


def goldens(model, gguf_path, tokenizer_json=None):
    from tokenizers import Tokenizer as HFTokenizer
    hf = HFTokenizer.from_file(tokenizer_json or os.path.join(MODELS, model, "tokenizer.json"))
    texts = token_texts()
    parsed, raw = tokenize(gguf_path, texts), tokenize(gguf_path, texts, parse_special=False)
    results = [{"text": t, "hf_ids": hf.encode(t).ids, "llama_ids": a, "llama_ids_no_special": b}
               for t, a, b in zip(texts, parsed, raw)]
    with open(os.path.join(OUT, f"tokens-{model}.json"), "w") as fp:
        json.dump({"gguf": os.path.basename(gguf_path),
                   "reference": "llama.cpp's llama_tokenize (Tools/llama_reference.c), specials parsed and not",
                   "cases": results}, fp, ensure_ascii=False, indent=0)


# The K-quants need rows of whole 256-weight super-blocks: the fixtures above are 32 wide, so llama-quantize's
# Q4_K_M / Q6_K fall back to Q5_0 / Q8_0 on them. These are the same families 256 wide (2 layers, 3 experts, top-2),
# made from the same recipe (Tools/make_fixtures.py: seeded normal weights, perturbed norms) and kept only as the
# quantized GGUF files llama-quantize makes of them (their f32 source is 10 MB each and rebuilt here at will).
WIDE = {
    "mixtral": dict(hidden_size=256, intermediate_size=256, num_local_experts=3),
    "qwen2_moe": dict(hidden_size=256, intermediate_size=512, moe_intermediate_size=256,
                      shared_expert_intermediate_size=256, num_experts=3),
    "qwen3_moe": dict(hidden_size=256, intermediate_size=512, moe_intermediate_size=256, head_dim=64, num_experts=3),
    "olmoe": dict(hidden_size=256, intermediate_size=256, num_experts=3),
    # MLA 256 wide: q LoRA, 4 heads of 64 + 32 rotary, 4 experts in 2 groups (one kept), one shared expert.
    "deepseek_v3": dict(hidden_size=256, intermediate_size=512, moe_intermediate_size=256, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=4, q_lora_rank=256, kv_lora_rank=256,
                        qk_nope_head_dim=64, qk_rope_head_dim=32, v_head_dim=64,
                        n_routed_experts=4, num_experts_per_tok=2, n_group=2, topk_group=1, n_shared_experts=1),
    # DeepSeek-V2's softmax router on V2's full shape (q LoRA: llama.cpp loads a deepseek2 file without q_lora_rank
    # only at DeepSeek-V2-Lite's 26/27 layers), routed as V2-Lite is (greedy, one group; see mla_fixtures).
    "deepseek_v2": dict(hidden_size=256, intermediate_size=512, moe_intermediate_size=256, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=4, q_lora_rank=256, kv_lora_rank=256,
                        qk_nope_head_dim=64, qk_rope_head_dim=32, v_head_dim=64,
                        n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1, topk_method="greedy",
                        n_shared_experts=1),
    "glm4_moe": dict(hidden_size=256, intermediate_size=512, moe_intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=64, partial_rotary_factor=0.5,
                     n_routed_experts=4, num_experts_per_tok=2, n_group=2, topk_group=1, n_shared_experts=1),
    # A gated-attention layer then a DeltaNet one (4 query / 2 kv heads of 64, 16 rotary dims; 2 key heads of 64, 4
    # value heads of 64: 256 wide, so ssm_out's rows are whole K-quant super-blocks), 3 experts and a shared one. In
    # that order Q4_K_M gives attn_qkv Q6_K and attn_gate Q4_K (use_more_bits on the second attention-v-like tensor),
    # the mix of real Qwen3-Next Q4_K_M files, whose halves the packer cannot join.
    "qwen3_next_sparse": dict(hidden_size=256, intermediate_size=512, moe_intermediate_size=256,
                              shared_expert_intermediate_size=256, num_hidden_layers=2, head_dim=64, num_experts=3,
                              linear_key_head_dim=64, linear_value_head_dim=64,
                              layer_types=["full_attention", "linear_attention"]),
}
# The families made by Tools/make_deepseek_fixtures.py (MLA, V3 routers) rather than Tools/make_fixtures.py.
DEEPSEEK_LIKE = ("deepseek_v3", "deepseek_v2", "glm4_moe")
# Qwen3-Next's GGUF fixtures come from qwen3_next_sparse (Tools/make_qwen3next_fixtures.py): qwen3_next itself has a
# dense layer, which the converter cannot map, and DeltaNet value heads narrower than its key heads, which llama.cpp's
# loader cannot size.
QWEN3NEXT = ("qwen3_next_sparse",)
# f32 conversions of those fixtures. Not deepseek_v2's: it has no q LoRA, which llama.cpp loads only at V2-Lite's
# layer counts; the 256-wide deepseek_v2 stands for V2 (with q LoRA, as DeepSeek-V2 has).
MLA_F32 = ("deepseek_v3", "glm4_moe", "deepseek_v3_yarn")
# llama-quantize types of each 256-wide model: one for the MLA / GLM ones (3 MB a file; the K-quant mixes also hold
# Q5_0 / Q8_0 tensors where rows are not whole super-blocks, as MLA's 64-wide k_b).
WIDE_TYPES = {"deepseek_v3": ("Q4_K_M",), "glm4_moe": ("Q4_K_M",), "deepseek_v2": ("Q4_K_M",), "qwen3_next_sparse": ("Q4_K_M",)}
WIDE_SEED = 5000
GREEDY_STEPS = 24
EVAL_TOKENS = 128
MIN_GAP = 0.02
# Families whose seeds must also give MIN_GAP in the exact maths of the quantized weights (`exact_margin`); the
# earlier families' seeds were chosen on llama.cpp's gaps alone, and their files pass the Swift goldens test as made.
EXACT_GAP = QWEN3NEXT
CONFIGS = {}  # "<family>-wide" -> a folder holding that model's config.json
IQ4_XS_FROM = ("mixtral",)


def wide_model(model, dest, seed):
    """The 256-wide HF checkpoint of `model` in folder `dest` (save_pretrained + the fixture's tokenizer)."""
    sys.path.insert(0, os.path.join(ROOT, "Tools"))
    import make_fixtures as mf
    import make_deepseek_fixtures as mdf
    from pathlib import Path
    import make_qwen3next_fixtures as mqf
    maker = mdf if model in DEEPSEEK_LIKE else mqf if model in QWEN3NEXT else mf
    spec = dict(maker.specs()[model])
    spec["config"] = dict(spec["config"], **WIDE[model])
    spec["seed"] = seed
    name, model = model, maker.build_model(spec)
    # The recipe's standard deviations are for 32-wide fixtures; a matrix reading 256 inputs gets them times
    # sqrt(32/256), the usual fan-in scaling, so activations and logits keep the 32-wide fixtures' scale
    # (unscaled, the logits grow ~3x per matrix and perplexity reaches 1e7). Embedding rows are read, not multiplied;
    # a depthwise conv reads its kernel's taps whatever the width.
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and not name.endswith(("embed_tokens.weight", "conv1d.weight")):
                p.mul_((32 / p.shape[-1]) ** 0.5)
    model.save_pretrained(dest, safe_serialization=True)
    mf.copy_tokenizer(spec.get("tokenizer", mf.BYTELEVEL), Path(dest))
    if name == "mixtral":
        shutil.copy(os.path.join(ROOT, "Tests/Fixtures/tokenizers/sentencepiece-small/tokenizer.model"), dest)
    return spec["seed"]


def model_goldens(path, family, config_dir=None):
    """llama.cpp's answers on one model file: the prompt of the family's HF golden tokenized by llama.cpp, its
    last logits, greedy ids, and the negative log-likelihood of the first EVAL_TOKENS of the eval text; with the
    model's config folder, also transformers' on the file's dequantized weights (`dequantized_reference`)."""
    folder = os.path.join(MODELS, family)
    golden = json.load(open(os.path.join(folder if os.path.isdir(folder) else os.path.join(MODELS, FAMILY[family]), "golden.json")))
    text = open(os.path.join(ROOT, "Tests/Fixtures/texts/eval.txt"), encoding="utf-8").read()
    prompt = tokenize(path, [golden["prompt_text"]])[0]
    evals = tokenize(path, [text])[0][:EVAL_TOKENS]
    greedy = reference("greedy", path, GREEDY_STEPS, *prompt)
    nll = reference("nll", path, *evals)
    out = {"gguf": os.path.basename(path), "prompt_ids": prompt, "greedy_ids": greedy["ids"],
           "greedy_min_gap": greedy["min_gap"], "logits_last": reference("logits", path, *prompt),
           "eval_ids": evals, "nll": nll["nll"], "ppl": nll["ppl"]}
    if config_dir:
        out["dequantized_logits_last"], out["dequantized_ppl"] = dequantized_reference(path, family, config_dir, prompt, evals)
    return out


def exact_margin(path, family, config_dir, answers):
    """The smallest margin by which llama.cpp's greedy ids (`answers`, from `model_goldens`) win in transformers on
    the file's dequantized weights, teacher-forced: llama.cpp's activation rounding moves a quantized file's logits by
    ~1% (0.05 here), so a step it wins by 0.07 can be a near-tie of the stored weights' exact maths, which swapmoe
    computes more closely (Qwen3-Next's first seed: 0.022, and swapmoe's greedy took the other id)."""
    prompt = answers["prompt_ids"]
    return dequantized_reference(path, family, config_dir, prompt, prompt, greedy=answers["greedy_ids"])[2]


def dequantized_tensors(path):
    """Every tensor of a GGUF file as gguf-py dequantizes it, float32 in PyTorch order (ggml dims reversed)."""
    import numpy as np
    from gguf import quants
    return {t.name: quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])
            for t in gguf.GGUFReader(path).tensors}


def transformers_answers(model, sd, prompt, evals, greedy=None):
    """`model` with the state dict `sd`: the last logits of `prompt` and the perplexity of `evals`; with `greedy`
    (ids continuing `prompt`), also the smallest margin by which each of them beats every other id, teacher-forced."""
    import numpy as np
    import torch
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, strict=True)
    with torch.no_grad():
        last = model(torch.tensor([prompt])).logits[0, -1]
        logits = model(torch.tensor([evals])).logits[0].double()
        nll = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(evals[1:]), reduction="sum").item()
        answers = [float(x) for x in last], float(np.exp(nll / (len(evals) - 1)))
        if greedy is None:
            return answers
        rows = model(torch.tensor([prompt + greedy])).logits[0, len(prompt) - 1:-1].double()
        margins = [float(row[t] - torch.cat([row[:t], row[t + 1:]]).max()) for row, t in zip(rows, greedy)]
    return answers + (min(margins),)


def dequantized_reference(path, family, config_dir, prompt, evals, **kw):
    """transformers (float32) on the file's own weights as gguf-py dequantizes them: the exact maths of the stored
    weights, without llama.cpp's rounding of activations (to BF16 / F16 / Q8_0 / Q8_K for its vec_dot). Returns
    the last logits of `prompt` and the perplexity of `evals`."""
    import numpy as np
    if family.startswith("gpt_oss"):
        return dequantized_reference_gpt_oss(path, config_dir, prompt, evals, **kw)
    if FAMILY.get(family, family) in ("deepseek_v3", "deepseek_v2", "glm4_moe"):
        return dequantized_reference_deepseek(path, FAMILY.get(family, family), config_dir, prompt, evals, **kw)
    if family in QWEN3NEXT:
        return dequantized_reference_qwen3next(path, config_dir, prompt, evals, **kw)
    sys.path.insert(0, os.path.join(ROOT, "Tools"))
    import make_fixtures as mf
    cfg_cls, model_cls = mf.model_classes(family)
    cfg = cfg_cls.from_pretrained(config_dir)
    model = model_cls(cfg).float().eval()
    tensors = dequantized_tensors(path)
    heads, kv = cfg.num_attention_heads, cfg.num_key_value_heads

    def unpermute(w, n):  # inverse of convert_hf_to_gguf's LlamaModel.permute (llama architecture only)
        return w.reshape(n, w.shape[0] // n // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    sd = {"model.embed_tokens.weight": tensors["token_embd.weight"], "model.norm.weight": tensors["output_norm.weight"],
          "lm_head.weight": tensors.get("output.weight", tensors["token_embd.weight"])}
    roles = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
             "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm", "ffn_gate_inp": "mlp.gate",
             "ffn_gate_shexp": "mlp.shared_expert.gate_proj", "ffn_up_shexp": "mlp.shared_expert.up_proj",
             "ffn_down_shexp": "mlp.shared_expert.down_proj", "ffn_gate_inp_shexp": "mlp.shared_expert_gate"}
    for name, w in tensors.items():
        parts = name.split(".")
        if parts[0] != "blk":
            continue
        l, role, kind = parts[1], parts[2], parts[3]
        pre = f"model.layers.{l}."
        if role in ("attn_q", "attn_k") and family == "mixtral":
            w = unpermute(w, heads if role == "attn_q" else kv)
        if role == "ffn_gate_inp_shexp":
            w = w.reshape(1, -1)
        if role in roles:
            sd[pre + roles[role] + "." + kind] = w
        elif role == "ffn_down_exps":
            sd[pre + "mlp.experts.down_proj"] = w
    for l in range(cfg.num_hidden_layers):
        g, u = tensors[f"blk.{l}.ffn_gate_exps.weight"], tensors[f"blk.{l}.ffn_up_exps.weight"]
        sd[f"model.layers.{l}.mlp.experts.gate_up_proj"] = np.concatenate([g, u], axis=1)
    return transformers_answers(model, sd, prompt, evals, **kw)


def dequantized_reference_gpt_oss(path, config_dir, prompt, evals, **kw):
    """`dequantized_reference` for gpt-oss: the HF config with what llama.cpp computes instead of what it says (its
    graph's SwiGLU limit 7 and alpha 1.702 whatever swiglu_limit is; ggml's YaRN correction range floored and ceiled,
    transformers' truncate: true), no quantization_config (the weights are given dequantized), and the converter's
    split of the experts undone: gate and up rows interleaved again, gate_up and down transposed back to
    transformers' [E, in, out]."""
    import numpy as np
    import transformers as t
    cfg = t.GptOssConfig.from_pretrained(config_dir)
    cfg.swiglu_limit, cfg.swiglu_alpha = 7.0, 1.702
    cfg.rope_parameters = dict(cfg.rope_parameters, truncate=True)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    model = t.GptOssForCausalLM(cfg).float().eval()
    w = dequantized_tensors(path)

    def interleave(a, b, axis):  # rows (along axis) a0, b0, a1, b1, ...
        return np.stack([a, b], axis=axis + 1).reshape(*a.shape[:axis], 2 * a.shape[axis], *a.shape[axis + 1:])

    sd = {"model.embed_tokens.weight": w["token_embd.weight"], "model.norm.weight": w["output_norm.weight"],
          "lm_head.weight": w["output.weight"]}
    for l in range(cfg.num_hidden_layers):
        b, p = f"blk.{l}.", f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = w[b + "attn_norm.weight"]
        sd[p + "post_attention_layernorm.weight"] = w[b + "post_attention_norm.weight"]
        sd[p + "self_attn.sinks"] = w[b + "attn_sinks.weight"]
        for g, h in (("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj"), ("attn_output", "o_proj")):
            for kind in ("weight", "bias"):
                sd[p + f"self_attn.{h}.{kind}"] = w[f"{b}{g}.{kind}"]
        sd[p + "mlp.router.weight"], sd[p + "mlp.router.bias"] = w[b + "ffn_gate_inp.weight"], w[b + "ffn_gate_inp.bias"]
        gate_up = interleave(w[b + "ffn_gate_exps.weight"], w[b + "ffn_up_exps.weight"], 1)  # [E, 2I, H]
        sd[p + "mlp.experts.gate_up_proj"] = gate_up.transpose(0, 2, 1)
        sd[p + "mlp.experts.gate_up_proj_bias"] = interleave(w[b + "ffn_gate_exps.bias"], w[b + "ffn_up_exps.bias"], 1)
        sd[p + "mlp.experts.down_proj"] = w[b + "ffn_down_exps.weight"].transpose(0, 2, 1)
        sd[p + "mlp.experts.down_proj_bias"] = w[b + "ffn_down_exps.bias"]
    return transformers_answers(model, sd, prompt, evals, **kw)


def dequantized_reference_deepseek(path, family, config_dir, prompt, evals, **kw):
    """`dequantized_reference` for DeepSeek-V2/V3 and GLM-4.5: kv_b_proj joined again from the converter's k_b
    (transposed per head) and v_b, the experts stacked as transformers 5 holds them; for YaRN, mscale set to
    mscale_all_dim, which is what llama.cpp computes with (the file stores only 0.1 mscale_all_dim)."""
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "Tools"))
    import make_deepseek_fixtures as mdf
    cfg_cls, model_cls = mdf.model_classes(family)
    cfg = cfg_cls.from_pretrained(config_dir)
    rope = dict(cfg.rope_parameters or {})
    if rope.get("rope_type") == "yarn" and "mscale_all_dim" in rope:
        cfg.rope_parameters = dict(rope, mscale=rope["mscale_all_dim"])
    model = model_cls(cfg).float().eval()
    model.set_experts_implementation("eager")
    w = dequantized_tensors(path)
    sd = {"model.embed_tokens.weight": w["token_embd.weight"], "model.norm.weight": w["output_norm.weight"],
          "lm_head.weight": w.get("output.weight", w["token_embd.weight"])}
    names = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
             "post_attention_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm",
             "attn_k_norm": "self_attn.k_norm", "attn_q_a": "self_attn.q_a_proj", "attn_q_a_norm": "self_attn.q_a_layernorm",
             "attn_q_b": "self_attn.q_b_proj", "attn_kv_a_mqa": "self_attn.kv_a_proj_with_mqa",
             "attn_kv_a_norm": "self_attn.kv_a_layernorm", "ffn_gate_inp": "mlp.gate", "ffn_gate": "mlp.gate_proj",
             "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "ffn_gate_shexp": "mlp.shared_experts.gate_proj",
             "ffn_up_shexp": "mlp.shared_experts.up_proj", "ffn_down_shexp": "mlp.shared_experts.down_proj"}
    for name, t in w.items():
        parts = name.split(".")
        if parts[0] != "blk" or int(parts[1]) >= cfg.num_hidden_layers:
            continue
        l, role, kind = parts[1], parts[2], parts[3]
        pre = f"model.layers.{l}."
        if role in names:
            sd[pre + names[role] + "." + kind] = t
        elif role == "exp_probs_b":
            sd[pre + "mlp.gate.e_score_correction_bias"] = t
        elif role == "ffn_down_exps":
            sd[pre + "mlp.experts.down_proj"] = t
        elif role == "attn_k_b":  # [heads, rank, nope] -> per head nope key rows, then the value rows
            v = w[f"blk.{l}.attn_v_b.weight"]  # [heads, v, rank]
            sd[pre + "self_attn.kv_b_proj.weight"] = np.concatenate([t.transpose(0, 2, 1), v], axis=1).reshape(-1, t.shape[1])
    for l in range(cfg.num_hidden_layers):
        if f"blk.{l}.ffn_gate_exps.weight" in w:
            g, u = w[f"blk.{l}.ffn_gate_exps.weight"], w[f"blk.{l}.ffn_up_exps.weight"]
            sd[f"model.layers.{l}.mlp.experts.gate_up_proj"] = np.concatenate([g, u], axis=1)
    return transformers_answers(model, sd, prompt, evals, **kw)


def dequantized_reference_qwen3next(path, config_dir, prompt, evals, **kw):
    """`dequantized_reference` for Qwen3-Next, every change of the converter (`Qwen3NextModel.modify_tensors`) undone:
    attn_qkv and attn_gate rows regrouped per key head into in_proj_qkvz ([q, k, v, z] of each), A_log = log(-A),
    1 taken from the zero-centred norms (not the DeltaNet's gated norm), conv1d's unit dimension back, dt_bias
    renamed; the experts stacked as transformers 5 holds them."""
    import numpy as np
    import transformers as t
    cfg = t.Qwen3NextConfig.from_pretrained(config_dir)
    model = t.Qwen3NextForCausalLM(cfg).float().eval()
    w = dequantized_tensors(path)
    nk, dk = cfg.linear_num_key_heads, cfg.linear_key_head_dim
    vg = cfg.linear_num_value_heads // nk * cfg.linear_value_head_dim  # v (and z) rows of one key head

    def norm(x):
        return x.astype(np.float32) - np.float32(1)

    sd = {"model.embed_tokens.weight": w["token_embd.weight"], "model.norm.weight": norm(w["output_norm.weight"]),
          "lm_head.weight": w.get("output.weight", w["token_embd.weight"])}
    plain = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ssm_ba": "linear_attn.in_proj_ba", "ssm_norm": "linear_attn.norm",
             "ssm_out": "linear_attn.out_proj", "ffn_gate_inp": "mlp.gate", "ffn_gate_shexp": "mlp.shared_expert.gate_proj",
             "ffn_up_shexp": "mlp.shared_expert.up_proj", "ffn_down_shexp": "mlp.shared_expert.down_proj"}
    norms = {"attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}
    for name, x in w.items():
        parts = name.split(".")
        if parts[0] != "blk" or int(parts[1]) >= cfg.num_hidden_layers:
            continue
        l, role = parts[1], parts[2]
        pre = f"model.layers.{l}."
        if role in plain:
            sd[pre + plain[role] + "." + parts[3]] = x
        elif role in norms:
            sd[pre + norms[role] + ".weight"] = norm(x)
        elif role == "ssm_a":
            sd[pre + "linear_attn.A_log"] = np.log(-x.astype(np.float64)).astype(np.float32)
        elif role == "ssm_dt":
            sd[pre + "linear_attn.dt_bias"] = x
        elif role == "ssm_conv1d":
            sd[pre + "linear_attn.conv1d.weight"] = x[:, None, :]
        elif role == "ffn_gate_inp_shexp":
            sd[pre + "mlp.shared_expert_gate.weight"] = x.reshape(1, -1)
        elif role == "ffn_down_exps":
            sd[pre + "mlp.experts.down_proj"] = x
        elif role == "attn_qkv":
            z = w[f"blk.{l}.attn_gate.weight"]
            q, k, v = x[:nk * dk], x[nk * dk:2 * nk * dk], x[2 * nk * dk:]
            sd[pre + "linear_attn.in_proj_qkvz.weight"] = np.concatenate(
                [np.concatenate([q[g * dk:(g + 1) * dk], k[g * dk:(g + 1) * dk], v[g * vg:(g + 1) * vg], z[g * vg:(g + 1) * vg]])
                 for g in range(nk)])
    for l in range(cfg.num_hidden_layers):
        g, u = w[f"blk.{l}.ffn_gate_exps.weight"], w[f"blk.{l}.ffn_up_exps.weight"]
        sd[f"model.layers.{l}.mlp.experts.gate_up_proj"] = np.concatenate([g, u], axis=1)
    return transformers_answers(model, sd, prompt, evals, **kw)


def qwen3next_fixtures():
    """The f32 GGUF of each Qwen3-Next fixture llama.cpp can load (QWEN3NEXT), with its tokenizer goldens."""
    made = []
    for model in QWEN3NEXT:
        dest = os.path.join(OUT, f"{model}-f32.gguf")
        convert(model, "f32", dest)
        made.append(dest)
        goldens(model, dest)
    return made


def mla_fixtures():
    """f32 GGUFs of the DeepSeek-V3 and GLM-4.5 fixtures (and DeepSeek-V3 with YaRN), with the tokenizer goldens of the
    first two. A softmax (DeepSeek-V2) router with groups is not among them: llama.cpp scores its groups by their two
    best experts (as V3's), where transformers' group_limited_greedy takes the best one, and swapmoe follows
    transformers (Docs/GGUF.md); the 256-wide deepseek_v2 is routed greedily, as DeepSeek-V2-Lite is."""
    made = []
    for model in MLA_F32:
        dest = os.path.join(OUT, f"{model}-f32.gguf")
        convert(model, "f32", dest)
        made.append(dest)
        if model in ("deepseek_v3", "glm4_moe"):
            goldens(model, dest)
    return made


def quantized_fixtures(quantize, models=tuple(WIDE)):
    """Q8_0 of the 32-wide fixtures, Q4_K_M and Q6_K of the 256-wide ones (and Q8_0 of the 256-wide MLA / GLM ones,
    whose 32-wide shapes are not whole Q8_0 blocks); returns the files made."""
    made, seeds = [], {}
    for model in models:
        CONFIGS[model + "-wide"] = keep = tempfile.mkdtemp()
        tmp = tempfile.mkdtemp()
        src, narrow = os.path.join(tmp, "f32.gguf"), os.path.join(tmp, "narrow-f32.gguf")
        if model not in WIDE_TYPES and not os.path.exists(os.path.join(OUT, f"{model}-q8_0.gguf")):
            convert(model, "f32", src)
            dest = os.path.join(OUT, f"{model}-q8_0.gguf")
            subprocess.run([quantize, src, dest, "Q8_0"], check=True, capture_output=True)
            made.append(dest)
        # Seeds from WIDE_SEED up, 1000 apart, until llama.cpp's greedy continuation on both files has no step whose
        # top two logits are closer than MIN_GAP: a near-tie is decided by summation order alone, and then no peer
        # implementation (nor llama.cpp on another CPU) could be expected to pick the same token.
        for attempt in range(60):
            hf = os.path.join(tmp, "hf")
            shutil.rmtree(hf, ignore_errors=True)
            seeds[model] = wide_model(model, hf, WIDE_SEED + 1000 * attempt + list(WIDE).index(model))
            convert(model, "f32", src, folder=hf)
            files = []
            for qtype in WIDE_TYPES.get(model, ("Q4_K_M", "Q6_K")):
                dest = os.path.join(OUT, f"{model}-wide-{qtype.lower()}.gguf")
                subprocess.run([quantize, src, dest, qtype], check=True, capture_output=True)
                files.append(dest)
            answers = [model_goldens(f, model) for f in files]
            if all(a["greedy_min_gap"] >= MIN_GAP for a in answers) and all(
                    exact_margin(f, model, hf, a) >= MIN_GAP for f, a in zip(files, answers) if model in EXACT_GAP):
                break
        shutil.copy(os.path.join(hf, "config.json"), keep)
        made += files
        if model in IQ4_XS_FROM:
            # IQ4_XS (llama.cpp's non-linear 4-bit type, no importance matrix needed) of the model the seed picked;
            # on the 32-wide model llama-quantize falls back to IQ4_NL throughout.
            for source, name in ((src, f"{model}-wide-iq4_xs.gguf"), (narrow, f"{model}-iq4_xs.gguf")):
                if source == narrow:
                    convert(model, "f32", narrow)
                dest = os.path.join(OUT, name)
                subprocess.run([quantize, source, dest, "IQ4_XS"], check=True, capture_output=True)
                made.append(dest)
        shutil.rmtree(tmp)
    return made, seeds


def family_of(p):
    return "gpt_oss_mxfp4" if os.path.basename(p).startswith("gpt_oss-mxfp4") else os.path.basename(p).split("-")[0]


def config_dir(p):
    f = family_of(p)
    return CONFIGS.get(f + "-wide") if "-wide-" in p else CONFIGS.get(f, os.path.join(MODELS, f))


def write_goldens(made, seeds, keep=()):
    """llama.cpp's logits, greedy ids and perplexity on every whole model file of `made`, beside the cases of `keep`."""
    cases = list(keep) + [model_goldens(p, family_of(p), config_dir(p)) for p in made if "-split-" not in p]
    with open(os.path.join(OUT, "llama-goldens.json"), "w") as fp:
        json.dump({"generator": "Tools/make_gguf_fixtures.py with Tools/llama_reference.c against libllama.so built by "
                   "Tools/build_llamacpp.sh: 1 thread, f32 KV cache, no flash attention",
                   "prompt_from": "Tests/Fixtures/models/<family>/golden.json prompt_text, tokenized by llama.cpp",
                   "eval_from": f"the first {EVAL_TOKENS} tokens of Tests/Fixtures/texts/eval.txt, tokenized by llama.cpp",
                   "wide_seeds": seeds, "cases": cases}, fp)


def write_manifest(files, keep=None):
    manifest = dict(keep or {})
    manifest.update({os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest() for p in files})
    with open(os.path.join(OUT, "fixtures.json"), "w") as fp:
        json.dump({"generator": "Tools/make_gguf_fixtures.py", "llama_cpp": os.path.relpath(SRC, ROOT),
                   "files": dict(sorted(manifest.items()))}, fp, indent=1)


def main_only(group):
    """--only mla / qwen3next: (re)makes only the DeepSeek / GLM or the Qwen3-Next files, keeping every other fixture
    and golden as it is."""
    made = mla_fixtures() if group == "mla" else qwen3next_fixtures()
    more, seeds = quantized_fixtures(tool("llama-quantize"), models=DEEPSEEK_LIKE if group == "mla" else QWEN3NEXT)
    made += more
    names = {os.path.basename(p) for p in made}
    old = json.load(open(os.path.join(OUT, "llama-goldens.json")))
    write_goldens(made, dict(old.get("wide_seeds", {}), **seeds), keep=[c for c in old["cases"] if c["gguf"] not in names])
    for path in made:
        dump(path)
    write_manifest(made, json.load(open(os.path.join(OUT, "fixtures.json")))["files"])
    print(f"wrote {len(made)} GGUF files in {OUT}")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in glob.glob(os.path.join(OUT, "*")):
        os.unlink(f)
    made = mla_fixtures() + qwen3next_fixtures()
    for model, outtype in [("mixtral", "f32"), ("qwen2_moe", "f32"), ("qwen3_moe", "bf16"), ("olmoe", "f32")]:
        dest = os.path.join(OUT, f"{model}-{outtype}.gguf")
        convert(model, outtype, dest)
        made.append(dest)
        goldens(model, dest)
    # gpt-oss: the f32 fixture (the converter splits gate_up into ffn_gate_exps / ffn_up_exps and transposes), and
    # the hub-MXFP4 one, whose experts the converter repacks into GGUF MXFP4 blocks (the rest f32).
    for model, name in [("gpt_oss", "gpt_oss-f32.gguf"), ("gpt_oss_mxfp4", "gpt_oss-mxfp4.gguf")]:
        dest = os.path.join(OUT, name)
        convert(model, "f32", dest)
        made.append(dest)
        if model == "gpt_oss":
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
    seeds = {}
    if quantize:
        # gpt-oss Q8_0: 48 wide, so llama-quantize keeps the expert matrices in its F16 fallback.
        for model, qtype in [("qwen3_moe", "Q8_0"), ("mixtral", "Q4_K_M"), ("gpt_oss", "Q8_0")]:
            src = os.path.join(tempfile.mkdtemp(), "f32.gguf")
            convert(model, "f32", src)
            dest = os.path.join(OUT, f"{model}-{qtype.lower()}.gguf")
            subprocess.run([quantize, src, dest, qtype], check=True, capture_output=True)
            made.append(dest)
        more, seeds = quantized_fixtures(quantize)
        made += more
    write_goldens(made, seeds)
    split = tool("llama-gguf-split")
    if split:
        prefix = os.path.join(OUT, "olmoe-split")
        subprocess.run([split, "--split", "--split-max-tensors", "12", os.path.join(OUT, "olmoe-f32.gguf"), prefix],
                       check=True, capture_output=True)
        made += sorted(glob.glob(prefix + "-*.gguf"))
    for path in made:
        dump(path)
    write_manifest(made + vocab_files)
    total = sum(os.path.getsize(f) for f in glob.glob(os.path.join(OUT, "*")))
    print(f"wrote {len(made)} GGUF files, {total} bytes in {OUT}")


if __name__ == "__main__":
    main_only(ONLY) if ONLY else main()
