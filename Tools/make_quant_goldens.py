#!/usr/bin/env python3
"""Goldens for swapmoe's quantized blocks, from gguf-py (PyPI `gguf`, llama.cpp's own Python package) and from
llama.cpp's C reference quantizers.

Each Tests/Fixtures/quant/<NAME>.bin holds, little-endian:
    u32 rows, u32 cols, u32 row_bytes, u32 flags
    f32 weights[rows*cols]          (only when bit 0 of flags is set)
    u8  blocks[rows*row_bytes]
    f32 dequantized[rows*cols]       gguf-py's dequantize(blocks)
flags bit 0: `blocks` quantize `weights`; bit 1: by llama.cpp's C reference (quantize_row_<type>_ref), else by
gguf-py. With bit 0 clear, `blocks` are random valid blocks and `weights` is empty.

<TYPE>.bin (TYPE = Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, MXFP4, IQ4_NL, IQ4_XS): gguf-py's quantize() for
the 32-weight types (round to nearest, as llama.cpp's reference); for the K-types gguf-py only dequantizes, so their
blocks are random bytes with sane f16 scales (every bit pattern of the scale bytes, for the dequantizer tests).

<TYPE>_ref.bin: every type quantized by llama.cpp's reference C quantizers (the ones llama-quantize uses without
an importance matrix; for IQ4_NL / IQ4_XS, llama-quantize's own `ggml_quantize_chunk`) on weight-like rows, for
the quantizer tests. These need llama.cpp's libggml-base.so
(which exports quantize_row_*_ref), as `bash Tools/build_llamacpp.sh` builds it from the llama.cpp vendored in
PyPI's llama-cpp-python sdist (never needed by the tests): path in $GGML_QUANTS_LIB, default
.build/llamacpp/build/bin/libggml-base.so. Without it, `--no-ref` writes only the gguf-py goldens.

<TYPE>_vecdot.bin: llama.cpp's own CPU dot product (`ggml_get_type_traits_cpu(type)->vec_dot`, which quantizes
x to its q8_0 / q8_1 / q8_K activation blocks first, as llama.cpp's matrix-vector products do) of each row of
<TYPE>_ref.bin with one activation-like x, for swapmoe's integer GEMV (a peer implementation, not ours):
    u32 rows, u32 cols, f32 x[cols], f32 y[rows]
Needs libggml-cpu.so beside libggml-base.so ($GGML_CPU_LIB).

Run: .venv/bin/python Tools/make_quant_goldens.py [--no-ref]
"""
import ctypes
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "quant")
ROWS, COLS = 4, 512
# New types go at the end: the random draws of the earlier types' goldens then stay the same.
TYPES = [("Q8_0", T.Q8_0), ("Q4_0", T.Q4_0), ("Q4_K", T.Q4_K), ("Q5_K", T.Q5_K), ("Q6_K", T.Q6_K),
         ("Q4_1", T.Q4_1), ("Q5_0", T.Q5_0), ("Q5_1", T.Q5_1), ("Q2_K", T.Q2_K), ("Q3_K", T.Q3_K), ("MXFP4", T.MXFP4),
         ("IQ4_NL", T.IQ4_NL), ("IQ4_XS", T.IQ4_XS)]
# The types whose reference bytes are llama-quantize's (ggml_quantize_chunk without an importance matrix): for the
# IQ4 types it searches more scales than their quantize_row_*_ref does.
CHUNK_QUANTIZED = ("IQ4_NL", "IQ4_XS")
# The types gguf-py quantizes itself (round to nearest, claiming llama.cpp's reference bytes); it only
# dequantizes the others.
PY_QUANTIZED = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "MXFP4")
CPU_LIB = os.environ.get("GGML_CPU_LIB", os.path.join(os.path.dirname(__file__), "..", ".build", "llamacpp", "build", "bin", "libggml-cpu.so"))
REF_LIB = os.environ.get("GGML_QUANTS_LIB", os.path.join(os.path.dirname(__file__), "..", ".build", "llamacpp", "build", "bin", "libggml-base.so"))


