"""Process-wide numba settings for the CPU kernels, applied before any of them compiles.

- Threading layer: numba's ``workqueue`` layer aborts the process when two
  Python threads launch parallel kernels at once. Unless the user chose a
  layer (``NUMBA_THREADING_LAYER``), pick a thread-safe one (``tbb``, whose
  pip wheel is loaded for numba here, else ``omp``) when it loads; when none
  does, parallel kernel calls are serialized by a lock (``PARALLEL_LOCK``)
  instead. TBB first: it copes with cores that other processes hold
  (``_load_pip_tbb``).
- Cache location: ``cache=True`` writes compiled kernels next to their
  source. In a read-only install that is impossible, so unless the user set
  ``NUMBA_CACHE_DIR``, the kernels are compiled with numba's cache directory
  pointed at a per-user one (``$XDG_CACHE_HOME/xpvec/numba``, by default
  ``~/.cache/xpvec/numba``) while they are defined (``kernel_cache_location``);
  a digest of the sources beside the cache drops stale kernels
  (``_drop_stale_kernels``).
- ``PARALLEL_MIN_SIZE``: below this many elements a kernel runs serially,
  because starting the threads costs more than the work.
- Fork: GNU OpenMP (the ``omp`` layer on Linux, what "threadsafe" picks when
  TBB does not load) cannot run in a process forked from one whose OpenMP
  threads ran; numba terminates such a child at its first parallel launch, and
  a ``multiprocessing`` pool (fork is Linux's default start method before
  Python 3.14) then waits forever for the dead worker. A child forked after
  the threads ran sets ``SERIAL_ONLY`` and runs every kernel serially
  instead. (The ``workqueue`` layer survives a fork, but its workers sleep
  between calls: measured 2-2.6x slower than ``omp`` at 1e5-1e6 elements.)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import importlib
import importlib.metadata
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numba

# numba options of the kernels. All release the GIL and take NumPy's error model: a float
# division by zero gives inf/NaN instead of raising, which is what lets LLVM vectorize loops
# that divide; "contract" fuses multiply-adds. Entry points cache their machine code on disk.
JIT = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": {"contract"}}
# Helpers the entry points call: compiled with them, nothing of their own to cache.
INLINE = {"nogil": True, "error_model": "numpy", "fastmath": {"contract"}}
# Sums only, no exp: reassociation lets LLVM keep lanes of partial sums (see _sums).
REASSOC = {**INLINE, "fastmath": {"reassoc", "contract"}}

# Measured on 2 idle cores: a parallel call costs ~3 us more than a serial one
# and the serial fused sigmoid runs ~1.1 ns per float64 element, so threads pay
# from ~2**13 elements. But when another process holds a core, waking a worker
# can cost a scheduler time slice (milliseconds); 2**16 elements (~70 us of
# serial work) keeps small calls clear of that.
PARALLEL_MIN_SIZE = 1 << 16

# Layers numba documents as safe for concurrent launches from several threads.
_THREAD_SAFE = frozenset({"tbb", "omp", "safe", "threadsafe"})
_POOLS = {"tbb": "numba.np.ufunc.tbbpool", "omp": "numba.np.ufunc.omppool"}


def _loadable(layer: str) -> bool:
    try:
        importlib.import_module(_POOLS[layer])
    except ImportError:  # the layer's runtime library (libtbb, libgomp) is missing
        return False
    return True


def _load_pip_tbb() -> None:
    """Load the ``tbb`` wheel's libtbb, so that numba's tbb layer finds it.

    pip puts it in ``<prefix>/lib``, where the dynamic loader does not look (conda's
    does): numba would find no TBB and run its threads on GNU OpenMP, whose team waits
    at the end of every parallel kernel for each of its threads, a thread the OS has
    preempted included. Where another process holds a core, that is a scheduler time
    slice per call: on 2 cores with one busy, a digits fit (75 iterations) took 157 ms
    against 20 on idle cores (NumPy: 24). TBB's threads take each other's work instead:
    27 ms. Loaded globally, so the soname numba's extension asks for resolves to it.
    """
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return
    for file in files:
        if file.name == "libtbb.so.12":  # the interface numba's tbbpool links against
            with contextlib.suppress(OSError):
                ctypes.CDLL(str(file.locate()), mode=ctypes.RTLD_GLOBAL)
            return


def _choose_threading_layer() -> str:
    """Set numba's threading layer if still open, and return the one in force (or requested)."""
    try:
        return numba.threading_layer()  # threads already launched: the layer is fixed
    except ValueError:
        pass
    requested = numba.config.THREADING_LAYER
    if requested in ("default", "tbb", "safe", "threadsafe", "forksafe") and not _loadable("tbb"):
        _load_pip_tbb()  # for a layer asked for by name too: numba would not find the wheel's
    if requested != "default":
        return requested
    if _loadable("tbb") or _loadable("omp"):
        numba.config.THREADING_LAYER = "threadsafe"
        return "threadsafe"
    numba.config.THREADING_LAYER = "workqueue"
    return "workqueue"


THREADING_LAYER = _choose_threading_layer()

