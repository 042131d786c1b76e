#!/usr/bin/env python3
"""Write a ~1.1B-parameter random-init DeepSeek-V3 checkpoint (bf16, hub layout) for decode benchmarks.

    .venv/bin/python Tools/make_big_deepseek.py --out /work/data/big-deepseek

Shape: hidden 1024, 16 layers (the first dense, intermediate 2816), 16 heads with MLA (q_lora_rank 384,
kv_lora_rank 256, qk_nope 64, qk_rope 32, v_head 64), 32 routed experts of width 704 (top-4, 4 groups / 2 per
token) plus 1 shared, vocab 32000 with the Mistral tokenizer fixture. Weights N(0, 0.02) from transformers'
own init, norms 1, e_score_correction_bias N(0, 0.01); saved by save_pretrained in bf16. Never commit the output.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "work-data" / "big-deepseek"))
    ap.add_argument("--layers", type=int, default=16)
    args = ap.parse_args()
    import transformers as t

    cfg = t.DeepseekV3Config(
        vocab_size=32000, hidden_size=1024, intermediate_size=2816, moe_intermediate_size=704, num_hidden_layers=args.layers,
        num_attention_heads=16, num_key_value_heads=16, q_lora_rank=384, kv_lora_rank=256, qk_nope_head_dim=64,
        qk_rope_head_dim=32, v_head_dim=64, n_routed_experts=32, num_experts_per_tok=4, n_group=4, topk_group=2,
        n_shared_experts=1, first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True,
        max_position_embeddings=4096, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=1, eos_token_id=2, tie_word_embeddings=False, num_mtp_layers=0)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    model = t.DeepseekV3ForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(torch.randn(b.shape) * 0.01)
    params = sum(p.numel() for p in model.parameters())
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(str(out), safe_serialization=True, max_shard_size="1GB")
    tok = ROOT / "Tests" / "Fixtures" / "tokenizers" / "mistral"
    for f in tok.iterdir():
        shutil.copy(f, out / f.name)
    print(f"{out}: {params / 1e9:.3f} B parameters")


if __name__ == "__main__":
    main()
