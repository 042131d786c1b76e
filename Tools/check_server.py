#!/usr/bin/env python3
"""Talks to a running `swapmoe serve` with the real `openai` Python client, as users' tools do, and checks what
an independent implementation can check: the token counts of `usage` against transformers' own tokenizer and
chat template (loaded from the checkpoint folder the archive was packed from), streamed text against the
non-streamed text, the model list, and the errors the client maps from status codes. Prints one JSON object
with the texts (so the Swift test can compare them with `swapmoe run`) and every check's outcome.

usage: check_server.py BASE_URL CHECKPOINT_FOLDER MODEL_ID [API_KEY]
Run by Tests/SwapMoECLITests/ServeCommandTests.swift with .venv-serve (Tools/setup_venv.sh serve).
"""
import json
import sys

import openai
from transformers import AutoTokenizer


def main():
    base, folder, model = sys.argv[1], sys.argv[2], sys.argv[3]
    key = sys.argv[4] if len(sys.argv) > 4 else "none"
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=120)
    tok = AutoTokenizer.from_pretrained(folder)
    out = {"checks": {}}

    def check(name, ok, detail=""):
        out["checks"][name] = {"ok": bool(ok), "detail": str(detail)}

    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}]
    n = 12

    # Chat, not streamed.
    r = client.chat.completions.create(model=model, messages=messages, max_tokens=n, temperature=0)
    chat_text = r.choices[0].message.content
    want_prompt = len(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False))
    out["chat_text"] = chat_text
    check("chat usage.prompt_tokens == transformers' apply_chat_template", r.usage.prompt_tokens == want_prompt,
          f"{r.usage.prompt_tokens} vs {want_prompt}")
    check("chat usage.completion_tokens <= max_tokens", 0 < r.usage.completion_tokens <= n, r.usage.completion_tokens)
    check("chat usage.total_tokens", r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens)
    check("chat finish_reason", r.choices[0].finish_reason in ("stop", "length"), r.choices[0].finish_reason)
    check("chat object", r.object == "chat.completion" and r.choices[0].message.role == "assistant", r.object)

    # Chat, streamed, with the usage chunk.
    pieces, usage, finish, roles = [], None, None, []
    for chunk in client.chat.completions.create(model=model, messages=messages, max_tokens=n, temperature=0,
                                                stream=True, stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.role:
                roles.append(c.delta.role)
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    check("chat stream text == non-streamed text", "".join(pieces) == chat_text, repr("".join(pieces)) + " vs " + repr(chat_text))
    check("chat stream role and finish", roles == ["assistant"] and finish in ("stop", "length"), f"{roles} {finish}")
    check("chat stream usage chunk", usage is not None and usage.prompt_tokens == want_prompt, usage)
    # The same conversation again: its prompt is in a slot's cache.
    r2 = client.chat.completions.create(model=model, messages=messages, max_tokens=n, temperature=0)
    cached = r2.usage.prompt_tokens_details.cached_tokens if r2.usage.prompt_tokens_details else 0
    check("a repeated prompt reuses the slot's cache", cached == want_prompt - 1 and r2.choices[0].message.content == chat_text,
          f"cached {cached}")

    # Text completion, not streamed and streamed.
    prompt = "The capital of France is"
    c = client.completions.create(model=model, prompt=prompt, max_tokens=n, temperature=0)
    out["completion_text"] = c.choices[0].text
    want = len(tok(prompt)["input_ids"])
    check("completion usage.prompt_tokens == the tokenizer's", c.usage.prompt_tokens == want, f"{c.usage.prompt_tokens} vs {want}")
    streamed = "".join(x.choices[0].text for x in client.completions.create(model=model, prompt=prompt, max_tokens=n,
                                                                              temperature=0, stream=True) if x.choices)
    check("completion stream text == non-streamed text", streamed == c.choices[0].text, repr(streamed))

    # Stop strings: the answer ends before the first one.
    if len(chat_text) > 3:
        stop = chat_text[2:4]
        s = client.chat.completions.create(model=model, messages=messages, max_tokens=n, temperature=0, stop=[stop])
        check("stop string cuts the answer", s.choices[0].message.content == chat_text[:chat_text.index(stop)]
              and s.choices[0].finish_reason == "stop", repr(s.choices[0].message.content))

    # The model list, and errors as the client raises them.
    ids = [m.id for m in client.models.list().data]
    check("models.list", ids == [model], ids)
    try:
        client.chat.completions.create(model="no-such-model", messages=messages, max_tokens=2)
        check("unknown model -> 404", False, "no error")
    except openai.NotFoundError as e:
        check("unknown model -> 404", e.status_code == 404 and "no-such-model" in str(e), e)
    try:
        client.chat.completions.create(model=model, messages=[], max_tokens=2)
        check("empty messages -> 400", False, "no error")
    except openai.BadRequestError as e:
        check("empty messages -> 400", e.status_code == 400 and "messages" in str(e), e)
    try:
        client.completions.create(model=model, prompt="x " * 5000, max_tokens=2)
        check("context overflow -> 400", False, "no error")
    except openai.BadRequestError as e:
        check("context overflow -> 400", e.status_code == 400 and "context" in str(e), e)
    bad = openai.OpenAI(base_url=base, api_key="wrong-key", max_retries=0)
    if key != "none":
        try:
            bad.models.list()
            check("wrong API key -> 401", False, "no error")
        except openai.AuthenticationError as e:
            check("wrong API key -> 401", e.status_code == 401, e)

    print(json.dumps(out))


if __name__ == "__main__":
    main()
