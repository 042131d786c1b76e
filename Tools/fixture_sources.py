"""Where the raw material for the fixtures comes from (all offline-reachable).

Everything here is fetched through ordinary package clients (apt-get download,
pip download) into a cache directory that is NOT committed:

    $SWAPMOE_FIXTURE_SRC   (default: <repo>/.venv/fixture-sources, gitignored with .venv)

Sources and licences (see Docs/Fixtures.md):
  * Jane Austen's six novels -- Debian package r-cran-janeaustenr (R data, MIT
    packaging; the novels themselves are public domain).
  * Python 3.11 documentation sources -- Debian package python3.11-doc
    (PSF License) -- technical English with code snippets.
  * GPT-2 BPE ranks -- whisper/assets/gpt2.tiktoken from the openai-whisper
    sdist on PyPI (MIT).
  * Mistral 7B v0.1 SentencePiece model -- mistral_common/data/tokenizer.model.v1
    from the mistral-common wheel (Apache-2.0).
"""

from __future__ import annotations

import functools
import gzip
import os
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SWAPMOE_FIXTURE_SRC", ROOT / ".venv" / "fixture-sources"))

WHISPER_VERSION = "20250625"  # openai-whisper sdist that ships gpt2.tiktoken
AUSTEN_ORDER = ["prideprejudice", "sensesensibility", "emma", "mansfieldpark", "northangerabbey", "persuasion"]


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def _debian_package(name: str) -> Path:
    """Download (once) and unpack a Debian package; returns the unpack root."""
    out = CACHE / name
    if out.is_dir():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    debs = sorted(CACHE.glob(f"{name}_*.deb"))
    if not debs:
        try:
            _run(["apt-get", "download", name], CACHE)
        except subprocess.CalledProcessError:
            # Package lists may be missing on a fresh machine.
            _run(["apt-get", "update"], CACHE)
            _run(["apt-get", "download", name], CACHE)
        debs = sorted(CACHE.glob(f"{name}_*.deb"))
    tmp = CACHE / (name + ".partial")
    _run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)], CACHE)
    tmp.rename(out)
    return out


@functools.lru_cache(maxsize=None)
def austen_novels() -> dict[str, list[str]]:
    """The six novels as lists of lines (exactly as janeaustenr stores them).

    janeaustenr keeps its data as an R lazy-load database (Rdata.rdx/.rdb):
    the .rdx is a gzip'ed serialized index {name: (offset, length)} into the
    .rdb, where each object is a 4-byte length header + zlib'ed serialization.
    """
    import warnings

    import rdata

    root = _debian_package("r-cran-janeaustenr")
    data = root / "usr/lib/R/site-library/janeaustenr/data"

    def parse(raw: bytes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata: "Unknown file type: assumed RDS"
            return rdata.conversion.convert(rdata.parser.parse_data(raw))

    index = parse(gzip.decompress((data / "Rdata.rdx").read_bytes()))
    rdb = (data / "Rdata.rdb").read_bytes()
    novels = {}
    for name, (off, length) in index["variables"].items():
        off, length = int(off), int(length)
        novels[str(name)] = [str(x) for x in parse(zlib.decompress(rdb[off + 4 : off + length]))]
    return {k: novels[k] for k in AUSTEN_ORDER}


def austen_paragraphs(novel: str) -> list[str]:
    """Paragraphs of one novel: consecutive non-empty lines joined by a space."""
    paras, cur = [], []
    for line in austen_novels()[novel]:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    return paras


def python_doc_sources() -> list[tuple[str, str]]:
    """(relative path, text) of the Python 3.11 docs' reST sources, sorted by path."""
    root = _debian_package("python3.11-doc")
    src = root / "usr/share/doc/python3.11/html/_sources"
    out = []
    for p in sorted(src.rglob("*.rst.txt")):
        out.append((str(p.relative_to(src)), p.read_text(encoding="utf-8")))
    return out


def gpt2_tiktoken() -> Path:
    """Path to GPT-2's BPE ranks, from the openai-whisper sdist on PyPI."""
    target = CACHE / "gpt2.tiktoken"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / f"openai_whisper-{WHISPER_VERSION}.tar.gz"
    if not sdist.exists():
        _run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             f"openai-whisper=={WHISPER_VERSION}", "-d", str(CACHE)],
            CACHE,
        )
    with tarfile.open(sdist) as tf:
        member = tf.getmember(f"openai_whisper-{WHISPER_VERSION}/whisper/assets/gpt2.tiktoken")
        data = tf.extractfile(member).read()
    target.with_suffix(".partial").write_bytes(data)
    target.with_suffix(".partial").rename(target)
    return target


def mistral_sentencepiece_model() -> Path:
    """Mistral 7B v0.1's SentencePiece model (32000 pieces, byte fallback)."""
    import mistral_common

    p = Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1"
    if not p.exists():
        raise FileNotFoundError(p)
    return p


if __name__ == "__main__":
    n = austen_novels()
    print({k: len(v) for k, v in n.items()})
    print(len(python_doc_sources()), "python doc sources")
    print(gpt2_tiktoken())
    print(mistral_sentencepiece_model())
