#!/usr/bin/env python3
"""Goldens for swapmoe's quantized blocks, from gguf-py (PyPI `gguf`, llama.cpp's own Python package).

For each type, Tests/Fixtures/quant/<TYPE>.bin holds, little-endian:
    u32 rows, u32 cols, u32 row_bytes, u32 flags (bit 0: `weights` were quantized by gguf-py,
    so `blocks` are its quantize() output; else `blocks` are random valid blocks and `weights` is empty)
    f32 weights[rows*cols]          (only when bit 0 is set)
    u8  blocks[rows*row_bytes]
    f32 dequantized[rows*cols]       gguf-py's dequantize(blocks)
gguf-py quantizes Q8_0 and Q4_0 (round to nearest, as llama.cpp's reference); for the K-types it only
dequantizes, so their blocks are random bytes with sane f16 scales. Run: .venv/bin/python Tools/make_quant_goldens.py
"""
import os
import struct

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "quant")
ROWS, COLS = 4, 512


def weights(rng):
    w = rng.standard_normal((ROWS, COLS)).astype(np.float32) * 0.02
    w[0, 7] = 0.31       # an outlier, as real weight rows have
    w[1, :32] = 0.0      # an all-zero block
    w[2, 40] = -0.25
    return w


def random_blocks(rng, qtype):
    block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
    nblocks = ROWS * COLS // block_size
    b = rng.integers(0, 256, size=(nblocks, type_size), dtype=np.uint8)
    def f16(vals):
        return np.asarray(vals, dtype=np.float16).view(np.uint8).reshape(nblocks, 2)
    if qtype in (T.Q4_K, T.Q5_K):
        b[:, 0:2] = f16(rng.uniform(1e-4, 2e-3, nblocks))   # d
        b[:, 2:4] = f16(rng.uniform(1e-4, 2e-3, nblocks))   # dmin
    elif qtype == T.Q6_K:
        b[:, 208:210] = f16(rng.uniform(1e-5, 2e-4, nblocks))
    return b.reshape(ROWS, -1)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1717)
    for name, qtype in [("Q8_0", T.Q8_0), ("Q4_0", T.Q4_0), ("Q4_K", T.Q4_K), ("Q5_K", T.Q5_K), ("Q6_K", T.Q6_K)]:
        if name in ("Q8_0", "Q4_0"):
            w = weights(rng)
            blocks = quants.quantize(w, qtype)
            flags = 1
        else:
            w = np.zeros((0,), dtype=np.float32)
            blocks = random_blocks(rng, qtype)
            flags = 0
        deq = quants.dequantize(blocks, qtype).astype(np.float32)
        assert deq.shape == (ROWS, COLS), deq.shape
        row_bytes = blocks.shape[1]
        with open(os.path.join(OUT, f"{name}.bin"), "wb") as f:
            f.write(struct.pack("<4I", ROWS, COLS, row_bytes, flags))
            f.write(w.astype("<f4").tobytes())
            f.write(np.ascontiguousarray(blocks).tobytes())
            f.write(deq.astype("<f4").tobytes())
        print(name, "row bytes", row_bytes)


if __name__ == "__main__":
    main()
