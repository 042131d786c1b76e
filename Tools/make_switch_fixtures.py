#!/usr/bin/env python3
"""Build the Switch Transformer (encoder-decoder MoE) fixtures and their goldens:
Tests/Fixtures/models/switch*/ (config.json, model.safetensors, generation_config.json,
fixture.json, golden.json; `switch` also gets a tiny T5-style tokenizer).

    .venv/bin/python Tools/make_switch_fixtures.py [--only NAME ...]

Models are SwitchTransformersForConditionalGeneration, random-init from one
seeded torch.Generator in sorted parameter order (as Tools/make_fixtures.py),
float32, saved with save_pretrained. Goldens are computed from the saved folder
(reloaded with from_pretrained) in float32 on one thread.

Fixtures:
  switch      2 encoder + 2 decoder layers, sparse step 2 (layer 1 of each stack is MoE),
              4 experts, expert_capacity 8, d_model 32, 4 heads of d_kv 8, buckets 16 /
              max distance 32, tied embeddings (output scaled by d_model**-0.5), and a
              192-piece T5-style BPE tokenizer (<pad>=0, </s>=1, <unk>=2, "$A </s>").
  switch_odd  3 encoder layers (all MoE: sparse step 1), 2 decoder layers (sparse step 2),
              8 experts, expert_capacity 2, d_model 40, 3 heads of d_kv 12 (inner 36 !=
              d_model), d_ff 20, buckets 12 / max distance 20, router bias, untied lm_head,
              layer_norm_epsilon 1e-5; ids only (no tokenizer).
  switch_step 4 encoder + 4 decoder layers with num_sparse_*_layers 3 but a stored
              encoder_sparse_step / decoder_sparse_step of 2 (issue 15): transformers keeps the
              stored step, so blocks 1 and 3 of each stack are MoE (4 // 3 = 1 would make all four);
              4 experts, expert_capacity 6, d_model 16, 2 heads of d_kv 4, d_ff 16, buckets 16 /
              max distance 32, tied embeddings, `switch`'s tokenizer (rebuilt the same way) and
              inputs with short targets.

golden.json keys:
  config                      the structural values the goldens depend on
  is_sparse                   {"encoder": [bool per layer], "decoder": [...]} as transformers built them
  bucket_tables               _relative_position_bucket(j - i) for j - i in [lo, hi], per
                              (num_buckets, max_distance, bidirectional): the fixture's own and T5's 32/128
  cases[]                     one per input:
    input_text (switch only), input_ids   the encoder input (tokenizer default special tokens: a final </s>)
    encoder_hidden            encoder last_hidden_state (after the final norm), [S, d_model] row-major, full
    encoder_routing           per sparse encoder layer: expert (argmax) per token, dropped (over capacity),
                              prob (the max probability that scales the expert output), min_margin
                              (top-1 minus top-2 router probability, minimum over tokens)
    labels, decoder_input_ids teacher forcing: decoder_input_ids = shift_right(labels) (starts with
                              decoder_start_token_id)
    logits                    lm logits for decoder_input_ids in ONE forward call, [T, vocab], full
    decoder_routing           as encoder_routing, for that teacher-forced call
    greedy_ids                model.generate(do_sample=False, max_new_tokens=10) without the leading
                              decoder_start token (stops early at eos = 1)
    greedy_margins            top-1 minus top-2 raw logit at each generated step
    overflow                  true if some token of this case was dropped by expert capacity
Floats have 9 significant digits (float32 round-trips exactly).

Capacity semantics (transformers 5): the router's one-hot choice is cumsum'ed over the
sequence of ONE forward call (per batch row); tokens whose running count exceeds
expert_capacity get no expert output (the residual passes through), and kept tokens are
scaled by their top-1 probability. generate() feeds the decoder one token per call, so
decoder capacity never bites while generating, but it does in the teacher-forced call.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_sources as src  # noqa: E402

FIX = src.ROOT / "Tests" / "Fixtures"
MODELS = FIX / "models"
EVAL_TXT = FIX / "texts" / "eval.txt"

WEIGHT_STD = 0.08
WIDE_STD = 0.3          # shared embedding / lm_head, router classifier, relative attention bias (spec shared_std overrides)
WIDE_SUFFIXES = ("shared.weight", "lm_head.weight", "router.classifier.weight", "relative_attention_bias.weight")
NORM_STD = 0.1
BIAS_STD = 0.05
NEW_TOKENS = 10
TOKENIZER_PIECES = 192

SWITCH_TEXTS = [
    ("Anne was a good woman.", "She was kind."),
    ("Sir Walter Elliot, of Kellynch Hall, was a vain man.", "He loved his book."),
    ("Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who never took up any book but the Baronetage.",
     "He read the Baronetage."),
]

# switch_step: `switch`'s inputs with short targets, to keep its teacher-forced logits (and golden.json) small.
STEP_TEXTS = [(text, target) for (text, _), target in zip(SWITCH_TEXTS, ["Kind.", "Vain.", "He read."])]


def specs() -> dict[str, dict]:
    """Seeds: bumped by 1000 from 2001 / 2002 until, on every case, the smallest greedy margin is >= 0.01,
    the smallest router margin (top-1 minus top-2 probability) >= 0.001 (so float rounding cannot flip a
    token or an expert), and greedy output depends on the input. `switch` draws its tied embedding with
    std 0.15: at 0.3 the decoder copies its start token (0) whatever the input. `switch_step` (d_model 16) also
    draws its other matrices with std 0.25 (spec weight_std; 0.08 gives one repeated token whatever the input),
    and its seed, 67001, had the widest greedy margin of the seeds 4001 + 1000 k (k < 239) that met these bounds
    with three different outputs for its three inputs."""
    return {
        "switch": dict(seed=9001, shared_std=0.15, tokenizer=True, config=dict(
            vocab_size=TOKENIZER_PIECES, d_model=32, d_kv=8, d_ff=48, num_heads=4, expert_capacity=8,
            num_layers=2, num_sparse_encoder_layers=1, num_decoder_layers=2, num_sparse_decoder_layers=1,
            num_experts=4, relative_attention_num_buckets=16, relative_attention_max_distance=32,
            layer_norm_epsilon=1e-6, tie_word_embeddings=True, router_bias=False,
            pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)),
        "switch_odd": dict(seed=3002, tokenizer=False, inputs=[5, 11, 29], targets=[4, 7, 9], config=dict(
            vocab_size=96, d_model=40, d_kv=12, d_ff=20, num_heads=3, expert_capacity=2,
            num_layers=3, num_sparse_encoder_layers=3, num_decoder_layers=2, num_sparse_decoder_layers=1,
            num_experts=8, relative_attention_num_buckets=12, relative_attention_max_distance=20,
            layer_norm_epsilon=1e-5, tie_word_embeddings=False, router_bias=True,
            pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)),
        # Issue 15: sparse steps stored in config.json that num_layers // num_sparse_*_layers (4 // 3 = 1, every
        # block) would not give. transformers keeps the stored value (its __post_init__ derives the step, then
        # PreTrainedConfig.__post_init__ sets every remaining key, the stored step included), so only the odd
        # blocks 1 and 3 are sparse.
        "switch_step": dict(seed=67001, shared_std=0.15, weight_std=0.25, tokenizer=True, texts=STEP_TEXTS, config=dict(
            vocab_size=TOKENIZER_PIECES, d_model=16, d_kv=4, d_ff=16, num_heads=2, expert_capacity=6,
            num_layers=4, num_sparse_encoder_layers=3, num_decoder_layers=4, num_sparse_decoder_layers=3,
            encoder_sparse_step=2, decoder_sparse_step=2,
            num_experts=4, relative_attention_num_buckets=16, relative_attention_max_distance=32,
            layer_norm_epsilon=1e-6, tie_word_embeddings=True, router_bias=False,
            pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)),
    }


def f9(x) -> float:
    return float(f"{float(x):.9g}")


def fl(t: torch.Tensor) -> list:
    return [f9(v) for v in t.reshape(-1).tolist()]


# --------------------------------------------------------------------------- tokenizer
def build_tokenizer(out: Path) -> None:
    """A T5-shaped BPE (Metaspace "always", unk, "$A </s>") trained on texts/eval.txt."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    tok = Tokenizer(BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = BpeTrainer(vocab_size=TOKENIZER_PIECES, special_tokens=["<pad>", "</s>", "<unk>"], show_progress=False)
    tok.train_from_iterator([EVAL_TXT.read_text(encoding="utf-8")], trainer=trainer)
    assert tok.get_vocab_size() == TOKENIZER_PIECES, tok.get_vocab_size()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    j = json.loads(tok.to_str())
    (out / "tokenizer.json").write_text(json.dumps(j, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "TokenizersBackend", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        "model_max_length": 512, "clean_up_tokenization_spaces": False}, indent=2) + "\n")


