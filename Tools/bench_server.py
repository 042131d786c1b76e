#!/usr/bin/env python3
"""Server throughput and latency: starts `swapmoe serve ARCHIVE --port 0 [SERVE ARGS]`, then for each client count
runs that many concurrent clients (the real `openai` client, streaming), each sending REQUESTS requests one after
another, and prints one Markdown row per count: time to first token (median, max), each client's decode tok/s
(median), the server's total generated tok/s over the wall time, and the server's peak RSS. Generation ignores
end-of-sequence (`ignore_eos`, as llama.cpp's server takes it) so every request makes --max-tokens tokens.

usage: .venv-serve/bin/python Tools/bench_server.py ARCHIVE [--clients 1,4] [--requests 3] [--max-tokens 64]
                                                   [--prompt-words 48] [-- SERVE ARGS...]
e.g.   .venv-serve/bin/python Tools/bench_server.py big-q8.swm --clients 1,4 -- --max-rss 800M --policy swap --parallel 4
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import openai


def main():
    argv = sys.argv[1:]
    serve_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, serve_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser()
    ap.add_argument("archive")
    ap.add_argument("--clients", default="1,4")
    ap.add_argument("--requests", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-words", type=int, default=48)
    ap.add_argument("--bin", default=os.environ.get("SWAPMOE_BIN", ".build/release/swapmoe"))
    a = ap.parse_args(argv)

    server = subprocess.Popen([a.bin, "serve", a.archive, "--port", "0"] + serve_args, stderr=subprocess.PIPE, text=True)
    port, log = None, []
    for line in server.stderr:
        log.append(line)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        if m:
            port = int(m.group(1))
        if "swapmoe serve: ready" in line:
            break
    if port is None or server.poll() is not None:
        sys.exit("serve did not start:\n" + "".join(log))
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=3600)
    words = "the quick brown fox jumps over a lazy dog while seven cats watch from the wall".split()

    def one(prompt, out):
        start = time.monotonic()
        first, last, tokens = None, None, 0
        for chunk in client.completions.create(model="", prompt=prompt, max_tokens=a.max_tokens, temperature=0.7,
                                               stream=True, stream_options={"include_usage": True},
                                               extra_body={"ignore_eos": True}):
            now = time.monotonic()
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            elif chunk.choices and chunk.choices[0].text:
                first = first or now
                last = now
        if first is None or tokens < 2:
            return
        out.append((first - start, (tokens - 1) / max(last - first, 1e-9), tokens))

    print(f"| clients | requests | max tokens | TTFT median s | TTFT max s | per-client decode tok/s (median) | server tok/s (all clients) | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in [int(x) for x in a.clients.split(",")]:
        results = []

        def worker(k):
            for r in range(a.requests):
                prompt = " ".join(words[(k * 7 + r * 3 + i) % len(words)] for i in range(a.prompt_words))
                one(f"Client {k} request {r}: {prompt}", results)

        t0 = time.monotonic()
        ts = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wall = time.monotonic() - t0
        ttft = [r[0] for r in results]
        rate = [r[1] for r in results]
        total = sum(r[2] for r in results)
        with open(f"/proc/{server.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
        print(f"| {n} | {len(results)} | {a.max_tokens} | {statistics.median(ttft):.2f} | {max(ttft):.2f} | "
              f"{statistics.median(rate):.1f} | {total / wall:.1f} | {hwm:.0f} |", flush=True)
    server.terminate()
    server.wait()


if __name__ == "__main__":
    main()
