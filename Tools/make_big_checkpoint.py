#!/usr/bin/env python3
"""Write a large random-weight Mixtral-style Hugging Face checkpoint in bf16,
for packer / memory-cap / throughput tests. numpy only (no torch).

    .venv/bin/python Tools/make_big_checkpoint.py                       # ~1.2B params, ~2.4 GB
    .venv/bin/python Tools/make_big_checkpoint.py --layers 13           # ~1.0B params, ~2.0 GB
    .venv/bin/python Tools/make_big_checkpoint.py --layers 48 --out work-data/big-mixtral-48
                                       # ~3.5B params, 6.5 GiB: every token reads more than a 300 MiB L3 holds
    .venv/bin/python Tools/make_big_checkpoint.py --out /tmp/big --experts 4 --layers 4
    .venv/bin/python Tools/make_big_checkpoint.py --verify-only --out DIR  # re-check an existing folder

Default shape: hidden 1024, intermediate 2816, 16 layers, 8 experts (top-2),
16 heads / 4 kv heads, vocab 32000 (the real Mistral tokenizer is copied in).
Default output: <repo>/work-data/big-mixtral (gitignored) -- never commit it.

Layout = the classic hub Mixtral layout (what Mixtral-8x7B ships):
  model.embed_tokens.weight                                   [V, H]
  model.layers.L.input_layernorm.weight                       [H]
  model.layers.L.self_attn.{q,k,v,o}_proj.weight              [Hq*D, H] / [Hkv*D, H] / [H, Hq*D]
  model.layers.L.post_attention_layernorm.weight              [H]
  model.layers.L.block_sparse_moe.gate.weight                 [E, H]
  model.layers.L.block_sparse_moe.experts.E.w1.weight         [I, H]   (gate)
  model.layers.L.block_sparse_moe.experts.E.w2.weight         [H, I]   (down)
  model.layers.L.block_sparse_moe.experts.E.w3.weight         [I, H]   (up)
  model.norm.weight                                           [H]
  lm_head.weight                                              [V, H]
config.json uses the hub's transformers-4 keys (top-level rope_theta,
torch_dtype) on purpose: the tiny fixtures cover transformers 5's keys
(rope_parameters, dtype), this one covers what real hub checkpoints carry.

Streaming: every shard's safetensors header is computed up front (all shapes
are known), then tensors are generated in chunks of at most --chunk-mib and
written straight to disk, so peak RSS stays around a few hundred MB whatever
the model size. Two worker processes generate/convert chunks ahead of the
writer (numpy's standard_normal holds the GIL, so threads would not help);
at most workers+1 chunks are in flight. Each chunk has its own SFC64 stream
seeded from (seed, tensor name, chunk index): the output is byte-identical
across runs and worker counts.

Weights: N(0, --std), stored as bf16 rounded from float32 with
round-to-nearest-even; norm weights are 1.0. By default values are drawn by
inverse-CDF sampling from a 65536-entry table of bf16-rounded gaussian
quantiles (16 random bits per weight; tails cut at +-4.3 std), which is ~3x
faster than standard_normal + rounding; --exact uses the latter.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import resource
import shutil
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TOKS = ROOT / "Tests" / "Fixtures" / "tokenizers"


# --------------------------------------------------------------------------- bf16
def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round-to-nearest-even.
    (No NaN handling needed: inputs are finite gaussians.)"""
    u = x.view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))
    return ((u + rounding) >> np.uint32(16)).astype(np.uint16)


