#!/usr/bin/env python3
"""Build FP8 block-quantized variants of existing fixtures (issue 19), with their goldens.

    .venv/bin/python Tools/make_fp8_fixtures.py [--only NAME ...]

The hub layout of DeepSeek-V3, Kimi-K2, Qwen3-*-FP8 (transformers' `finegrained_fp8` integration): config.json carries
`quantization_config = {quant_method: fp8, fmt: e4m3, activation_scheme: dynamic, weight_block_size: [bm, bn]}`;
every quantized linear `X.weight` is float8_e4m3fn `[rows, cols]` beside `X.weight_scale_inv`
`[ceil(rows / bm), ceil(cols / bn)]`; the tensors transformers leaves in float (embeddings, norms, the router gate,
the LM head, biases) stay bf16 and the router's e_score_correction_bias f32, as on the hub.

Quantization as transformers' Fp8Quantize / DeepSeek do it: per block amax, scale = 448 / amax (1 for an all-zero
block), q = clamp(w * scale, -448, 448).to(float8_e4m3fn), scale_inv = 1 / scale. Edge blocks are partial (the fixture
dims are not multiples of the block), and the block is small (16 x 8, not square, so rows and columns cannot be
swapped unnoticed) so every matrix spans several blocks. The weights come from the f32 fixture named as `source`.

Goldens, from transformers' forward (float32) on the dequantized weights, computed the reference way
(`q.to(float32) * scale_inv.repeat_interleave(bm, 0)[:rows].repeat_interleave(bn, 1)[:, :cols]`, one f32 rounding):
  golden.json      the dequantized weights rounded to bf16, what DeepSeek's fp8_cast_bf16.py writes and what
                   `swapmoe pack` stores by default;
  golden_f32.json  the dequantized weights in f32 (`pack --dtype f32`).
compressed-tensors variants (issue 19; llm-compressor's FP8 schemes, `quant_method: compressed-tensors`, format
float-quantized): `X.weight` float8_e4m3fn beside `X.weight_scale`, a multiplier, quantized as compressed-tensors'
minmax observer and `quantize` do it: scale = amax / 448 over the strategy's group (a row for `channel`, shape
[rows, 1]; the matrix for `tensor`, shape [1]), q = clamp(w / scale, -448, 448).to(float8_e4m3fn). `ignore` lists what
stays bf16 (the LM head and the router gates, as llm-compressor's MoE examples and FP8 MoE releases leave them); the
static scheme also writes `X.input_scale` ([1], f32), which the reader skips (activations stay float), so the goldens
are the same forward on the dequantized weights.

Also Tests/Fixtures/quant/e4m3.json: torch's float8_e4m3fn value of every byte (NaN as null).

Fixtures:
  deepseek_v3_fp8  from deepseek_v3, block [16, 8], f32 scales (DeepSeek-V3's)
  qwen3_next_fp8   from qwen3_next_sparse, block [16, 20], bf16 scales (as Qwen's FP8 releases store them): DeltaNet's
                   in_proj_qkvz and out_proj quantized too; conv1d, in_proj_ba and shared_expert_gate kept, as Qwen keeps them
  glm4_moe_fp8     from glm4_moe, block [8, 16], bf16 scales, q/k/v biases kept bf16 (block sizes chosen for clear
                   greedy and router margins: 0.005 and 0.0026 at the least, as the f32 fixtures have)
  glm4_moe_ct      from glm4_moe, compressed-tensors FP8_DYNAMIC: channel weight scales (bf16, the model's dtype),
                   dynamic per-token activations (no input_scale)
  deepseek_v3_ct_tensor  from deepseek_v3, compressed-tensors static FP8: per-tensor weight scales (f32, shape [1])
                   and static per-tensor input_scale tensors
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_deepseek_fixtures as mdf  # noqa: E402
import make_fixtures as mf  # noqa: E402
import make_goldens as mg  # noqa: E402

FP8_MAX = 448.0
GENERATOR = "Tools/make_fp8_fixtures.py"

SPECS = {
    "deepseek_v3_fp8": dict(source="deepseek_v3", block=[16, 8], scale_dtype=torch.float32),
    "glm4_moe_fp8": dict(source="glm4_moe", block=[8, 16], scale_dtype=torch.bfloat16),
    "qwen3_next_fp8": dict(source="qwen3_next_sparse", block=[16, 20], scale_dtype=torch.bfloat16, grouped_router=False),
    "glm4_moe_ct": dict(source="glm4_moe", strategy="channel", scale_dtype=torch.bfloat16),
    "deepseek_v3_ct_tensor": dict(source="deepseek_v3", strategy="tensor", scale_dtype=torch.float32, static=True),
}


def quantized(name: str, t: torch.Tensor) -> bool:
    """The weights transformers' fp8 integration replaces (nn.Linear in attention, DeltaNet projections, MLPs, experts,
    shared experts); not embeddings, the LM head, norms, biases, conv1d, the router gate (a router module, not an
    nn.Linear), nor what Qwen's FP8 releases list in modules_to_not_convert (shared_expert_gate, in_proj_ba)."""
    return (t.ndim == 2 and name.endswith(".weight") and name.startswith("model.layers.")
            and not name.endswith("mlp.gate.weight") and not any(k in name for k in KEPT) and "norm" not in name)


