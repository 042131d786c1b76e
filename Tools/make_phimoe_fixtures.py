#!/usr/bin/env python3
"""Build the Phi-3.5-MoE (`phimoe`) fixture under Tests/Fixtures/models/phimoe/ with its golden.json.

    .venv/bin/python Tools/make_phimoe_fixtures.py [--only NAME ...]

Random-init PhimoeForCausalLM (transformers 5), float32, weights drawn as Tools/make_fixtures.py draws them
(norm weights 1 + N(0, 0.1), biases N(0, 0.05)) except that the LayerNorm biases are N(0, NORM_BIAS_STD), so
skipping any of them shows; plus:
  * attention biases (q/k/v/o) and an LM-head bias (`attention_bias`, `lm_head_bias`: Phi-3.5-MoE's settings);
  * `router_jitter_noise` 0.3, sparsemixer's mask threshold (2 x 0.3 relative to the best logit), large enough
    that several experts survive the mask and the softmax weights are not all 1;
  * LongRoPE with different short and long mscales and an original context (ORIGINAL) just past the prompt, so the
    greedy continuation crosses it: transformers 5.24's PhimoeRotaryEmbedding.forward recomputes the frequencies
    from the short factors on every call and switches only the mscale (long when the call's last position + 1 >
    original_max_position_embeddings);
  * a sliding window (16) shorter than the prompt + generation.

  phimoe         hidden 48, 4 heads / 2 kv heads of head_dim 10 (40 != 48), 5 experts top-2, intermediate 40, 3 layers.
  phimoe_fused   the same shapes, another seed, plain RoPE (no rope scaling), written in transformers 5's in-memory
                 fused layout (`mlp.experts.gate_up_proj` [E, 2I, H], `mlp.experts.down_proj` [E, H, I],
                 `mlp.router.weight`), as make_fixtures.py writes mixtral_fused.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
import make_goldens as mg  # noqa: E402

NORM_BIAS_STD = 0.1
ORIGINAL = 40


def specs() -> dict[str, dict]:
    bl = mf.tokenizer_info(mf.BYTELEVEL)
    eot = bl["id"]("<|endoftext|>")
    specs = {
        "phimoe": dict(seed=35001, config=dict(
            vocab_size=bl["size"], bos_token_id=None, eos_token_id=eot, pad_token_id=eot, max_position_embeddings=4096,
            rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=True, lm_head_bias=True, hidden_size=48,
            intermediate_size=40, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=10,
            num_local_experts=5, num_experts_per_tok=2, sliding_window=16, router_jitter_noise=0.3,
            input_jitter_noise=0.01,
            rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                             "short_factor": [1.0, 1.3, 1.9, 2.6, 4.0], "long_factor": [1.1, 2.2, 4.5, 9.0, 17.0],
                             "short_mscale": 1.1, "long_mscale": 1.25, "original_max_position_embeddings": ORIGINAL})),
    }
    plain = dict(specs["phimoe"]["config"], rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    specs["phimoe_fused"] = dict(seed=35005, config=plain, fused=True)
    return specs


def build_model(spec: dict):
    """Every weight drawn by make_fixtures.reinit (routers wide), the LayerNorm biases by `norm_bias`."""
    from transformers import PhimoeConfig, PhimoeForCausalLM

    torch.manual_seed(spec["seed"])
    model = PhimoeForCausalLM(PhimoeConfig(**spec["config"], initializer_range=mf.WEIGHT_STD)).float().eval()

    def norm_bias(name: str, shape, g):
        return torch.randn(shape, generator=g) * NORM_BIAS_STD if "norm" in name and name.endswith("bias") else None

    mf.reinit(model, spec["seed"], wide=mf.WIDE_SUFFIXES + ("mlp.router.weight",), special=norm_bias)
    return model


def build(name: str, spec: dict) -> None:
    model = build_model(spec)
    ref, tok = mg.save_fixture(name, model, "phimoe", "Tools/make_phimoe_fixtures.py", {
        "seed": spec["seed"], "weight_std": mf.WEIGHT_STD, "embed_lm_head_router_std": mf.WIDE_STD,
        "norm_weight": f"1 + N(0, {mf.NORM_STD})", "norm_bias_std": NORM_BIAS_STD, "bias_std": mf.BIAS_STD,
        "layout": "fused (transformers 5 in-memory names)" if spec.get("fused") else "save_pretrained"},
        fused=spec.get("fused", False))
    if spec["config"]["rope_parameters"]["rope_type"] == "longrope":
        prompt = len(tok(mg.PROMPT)["input_ids"])
        assert prompt <= ORIGINAL < prompt + mg.NEW_TOKENS, "the continuation must cross the original context"
    mg.golden_from(name, "Tools/make_phimoe_fixtures.py", ref, tok)


if __name__ == "__main__":
    SPECS = specs()
    for fixture in mg.selected(list(SPECS)):
        build(fixture, SPECS[fixture])
