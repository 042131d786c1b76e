#!/usr/bin/env python3
"""Write a large random-weight gpt-oss checkpoint in the hub's layout (MXFP4 experts), for pack / memory-cap /
throughput runs. numpy only (no torch).

    .venv/bin/python Tools/make_big_gptoss.py --out /work/data/big-gptoss          # ~1.7B params, ~1.0 GB

Default shape: hidden 1024, intermediate 1024, 16 layers (sliding 128 / full alternating), 32 experts top-4,
16 heads of 64 / 4 kv heads, vocab 32000 (the Mistral tokenizer fixture is copied in), YaRN x32 over 4096 as
gpt-oss. The hub's tensors and dtypes: attention, router, norms, sinks, biases, embeddings and LM head in bf16;
experts as `*_blocks` uint8 `[E, out, in/32, 16]` with E8M0 `*_scales` `[E, out, in/32]`, `quantization_config`
mxfp4, exactly the layout of openai/gpt-oss-20b. Default output is never committed.

Weights: dense N(0, 0.02) (bf16, round to nearest even), norms 1, biases and sinks 0; expert codes uniform over
the 16 E2M1 values with scale 2^-7 (std about 0.02). Streaming: one tensor at a time straight to disk, so RSS stays
at one tensor (the embedding, 64 MB). Seeded per tensor name: byte-identical across runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TOKS = ROOT / "Tests" / "Fixtures" / "tokenizers"


def plan(a) -> list[tuple[str, tuple[int, ...], str, str]]:
    """(name, shape, dtype, init) in file order."""
    H, I, E, D = a.hidden, a.intermediate, a.experts, a.head_dim
    t = [("model.embed_tokens.weight", (a.vocab, H), "BF16", "normal")]
    for l in range(a.layers):
        p, x = f"model.layers.{l}.", f"model.layers.{l}.mlp.experts."
        t += [(p + "input_layernorm.weight", (H,), "BF16", "ones"), (p + "post_attention_layernorm.weight", (H,), "BF16", "ones")]
        for n, rows, cols in [("q", a.heads * D, H), ("k", a.kv_heads * D, H), ("v", a.kv_heads * D, H), ("o", H, a.heads * D)]:
            t += [(p + f"self_attn.{n}_proj.weight", (rows, cols), "BF16", "normal"), (p + f"self_attn.{n}_proj.bias", (rows,), "BF16", "zeros")]
        t += [(p + "self_attn.sinks", (a.heads,), "BF16", "zeros"),
              (p + "mlp.router.weight", (E, H), "BF16", "normal"), (p + "mlp.router.bias", (E,), "BF16", "zeros")]
        for n, out, inn in [("gate_up_proj", 2 * I, H), ("down_proj", H, I)]:
            t += [(x + n + "_blocks", (E, out, inn // 32, 16), "U8", "codes"), (x + n + "_scales", (E, out, inn // 32), "U8", "scales"),
                  (x + n + "_bias", (E, out), "BF16", "zeros")]
    return t + [("model.norm.weight", (H,), "BF16", "ones"), ("lm_head.weight", (a.vocab, H), "BF16", "normal")]


def size(shape, dtype) -> int:
    return int(np.prod(shape)) * (2 if dtype == "BF16" else 1)


def values(name: str, shape, init: str, seed: int) -> np.ndarray:
    rng = np.random.Generator(np.random.SFC64([seed, zlib.crc32(name.encode())]))
    n = int(np.prod(shape))
    if init == "codes":
        return rng.integers(0, 256, n, dtype=np.uint8)
    if init == "scales":
        return np.full(n, 127 - 7, dtype=np.uint8)
    x = {"ones": np.ones, "zeros": np.zeros}.get(init, lambda k, dtype: rng.standard_normal(k, dtype=dtype) * np.float32(0.02))(n, dtype=np.float32)
    u = x.astype(np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "work-data" / "big-gptoss"))
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--intermediate", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--experts", type=int, default=32)
    ap.add_argument("--top-k", type=int, default=4)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = plan(a)
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, dtype, _ in tensors:
        hdr[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + size(shape, dtype)]}
        off += size(shape, dtype)
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(out / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for name, shape, _, init in tensors:
            f.write(values(name, shape, init, a.seed).tobytes())
    bos, eos = 1, 2  # the Mistral tokenizer's <s>, </s>
    config = {
        "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "attention_bias": True, "attention_dropout": 0.0,
        "bos_token_id": bos, "eos_token_id": eos, "experts_per_token": a.top_k, "num_experts_per_tok": a.top_k,
        "head_dim": a.head_dim, "hidden_act": "silu", "hidden_size": a.hidden, "initial_context_length": 4096,
        "initializer_range": 0.02, "intermediate_size": a.intermediate,
        "layer_types": ["sliding_attention" if l % 2 == 0 else "full_attention" for l in range(a.layers)],
        "max_position_embeddings": 131072, "num_attention_heads": a.heads, "num_hidden_layers": a.layers,
        "num_key_value_heads": a.kv_heads, "num_local_experts": a.experts, "output_router_logits": False,
        "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                           "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"},
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0, "original_max_position_embeddings": 4096,
                         "rope_type": "yarn", "truncate": False},
        "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128, "swiglu_limit": 7.0,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True, "vocab_size": a.vocab,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": bos, "eos_token_id": eos}, indent=2) + "\n")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKS / "mistral" / f, out / f)
    params = sum(int(np.prod(s)) * (2 if i == "codes" else 1) for _, s, _, i in tensors if i != "scales")
    print(f"{out}: {params / 1e9:.3f} B parameters, {off / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