# --------------------------------------------------------------------------- model
@torch.no_grad()
def reinit(model: torch.nn.Module, seed: int, shared_std: float, weight_std: float) -> None:
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if p.dim() >= 2:
            std = shared_std if name == "shared.weight" else WIDE_STD if name.endswith(WIDE_SUFFIXES) else weight_std
            v = torch.randn(p.shape, generator=g, dtype=torch.float32) * std
        elif "norm" in name:
            v = 1.0 + torch.randn(p.shape, generator=g, dtype=torch.float32) * NORM_STD
        else:  # router bias
            v = torch.randn(p.shape, generator=g, dtype=torch.float32) * BIAS_STD
        p.copy_(v)


def build_model(spec: dict):
    import transformers as t

    torch.manual_seed(spec["seed"])
    model = t.SwitchTransformersForConditionalGeneration(t.SwitchTransformersConfig(**spec["config"])).float().eval()
    reinit(model, spec["seed"], spec.get("shared_std", WIDE_STD), spec.get("weight_std", WEIGHT_STD))
    return model


def build_fixture(name: str, spec: dict) -> None:
    out = MODELS / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    build_model(spec).save_pretrained(str(out), safe_serialization=True)
    if spec["tokenizer"]:
        build_tokenizer(out)
    (out / "fixture.json").write_text(json.dumps({
        "name": name, "family": "switch_transformers", "tokenizer": "T5-style BPE trained on texts/eval.txt" if spec["tokenizer"] else None,
        "seed": spec["seed"], "weight_std": spec.get("weight_std", WEIGHT_STD), "wide_std": WIDE_STD, "wide": list(WIDE_SUFFIXES),
        "norm_weight": f"1 + N(0, {NORM_STD})", "bias_std": BIAS_STD, "layout": "save_pretrained",
        "generator": "Tools/make_switch_fixtures.py"}, indent=1) + "\n")