# --------------------------------------------------------------------------- model plan
def tensor_plan(a) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, init) in file order; init is 'normal' or 'ones'."""
    H, I, V, E = a.hidden, a.intermediate, a.vocab, a.experts
    D = H // a.heads
    plan = [("model.embed_tokens.weight", (V, H), "normal")]
    for L in range(a.layers):
        p = f"model.layers.{L}."
        plan += [
            (p + "input_layernorm.weight", (H,), "ones"),
            (p + "self_attn.q_proj.weight", (a.heads * D, H), "normal"),
            (p + "self_attn.k_proj.weight", (a.kv_heads * D, H), "normal"),
            (p + "self_attn.v_proj.weight", (a.kv_heads * D, H), "normal"),
            (p + "self_attn.o_proj.weight", (H, a.heads * D), "normal"),
            (p + "post_attention_layernorm.weight", (H,), "ones"),
            (p + "block_sparse_moe.gate.weight", (E, H), "normal"),
        ]
        for e in range(E):
            q = f"{p}block_sparse_moe.experts.{e}."
            plan += [(q + "w1.weight", (I, H), "normal"), (q + "w2.weight", (H, I), "normal"),
                     (q + "w3.weight", (I, H), "normal")]
    plan += [("model.norm.weight", (H,), "ones"), ("lm_head.weight", (V, H), "normal")]
    return plan


def nbytes(shape) -> int:
    return int(np.prod(shape)) * 2


def shard_plan(plan, shard_bytes: int) -> list[list]:
    shards, cur, size = [], [], 0
    for t in plan:
        b = nbytes(t[1])
        if cur and size + b > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += b
    if cur:
        shards.append(cur)
    return shards


def header_bytes(tensors) -> bytes:
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in tensors:
        b = nbytes(shape)
        hdr[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + b]}
        off += b
    raw = json.dumps(hdr, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data section 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


# --------------------------------------------------------------------------- generation
def chunk_jobs(tensors, chunk_elems: int):
    """(name, init, chunk_index, n_elems) for every chunk of every tensor, in file order."""
    for name, shape, init in tensors:
        n = int(np.prod(shape))
        for ci, start in enumerate(range(0, n, chunk_elems)):
            yield name, init, ci, min(chunk_elems, n - start)


_TABLES: dict[float, np.ndarray] = {}


def normal_table(std: float) -> np.ndarray:
    """bf16 bit patterns of the 65536 N(0, std) quantiles (i + 0.5) / 65536,
    each rounded float32 -> bf16 with round-to-nearest-even."""
    if std not in _TABLES:
        from statistics import NormalDist

        nd = NormalDist()
        q = np.array([nd.inv_cdf((i + 0.5) / 65536) for i in range(65536)], dtype=np.float32)
        _TABLES[std] = f32_to_bf16_bits(q * np.float32(std))
    return _TABLES[std]


def make_chunk(seed: int, std: float, exact: bool, job) -> bytes:
    name, init, ci, n = job
    if init == "ones":
        return f32_to_bf16_bits(np.ones(n, dtype=np.float32)).tobytes()
    rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, zlib.crc32(name.encode()), ci])))
    if exact:
        x = rng.standard_normal(n, dtype=np.float32)
        x *= np.float32(std)
        return f32_to_bf16_bits(x).tobytes()
    # Fast path (default, ~3x faster): inverse-CDF sampling with a 16-bit
    # uniform index into the quantile table. At bf16 precision this is the
    # same gaussian except that the tails are cut at +-4.3 std.
    idx = np.frombuffer(rng.bytes(2 * n), dtype=np.uint16)
    return normal_table(std)[idx].tobytes()


def write_shards(a, out: Path, shards) -> int:
    chunk_elems = a.chunk_mib * (1 << 20) // 4
    total = 0
    with cf.ProcessPoolExecutor(max_workers=a.threads) as pool:
        for si, tensors in enumerate(shards):
            fname = out / f"model-{si + 1:05d}-of-{len(shards):05d}.safetensors"
            tmp = fname.with_name(fname.name + ".partial")
            with open(tmp, "wb") as f:
                f.write(header_bytes(tensors))
                # Keep at most threads+1 chunks in flight: bounded memory, in-order writes.
                pending = []
                for job in chunk_jobs(tensors, chunk_elems):
                    pending.append(pool.submit(make_chunk, a.seed, a.std, a.exact, job))
                    if len(pending) > a.threads:
                        f.write(pending.pop(0).result())
                for fut in pending:
                    f.write(fut.result())
            tmp.rename(fname)
            total += fname.stat().st_size
            print(f"  {fname.name}: {len(tensors)} tensors, {fname.stat().st_size / 2**30:.2f} GiB", flush=True)
    return total


def write_metadata(a, out: Path, shards) -> None:
    weight_map, total_size = {}, 0
    for si, tensors in enumerate(shards):
        for name, shape, _ in tensors:
            weight_map[name] = f"model-{si + 1:05d}-of-{len(shards):05d}.safetensors"
            total_size += nbytes(shape)
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total_size}, "weight_map": weight_map}, indent=2) + "\n")
    tok_cfg = json.loads((TOKS / a.tokenizer / "tokenizer_config.json").read_text())
    bos_eos = {"bos_token_id": 1, "eos_token_id": 2}  # <s>, </s> in both SentencePiece fixtures
    config = {
        "architectures": ["MixtralForCausalLM"],
        "model_type": "mixtral",
        "attention_dropout": 0.0,
        **bos_eos,
        "hidden_act": "silu",
        "hidden_size": a.hidden,
        "initializer_range": a.std,
        "intermediate_size": a.intermediate,
        "max_position_embeddings": 32768,
        "num_attention_heads": a.heads,
        "num_experts_per_tok": a.top_k,
        "num_hidden_layers": a.layers,
        "num_key_value_heads": a.kv_heads,
        "num_local_experts": a.experts,
        "output_router_logits": False,
        "rms_norm_eps": 1e-5,
        "rope_theta": 1e6,
        "router_aux_loss_coef": 0.02,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.0",  # hub-style config (see module docstring)
        "use_cache": True,
        "vocab_size": a.vocab,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps({**bos_eos, "_from_model_config": True}, indent=2) + "\n")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKS / a.tokenizer / f, out / f)
    n_tok = len(json.loads((TOKS / a.tokenizer / "tokenizer.json").read_text())["model"]["vocab"])
    if n_tok > a.vocab:
        print(f"warning: tokenizer {a.tokenizer} has {n_tok} ids > vocab {a.vocab}", file=sys.stderr)
    _ = tok_cfg


# --------------------------------------------------------------------------- verify
def verify(out: Path, sample: int = 3) -> None:
    """Open every shard with safetensors.safe_open (numpy-free header check,
    then a few tensors decoded with torch if it is installed)."""
    from safetensors import safe_open

    index = json.loads((out / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    seen, total = 0, 0
    try:
        import torch  # noqa: F401  (only to decode bf16 values for the sanity check)
        fw = "pt"
    except ImportError:
        fw = None
    for fn in files:
        with safe_open(str(out / fn), framework=fw or "numpy") as f:
            keys = list(f.keys())
            for k in keys:
                assert index["weight_map"][k] == fn, k
                sl = f.get_slice(k)
                assert sl.get_dtype() == "BF16"
                total += int(np.prod(sl.get_shape())) * 2
            seen += len(keys)
            if fw:
                for k in [k for k in keys if k.endswith("w2.weight") or k.endswith("embed_tokens.weight")][:sample]:
                    t = f.get_tensor(k).float()
                    print(f"  {k}: shape {tuple(t.shape)} mean {t.mean():+.5f} std {t.std():.5f}")
    assert seen == len(index["weight_map"]), (seen, len(index["weight_map"]))
    assert total == index["metadata"]["total_size"]
    print(f"verify: {seen} tensors in {len(files)} shards, {total / 2**30:.2f} GiB, all BF16, index consistent")


def parse_size(s: str) -> int:
    s = s.strip().upper()
    for suf, mul in (("GB", 10**9), ("GIB", 2**30), ("MB", 10**6), ("MIB", 2**20)):
        if s.endswith(suf):
            return int(float(s[: -len(suf)]) * mul)
    return int(s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "work-data" / "big-mixtral")
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--intermediate", type=int, default=2816)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--std", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-size", type=parse_size, default=parse_size("1GB"), help="e.g. 1GB, 500MB")
    ap.add_argument("--tokenizer", default="mistral", choices=["mistral", "sentencepiece-small"])
    ap.add_argument("--chunk-mib", type=int, default=32, help="float32 MiB generated per chunk")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="worker processes")
    ap.add_argument("--exact", action="store_true",
                    help="draw every weight with standard_normal (3x slower) instead of the quantile table")
    ap.add_argument("--verify-only", action="store_true")
    ap.add_argument("--no-verify", action="store_true")
    a = ap.parse_args()
    assert a.hidden % a.heads == 0 and a.heads % a.kv_heads == 0

    if a.verify_only:
        verify(a.out)
        return
    plan = tensor_plan(a)
    params = sum(int(np.prod(s)) for _, s, _ in plan)
    shards = shard_plan(plan, a.shard_size)
    print(f"{params / 1e9:.3f}B params, {params * 2 / 2**30:.2f} GiB bf16, {len(shards)} shards -> {a.out}")
    if a.out.exists():
        shutil.rmtree(a.out)
    a.out.mkdir(parents=True)
    t0 = time.time()
    total = write_shards(a, a.out, shards)
    write_metadata(a, a.out, shards)
    dt = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"wrote {total / 2**30:.2f} GiB in {dt:.1f} s ({total / 2**20 / dt:.0f} MiB/s), "
          f"peak RSS writer {rss:.0f} MiB, largest worker {rss_kids:.0f} MiB")
    if not a.no_verify:
        verify(a.out)


if __name__ == "__main__":
    main()
