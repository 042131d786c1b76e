#!/usr/bin/env python3
"""Write a ~1.2B-parameter random-init checkpoint of one MoE family (bf16, hub layout) for decode benchmarks.

    .venv/bin/python Tools/make_big_family.py --family deepseek_v3 --out /work/data/big-deepseek
    .venv/bin/python Tools/make_big_family.py --family glm4_moe    --out /work/data/big-glm4moe
    .venv/bin/python Tools/make_big_family.py --family phimoe      --out /work/data/big-phimoe
    .venv/bin/python Tools/make_big_family.py --family qwen3_next  --out /work/data/big-qwen3next

Every family is built by transformers' own `...ForCausalLM` class from its config, so the tensors, names and
shapes are what `save_pretrained` writes for that family (per-expert tensors), with transformers' own init
(weights N(0, 0.02), norms at their identity); DeepSeek-V3 and GLM-4.5 also draw `e_score_correction_bias`
N(0, 0.01) so the selection bias does something. Vocab 32000 with the Mistral tokenizer fixture copied in.
Shapes (hidden 1024 and 16 layers throughout, scaled from each family's hub config):

  deepseek_v3  MLA (16 heads, q LoRA 384, kv LoRA 256, qk nope 64 / rope 32, v 64), first layer dense (2816),
               32 routed experts of 704, top-4 over 4 groups / 2 per token, 1 shared; 1.19 B
  glm4_moe     GQA 16 / 4 heads of 64 with q/k norms and q/k/v biases, partial rotary 0.5, first layer dense
               (2816), 32 routed experts of 704, top-4 sigmoid (1 group), 1 shared; 1.187 B
  phimoe       GQA 16 / 4 heads of 64, LayerNorms and biases, LongRoPE over 4096 (as Phi-3.5-MoE), 16 experts
               of 1408, top-2 sparsemixer; 1.215 B
  qwen3_next   3 Gated DeltaNet layers to 1 gated full-attention layer; DeltaNet 8 key heads / 16 value heads
               of 128 (the hub's head size, conv kernel 4), attention 8 / 2 heads of 256 with partial rotary
               0.25; 64 experts of 320, top-8, plus a gated shared expert of 320; 1.220 B

gpt-oss has its own writer (Tools/make_big_gptoss.py): the hub stores its experts as MXFP4 blocks, which
`save_pretrained` of transformers' class does not write. Never commit the output.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
COMMON = dict(vocab_size=32000, hidden_size=1024, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)


def config(family: str, layers: int):
    import transformers as t

    if family == "deepseek_v3":
        return t.DeepseekV3Config(
            **COMMON, intermediate_size=2816, moe_intermediate_size=704, num_hidden_layers=layers,
            num_attention_heads=16, num_key_value_heads=16, q_lora_rank=384, kv_lora_rank=256, qk_nope_head_dim=64,
            qk_rope_head_dim=32, v_head_dim=64, n_routed_experts=32, num_experts_per_tok=4, n_group=4, topk_group=2,
            n_shared_experts=1, first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True,
            max_position_embeddings=4096, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, num_mtp_layers=0)
    if family == "glm4_moe":
        return t.Glm4MoeConfig(
            **COMMON, intermediate_size=2816, moe_intermediate_size=704, num_hidden_layers=layers,
            num_attention_heads=16, num_key_value_heads=4, head_dim=64, attention_bias=True, use_qk_norm=True,
            n_routed_experts=32, num_experts_per_tok=4, n_group=1, topk_group=1, n_shared_experts=1,
            first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True, num_nextn_predict_layers=0,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "partial_rotary_factor": 0.5})
    if family == "phimoe":
        half = 32  # head_dim / 2 factors, rising as Phi-3.5-MoE's do
        return t.PhimoeConfig(
            **COMMON, intermediate_size=1408, num_hidden_layers=layers, num_attention_heads=16, num_key_value_heads=4,
            num_local_experts=16, num_experts_per_tok=2, attention_bias=True, lm_head_bias=True,
            router_jitter_noise=0.01, sliding_window=131072, max_position_embeddings=131072,
            rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "original_max_position_embeddings": 4096,
                             "short_factor": [1.0 + 0.1 * i / half for i in range(half)],
                             "long_factor": [1.0 + 31.0 * (i / (half - 1)) ** 2 for i in range(half)],
                             "short_mscale": 1.243, "long_mscale": 1.243})
    if family == "qwen3_next":
        return t.Qwen3NextConfig(
            **COMMON, intermediate_size=2816, num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=2,
            head_dim=256, full_attention_interval=4, linear_conv_kernel_dim=4, linear_key_head_dim=128,
            linear_value_head_dim=128, linear_num_key_heads=8, linear_num_value_heads=16, decoder_sparse_step=1,
            mlp_only_layers=[], moe_intermediate_size=320, shared_expert_intermediate_size=320, num_experts=64,
            num_experts_per_tok=8, norm_topk_prob=True, max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25})
    raise SystemExit(f"unknown family {family} (deepseek_v3, glm4_moe, phimoe, qwen3_next; gpt-oss: make_big_gptoss.py)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", required=True, choices=["deepseek_v3", "glm4_moe", "phimoe", "qwen3_next"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=16)
    args = ap.parse_args()
    import transformers as t

    cfg = config(args.family, args.layers)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    model = t.AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():
        for name, b in list(model.named_buffers()) + list(model.named_parameters()):
            if name.endswith("e_score_correction_bias"):
                b.copy_(torch.randn(b.shape) * 0.01)
    params = sum(p.numel() for p in model.parameters())
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(str(out), safe_serialization=True, max_shard_size="1GB")
    for f in (ROOT / "Tests" / "Fixtures" / "tokenizers" / "mistral").iterdir():
        shutil.copy(f, out / f.name)
    print(f"{out}: {params / 1e9:.3f} B parameters")


if __name__ == "__main__":
    main()