_LAYER_NAMES = {"tbb": "TBB", "omp": "OpenMP", "workqueue": "numba's workqueue"}


def describe_threads() -> str:
    """``"2 threads on TBB"``: numba's thread count and the layer it runs them on, its
    threads launched to tell (the layer is fixed then; no kernel is compiled). Where it is
    not TBB, how to get TBB: it copes with cores that other processes hold."""
    try:
        from numba.np.ufunc.parallel import _launch_threads  # numba's own, before a first kernel

        _launch_threads()
        layer = numba.threading_layer()
    except Exception as exc:  # a private numba call: report rather than fail ``xpvec info``
        return f"{numba.config.NUMBA_NUM_THREADS} threads (layer unknown: {exc})"
    text = f"{numba.config.NUMBA_NUM_THREADS} threads on {_LAYER_NAMES.get(layer, layer)}"
    if layer != "tbb":
        text += " (not TBB, which copes better with cores that other processes hold: pip install tbb)"
    return text
#: Held around every parallel kernel call when the threading layer is not thread-safe.
PARALLEL_LOCK: threading.Lock | None = None if THREADING_LAYER in _THREAD_SAFE else threading.Lock()

#: True in a child forked after GNU OpenMP threads ran in its parent: kernels run serially.
SERIAL_ONLY = False


def _gnu_openmp_ran() -> bool:
    """Whether this process launched numba's threads on GNU OpenMP (libgomp), which a fork breaks."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no threads launched yet: a child launches its own
        return False
    if layer != "omp":
        return False
    from numba.np.ufunc import omppool

    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"


def _after_fork_in_child() -> None:
    global SERIAL_ONLY
    if _gnu_openmp_ran():
        SERIAL_ONLY = True


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError:
        return False
    return True


def user_cache_dir() -> Path:
    """The per-user directory for compiled kernels when the install is read-only."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xpvec" / "numba"


def _private_temp_dir() -> Path:
    """A directory in the temporary folder that only this user can write.

    numba loads its cache files with pickle: a fixed, guessable path in a shared /tmp
    that another user created first would let them plant code. So the per-user path is
    taken only if it is a real directory (not a link), ours, and closed to others;
    otherwise a fresh one (its kernels compile again in the next process).
    """
    user = getattr(os, "getuid", lambda: None)()
    path = Path(tempfile.gettempdir()) / f"xpvec-numba-{user if user is not None else 'user'}"
    with contextlib.suppress(OSError):
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode) and (user is None or (st.st_uid == user and not st.st_mode & 0o022)):
            return path
    fresh = tempfile.mkdtemp(prefix="xpvec-numba-")
    atexit.register(shutil.rmtree, fresh, ignore_errors=True)  # of no use to the next process
    return Path(fresh)


def _cache_dir_of(here: Path) -> Path:
    """Where numba caches the kernels of the modules in ``here`` (its two locators)."""
    if numba.config.CACHE_DIR:
        from numba.core.caching import UserProvidedCacheLocator

        return Path(numba.config.CACHE_DIR) / UserProvidedCacheLocator.get_suitable_cache_subpath(
            str(here / "_config.py")
        )
    return here / "__pycache__"


_SOURCES_STAMP = "xpvec-kernel-sources.sha256"


def _drop_stale_kernels(here: Path) -> None:
    """Delete the cached kernels when any source file of this package changed.

    numba keys a cached kernel on its own module file's time stamp, not on the helpers it
    inlines (``exp``, ``log1p``, ``_typed``, ``_sums``...): after an edit to one of those it
    would load the old machine code. A digest of every source file here, kept beside the
    cache, catches any edit; a mismatch drops every cached kernel of this package (they
    compile again, once). Reading and hashing the files takes well under a millisecond.
    """
    digest = hashlib.sha256()
    for source in sorted(here.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    cache = _cache_dir_of(here)
    stamp = cache / _SOURCES_STAMP
    with contextlib.suppress(OSError):
        if stamp.read_text() == digest.hexdigest():
            return
    with contextlib.suppress(OSError):
        # Every kernel file there is this package's (numba keeps a folder per source folder),
        # also those of a module since renamed or removed.
        for cached in (*cache.glob("*.nbi"), *cache.glob("*.nbc")):
            cached.unlink(missing_ok=True)
        # Before numba makes it: with no digest, the next process would drop every kernel again.
        cache.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest.hexdigest())


@contextlib.contextmanager
def kernel_cache_location() -> Iterator[None]:
    """Within: kernels decorated with ``cache=True`` cache somewhere writable, and not stale.

    numba picks a function's cache directory when it is decorated, so only the
    kernels defined inside see the per-user directory; other numba users in
    the process keep their own setting.
    """
    here = Path(__file__).parent
    if numba.config.CACHE_DIR or _writable(here / "__pycache__"):
        _drop_stale_kernels(here)
        yield
        return
    fallback = user_cache_dir()
    if not _writable(fallback):
        fallback = _private_temp_dir()
    numba.config.CACHE_DIR = str(fallback)
    try:
        _drop_stale_kernels(here)
        yield
    finally:
        numba.config.CACHE_DIR = ""
