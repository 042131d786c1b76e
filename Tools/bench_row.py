#!/usr/bin/env python3
"""Formats one `swapmoe bench --json` result (stdin) as a Markdown table row for Tools/bench_caps.sh."""
import json
import sys

d = json.load(sys.stdin)
archive, label, policy = sys.argv[1].split("/")[-1], sys.argv[2], sys.argv[3]
cells = [
    archive, policy, label, str(d.get("max_rss_bytes", "")),
    f'{d["decode_tok_s"]:.2f}', f'{d["prefill_tok_s"]:.1f}',
    f'{d["decode_bytes_read_per_token"] / 2**20:.1f} MiB', f'{d.get("stall_seconds", 0):.2f}',
    str(d.get("swaps", "-")), f'{d["peak_rss_bytes"] / 2**20:.0f} MiB',
    # The disk limit bench measured in its own process (cold O_DIRECT read GB/s / bytes read per token).
    # Only for exact: swap's loads are off the token's path, so the disk does not bound its speed.
    f'{d["disk_limit_tok_s"]:.1f} ({d["disk_read_gb_s"]:.2f} GB/s), {d["disk_limit_fraction"]:.0%}'
    if "disk_limit_tok_s" in d and policy == "exact" else "-",
    # The lower of that and the DRAM roofline (GB/s measured by bench / bytes of weights per token).
    f'{d["hardware_limit_tok_s"]:.1f} ({"disk" if d["hardware_limit_tok_s"] == d["disk_limit_tok_s"] else "DRAM " + format(d["dram_read_gb_s"], ".0f") + " GB/s"}), {d["hardware_limit_fraction"]:.0%}'
    if "hardware_limit_tok_s" in d and policy == "exact" else "-",
]
print("| " + " | ".join(cells) + " |")