KEPT = ("shared_expert_gate", "linear_attn.in_proj_ba")


def grid(x: torch.Tensor, block: list[int]) -> torch.Tensor:
    """Per-block scale grid expanded over the elements, cropped to `x`'s shape."""
    return x.repeat_interleave(block[0], 0).repeat_interleave(block[1], 1)


def quantize(w: torch.Tensor, block: list[int], scale_dtype) -> tuple[torch.Tensor, torch.Tensor]:
    rows, cols = w.shape
    bm, bn = block
    gr, gc = -(-rows // bm), -(-cols // bn)
    padded = torch.zeros(gr * bm, gc * bn, dtype=torch.float32)
    padded[:rows, :cols] = w.float()
    amax = padded.reshape(gr, bm, gc, bn).abs().amax(dim=(1, 3))
    scale = torch.where(amax > 0, FP8_MAX / amax.clamp(min=1e-30), torch.ones_like(amax))
    scale_inv = (1.0 / scale).to(scale_dtype)
    # Quantize with the stored scale's reciprocal, so dequantizing multiplies by exactly what the weight was divided by.
    forward = 1.0 / scale_inv.float()
    q = (w.float() * grid(forward, block)[:rows, :cols]).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return q, scale_inv


def dequantize(q: torch.Tensor, scale_inv: torch.Tensor, block: list[int]) -> torch.Tensor:
    rows, cols = q.shape
    return q.to(torch.float32) * grid(scale_inv.to(torch.float32), block)[:rows, :cols]


def quantize_ct(w: torch.Tensor, strategy: str, scale_dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """compressed-tensors' FP8 weight quantization: scale = amax / 448 per row (channel) or per matrix (tensor)."""
    w = w.float()
    amax = w.abs().amax(dim=1, keepdim=True) if strategy == "channel" else w.abs().amax().reshape(1)
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax)).to(scale_dtype)
    # Divide by the stored scale, so dequantizing multiplies by exactly what the weight was divided by.
    s = scale.float() if strategy == "channel" else scale.float().reshape(1, 1)
    q = (w / s).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return q, scale


def dequantize_ct(q: torch.Tensor, scale: torch.Tensor, strategy: str) -> torch.Tensor:
    s = scale.to(torch.float32)
    return q.to(torch.float32) * (s if strategy == "channel" else s.reshape(1, 1))


def ct_config(strategy: str, static: bool) -> dict:
    """quantization_config as llm-compressor writes it for FP8_DYNAMIC (channel weights, dynamic per-token
    activations) or FP8 (tensor weights, static per-tensor activations)."""
    weights = {"num_bits": 8, "type": "float", "strategy": strategy, "symmetric": True, "dynamic": False,
               "group_size": None, "block_structure": None, "actorder": None, "observer": "minmax", "observer_kwargs": {}}
    acts = {"num_bits": 8, "type": "float", "symmetric": True, "group_size": None, "block_structure": None,
            "actorder": None, "observer_kwargs": {}}
    acts.update({"strategy": "tensor", "dynamic": False, "observer": "minmax"} if static
                else {"strategy": "token", "dynamic": True, "observer": None})
    return {"quant_method": "compressed-tensors", "format": "float-quantized", "quantization_status": "compressed",
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights, "input_activations": acts,
                                          "output_activations": None, "format": "float-quantized"}},
            "ignore": ["lm_head", "re:.*mlp.gate$"], "kv_cache_scheme": None, "sparsity_config": {},
            "global_compression_ratio": None}


def reference_folder(src: Path, tensors: dict, cfg: dict, tmp: Path) -> Path:
    """A float32 folder transformers loads as an ordinary checkpoint: the dequantized weights, no quantization_config."""
    tmp.mkdir()
    save_file({k: v.float().contiguous() for k, v in tensors.items()}, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k != "quantization_config"}, indent=2))
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(src / f, tmp / f)
    return tmp


def golden(name: str, folder: Path, grouped_router: bool) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model, info = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, output_loading_info=True,
                                                       experts_implementation="eager")
    assert not {k: v for k, v in info.items() if v}, (name, info)
    model.eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    prompt_ids = tok(mg.PROMPT)["input_ids"]
    ids = torch.tensor([prompt_ids])
    g = {"model": name, "generator": GENERATOR, "compute_dtype": "float32",
         "transformers": __import__("transformers").__version__, "torch": torch.__version__.split("+")[0],
         "prompt_text": mg.PROMPT, "prompt_ids": prompt_ids}
    with torch.no_grad():
        g.update(mg.greedy(model, tok, ids))
        g.update(mg.prompt_stats(model, ids))
        if grouped_router:  # DeepSeek's and GLM's grouped routers (prompt_stats' router margins cover the others)
            g["router_selection_margin"] = mg.f9(mdf.router_margins(model, ids))
        g["eval"] = mg.evaluate(model, tok)
    return g


