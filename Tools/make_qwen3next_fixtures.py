#!/usr/bin/env python3
"""Build the Qwen3-Next (`qwen3_next`) fixture under Tests/Fixtures/models/qwen3_next/ with its golden.json.

    .venv/bin/python Tools/make_qwen3next_fixtures.py [--only NAME ...]

Random-init Qwen3NextForCausalLM (transformers 5), float32, weights drawn as Tools/make_fixtures.py draws them,
except:
  * the zero-centred RMSNorms (input, post-attention, final, q/k norms: y = n(x) * (1 + w)) draw w ~ N(0, NORM_STD),
    so reading w as a plain scale (or dropping the 1) shows; the gated norm of the DeltaNet layers keeps a plain
    scale, 1 + N(0, NORM_STD);
  * the depthwise conv1d of the DeltaNet layers draws N(0, CONV_STD), A_log = log U(0.05, 2) and dt_bias
    N(0, DT_STD), so the decays exp(g) spread over (0, 1) and the state carries across tokens;
  * hybrid layers linear, full, linear, full (`full_attention_interval` 2), layer 0 dense (`mlp_only_layers`);
  * GQA everywhere: 4 query / 2 kv heads of head_dim 16 (64 != hidden 48) with partial rotary 0.25 (4 of 16
    turned); DeltaNet 2 key heads of 8 and 4 value heads of 6 (each key head serves two value heads), kernel 4.

  qwen3_next         hidden 48, 4 layers, 5 experts top-2 (norm_topk_prob) of width 20, shared expert 24, dense 36.
  qwen3_next_sparse  the shape llama.cpp's qwen3next loads, for the GGUF fixtures (Tools/make_gguf_fixtures.py):
                     every layer MoE (its converter maps no dense MLP) and DeltaNet key and value heads of one size
                     (8; its loader sizes both from ssm.state_size), as in Qwen3-Next-80B-A3B; otherwise qwen3_next's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
import make_goldens as mg  # noqa: E402

CONV_STD = 0.5
DT_STD = 0.5


def specs() -> dict[str, dict]:
    bl = mf.tokenizer_info(mf.BYTELEVEL)
    eot = bl["id"]("<|endoftext|>")
    out = {
        "qwen3_next": dict(seed=36009, config=dict(
            vocab_size=bl["size"], bos_token_id=None, eos_token_id=eot, pad_token_id=eot, max_position_embeddings=4096,
            rms_norm_eps=1e-6, tie_word_embeddings=False, hidden_size=48, intermediate_size=36, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, full_attention_interval=2,
            linear_conv_kernel_dim=4, linear_key_head_dim=8, linear_value_head_dim=6, linear_num_key_heads=2,
            linear_num_value_heads=4, decoder_sparse_step=1, mlp_only_layers=[0], moe_intermediate_size=20,
            shared_expert_intermediate_size=24, num_experts=5, num_experts_per_tok=2, norm_topk_prob=True,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25})),
    }
    sparse = dict(out["qwen3_next"]["config"], mlp_only_layers=[], linear_value_head_dim=8)
    out["qwen3_next_sparse"] = dict(seed=36019, config=sparse)
    return out


def build_model(spec: dict):
    from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

    torch.manual_seed(spec["seed"])
    model = Qwen3NextForCausalLM(Qwen3NextConfig(**spec["config"], initializer_range=mf.WEIGHT_STD)).float().eval()

    def special(name: str, shape, g):
        if name.endswith("conv1d.weight"):
            return torch.randn(shape, generator=g) * CONV_STD
        if name.endswith("A_log"):
            return torch.log(0.05 + 1.95 * torch.rand(shape, generator=g))
        if name.endswith("dt_bias"):
            return torch.randn(shape, generator=g) * DT_STD
        if "norm" in name and not name.endswith("linear_attn.norm.weight"):
            return torch.randn(shape, generator=g) * mf.NORM_STD  # zero-centred: the scale is 1 + w
        return None

    mf.reinit(model, spec["seed"], special=special)
    return model


def build(name: str, spec: dict) -> None:
    model = build_model(spec)
    ref, tok = mg.save_fixture(name, model, "qwen3_next", "Tools/make_qwen3next_fixtures.py", {
        "seed": spec["seed"], "weight_std": mf.WEIGHT_STD, "embed_lm_head_router_std": mf.WIDE_STD,
        "norm_weight": f"zero-centred N(0, {mf.NORM_STD}); gated norm 1 + N(0, {mf.NORM_STD})",
        "conv_std": CONV_STD, "A_log": "log U(0.05, 2)", "dt_bias_std": DT_STD, "layout": "save_pretrained"})
    assert ref.config.layer_types == ["linear_attention", "full_attention"] * 2, ref.config.layer_types
    g = mg.golden_from(name, "Tools/make_qwen3next_fixtures.py", ref, tok)
    # The same prompt fed one token at a time through the cache (the recurrent path of every DeltaNet layer).
    with torch.no_grad():
        ids = torch.tensor([g["prompt_ids"]])
        cache, logits = None, None
        for t in range(ids.shape[1]):
            o = ref(ids[:, t:t + 1], cache=cache, use_cache=True)
            cache, logits = o.cache, o.logits[0, -1]
        diff = (logits - torch.tensor(g["logits_last"])).abs().max().item()
    print(f"{name}: token-by-token vs one-shot prefill, last logits differ by {diff:.2e}")
    assert diff < 1e-4 * max(1.0, max(abs(v) for v in g["logits_last"]))


if __name__ == "__main__":
    SPECS = specs()
    for fixture in mg.selected(list(SPECS)):
        build(fixture, SPECS[fixture])
