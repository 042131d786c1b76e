#!/usr/bin/env python3
"""Build the DeepSeek-V2/V3 and GLM-4.5 MoE fixtures under Tests/Fixtures/models/<name>/ with their golden.json.

    .venv/bin/python Tools/make_deepseek_fixtures.py [--only NAME ...]

Same recipe as Tools/make_fixtures.py + Tools/make_goldens.py (random init from a seeded generator, float32,
save_pretrained, golden keys as make_goldens.py writes them), for the MLA families. Besides the weights
make_fixtures.reinit draws, every router's e_score_correction_bias (a buffer, not a parameter) is drawn
non-zero, so an engine that skips it (or uses it for the weights) fails.

Fixtures (odd shapes throughout: 3 or 5 heads, qk_nope != v_head_dim, odd expert counts, a dense first layer):
  deepseek_v3        q LoRA, n_group 3 / topk_group 2 over 9 experts, interleaved RoPE, norm_topk_prob, 2 shared
  deepseek_v3_plain  no q LoRA (Moonlight-style), attention_bias, n_group 1, rope_interleave False, 7 experts
  deepseek_v2        no q LoRA (V2-Lite-style), softmax group_limited_greedy 5/2 over 10 experts, scaling 1.5
  glm4_moe           GQA 3:1, head_dim 20, partial_rotary_factor 0.4, q/k norms, q/k/v biases, V3's router (3/2 groups)
  deepseek_v3_yarn   deepseek_v3 with YaRN rope_parameters (mscale_all_dim: the softmax scale's mscale²)

Seeds were bumped until the greedy margins (top-1 minus top-2 logit) and the routers' selection margins
(k-th minus (k+1)-th biased sigmoid score or softmax logit in the kept groups, and the kept groups'
margin) are clear, so a correct float32
engine cannot flip a token or an expert by rounding alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
import make_goldens as mg  # noqa: E402

BIAS_SCORE_STD = 0.1   # e_score_correction_bias ~ N(0, 0.1): comparable to the spread of sigmoid scores


def specs() -> dict[str, dict]:
    bl, spm = mf.tokenizer_info(mf.BYTELEVEL), mf.tokenizer_info(mf.SPM)
    eot = bl["id"]("<|endoftext|>")
    common_bl = dict(vocab_size=bl["size"], bos_token_id=None, eos_token_id=eot, pad_token_id=eot)
    common_spm = dict(vocab_size=spm["size"], bos_token_id=spm["id"]("<s>"), eos_token_id=spm["id"]("</s>"), pad_token_id=None)
    v3 = dict(
        hidden_size=40, intermediate_size=36, moe_intermediate_size=12, num_hidden_layers=3,
        num_attention_heads=3, num_key_value_heads=3, q_lora_rank=24, kv_lora_rank=20,
        qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10,
        n_routed_experts=9, num_experts_per_tok=3, n_group=3, topk_group=2, n_shared_experts=2,
        first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True, rope_interleave=True,
        max_position_embeddings=4096, rope_theta=1e4, rms_norm_eps=1e-6, tie_word_embeddings=False,
        attention_bias=False, **common_bl)
    yarn = dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=1024, beta_fast=32.0, beta_slow=1.0,
                mscale=1.0, mscale_all_dim=0.8)
    return {
        "deepseek_v3": dict(family="deepseek_v3", tokenizer=mf.BYTELEVEL, seed=2101, config=v3),
        "deepseek_v3_plain": dict(family="deepseek_v3", tokenizer=mf.SPM, seed=3102, config=dict(
            v3, q_lora_rank=None, attention_bias=True, n_routed_experts=7, num_experts_per_tok=2, n_group=1, topk_group=1,
            n_shared_experts=1, num_attention_heads=5, num_key_value_heads=5, qk_nope_head_dim=6, v_head_dim=9,
            rope_interleave=False, norm_topk_prob=False, routed_scaling_factor=1.7, num_hidden_layers=2,
            first_k_dense_replace=1, **common_spm)),
        "deepseek_v2": dict(family="deepseek_v2", tokenizer=mf.BYTELEVEL, seed=6103, config=dict(
            hidden_size=48,  # transformers' V2 config wants a multiple of the head count
            intermediate_size=36, moe_intermediate_size=12, num_hidden_layers=3,
            num_attention_heads=3, num_key_value_heads=3, q_lora_rank=None, kv_lora_rank=20,
            qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10,
            n_routed_experts=10, num_experts_per_tok=3, n_group=5, topk_group=2, topk_method="group_limited_greedy",
            n_shared_experts=2, first_k_dense_replace=1, routed_scaling_factor=1.5, norm_topk_prob=False,
            max_position_embeddings=4096, rope_theta=1e4, rms_norm_eps=1e-6, tie_word_embeddings=False, **common_bl)),
        "glm4_moe": dict(family="glm4_moe", tokenizer=mf.BYTELEVEL, seed=6104, config=dict(
            hidden_size=40, intermediate_size=36, moe_intermediate_size=12, num_hidden_layers=3,
            num_attention_heads=3, num_key_value_heads=1, head_dim=20,      # GQA 3:1, 3 x 20 != 40
            partial_rotary_factor=0.4,                                      # rotary width 8 of 20
            use_qk_norm=True, attention_bias=True,
            n_routed_experts=9, num_experts_per_tok=3, n_group=3, topk_group=2, n_shared_experts=1,
            first_k_dense_replace=1, routed_scaling_factor=1.8, norm_topk_prob=True,
            max_position_embeddings=4096, rope_theta=1e4, rms_norm_eps=1e-5, tie_word_embeddings=False, **common_bl)),
        "deepseek_v3_yarn": dict(family="deepseek_v3", tokenizer=mf.BYTELEVEL, seed=2101, config=v3, rope=yarn),
    }


def model_classes(family: str):
    import transformers as t

    return {"deepseek_v3": (t.DeepseekV3Config, t.DeepseekV3ForCausalLM),
            "deepseek_v2": (t.DeepseekV2Config, t.DeepseekV2ForCausalLM),
            "glm4_moe": (t.Glm4MoeConfig, t.Glm4MoeForCausalLM)}[family]


@torch.no_grad()
def build_model(spec: dict):
    cfg_cls, model_cls = model_classes(spec["family"])
    kw = dict(spec["config"])
    theta = kw.pop("rope_theta")
    cfg = cfg_cls(**kw, rope_parameters={"rope_type": "default", "rope_theta": theta, **spec.get("rope", {})})
    cfg.initializer_range = mf.WEIGHT_STD
    torch.manual_seed(spec["seed"])
    model = model_cls(cfg).float().eval()
    model.set_experts_implementation("eager")  # grouped_mm wants 16-byte strides the odd shapes do not have
    mf.reinit(model, spec["seed"])
    g = torch.Generator().manual_seed(spec["seed"] + 7)
    for name, b in sorted(model.named_buffers(), key=lambda kv: kv[0]):
        if name.endswith("e_score_correction_bias"):
            b.copy_(torch.randn(b.shape, generator=g) * BIAS_SCORE_STD)
    return model


@torch.no_grad()
def router_margins(model, ids: torch.Tensor) -> float:
    """Smallest selection margin over every MoE layer and prompt position, recomputed from the router input."""
    margins = []
    hooks = []

    def hook(m, args, out):
        x = args[0].reshape(-1, m.weight.shape[1]).float()
        logits = x @ m.weight.float().t()
        v3 = hasattr(m, "e_score_correction_bias")
        # Softmax routers are compared on logits (same order as the probabilities, without squashing the gaps).
        s = logits.sigmoid() + m.e_score_correction_bias if v3 else logits
        groups = m.num_group if (v3 or m.topk_method == "group_limited_greedy") else 1
        e = s.shape[-1]
        gs = s.view(-1, groups, e // groups)
        gscore = gs.topk(2, -1)[0].sum(-1) if v3 else gs.max(-1).values
        if groups > 1 and m.topk_group < groups:
            srt = gscore.sort(-1, descending=True).values
            margins.append(float((srt[:, m.topk_group - 1] - srt[:, m.topk_group]).min()))
        kept = gscore.topk(m.topk_group, -1).indices
        mask = torch.zeros_like(gscore).scatter_(1, kept, 1).bool().repeat_interleave(e // groups, -1)
        srt = s.masked_fill(~mask, float("-inf")).sort(-1, descending=True).values
        k = m.top_k
        if k < int(mask[0].sum()):
            margins.append(float((srt[:, k - 1] - srt[:, k]).min()))

    for layer in model.model.layers:
        gate = getattr(layer.mlp, "gate", None)
        if gate is not None and hasattr(gate, "top_k"):
            hooks.append(gate.register_forward_hook(hook))
    model(ids)
    for h in hooks:
        h.remove()
    return min(margins) if margins else float("inf")


def load(name: str):
    """make_goldens.load with transformers' eager (per-expert loop) experts."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = mf.MODELS / name
    model, info = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, output_loading_info=True,
                                                       experts_implementation="eager")
    bad = {k: v for k, v in info.items() if v}
    assert not bad, (name, bad)  # no missing / unexpected / mismatched tensors
    return model.eval(), AutoTokenizer.from_pretrained(str(d))