def build(name: str, spec: dict) -> None:
    src = mf.MODELS / spec["source"]
    block, scale_dtype, strategy = spec.get("block"), spec["scale_dtype"], spec.get("strategy")
    with safe_open(str(src / "model.safetensors"), "pt") as f:
        weights = {k: f.get_tensor(k) for k in f.keys()}
    stored, deq_f32, deq_bf16, kept = {}, {}, {}, []
    for k, w in sorted(weights.items()):
        if quantized(k, w) and strategy:
            q, s = quantize_ct(w, strategy, scale_dtype)
            stored[k], stored[k + "_scale"] = q, s
            if spec.get("static"):  # a calibrated activation scale; any positive value serves, the reader skips it
                stored[k.removesuffix("weight") + "input_scale"] = torch.tensor([0.02], dtype=torch.float32)
            d = dequantize_ct(q, s, strategy)
            deq_f32[k], deq_bf16[k] = d, d.to(torch.bfloat16)
        elif quantized(k, w):
            q, s = quantize(w, block, scale_dtype)
            stored[k], stored[k + "_scale_inv"] = q, s
            d = dequantize(q, s, block)
            deq_f32[k], deq_bf16[k] = d, d.to(torch.bfloat16)
        else:
            # The hub keeps the router's correction bias in f32 and the rest in bf16.
            kept_type = torch.float32 if k.endswith("e_score_correction_bias") else torch.bfloat16
            stored[k] = deq_f32[k] = deq_bf16[k] = w.to(kept_type)
            kept.append(k)
    cfg = json.loads((src / "config.json").read_text())
    cfg["dtype"] = "bfloat16"
    if strategy:
        cfg["quantization_config"] = ct_config(strategy, spec.get("static", False))
    else:
        cfg["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                      "weight_block_size": block,
                                      "modules_to_not_convert": ["lm_head", "model.embed_tokens", "model.layers.*.mlp.gate"]
                                      + [f"model.layers.*.{k}" for k in KEPT if any(k in w for w in weights)]}

    out = mf.fresh_folder(name)
    save_file({k: v.contiguous() for k, v in stored.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "model.safetensors").chmod(0o644)  # save_file writes 0600 here; the other fixtures are 0644
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(src / f, out / f)
    scales = sum(1 for k in stored if k.endswith(("_scale", "_scale_inv")))
    layout = ("compressed-tensors float-quantized (per-expert tensors, *.weight_scale beside each F8_E4M3 weight"
              + (", *.input_scale beside it" if spec.get("static") else "") + ")") if strategy else \
        "hub FP8 (per-expert tensors, *_scale_inv beside each F8_E4M3 weight)"
    (out / "fixture.json").write_text(json.dumps({
        "name": name, "source": spec["source"], **({"strategy": strategy} if strategy else {"weight_block_size": block}),
        "scale_dtype": str(scale_dtype).split(".")[-1], "quantized": scales,
        "kept_bf16": len(kept), "layout": layout, "generator": GENERATOR,
    }, indent=1) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        for file, tensors in (("golden.json", deq_bf16), ("golden_f32.json", deq_f32)):
            folder = reference_folder(src, tensors, cfg, Path(tmp) / file.split(".")[0])
            g = golden(name, folder, spec.get("grouped_router", True))
            mg.write(out / file, g)
            router = g.get("router_selection_margin", min(r["min_topk_margin"] for r in g["router"]))
            print(f"{name} {file}: min greedy margin {min(g['greedy_margins']):.4f}, router margin "
                  f"{router:.4f}, eos suppressed {g['greedy_eos_suppressed']}, "
                  f"ppl@64 {g['eval']['ctx64']['ppl']:.3f}")
    print(name, f"{sum(p.stat().st_size for p in out.iterdir()) / 1024:.0f} KiB")


def write_e4m3_table() -> None:
    """torch's float8_e4m3fn value of each byte 0..255 (null for NaN), for the decoder's unit test."""
    values = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float().tolist()
    out = mf.FIX / "quant" / "e4m3.json"
    out.write_text(json.dumps({"generator": GENERATOR, "torch": torch.__version__.split("+")[0],
                               "values": [None if v != v else v for v in values]}) + "\n")


def main() -> None:
    names = mg.selected(list(SPECS))
    write_e4m3_table()
    for name in names:
        build(name, SPECS[name])


if __name__ == "__main__":
    main()
