#!/usr/bin/env python3
"""Train the small demo MoE that swapmoe serves in demos and benchmarks (issue 5).

Random-weight fixtures prove the loader and kernels right, but they cannot show
what SwapMoE is about: experts that *specialise*, so that a cap that keeps the
"right" experts resident hurts quality less than one that keeps the wrong ones.
This script trains a 10-30M-parameter Mixtral / Qwen2-MoE with transformers'
own model classes (so the checkpoint is a genuine hub-style folder) on a
mixture of two domains -- Jane Austen's novels and the Python docs' reST
sources, half of the training windows each by default -- on CPU within a
wall-clock budget. Like the mixtures real MoEs are trained on, two domains
give experts something to specialise on; a routing-locality term (see
`locality_loss`) holds each domain to about half of the experts per layer, so
that the working set moves with the topic, as SwapMoE assumes. It then
measures held-out perplexity and routing on an Austen text ("in domain") and a
never-trained-on Python-docs page (the other domain; "out of domain" in file
names), and writes a calibration sample of the training mixture for the
static baseline.

    bash Tools/setup_venv.sh
    .venv/bin/python Tools/train_demo_moe.py --minutes 26 --threads 2

The locality-trained model (Tests/Fixtures/models/demo-moe, an illustration of
a topic change) was made exactly so (the defaults, 26 minutes on both cores;
written with --out to a scratch folder, then copied). The ordinary model
(Tests/Fixtures/models/demo-moe-ordinary, the headline of Docs/Quality.md and
the demo's model) was trained the standard way, next-token loss plus the usual
load-balancing loss and no locality term, in a finer-grained shape:

    .venv/bin/python Tools/train_demo_moe.py --steps 800 --threads 1 \
        --locality-coef 0 --experts 16 --top-k 4 --intermediate 256 \
        --out Tests/Fixtures/models/demo-moe-ordinary

(46 minutes on one core, pinned with taskset while other work used the
other.) Docs/Quality.md has both reports.

Output (--out, default Tests/Fixtures/models/demo-moe, the embedded default
model): config.json, model.safetensors, generation_config.json,
tokenizer.json, tokenizer_config.json, heldout_in_domain.txt,
heldout_out_of_domain.txt, calibration.txt (a training-distribution sample for
`--policy static`), training_report.json. Data sources and licences: Docs/Fixtures.md.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_sources as src  # noqa: E402
import make_tokenizers as mt  # noqa: E402  (Qwen2 regex + transformers save helper)
import torch  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors  # noqa: E402
from tokenizers.models import BPE  # noqa: E402
from tokenizers.trainers import BpeTrainer  # noqa: E402

EOS = "<|endoftext|>"
HELDOUT_CHARS = 20_000
CHAPTER = re.compile(r"^(CHAPTER|Chapter)\s+[0-9IVXLC]+\b")
PROMPTS = [
    "It is a truth universally acknowledged, that",
    "Mr. Darcy looked at Elizabeth and",
    "Emma could not",
    "def fibonacci(n):",
    "The Python interpreter",
]


# --------------------------------------------------------------------------- data
def split_corpus(seed: int) -> tuple[list[str], list[str], str, str]:
    """Training documents (one per novel), the technical training documents
    (Python docs pages), and the two held-out texts.

    In-domain: ~20 KB of consecutive paragraphs starting at a seeded chapter
    heading, removed from training so its perplexity measures generalisation.
    Out-of-domain: the first ~20 KB (whole paragraphs) of a seeded Python-docs
    reST source; that page is never trained on (the other pages are, when
    --docs-share > 0), so routing differences show specialisation.
    """
    rng = random.Random(seed)
    novels = {n: src.austen_paragraphs(n) for n in src.AUSTEN_ORDER}
    starts = [(n, i) for n, ps in novels.items() for i, p in enumerate(ps) if CHAPTER.match(p)]
    novel, start = rng.choice(starts)
    end = start
    while sum(len(p) + 2 for p in novels[novel][start:end]) < HELDOUT_CHARS:
        end += 1
    in_domain = "\n\n".join(novels[novel][start:end])
    docs = ["\n\n".join(ps[:start] + ps[end:] if n == novel else ps) for n, ps in novels.items()]

    pages = src.python_doc_sources()
    candidates = [(p, t) for p, t in pages
                  if p.split("/")[0] in ("tutorial", "howto", "library") and len(t) > 2 * HELDOUT_CHARS]
    page = rng.choice(candidates)
    text = page[1]
    out, size = [], 0
    for chunk in re.split(r"(?<=\n)\n", text):  # paragraph boundaries, code indentation kept
        if size >= HELDOUT_CHARS:
            break
        out.append(chunk)
        size += len(chunk) + 1
    tech = [t for p, t in pages if p != page[0]]  # the held-out page (all of it) is never trained on
    return docs, tech, in_domain, "\n".join(out).strip() + "\n"


def calibration_text(docs: list[str], tech: list[str], seed: int, chars: int = HELDOUT_CHARS) -> str:
    """A sample of the *training* distribution for `--policy static` (the
    pruning baseline picks each layer's experts from its routing): equal parts
    of seeded Austen paragraphs and, when trained on, Python-docs paragraphs.
    Drawn from training text, so it is never one of the held-out texts the
    policies are compared on."""
    rng = random.Random(seed + 1)
    parts = []
    for pool in [docs] + ([tech] if tech else []):
        paras = [q for d in pool for q in d.split("\n\n") if len(q) > 200]
        budget = chars // (2 if tech else 1)
        picked = []
        while budget > 0:
            q = rng.choice(paras)
            picked.append(q)
            budget -= len(q) + 2
        parts.append("\n\n".join(picked))
    return "\n\n".join(parts) + "\n"


def train_tokenizer(docs: list[str], vocab: int) -> Tokenizer:
    """Byte-level BPE (Qwen2 pre-tokenizer regex) trained on the training split
    only, so held-out text is tokenised by a tokenizer that never saw it."""
    tok = Tokenizer(BPE(dropout=None, fuse_unk=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(mt.QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(vocab_size=vocab - 1, min_frequency=2, show_progress=False,
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator((p for d in docs for p in d.split("\n\n")), trainer=trainer)
    tok.add_tokens([AddedToken(EOS, normalized=False, special=True)])  # last id, like Qwen2
    return tok


# --------------------------------------------------------------------------- model
def build_model(a, vocab: int, eos_id: int):
    """A transformers MoE of the requested family. head_dim 64, GQA 2:1."""
    from transformers import MixtralConfig, MixtralForCausalLM, Qwen2MoeConfig, Qwen2MoeForCausalLM

    heads = max(1, a.hidden // 64)
    common = dict(vocab_size=vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                  num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                  max_position_embeddings=a.ctx, num_experts_per_tok=a.top_k,
                  output_router_logits=True, router_aux_loss_coef=a.aux_coef,
                  tie_word_embeddings=False, bos_token_id=None, eos_token_id=eos_id, pad_token_id=eos_id)
    if a.family == "mixtral":
        cfg = MixtralConfig(intermediate_size=a.intermediate, num_local_experts=a.experts, **common)
        return MixtralForCausalLM(cfg)
    # Qwen2-MoE: routed experts plus a gated shared expert of the same width.
    cfg = Qwen2MoeConfig(intermediate_size=a.intermediate, moe_intermediate_size=a.intermediate,
                         shared_expert_intermediate_size=a.intermediate, num_experts=a.experts,
                         decoder_sparse_step=1, norm_topk_prob=True, **common)
    return Qwen2MoeForCausalLM(cfg)


def lr_at(a, step: int, progress: float) -> float:
    """Linear warm-up, then cosine to 10% of --lr. Progress is the fraction of
    the wall-clock budget (or of --steps), since the step count is unknown."""
    warm = min(1.0, (step + 1) / a.warmup)
    return a.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def locality_loss(router_logits, domains: torch.Tensor, target: float) -> tuple[torch.Tensor, float]:
    """Domain locality of routing: what SwapMoE's Virtual Experts rely on.
    For each layer and each domain present in the batch, H = entropy (nats)
    of the domain's average router distribution over its rows: exp(H) is how
    many experts the domain effectively draws on. The loss is the mean of
    (H - target)^2, holding each domain near exp(target) experts per layer
    (target ln 4 = 1.386: half of 8). A one-sided, per-sequence version
    (only H > target penalised) was tried: routing collapsed early onto a few
    experts shared by both domains, one of them taking every token, which is a
    poor MoE and leaves nothing for a swapper to follow (Docs/Quality.md).
    Routing stays learned per token (the router never sees the domain label;
    it must tell the domains apart from the hidden state), and the per-layer
    balancing loss (`balance_loss`) still wants every expert of every layer
    used, so the two domains come to work with different halves of the
    experts: a working set that moves when the topic changes, the case SwapMoE
    is built for. Returns the loss and the mean H."""
    loss, mean_h, terms = 0.0, 0.0, 0
    for r in router_logits:
        p = torch.softmax(r.float(), -1).reshape(domains.shape[0], -1, r.shape[-1]).mean(1)
        for d in domains.unique():
            q = p[domains == d].mean(0)
            h = -(q * q.clamp_min(1e-9).log()).sum()
            loss = loss + (h - target) ** 2
            mean_h += h.item()
            terms += 1
    return loss / terms, mean_h / terms


def balance_loss(router_logits, top_k: int) -> torch.Tensor:
    """Switch Transformer's load-balancing loss, per layer, averaged over
    layers: E * sum_i f_i * P_i (1.0 when balanced), f_i the share of the
    layer's top-k assignments that go to expert i, P_i its mean router
    probability. transformers' Mixtral loss pools all layers' tokens before
    counting, so a layer whose experts 0-3 never fire is "balanced" as long as
    another layer uses 4-7; with the locality term that is what happened (four
    dead experts per layer, both domains on the same four). Counting per layer
    keeps every expert of every layer in use."""
    total = 0.0
    for r in router_logits:
        p = torch.softmax(r.float(), -1)
        e = p.shape[-1]
        f = torch.zeros(e).index_add_(0, p.topk(top_k, -1).indices.flatten(), torch.ones(p.shape[0] * top_k)) / (p.shape[0] * top_k)
        total = total + e * (f * p.mean(0)).sum()
    return total / len(router_logits)


def train(a, model, streams: list[torch.Tensor], shares: list[float]) -> dict:
    """AdamW on random ctx-length windows of the token streams (each row of a
    batch picks a stream with probability `shares`, so batches mix domains and
    the load-balancing loss balances experts across domains, not within one)
    until the budget runs out. Logs LM loss, the per-layer balancing loss and
    the mean per-domain routing entropy (loss = lm + aux_coef*balance +
    locality_coef*locality)."""
    gen = torch.Generator().manual_seed(a.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    budget, t0 = a.minutes * 60, time.time()
    curve, step, acc = [], 0, []
    model.train()
    while True:
        elapsed = time.time() - t0
        progress = step / a.steps if a.steps else elapsed / budget
        if progress >= 1.0 or elapsed >= budget:
            break
        for g in opt.param_groups:
            g["lr"] = lr = lr_at(a, step, progress)
        pick = torch.multinomial(torch.tensor(shares), a.batch, replacement=True, generator=gen).tolist()
        rows = []
        for d in pick:
            i = torch.randint(0, len(streams[d]) - a.ctx - 1, (1,), generator=gen).item()
            rows.append(streams[d][i : i + a.ctx])
        x = torch.stack(rows)
        out = model(input_ids=x, labels=x)
        lm = out.loss - a.aux_coef * out.aux_loss  # transformers adds its pooled-layers balancing loss; use ours
        bal = balance_loss(out.router_logits, a.top_k)
        loc, ent = locality_loss(out.router_logits, torch.tensor(pick), a.locality_target)
        (lm + a.aux_coef * bal + a.locality_coef * loc).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        acc.append((lm.item(), bal.item(), ent))
        step += 1
        if step == 1 or step % a.log_every == 0:
            mean = [sum(col) / len(acc) for col in zip(*acc)]
            point = {"step": step, "tokens": step * a.batch * a.ctx, "seconds": round(time.time() - t0, 1),
                     "lm_loss": round(mean[0], 4), "balance_loss": round(mean[1], 4), "domain_routing_entropy": round(mean[2], 4),
                     "lr": round(lr, 6)}
            curve.append(point)
            acc = []
            print(json.dumps(point), flush=True)
    return {"steps": step, "tokens_seen": step * a.batch * a.ctx,
            "train_seconds": round(time.time() - t0, 1), "loss_curve": curve}


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model, ids: list[int], ctx: int, top_k: int) -> dict:
    """Consecutive windows of ctx ids, each from position 0 with no cache; mean
    NLL over every predicted token. Routing per layer: mean per-token entropy of
    the router softmax (nats), entropy of the load, each expert's share of the
    top-k assignments, and `half_coverage`: the share of top-k assignments that
    go to the window's own most used half of the experts (1.0 when every window
    of ctx tokens could be served by half the experts -- what a cap at 50% of
    the expert bytes asks of SwapMoE)."""
    model.eval()
    nll, count, layers = 0.0, 0, None
    for s in range(0, len(ids) - 1, ctx):
        w = torch.tensor([ids[s : s + ctx]])
        if w.shape[1] < 2:
            break
        out = model(input_ids=w, output_router_logits=True)
        logp = torch.log_softmax(out.logits[0, :-1].float(), -1)
        nll -= logp.gather(1, w[0, 1:, None]).sum().item()
        count += w.shape[1] - 1
        if layers is None:
            layers = [{"ent": 0.0, "load": torch.zeros(r.shape[-1]), "n": 0, "half": 0.0} for r in out.router_logits]
        for acc, r in zip(layers, out.router_logits):
            p = torch.softmax(r.float().reshape(-1, r.shape[-1]), -1)
            acc["ent"] += -(p * p.clamp_min(1e-12).log()).sum().item()
            counts = torch.bincount(p.topk(top_k, -1).indices.flatten(), minlength=p.shape[-1]).float()
            acc["load"] += counts
            acc["half"] += counts.sort(descending=True).values[: p.shape[-1] // 2].sum().item()
            acc["n"] += p.shape[0]
    routing = []
    for acc in layers:
        load = acc["load"] / acc["load"].sum()
        routing.append({"router_entropy": round(acc["ent"] / acc["n"], 4),
                        "load_entropy": round(-(load * load.clamp_min(1e-12).log()).sum().item(), 4),
                        "load_fractions": [round(x, 4) for x in load.tolist()],
                        "half_coverage": round(acc["half"] / (acc["n"] * top_k), 4)})
    return {"tokens": len(ids), "predicted_tokens": count, "mean_nll": round(nll / count, 4),
            "ppl": round(math.exp(nll / count), 3), "routing": routing}


@torch.no_grad()
def generations(model, hf_tok, n: int = 40) -> list[dict]:
    """Greedy continuations of fixed prompts: a quick human check of quality."""
    res = []
    for p in PROMPTS:
        ids = hf_tok(p, return_tensors="pt").input_ids
        out = model.generate(ids, do_sample=False, max_new_tokens=n, pad_token_id=hf_tok.eos_token_id)
        res.append({"prompt": p, "completion": hf_tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)})
    return res


# --------------------------------------------------------------------------- main
def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=50, help="training wall-clock budget")
    ap.add_argument("--steps", type=int, default=0, help="fixed step count (deterministic schedule); 0 = use --minutes")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=512, help="per-expert FFN width")
    ap.add_argument("--vocab", type=int, default=4096, help="total ids incl. <|endoftext|>")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    ap.add_argument("--aux-coef", type=float, default=0.1, help="router load-balancing loss weight (per-layer, see balance_loss)")
    ap.add_argument("--locality-coef", type=float, default=0.1,
                    help="weight of the per-domain routing-entropy term (see locality_loss); 0 = off")
    ap.add_argument("--locality-target", type=float, default=math.log(4),
                    help="per-domain routing entropy (nats) the locality term holds each domain at (ln 4: 4 experts)")
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--docs-share", type=float, default=0.5,
                    help="fraction of training windows drawn from the Python docs (all pages but the held-out one)")
    ap.add_argument("--calibration-only", action="store_true",
                    help="only write calibration.txt (training-distribution sample for --policy static) to --out")
    ap.add_argument("--family", choices=["mixtral", "qwen2_moe"], default="mixtral")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="bfloat16", help="saved weight dtype")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=src.ROOT / "Tests" / "Fixtures" / "models" / "demo-moe")
    return ap.parse_args()


def main() -> None:
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t_start = time.time()

    docs, tech, held_in, held_out = split_corpus(a.seed)
    if a.docs_share <= 0:
        tech = []
    if a.calibration_only:  # (re)write calibration.txt for an already trained model
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "calibration.txt").write_text(calibration_text(docs, tech, a.seed), encoding="utf-8")
        return
    tok = train_tokenizer(docs + tech, a.vocab)
    eos_id = tok.token_to_id(EOS)
    a.out.mkdir(parents=True, exist_ok=True)
    tok_dir = Path(tempfile.mkdtemp(prefix="demo-tok-"))  # the helper wipes its target folder
    mt.save_with_transformers(tok, tok_dir, eos_token=EOS, pad_token=EOS, bos_token=None, unk_token=None,
                              clean_up_tokenization_spaces=False)
    def stream_of(texts):  # documents separated by EOS so the model learns document ends
        ids = []
        for enc in tok.encode_batch(texts):
            ids += enc.ids + [eos_id]
        return torch.tensor(ids)

    streams, shares = [stream_of(docs)], [1.0 - max(0.0, a.docs_share)]
    if tech:
        streams.append(stream_of(tech))
        shares.append(a.docs_share)
    print(f"train tokens {' + '.join(str(len(s)) for s in streams)} (shares {shares})  vocab {tok.get_vocab_size()}  "
          f"held-out chars {len(held_in)} / {len(held_out)}", flush=True)

    model = build_model(a, tok.get_vocab_size(), eos_id)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{a.family}: {n_params / 1e6:.2f} M parameters", flush=True)
    report = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
              "parameters": n_params, "train_tokens_available": [len(s) for s in streams], "train_shares": shares}
    report.update(train(a, model, streams, shares))

    heldout = {"in_domain": held_in, "out_of_domain": held_out}
    report["heldout"] = {k: evaluate(model, tok.encode(t).ids, a.ctx, a.top_k) for k, t in heldout.items()}

    from transformers import AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(tok_dir)
    report["generations"] = generations(model, hf_tok)
    model.config.output_router_logits = False  # inference default for consumers of the checkpoint
    if a.dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    model.save_pretrained(a.out, safe_serialization=True)
    for f in tok_dir.iterdir():  # exactly what save_with_transformers wrote (TokenizersBackend class)
        shutil.copy(f, a.out / f.name)
    shutil.rmtree(tok_dir)
    for name, text in heldout.items():
        (a.out / f"heldout_{name}.txt").write_text(text, encoding="utf-8")
    (a.out / "calibration.txt").write_text(calibration_text(docs, tech, a.seed), encoding="utf-8")
    report["wall_seconds"] = round(time.time() - t_start, 1)
    (a.out / "training_report.json").write_text(json.dumps(report, indent=1) + "\n")
    for k, v in report["heldout"].items():
        ents = [r["router_entropy"] for r in v["routing"]]
        half = [r["half_coverage"] for r in v["routing"]]
        print(f"{k}: ppl {v['ppl']}  router entropy per layer {ents}  half coverage {half}")
    for g in report["generations"]:
        print(repr(g["prompt"]), "->", repr(g["completion"]))


if __name__ == "__main__":
    main()