def weights(rng):
    w = rng.standard_normal((ROWS, COLS)).astype(np.float32) * 0.02
    w[0, 7] = 0.31       # an outlier, as real weight rows have
    w[1, :32] = 0.0      # an all-zero block
    w[2, 40] = -0.25
    return w


def ref_weights(rng):
    """Rows like real checkpoints' (and a few that stress the scale search), 3 super-blocks each."""
    rows, cols = 12, 768
    w = rng.standard_normal((rows, cols)).astype(np.float32) * 0.02
    w[1] = rng.standard_t(3, cols).astype(np.float32) * 0.01            # heavy tails
    w[2] *= 50                                                           # large scale (~1)
    w[3] = rng.standard_normal(cols).astype(np.float32) * 1e-4           # small scale
    w[4] = np.abs(w[4]) + 0.003                                          # all positive (min clamps to 0)
    w[5] = -np.abs(w[5])                                                 # all negative
    w[6, 5] = 0.4; w[6, 300] = -0.6                                      # outliers
    w[7, :32] = 0.0; w[7, 256:512] = 0.0                                 # an all-zero sub-block and super-block
    w[8] = rng.uniform(-0.05, 0.05, cols).astype(np.float32)             # uniform
    w[9] *= np.repeat(rng.uniform(0.1, 3.0, cols // 16), 16).astype(np.float32)  # scale varying by 16-group
    w[10] = np.round(w[10] * 500) / 500                                  # few distinct values
    w[11] = w[11].astype(np.float16).astype(np.float32)                  # f16-exact, as a converted checkpoint
    return w


def ref_quantize(lib, name, w):
    """llama.cpp's quantize_row_<type>_ref on each row of w."""
    qtype = dict(TYPES)[name]
    block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
    rows, cols = w.shape
    out = np.zeros((rows, cols // block_size * type_size), dtype=np.uint8)
    if name in CHUNK_QUANTIZED:
        lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                            ctypes.c_int64, ctypes.c_void_p]
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        src = np.ascontiguousarray(w, dtype=np.float32)
        lib.ggml_quantize_chunk(int(qtype), src.ctypes.data, out.ctypes.data, 0, rows, cols, None)
        return out
    fn = getattr(lib, f"quantize_row_{'mxfp4' if name == 'MXFP4' else 'q' + name[1:]}_ref")
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn.restype = None
    for r in range(rows):
        src = np.ascontiguousarray(w[r], dtype=np.float32)
        dst = np.ascontiguousarray(out[r])
        fn(src.ctypes.data, dst.ctypes.data, cols)
        out[r] = dst
    return out


class TypeTraitsCPU(ctypes.Structure):
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p),
                ("vec_dot_type", ctypes.c_int), ("nrows", ctypes.c_int64)]


FROM_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
VEC_DOT = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


def llama_vec_dot(cpu, qtype, blocks, x):
    """llama.cpp's vec_dot of each row of `blocks` with x (x quantized by the vec_dot type's from_float)."""
    traits = ctypes.cast(cpu.ggml_get_type_traits_cpu(int(qtype)), ctypes.POINTER(TypeTraitsCPU)).contents
    act = ctypes.cast(cpu.ggml_get_type_traits_cpu(traits.vec_dot_type), ctypes.POINTER(TypeTraitsCPU)).contents
    cols = x.size
    xq = np.zeros(cols * 2 + 4096, dtype=np.uint8)   # more than any 8-bit activation row needs
    src = np.ascontiguousarray(x, dtype=np.float32)
    FROM_FLOAT(act.from_float)(src.ctypes.data, xq.ctypes.data, cols)
    out = np.zeros(blocks.shape[0], dtype=np.float32)
    for r in range(blocks.shape[0]):
        row = np.ascontiguousarray(blocks[r])
        VEC_DOT(traits.vec_dot)(cols, out[r:].ctypes.data, 0, row.ctypes.data, 0, xq.ctypes.data, 0, 1)
    return out


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
    elif qtype == T.Q2_K:
        b[:, 80:82] = f16(rng.uniform(1e-4, 2e-3, nblocks))   # d
        b[:, 82:84] = f16(rng.uniform(1e-4, 2e-3, nblocks))   # dmin
    elif qtype == T.Q3_K:
        b[:, 108:110] = f16(rng.uniform(1e-5, 2e-4, nblocks))
    elif qtype == T.IQ4_NL:
        b[:, 0:2] = f16(rng.uniform(1e-4, 2e-3, nblocks) * rng.choice([-1, 1], nblocks))
    elif qtype == T.IQ4_XS:
        b[:, 0:2] = f16(rng.uniform(1e-5, 2e-4, nblocks) * rng.choice([-1, 1], nblocks))
    return b.reshape(ROWS, -1)


def write(path, w, blocks, qtype, flags):
    rows, row_bytes = blocks.shape
    deq = quants.dequantize(blocks, qtype).astype(np.float32)
    cols = deq.shape[1]
    assert w.size == 0 or w.shape == deq.shape, (w.shape, deq.shape)
    with open(path, "wb") as f:
        f.write(struct.pack("<4I", rows, cols, row_bytes, flags))
        f.write(w.astype("<f4").tobytes())
        f.write(np.ascontiguousarray(blocks).tobytes())
        f.write(deq.astype("<f4").tobytes())
    return deq


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1717)
    for name, qtype in TYPES:
        if name in PY_QUANTIZED:
            w = weights(rng)
            blocks = quants.quantize(w, qtype)
            flags = 1
        else:
            w = np.zeros((0,), dtype=np.float32)
            blocks = random_blocks(rng, qtype)
            flags = 0
        write(os.path.join(OUT, f"{name}.bin"), w, blocks, qtype, flags)
        print(name, "row bytes", blocks.shape[1])
    if "--no-ref" in sys.argv:
        return

    lib = ctypes.CDLL(REF_LIB)
    rng = np.random.default_rng(1718)
    w = ref_weights(rng)
    for name, qtype in TYPES:
        blocks = ref_quantize(lib, name, w)
        if name in PY_QUANTIZED:   # gguf-py's quantizers claim the C reference's bytes: check on these rows
            assert np.array_equal(blocks, quants.quantize(w, qtype)), name
        deq = write(os.path.join(OUT, f"{name}_ref.bin"), w, blocks, qtype, 3)
        assert np.isfinite(deq).all(), name
        rmse = float(np.sqrt(np.mean((deq.astype(np.float64) - w) ** 2)))
        print(f"{name}_ref rows {w.shape[0]} cols {w.shape[1]} rmse {rmse:.4e}")

    cpu = ctypes.CDLL(CPU_LIB)
    cpu.ggml_cpu_init()
    cpu.ggml_get_type_traits_cpu.restype = ctypes.c_void_p
    cpu.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
    x = (rng.standard_normal(w.shape[1]) * 0.5).astype(np.float32)   # activation-like, with outliers
    x[3] = 6.0; x[300] = -4.0; x[500:532] = 0.0
    for name, qtype in TYPES:
        blocks = ref_quantize(lib, name, w)
        y = llama_vec_dot(cpu, qtype, blocks, x)
        exact = (quants.dequantize(blocks, qtype).astype(np.float64) @ x.astype(np.float64))
        with open(os.path.join(OUT, f"{name}_vecdot.bin"), "wb") as f:
            f.write(struct.pack("<2I", blocks.shape[0], x.size))
            f.write(x.astype("<f4").tobytes())
            f.write(y.astype("<f4").tobytes())
        print(f"{name}_vecdot: llama.cpp vs f64 dot of the dequantized rows: max |diff| {np.max(np.abs(y - exact)):.3e}")


if __name__ == "__main__":
    main()
