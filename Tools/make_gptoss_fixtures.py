#!/usr/bin/env python3
"""Build the gpt-oss fixtures under Tests/Fixtures/models/gpt_oss*/ with their golden.json.

    .venv/bin/python Tools/make_gptoss_fixtures.py [--only NAME ...]

Random-init GptOssForCausalLM (transformers 5), float32, weights drawn as Tools/make_fixtures.py draws them
(norms 1 + N(0, 0.1), biases N(0, 0.05)), plus:
  * attention sinks N(0, 1), so each head's sink takes a visible share of the softmax;
  * swiglu_limit small enough that the clamps of the experts' gate and up bite;
  * YaRN RoPE on (factor 4 over an original context of 1024, truncate false: gpt-oss's settings, scaled down);
  * a sliding window (6) shorter than the golden's prompt + generation, layer_types sliding/full/sliding.

  gpt_oss        hidden 48, 4 heads / 2 kv heads of head_dim 24 (96 != 48), 5 experts top-2, intermediate 40,
                 3 layers; saved by save_pretrained (transformers' dequantized layout:
                 experts.gate_up_proj [E, H, 2I], experts.down_proj [E, I, H], with biases).
  gpt_oss_mxfp4  the hub layout: experts as MXFP4 (*_blocks uint8 [E, out, in/32, 16], *_scales uint8 E8M0
                 [E, out, in/32]) quantized by this script from the float weights (transformers cannot quantize
                 on CPU), quantization_config {quant_method: mxfp4}; everything else float32. hidden 64,
                 intermediate 32, 3 experts top-2, 4 heads / 1 kv head of head_dim 16, 2 layers. The golden is
                 transformers' own forward after its own dequantization (Mxfp4Config(dequantize=True)).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
import make_goldens as mg  # noqa: E402

SINK_STD = 1.0
FP4 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def specs() -> dict[str, dict]:
    bl = mf.tokenizer_info(mf.BYTELEVEL)
    eot = bl["id"]("<|endoftext|>")
    common = dict(vocab_size=bl["size"], bos_token_id=None, eos_token_id=eot, pad_token_id=eot,
                  max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=True,
                  rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0, "factor": 4.0, "beta_fast": 32.0,
                                   "beta_slow": 1.0, "truncate": False, "original_max_position_embeddings": 1024})
    return {
        "gpt_oss": dict(seed=20001, mxfp4=False, config=dict(
            common, hidden_size=48, intermediate_size=40, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, head_dim=24, num_local_experts=5, num_experts_per_tok=2, sliding_window=6,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"], swiglu_limit=0.6)),
        "gpt_oss_mxfp4": dict(seed=19002, mxfp4=True, config=dict(
            common, hidden_size=64, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=1, head_dim=16, num_local_experts=3, num_experts_per_tok=2, sliding_window=5,
            layer_types=["sliding_attention", "full_attention"], swiglu_limit=0.8)),
    }


@torch.no_grad()
def build_model(spec: dict):
    from transformers import GptOssConfig, GptOssForCausalLM

    cfg = GptOssConfig(**spec["config"])
    cfg.initializer_range = mf.WEIGHT_STD
    torch.manual_seed(spec["seed"])
    model = GptOssForCausalLM(cfg).float().eval()
    g = torch.Generator().manual_seed(spec["seed"])
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if name.endswith("sinks"):
            v = torch.randn(p.shape, generator=g) * SINK_STD
        elif p.dim() >= 2:
            wide = name.endswith(("lm_head.weight", "embed_tokens.weight", "mlp.router.weight"))
            v = torch.randn(p.shape, generator=g) * (mf.WIDE_STD if wide else mf.WEIGHT_STD)
        elif "norm" in name:
            v = 1.0 + torch.randn(p.shape, generator=g) * mf.NORM_STD
        else:
            v = torch.randn(p.shape, generator=g) * mf.BIAS_STD
        p.copy_(v)
    return model


def quantize_mxfp4(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """w [..., out, in] (in % 32 == 0) -> blocks uint8 [..., out, in/32, 16], scales uint8 [..., out, in/32]:
    per 32 values a power-of-two scale 2^(s-127) with max|x| / scale <= 6, codes the nearest E2M1 value (bit 3 the
    sign), two codes a byte, element 2j in the low nibble of byte j (the hub's order)."""
    *lead, out, inn = w.shape
    x = w.reshape(*lead, out, inn // 32, 32).double()
    amax = x.abs().amax(-1)
    e = torch.where(amax > 0, torch.ceil(torch.log2(amax / 6.0)), torch.full_like(amax, -127)).clamp(-127, 127)
    q = x / torch.pow(2.0, e).unsqueeze(-1)
    mags = torch.tensor(FP4, dtype=torch.float64)
    idx = (q.abs().unsqueeze(-1) - mags).abs().argmin(-1)
    codes = (idx | torch.where(q < 0, 8, 0)).to(torch.uint8)
    blocks = codes[..., 0::2] | (codes[..., 1::2] << 4)
    return blocks.contiguous(), (e + 127).to(torch.uint8).contiguous()


def write_mxfp4(model, out: Path) -> None:
    """The hub checkpoint layout: experts quantized, every other tensor as is, and the hub's quantization_config."""
    from safetensors.torch import save_file

    sd = {}
    for k, v in model.state_dict().items():
        v = v.detach().contiguous()
        if k.endswith(("experts.gate_up_proj", "experts.down_proj")):
            blocks, scales = quantize_mxfp4(v.transpose(1, 2))  # transformers keeps [E, in, out]
            sd[k + "_blocks"], sd[k + "_scales"] = blocks, scales
        else:
            sd[k] = v.clone()
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    model.config.architectures = [type(model).__name__]
    model.config.dtype = torch.float32
    model.config.save_pretrained(str(out))
    cfg = json.loads((out / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    model.generation_config.save_pretrained(str(out))


def load(name: str, mxfp4: bool):
    from transformers import AutoModelForCausalLM, AutoTokenizer, Mxfp4Config

    d = mf.MODELS / name
    kw = dict(quantization_config=Mxfp4Config(dequantize=True)) if mxfp4 else {}
    model, info = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, output_loading_info=True, **kw)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, (name, bad)
    return model.float().eval(), AutoTokenizer.from_pretrained(str(d))


def build(name: str, spec: dict) -> None:
    out = mf.fresh_folder(name)
    model = build_model(spec)
    if spec["mxfp4"]:
        write_mxfp4(model, out)
    else:
        model.save_pretrained(str(out), safe_serialization=True)
    mf.copy_tokenizer(mf.BYTELEVEL, out)
    (out / "fixture.json").write_text(json.dumps({
        "name": name, "family": "gpt_oss", "tokenizer": mf.BYTELEVEL, "seed": spec["seed"],
        "weight_std": mf.WEIGHT_STD, "embed_lm_head_router_std": mf.WIDE_STD, "norm_weight": f"1 + N(0, {mf.NORM_STD})",
        "bias_std": mf.BIAS_STD, "sink_std": SINK_STD,
        "layout": "hub MXFP4 experts (*_blocks/*_scales)" if spec["mxfp4"] else "save_pretrained (dequantized experts)",
        "generator": "Tools/make_gptoss_fixtures.py",
    }, indent=1) + "\n")

    torch.manual_seed(0)
    ref, tok = load(name, spec["mxfp4"])
    # The loaded model holds exactly the weights built (MXFP4 experts: up to their quantization, with every
    # dequantized value within one E2M1 step of the float weight).
    got = ref.state_dict()
    for k, v in model.state_dict().items():
        if spec["mxfp4"] and k.endswith(("experts.gate_up_proj", "experts.down_proj")):
            assert got[k].shape == v.shape and (got[k] - v).abs().max() <= v.abs().max() / 4, (name, k)
            assert not torch.equal(got[k], v), (name, k, "not quantized")
        else:
            assert torch.equal(got[k], v), (name, k)
    mg.golden_from(name, "Tools/make_gptoss_fixtures.py", ref, tok)


def main() -> None:
    all_specs = specs()
    for name in mg.selected(all_specs):
        build(name, all_specs[name])


if __name__ == "__main__":
    main()
