#!/usr/bin/env python3
"""Build the tiny MoE model fixtures under Tests/Fixtures/models/<name>/ and
the shared evaluation text Tests/Fixtures/texts/eval.txt.

    .venv/bin/python Tools/make_fixtures.py [--only NAME ...]
    .venv/bin/python Tools/make_goldens.py  [--only NAME ...]   # golden.json per model

Every model is random-init, float32 (except mixtral_bf16), saved by
transformers' save_pretrained(safe_serialization=True) next to a copy of one of
the small tokenizer fixtures. Weights are re-drawn by this script from a seeded
torch.Generator (see reinit()) instead of transformers' initialiser, so that

  * the values do not depend on module construction order or transformers'
    init code (which changes between releases), and
  * RMSNorm weights and biases are NOT the trivial 1 / 0 -- a Swift engine that
    forgets a norm weight or a bias must fail the golden tests.

Fixture list (see Docs/Fixtures.md for the on-disk naming facts):
  mixtral            MixtralForCausalLM, sentencepiece-small tokenizer
  qwen2_moe          Qwen2MoeForCausalLM, shared expert + shared_expert_gate, qkv bias
  qwen3_moe          Qwen3MoeForCausalLM, explicit head_dim, norm_topk_prob=True, q/k norm
  olmoe              OlmoeForCausalLM (q/k norm over the full projection)
  qwen3_moe_odd      hidden 80, head_dim 48 != 80/heads, mlp_only_layers=[1], tied embeddings
  mixtral_odd        hidden 80, 4 heads / 2 kv heads (head_dim 20), tied embeddings
  qwen2_moe_sharded  several safetensors shards + index; decoder_sparse_step=2 (dense layer 0)
  mixtral_bf16       the mixtral weights saved in bfloat16
  mixtral_fused      the mixtral weights in transformers 5's *in-memory* fused layout
                     (experts.gate_up_proj [E, 2I, H], experts.down_proj [E, H, I]),
                     written with safetensors.torch.save_file -- the layout that
                     save_pretrained does NOT write (it converts back to per-expert)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_sources as src  # noqa: E402

FIX = src.ROOT / "Tests" / "Fixtures"
MODELS = FIX / "models"
TOKS = FIX / "tokenizers"
EVAL_TXT = FIX / "texts" / "eval.txt"

WEIGHT_STD = 0.08   # matrices (HF uses 0.02)
# Embeddings / lm_head and MoE router weights get a larger std so that the
# argmax of the logits and the router's top-k choice have clear margins:
# goldens must not hinge on float rounding (see greedy_margins / router margins).
WIDE_STD = 0.3
WIDE_SUFFIXES = ("lm_head.weight", "embed_tokens.weight", ".mlp.gate.weight")
NORM_STD = 0.1      # norm weights = 1 + N(0, NORM_STD)
BIAS_STD = 0.05

BYTELEVEL = "bytelevel-small"
SPM = "sentencepiece-small"


def tokenizer_info(name: str) -> dict:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKS / name / "tokenizer.json"))
    return {"size": tok.get_vocab_size(with_added_tokens=True), "id": tok.token_to_id}


# --------------------------------------------------------------------------- specs
def specs() -> dict[str, dict]:
    """name -> {family, tokenizer, seed, config kwargs, save options}.

    Seeds: base 1001..1007; where the first try gave a near-tie (greedy top-1/2
    logit gap < 0.01 or router k-th/(k+1)-th gap < 0.005 on the golden prompt)
    the seed was bumped by multiples of 1000 until both margins were clear, so
    a correct float32 engine cannot flip a token or an expert by rounding alone.
    """
    spm, bl = tokenizer_info(SPM), tokenizer_info(BYTELEVEL)
    common_spm = dict(vocab_size=spm["size"], bos_token_id=spm["id"]("<s>"), eos_token_id=spm["id"]("</s>"),
                      pad_token_id=None)
    eot = bl["id"]("<|endoftext|>")
    common_bl = dict(vocab_size=bl["size"], bos_token_id=None, eos_token_id=eot, pad_token_id=eot)
    mixtral = dict(
        hidden_size=32, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=4096, rope_theta=1e6,
        rms_norm_eps=1e-5, tie_word_embeddings=False, **common_spm,
    )
    qwen2_moe = dict(
        hidden_size=32, intermediate_size=48, moe_intermediate_size=24, shared_expert_intermediate_size=40,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
        norm_topk_prob=False, decoder_sparse_step=1, mlp_only_layers=[], max_position_embeddings=4096,
        rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=False, **common_bl,
    )
    return {
        "mixtral": dict(family="mixtral", tokenizer=SPM, seed=1001, config=mixtral),
        "qwen2_moe": dict(family="qwen2_moe", tokenizer=BYTELEVEL, seed=1002, config=qwen2_moe),
        "qwen3_moe": dict(family="qwen3_moe", tokenizer=BYTELEVEL, seed=1003, config=dict(
            hidden_size=32, intermediate_size=48, moe_intermediate_size=24, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16,  # 4*16 = 64 != hidden 32
            num_experts=6, num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
            mlp_only_layers=[], max_position_embeddings=4096, rope_theta=1e6, rms_norm_eps=1e-6,
            tie_word_embeddings=False, **common_bl)),
        "olmoe": dict(family="olmoe", tokenizer=BYTELEVEL, seed=3004, config=dict(
            hidden_size=32, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=4, num_experts=8, num_experts_per_tok=2, norm_topk_prob=False,
            max_position_embeddings=4096, rope_theta=1e4, rms_norm_eps=1e-5, clip_qkv=None,
            tie_word_embeddings=False, **common_bl)),
        "qwen3_moe_odd": dict(family="qwen3_moe", tokenizer=BYTELEVEL, seed=3005, config=dict(
            hidden_size=80,                      # not a multiple of 64 (nor of 32)
            intermediate_size=40,                # dense MLP of layer 1
            moe_intermediate_size=16, num_hidden_layers=3,
            num_attention_heads=2, num_key_value_heads=1, head_dim=48,   # 48 != 80/2
            num_experts=4, num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
            mlp_only_layers=[1],                 # MoE, dense, MoE
            max_position_embeddings=4096, rope_theta=1e6, rms_norm_eps=1e-6,
            tie_word_embeddings=True, **common_bl)),
        "mixtral_odd": dict(family="mixtral", tokenizer=SPM, seed=7006, config=dict(
            mixtral, hidden_size=80, intermediate_size=24, num_attention_heads=4, num_key_value_heads=2,
            num_local_experts=4,             # head_dim 20
            # Tied here (unusual for Mixtral, but legal) purely to halve the
            # 1536x80 embedding cost; qwen3_moe_odd covers tying as well.
            tie_word_embeddings=True)),
        "qwen2_moe_sharded": dict(family="qwen2_moe", tokenizer=BYTELEVEL, seed=11007, config=dict(
            qwen2_moe, num_hidden_layers=2, decoder_sparse_step=2),  # layer 0 dense, layer 1 MoE
            max_shard_size="120KB"),
        "mixtral_bf16": dict(family="mixtral", tokenizer=SPM, seed=1001, config=mixtral, dtype=torch.bfloat16),
        "mixtral_fused": dict(family="mixtral", tokenizer=SPM, seed=1001, config=mixtral, fused=True),
    }


def model_classes(family: str):
    import transformers as t

    return {
        "mixtral": (t.MixtralConfig, t.MixtralForCausalLM),
        "qwen2_moe": (t.Qwen2MoeConfig, t.Qwen2MoeForCausalLM),
        "qwen3_moe": (t.Qwen3MoeConfig, t.Qwen3MoeForCausalLM),
        "olmoe": (t.OlmoeConfig, t.OlmoeForCausalLM),
    }[family]


def make_config(spec: dict):
    cfg_cls, _ = model_classes(spec["family"])
    kw = dict(spec["config"])
    theta = kw.pop("rope_theta")
    # transformers 5 keeps RoPE settings in rope_parameters (and writes no top-level rope_theta).
    cfg = cfg_cls(**kw, rope_parameters={"rope_type": "default", "rope_theta": theta})
    cfg.initializer_range = WEIGHT_STD
    return cfg


# --------------------------------------------------------------------------- weights
@torch.no_grad()
def reinit(model: torch.nn.Module, seed: int, wide: tuple = WIDE_SUFFIXES, special=None) -> None:
    """Deterministic weights from one seeded generator, in sorted parameter order; `special(name, shape, g)` may
    draw a parameter its own way (a family's extra tensors) by returning it instead of None."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        v = special(name, p.shape, g) if special else None
        if v is not None:
            pass
        elif p.dim() >= 2:
            std = WIDE_STD if name.endswith(wide) else WEIGHT_STD
            v = torch.randn(p.shape, generator=g, dtype=torch.float32) * std
        elif "norm" in name:
            v = 1.0 + torch.randn(p.shape, generator=g, dtype=torch.float32) * NORM_STD
        else:  # biases
            v = torch.randn(p.shape, generator=g, dtype=torch.float32) * BIAS_STD
        p.copy_(v)


def build_model(spec: dict):
    _, model_cls = model_classes(spec["family"])
    torch.manual_seed(spec["seed"])
    model = model_cls(make_config(spec)).float().eval()
    reinit(model, spec["seed"])
    return model


def copy_tokenizer(name: str, out: Path) -> None:
    """Same content as Tests/Fixtures/tokenizers/<name>, but tokenizer.json is
    re-serialised without indentation (~2.5x smaller) to keep the fixtures small."""
    j = json.loads((TOKS / name / "tokenizer.json").read_text(encoding="utf-8"))
    (out / "tokenizer.json").write_text(json.dumps(j, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    shutil.copy(TOKS / name / "tokenizer_config.json", out / "tokenizer_config.json")


def write_fused(model, out: Path) -> None:
    """transformers 5's in-memory parameter names and shapes, verbatim."""
    from safetensors.torch import save_file

    sd = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    # What save_pretrained would add to config.json, so only the tensors differ.
    model.config.architectures = [type(model).__name__]
    model.config.dtype = torch.float32
    model.config.save_pretrained(str(out))
    model.generation_config.save_pretrained(str(out))


def fresh_folder(name: str) -> Path:
    """Tests/Fixtures/models/<name>, emptied (every fixture script writes its folders through this)."""
    out = MODELS / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def build_fixture(name: str, spec: dict) -> None:
    out = fresh_folder(name)
    model = build_model(spec)
    if spec.get("fused"):
        write_fused(model, out)
    else:
        if "dtype" in spec:
            model = model.to(spec["dtype"])
        kw = {"max_shard_size": spec["max_shard_size"]} if "max_shard_size" in spec else {}
        model.save_pretrained(str(out), safe_serialization=True, **kw)
    copy_tokenizer(spec["tokenizer"], out)
    (out / "fixture.json").write_text(json.dumps({
        "name": name, "family": spec["family"], "tokenizer": spec["tokenizer"], "seed": spec["seed"],
        "weight_std": WEIGHT_STD, "embed_lm_head_router_std": WIDE_STD, "norm_weight": f"1 + N(0, {NORM_STD})", "bias_std": BIAS_STD,
        "layout": "fused (transformers 5 in-memory names)" if spec.get("fused") else "save_pretrained",
        "generator": "Tools/make_fixtures.py",
    }, indent=1) + "\n")


# --------------------------------------------------------------------------- eval text
def write_eval_text() -> None:
    """Opening of Persuasion, chapter 1 (public domain), cut at a paragraph
    boundary after ~8 KB: ~2k tokens with the small tokenizers, i.e. 2-3
    windows of 1024 and ~30 of 64."""
    paras = src.austen_paragraphs("persuasion")
    start = paras.index("Chapter 1")
    out, n = [], 0
    for p in paras[start:]:
        if n > 8000:
            break
        out.append(p)
        n += len(p) + 2
    EVAL_TXT.parent.mkdir(parents=True, exist_ok=True)
    EVAL_TXT.write_text("\n\n".join(out) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    write_eval_text()
    all_specs = specs()
    for name in args.only or list(all_specs):
        build_fixture(name, all_specs[name])
        size = sum(p.stat().st_size for p in (MODELS / name).iterdir())
        print(f"{name:20s} {size / 1024:7.1f} KiB  {sorted(p.name for p in (MODELS / name).iterdir())}")


if __name__ == "__main__":
    main()