# --------------------------------------------------------------------------- goldens
def load(name: str):
    from transformers import SwitchTransformersForConditionalGeneration

    model, info = SwitchTransformersForConditionalGeneration.from_pretrained(
        str(MODELS / name), dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, (name, bad)
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    return model.eval()


@torch.no_grad()
def check_roundtrip(name: str, spec: dict, model) -> None:
    ref = build_model(spec)
    got, want = model.state_dict(), ref.state_dict()
    assert got.keys() == want.keys(), (name, got.keys() ^ want.keys())
    for k in want:
        assert torch.equal(got[k], want[k]), (name, k)


class RouterTap:
    """Records every sparse layer's routing (expert, dropped, prob) during one forward call."""

    def __init__(self, stack) -> None:
        self.records: list[dict] = []
        self.hooks = []
        for li, block in enumerate(stack.block):
            mlp = block.layer[-1].mlp
            if hasattr(mlp, "router"):
                self.hooks.append(mlp.router.register_forward_hook(lambda m, a, out, li=li: self.record(li, out)))

    def record(self, li: int, out) -> None:
        expert_index, probs, logits = out
        p = torch.softmax(logits[0].float(), dim=-1)
        top2 = torch.topk(p, 2, dim=-1).values
        self.records.append({"layer": li, "expert": p.argmax(-1).tolist(),
                             "dropped": (expert_index[0].sum(-1) == 0).tolist(), "prob": fl(probs[0, :, 0]),
                             "min_margin": f9((top2[:, 0] - top2[:, 1]).min())})

    def take(self) -> list[dict]:
        r, self.records = self.records, []
        return r

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()


@torch.no_grad()
def make_case(model, input_ids: list[int], labels: list[int], enc_tap: RouterTap, dec_tap: RouterTap) -> dict:
    ids = torch.tensor([input_ids])
    lab = torch.tensor([labels])
    dec_in = model._shift_right(lab)
    enc = model.get_encoder()(input_ids=ids)
    enc_routing = enc_tap.take()
    out = model(input_ids=ids, decoder_input_ids=dec_in)
    enc_tap.take()
    dec_routing = dec_tap.take()
    assert torch.equal(out.encoder_last_hidden_state, enc.last_hidden_state)
    gen = model.generate(ids, do_sample=False, max_new_tokens=NEW_TOKENS, output_logits=True, return_dict_in_generate=True)
    enc_tap.take(), dec_tap.take()
    seq = gen.sequences[0].tolist()
    assert seq[0] == model.config.decoder_start_token_id
    margins = []
    for step in gen.logits:
        top2 = torch.topk(step[0].float(), 2).values
        margins.append(f9(top2[0] - top2[1]))
    overflow = any(any(r["dropped"]) for r in enc_routing + dec_routing)
    return {"input_ids": input_ids, "encoder_hidden": fl(enc.last_hidden_state[0]), "encoder_routing": enc_routing,
            "labels": labels, "decoder_input_ids": dec_in[0].tolist(), "logits": fl(out.logits[0]),
            "decoder_routing": dec_routing, "greedy_ids": seq[1:], "greedy_margins": margins, "overflow": overflow}


def bucket_table(num_buckets: int, max_distance: int, bidirectional: bool, lo: int, hi: int) -> dict:
    from transformers.models.switch_transformers.modeling_switch_transformers import SwitchTransformersAttention as A

    rel = torch.arange(lo, hi + 1)
    b = A._relative_position_bucket(rel, bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance)
    return {"num_buckets": num_buckets, "max_distance": max_distance, "bidirectional": bidirectional, "from": lo, "buckets": b.tolist()}


def make_golden(name: str, spec: dict) -> dict:
    torch.manual_seed(0)
    model = load(name)
    check_roundtrip(name, spec, model)
    c = model.config
    for key in ("encoder_sparse_step", "decoder_sparse_step"):  # a stored step must survive save/load as given
        assert key not in spec["config"] or getattr(c, key) == spec["config"][key], (name, key, getattr(c, key))
    g = {"model": name, "generator": "Tools/make_switch_fixtures.py", "compute_dtype": "float32",
         "transformers": __import__("transformers").__version__, "torch": torch.__version__.split("+")[0],
         "config": {k: getattr(c, k) for k in ("vocab_size", "d_model", "d_kv", "d_ff", "num_heads", "num_layers", "num_decoder_layers",
                                               "num_experts", "expert_capacity", "encoder_sparse_step", "decoder_sparse_step",
                                               "relative_attention_num_buckets", "relative_attention_max_distance",
                                               "layer_norm_epsilon", "tie_word_embeddings", "router_bias", "decoder_start_token_id",
                                               "eos_token_id", "pad_token_id")},
         "is_sparse": {"encoder": [b.is_sparse for b in model.encoder.block], "decoder": [b.is_sparse for b in model.decoder.block]}}
    nb, md = c.relative_attention_num_buckets, c.relative_attention_max_distance
    g["bucket_tables"] = [bucket_table(nb, md, True, -300, 300), bucket_table(nb, md, False, -300, 300),
                          bucket_table(32, 128, True, -2000, 2000), bucket_table(32, 128, False, -2000, 0)]
    enc_tap, dec_tap = RouterTap(model.encoder), RouterTap(model.decoder)
    cases = []
    if spec["tokenizer"]:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(MODELS / name))
        for text, target in spec.get("texts", SWITCH_TEXTS):
            case = {"input_text": text, "target_text": target}
            case.update(make_case(model, tok(text)["input_ids"], tok(target)["input_ids"], enc_tap, dec_tap))
            case["greedy_text"] = tok.decode(case["greedy_ids"], skip_special_tokens=True)
            cases.append(case)
    else:
        gen = torch.Generator().manual_seed(spec["seed"] + 7)
        for n, t in zip(spec["inputs"], spec["targets"]):
            ids = torch.randint(2, c.vocab_size, (n,), generator=gen).tolist() + [c.eos_token_id]
            lab = torch.randint(2, c.vocab_size, (t,), generator=gen).tolist() + [c.eos_token_id]
            cases.append(make_case(model, ids, lab, enc_tap, dec_tap))
    enc_tap.remove(), dec_tap.remove()
    g["cases"] = cases
    return g


def write(path: Path, g: dict) -> None:
    parts = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in g.items() if k != "cases"]
    parts.append(' "cases": [\n' + ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in g["cases"]) + "\n ]")
    path.write_text("{\n" + ",\n".join(parts) + "\n}\n", encoding="utf-8")
    json.loads(path.read_text(encoding="utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    all_specs = specs()
    for name in args.only or list(all_specs):
        build_fixture(name, all_specs[name])
        g = make_golden(name, all_specs[name])
        write(MODELS / name / "golden.json", g)
        size = sum(p.stat().st_size for p in (MODELS / name).iterdir())
        for i, cs in enumerate(g["cases"]):
            routing = cs["encoder_routing"] + cs["decoder_routing"]
            print(f"{name:12s} case {i}: in {len(cs['input_ids'])} ids, target {len(cs['labels'])}, greedy {cs['greedy_ids']} "
                  f"min margin {min(cs['greedy_margins']):.4f}, router margin {min(r['min_margin'] for r in routing):.4f}, "
                  f"dropped {sum(sum(r['dropped']) for r in routing)}")
        print(f"{name:12s} {size / 1024:7.1f} KiB  {sorted(p.name for p in (MODELS / name).iterdir())}")


if __name__ == "__main__":
    main()
