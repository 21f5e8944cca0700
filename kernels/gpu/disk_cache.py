"""Linked GPU kernels kept on disk, so that a new process loads them instead of compiling.

numba-cuda's compile (NVVM) and nvJitLink's link take about 0.1 to 0.3 s a kernel
(``compile_ptx`` and ``link`` in ``launch``): a script calling a few ops in two
dtypes paid seconds at its first calls, in every process. ``CupyStart`` looks a
kernel up here first and stores what it compiled.

An entry's key holds everything that shapes its code: a digest of this package's
sources (a kernel inlines helpers from other modules here), the kernel, its
argument types, the compute capability, the numba, numba-cuda and nvJitLink
versions and the driver's (which loads the code). So an entry is never stale;
entries for versions gone are only disk space (a few hundred KB in all).

Where: ``$XDG_CACHE_HOME/xpvec/cuda`` (else ``~/.cache/xpvec/cuda``), the user's
own; ``XPVEC_CUDA_CACHE=0`` turns it off, and where the folder cannot be written
every process compiles, as without it. An entry is written to a temporary file
and renamed into place, so a process never reads half of one that another is
writing; one that does not parse is compiled again and replaced.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

ENV_VAR = "XPVEC_CUDA_CACHE"
_MAGIC = b"xpvec-cuda-kernel-1"
_KINDS = (b"cubin", b"ptx")  # machine code from nvJitLink, or PTX for the driver to compile


def folder() -> Path | None:
    """The cache folder, made if need be; None when it is turned off or cannot be written."""
    if os.environ.get(ENV_VAR, "").strip() == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "xpvec" / "cuda"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


@functools.cache
def sources_digest() -> str:
    """A digest of this package's source files and the compilers' versions."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    for dist in ("numba", "numba-cuda"):
        try:
            digest.update(f"{dist}={version(dist)}".encode())
        except PackageNotFoundError:  # a development tree: the sources stand for it
            digest.update(f"{dist}=?".encode())
    return digest.hexdigest()


def entry_path(where: Path, parts: tuple) -> Path:
    """The file of the entry keyed by ``parts`` (with the sources' digest) in ``where``."""
    key = hashlib.sha256(repr((sources_digest(), *parts)).encode()).hexdigest()
    return where / f"{key}.kernel"


def read(path: Path) -> tuple[str, bytes, bool] | None:
    """``(entry name, code, linked)`` of a stored kernel, or None (no entry, or a broken one)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    fields = data.split(b"\n", 3)
    if len(fields) != 4 or fields[0] != _MAGIC or fields[2] not in _KINDS or not fields[3]:
        return None
    return fields[1].decode(errors="replace"), fields[3], fields[2] == _KINDS[0]


def write(path: Path, entry: str, code: bytes, linked: bool) -> None:
    """Store a kernel; a failure to write only leaves it uncached."""
    data = b"\n".join([_MAGIC, entry.encode(), _KINDS[0] if linked else _KINDS[1], code])
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".kernel")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)  # atomic: readers see the old entry or the whole new one
    except OSError:
        Path(temporary).unlink(missing_ok=True)