def build(name: str, spec: dict) -> dict:
    out = mf.fresh_folder(name)
    model = build_model(spec)
    model.save_pretrained(str(out), safe_serialization=True)
    mf.copy_tokenizer(spec["tokenizer"], out)
    (out / "fixture.json").write_text(json.dumps({
        "name": name, "family": spec["family"], "tokenizer": spec["tokenizer"], "seed": spec["seed"],
        "weight_std": mf.WEIGHT_STD, "embed_lm_head_router_std": mf.WIDE_STD, "norm_weight": f"1 + N(0, {mf.NORM_STD})",
        "bias_std": mf.BIAS_STD, "e_score_correction_bias_std": BIAS_SCORE_STD, "layout": "save_pretrained",
        "generator": "Tools/make_deepseek_fixtures.py",
    }, indent=1) + "\n")

    # Golden, from the folder as saved (as make_goldens.make_golden, with this script's models).
    torch.manual_seed(0)
    loaded, tok = load(name)
    ref = build_model(spec)
    got, want = loaded.state_dict(), ref.state_dict()
    assert got.keys() == want.keys(), (name, got.keys() ^ want.keys())
    for k in want:
        assert torch.equal(got[k], want[k]), (name, k)
    prompt_ids = tok(mg.PROMPT)["input_ids"]
    ids = torch.tensor([prompt_ids])
    g = {"model": name, "generator": "Tools/make_deepseek_fixtures.py", "compute_dtype": "float32",
         "transformers": __import__("transformers").__version__, "torch": torch.__version__.split("+")[0],
         "prompt_text": mg.PROMPT, "prompt_ids": prompt_ids}
    g.update(mg.greedy(loaded, tok, ids))
    g.update(mg.prompt_stats(loaded, ids))
    g["router_selection_margin"] = mg.f9(router_margins(loaded, ids))
    g["eval"] = mg.evaluate(loaded, tok)
    mg.write(out / spec.get("golden", "golden.json"), g)
    return g


def main() -> None:
    all_specs = specs()
    for name in mg.selected(list(all_specs)):
        g = build(name, all_specs[name])
        facts = {"KiB": sum(p.stat().st_size for p in (mf.MODELS / name).iterdir()) / 1024,
                 "greedy margin": min(g["greedy_margins"]), "router margin": g["router_selection_margin"],
                 "eos suppressed": g["greedy_eos_suppressed"],
                 **{f"ppl@{c}": g["eval"][f"ctx{c}"]["ppl"] for c in mg.CTXS}}
        print(name, "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in facts.items()))


if __name__ == "__main__":
    main()
