#!/usr/bin/env python3
"""Write Tests/Fixtures/models/<name>/golden.json: reference outputs of
transformers for every model fixture (run Tools/make_fixtures.py first).

    .venv/bin/python Tools/make_goldens.py [--only NAME ...]

Everything is computed from the folder as saved (AutoModelForCausalLM +
AutoTokenizer on Tests/Fixtures/models/<name>), in float32 -- for mixtral_bf16
the bf16 weights are upcast to float32 on load, which is what an engine that
decompresses bf16 to f32 should reproduce.

golden.json keys:
  prompt_text, prompt_ids          AutoTokenizer(dir)(prompt_text)["input_ids"] (default special tokens)
  greedy_ids                       the 24 new tokens of model.generate(do_sample=False, max_new_tokens=24)
  greedy_eos_suppressed            true if EOS had to be blocked (min_new_tokens=24) to get 24 tokens
  greedy_margins                   top1 - top2 logit at each generated step (small = fragile step)
  logits_last                      float32 logits of the last prompt position, full vocab
  logits_first_rows                logits at positions 0..3, first 16 vocab entries each
  hidden_states                    per hidden_states[l] (l=0 embeddings .. L; the last is AFTER the
                                   final norm, as transformers returns it): mean, l2 (over all prompt
                                   positions and channels), last_pos_first8
  router                           per MoE layer: top-k expert ids and routing weights per prompt position,
                                   and min_topk_margin (k-th minus (k+1)-th router logit, minimum over positions)
  eval                             per ctx in (1024, 64): eval.txt tokenised whole (default special
                                   tokens, so one BOS at the very start for SentencePiece), cut into
                                   consecutive windows of ctx ids (the last may be shorter), every window
                                   run from position 0; mean_nll over all predicted tokens, ppl=exp(mean_nll)
Floats are written with 9 significant digits (round-trips float32 exactly).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402

PROMPT = "It is a truth universally acknowledged, that a single man in possession of a good fortune"
NEW_TOKENS = 24
CTXS = (1024, 64)


def f9(x) -> float:
    return float(f"{float(x):.9g}")


def fl(t: torch.Tensor) -> list:
    return [f9(v) for v in t.reshape(-1).tolist()]


def load(name: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = mf.MODELS / name
    model, info = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k != "error_msgs" or (k == "error_msgs" and v)}
    assert not bad, (name, bad)  # no missing / unexpected / mismatched tensors
    return model.eval(), AutoTokenizer.from_pretrained(str(d))


def save_fixture(name: str, model, family: str, generator: str, facts: dict, fused: bool = False):
    """A family script's fixture folder: `model` written by save_pretrained (or, `fused`, in transformers 5's in-memory
    fused expert layout: make_fixtures.write_fused) into a fresh Tests/Fixtures/models/<name>
    with the byte-level tokenizer and fixture.json (name, family, tokenizer, then `facts`, then generator); then
    loaded back by transformers, every weight equal to the one built. Returns the loaded model and its tokenizer."""
    out = mf.fresh_folder(name)
    if fused:
        mf.write_fused(model, out)
    else:
        model.save_pretrained(str(out), safe_serialization=True)
    mf.copy_tokenizer(mf.BYTELEVEL, out)
    (out / "fixture.json").write_text(json.dumps({"name": name, "family": family, "tokenizer": mf.BYTELEVEL, **facts,
                                                  "generator": generator}, indent=1) + "\n")
    torch.manual_seed(0)
    ref, tok = load(name)
    got = ref.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(got[k], v), (name, k)
    return ref, tok


@torch.no_grad()
def check_roundtrip(name: str, spec: dict, model) -> None:
    """The saved folder must hold exactly the weights make_fixtures built."""
    ref = mf.build_model(spec)
    if "dtype" in spec:
        ref = ref.to(spec["dtype"]).float()
    got, want = model.state_dict(), ref.state_dict()
    assert got.keys() == want.keys(), (name, got.keys() ^ want.keys())
    for k in want:
        assert torch.equal(got[k], want[k]), (name, k)


@torch.no_grad()
def greedy(model, tok, ids: torch.Tensor) -> dict:
    eos = model.generation_config.eos_token_id
    kw = dict(do_sample=False, max_new_tokens=NEW_TOKENS, attention_mask=torch.ones_like(ids),
              pad_token_id=model.generation_config.pad_token_id if model.generation_config.pad_token_id is not None else eos)
    out = model.generate(ids, **kw)[0, ids.shape[1]:]
    suppressed = False
    if out.shape[0] < NEW_TOKENS or (eos is not None and (out == eos).any()):
        suppressed = True
        out = model.generate(ids, min_new_tokens=NEW_TOKENS, **kw)[0, ids.shape[1]:]
    new = out.tolist()
    assert len(new) == NEW_TOKENS
    # Re-derive step by step without KV cache: checks generate() and gives the margins.
    seq, margins = ids[0].tolist(), []
    for t in new:
        logits = model(torch.tensor([seq])).logits[0, -1].float()
        if suppressed and eos is not None:
            logits[eos] = -math.inf
        top2 = torch.topk(logits, 2)
        assert int(top2.indices[0]) == t, "generate() disagrees with a cache-free argmax"
        margins.append(f9(top2.values[0] - top2.values[1]))
        seq.append(t)
    return {"greedy_ids": new, "greedy_eos_suppressed": suppressed, "greedy_eos_token_id": eos,
            "greedy_margins": margins, "greedy_text": tok.decode(new)}


@torch.no_grad()
def prompt_stats(model, ids: torch.Tensor) -> dict:
    routers = []
    hooks = []
    for li, layer in enumerate(model.model.layers):
        gate = getattr(layer.mlp, "gate", None) or getattr(layer.mlp, "router", None)  # gpt-oss: mlp.router
        if gate is not None and hasattr(gate, "top_k"):  # a MoE router, not a dense gate_proj
            hooks.append(gate.register_forward_hook(
                lambda m, a, out, li=li: routers.append((li, out))))
    out = model(ids, output_hidden_states=True)
    for h in hooks:
        h.remove()
    logits = out.logits[0].float()
    hs = []
    for l, h in enumerate(out.hidden_states):
        h = h[0].float()
        hs.append({"index": l, "mean": f9(h.mean()), "l2": f9(h.norm()), "last_pos_first8": fl(h[-1, :8])})
    router = []
    for li, (rlogits, scores, idx) in routers:
        k = idx.shape[-1]
        srt = torch.sort(rlogits.float(), dim=-1, descending=True).values
        router.append({"layer": li, "experts": idx.tolist(), "weights": [fl(r) for r in scores.float()],
                       # gap between the k-th and (k+1)-th router logit: small = fragile expert choice
                       "min_topk_margin": f9((srt[:, k - 1] - srt[:, k]).min())})
    return {
        "logits_last": fl(logits[-1]),
        "logits_first_rows": [fl(logits[p, :16]) for p in range(min(4, logits.shape[0]))],
        "hidden_states": hs,
        "router": router,
    }


@torch.no_grad()
def evaluate(model, tok) -> dict:
    text = mf.EVAL_TXT.read_text(encoding="utf-8")
    ids = tok(text)["input_ids"]
    res = {"text_file": "Tests/Fixtures/texts/eval.txt", "tokens": len(ids), "add_special_tokens": True,
           "first_ids": ids[:8]}
    for ctx in CTXS:
        total, count, per_window = 0.0, 0, []
        for start in range(0, len(ids), ctx):
            w = ids[start:start + ctx]
            if len(w) < 2:
                continue  # nothing to predict
            logits = model(torch.tensor([w])).logits[0].float()
            nll = F.cross_entropy(logits[:-1], torch.tensor(w[1:]), reduction="sum").item()
            total += nll
            count += len(w) - 1
            per_window.append({"start": start, "len": len(w), "sum_nll": f9(nll)})
        mean = total / count
        res[f"ctx{ctx}"] = {"ctx": ctx, "windows": len(per_window), "predicted_tokens": count,
                            "mean_nll": f9(mean), "ppl": f9(math.exp(mean)), "per_window": per_window}
    return res


def make_golden(name: str, spec: dict) -> dict:
    torch.manual_seed(0)
    model, tok = load(name)
    check_roundtrip(name, spec, model)
    prompt_ids = tok(PROMPT)["input_ids"]
    ids = torch.tensor([prompt_ids])
    g = {"model": name, "generator": "Tools/make_goldens.py", "compute_dtype": "float32",
         "transformers": __import__("transformers").__version__, "torch": torch.__version__.split("+")[0],
         "prompt_text": PROMPT, "prompt_ids": prompt_ids}
    g.update(greedy(model, tok, ids))
    g.update(prompt_stats(model, ids))
    g["eval"] = evaluate(model, tok)
    return g


def write(path: Path, g: dict) -> None:
    """Top-level keys one per line; long arrays stay on one line (small, diffable)."""
    parts = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in g.items()]
    path.write_text("{\n" + ",\n".join(parts) + "\n}\n", encoding="utf-8")
    json.loads(path.read_text(encoding="utf-8"))


def golden_from(name: str, generator: str, model, tok) -> dict:
    """A family script's golden.json for fixture `name` from the reference model it loaded: greedy, prompt stats and
    eval, written beside the fixture, with a one-line summary."""
    out = mf.MODELS / name
    ids = torch.tensor([tok(PROMPT)["input_ids"]])
    g = {"model": name, "generator": generator, "compute_dtype": "float32",
         "transformers": __import__("transformers").__version__, "torch": torch.__version__.split("+")[0],
         "prompt_text": PROMPT, "prompt_ids": ids[0].tolist()}
    g.update(greedy(model, tok, ids))
    g.update(prompt_stats(model, ids))
    g["eval"] = evaluate(model, tok)
    write(out / "golden.json", g)
    e = g["eval"]
    print(f"{name:16s} prompt {ids.shape[1]} ids, eos_suppressed={g['greedy_eos_suppressed']}, "
          f"min margin {min(g['greedy_margins']):.4f}, router {min(r['min_topk_margin'] for r in g['router']):.4f}, "
          f"ppl@1024 {e['ctx1024']['ppl']:.2f}, ppl@64 {e['ctx64']['ppl']:.2f}, "
          f"{sum(p.stat().st_size for p in out.iterdir()) / 1024:.0f} KiB")
    return g


def selected(names: list[str]) -> list[str]:
    """The fixtures named by --only NAME ... (default: all of `names`), with torch made deterministic for goldens."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # reduction order independent of the machine's core count
    return args.only or names


def main() -> None:
    specs = mf.specs()
    for name in selected(list(specs)):
        g = make_golden(name, specs[name])
        write(mf.MODELS / name / "golden.json", g)
        e = g["eval"]
        print(f"{name:20s} prompt {len(g['prompt_ids'])} ids, eos_suppressed={g['greedy_eos_suppressed']}, "
              f"min margin {min(g['greedy_margins']):.4f}, router {min(r['min_topk_margin'] for r in g['router']):.4f}, ppl@1024 {e['ctx1024']['ppl']:.2f} "
              f"({e['ctx1024']['windows']} win), ppl@64 {e['ctx64']['ppl']:.2f} ({e['ctx64']['windows']} win)")


if __name__ == "__main__":
    main()
