"""The xpvec command: info, demo and bench (also python -m xpvec ...)."""  # shown by --help: plain text

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ._registry import SPECS, backend_report
from ._table import format_table


def _info(args: argparse.Namespace) -> int:
    from ._registry import _load_class, unusable_reason
    from ._selection import ENV_VAR
    from .backends._base import KERNEL_OPS

    report = backend_report()
    rows = [(name, "ok" if status == "ok" else "unavailable", SPECS[name].summary) for name, status in report.items()]
    print(format_table(["backend", "status", "what runs"], rows))
    for name, status in report.items():
        if status != "ok":
            print(f"\n{name}: {status}")
    chosen = os.environ.get(ENV_VAR) or None  # as xpvec reads it at import: empty is unset
    reason = unusable_reason(chosen) if chosen else None  # the registry's text, with its fix
    if chosen is None:
        print("\ndefault backend: inferred from each input's array type (numpy for NumPy data)")
    elif reason is None:
        print(f"\ndefault backend: {chosen} (from {ENV_VAR})")
    if report["numba"] == "ok":
        from .kernels.cpu._config import describe_threads

        print(f"numba's parallel kernels: {describe_threads()}")
    usable = [name for name, status in report.items() if status == "ok"]
    native = {name: set(_load_class(SPECS[name]).native_ops()) for name in usable}
    grid = [(op, *("x" if op in native[name] else "." for name in usable)) for op in KERNEL_OPS]
    print("\nkernels (x: the backend's own; .: the generic array-API one)")
    print(format_table(["op", *usable], grid))
    if reason is not None:
        # Every op without backend= would raise this: the table alone would read as all well.
        print(f"xpvec info: error: {ENV_VAR}={chosen!r} is unusable: {reason}. Every op without "
              f"backend= raises this until {ENV_VAR} is fixed or unset", file=sys.stderr)  # fmt: skip
        return 1
    return 0


_DEMO_SIZE = 1_000_000  # demo --ops: elements per array unless --size


def _demo(args: argparse.Namespace) -> int:
    from .demo import ops_table, training_table

    backends = tuple(args.backends) if args.backends else None
    if args.ops:
        print(ops_table(n=args.size or _DEMO_SIZE, backends=backends))
    else:
        print(training_table(backends=backends))
    return 0


def _parse_count(text: str) -> int | None:
    """An element count written as 1000, 1e3 or 1_000; None unless a whole number >= 1.

    The one reading of sizes for ``demo --size`` and ``bench --sizes``. Fractions
    are refused rather than truncated, and nan/inf fail the test instead of
    reaching ``int`` (whose OverflowError argparse would not catch).
    """
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value >= 1 and value.is_integer() else None


def _physical_memory() -> int | None:
    """Bytes of RAM on this machine, None where the OS does not say (Windows)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_fits(size: int) -> int:
    """``size``, unless one float64 array of it would not fit in RAM: refused before any timing
    (NumPy would fail mid-run with "Maximum allowed dimension exceeded" or a MemoryError)."""
    ram = _physical_memory()
    if ram is not None and 8 * size > ram:
        raise argparse.ArgumentTypeError(
            f"size {size:.3g} needs {8 * size / 2**30:.3g} GiB per float64 array; this machine has "
            f"{ram / 2**30:.3g} GiB of memory: choose a smaller size"
        )
    return size


def _size(text: str) -> int:
    size = _parse_count(text)
    if size is None:  # here, not as numpy's "negative dimensions" deep in the demo
        raise argparse.ArgumentTypeError(f"size must be a positive whole number like 1000 or 1e6, got {text!r}")
    return _check_fits(size)


def _sizes(text: str) -> list[int]:
    sizes = [_parse_count(t) for t in text.split(",") if t.strip()]
    if not sizes or None in sizes:
        raise argparse.ArgumentTypeError(f"sizes must be positive whole numbers like 1e3,1e5, got {text!r}")
    return [_check_fits(size) for size in sizes]


def _folder(text: str):
    """A --out folder; "" is refused, where ``Path("")`` would quietly be the current directory."""
    from pathlib import Path

    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}; for the current directory write '.'")
    return Path(text)


def _names(text: str) -> list[str]:
    """Comma-separated names, as ``numpy, numba,`` (spaces and empty items ignored, repeats once).

    The one reading of names for ``demo --backends`` and ``bench --ops/--backends``;
    unknown names are left to the commands, whose errors list the known ones (the
    registry's, for a backend, also the closest).
    """
    names = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not names:  # "" or ",": not silently "all"
        raise argparse.ArgumentTypeError(f"expected one or more comma-separated names, got {text!r}")
    return names


class _Progress:
    """A one-line progress bar on stderr (a line per step when stderr is not a terminal)."""

    def __init__(self, total: int):
        self.total, self.done, self.tty = total, 0, sys.stderr.isatty()

    def __call__(self, label: str) -> None:
        self.done += 1
        width = 24
        filled = width * self.done // max(self.total, 1)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {label}"
        print(f"\r{line:<79}" if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def _bench(args: argparse.Namespace) -> int:
    from ._registry import available_backends
    from .bench.cases import CASES
    from .bench.sweep import validate

    ops = args.ops or list(CASES)
    backends = args.backends or [b for b in available_backends() if b != "array_api"]
    sizes = args.sizes or ([1_000, 100_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000, 10_000_000])
    # Fails here, before any timing, when a backend (cupy without a GPU, say) cannot run.
    ops, backends, sizes = validate(ops, backends, sizes)
    out = _output_folder(args.out)
    host_backends = [b for b in backends if b != "cupy"]
    code = _bench_host(args, ops, host_backends, sizes, out) if host_backends else 0
    if "cupy" in backends and code != 130:  # not after Ctrl-C
        _bench_gpu(args, ops, out)
    return code


class _OutputFolderError(Exception):
    """The --out folder cannot be created or written to."""


def _output_folder(out):
    """``out``, created and proven writable, so that a bad --out fails before minutes of timing."""
    import errno
    import tempfile

    if out.exists() and not out.is_dir():  # mkdir's own reason would be "File exists"
        # The system's wording, as for a folder under a file; /dev/null is no file either.
        raise _OutputFolderError(f"cannot write to the output folder '{out}': {os.strerror(errno.ENOTDIR)}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        # A file made and removed: the real writes' own test, whatever would stop
        # them (mode bits, ACLs, a read-only mount), where os.access only guesses.
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise _OutputFolderError(f"cannot write to the output folder '{out}': {exc.strerror or exc}") from None
    return out


def _bench_host(args: argparse.Namespace, ops: list[str], backends: list[str], sizes: list[int], out) -> int:
    """The host sweep, its tables, bench.json and bench.png. 0; 1 when nothing could be timed;
    130 when interrupted (Ctrl-C), after writing what was measured until then."""
    from .bench import report
    from .bench.cases import CASES
    from .bench.classic import classic_dot, format_classic
    from .bench.sweep import machine_info, run_sweep

    # A step per runner at each size a case runs (sizes it rounds alike run once: Case.sizes_run).
    runners = {op: len(backends) + len(CASES[op].peers) * (not args.no_peers) for op in ops}
    progress = _Progress(sum(len(CASES[op].sizes_run(sizes)) * runners[op] for op in ops))
    timing = {"repeats": 3, "min_sample": 0.005} if args.quick else {"repeats": 7, "min_sample": 0.02}
    results, extra, interrupted = [], {}, False
    try:
        for result in run_sweep(ops, backends, sizes, dtype=args.dtype, peers=not args.no_peers, progress=progress, **timing):
            results.append(result)
        progress.close()
        if "dot" in ops:  # the classic is a dot product: not asked for unless dot is
            extra["classic_dot"] = classic_dot(10_000 if args.quick else 1_000_000, backends=tuple(backends))
            print(format_classic(extra["classic_dot"]) + "\n")
    except KeyboardInterrupt:
        progress.close()
        interrupted = True
    if not results:  # interrupted during the first timing
        print("xpvec bench: interrupted before anything was timed", file=sys.stderr)
        return 130
    machine = machine_info()
    print(report.tables(results))
    notes = [line for op in ops if (line := CASES[op].rounding(sizes))]
    if notes:
        print("\n" + "\n".join(notes))
    config = {"ops": ops, "backends": backends, "sizes": sizes, "dtype": args.dtype, "quick": args.quick, **timing,
              "command": " ".join(["xpvec", *args.argv]), "interrupted": interrupted}  # fmt: skip
    report.write_json(out / "bench.json", results, machine, config, extra)
    why_not = report.write_plot(out / "bench.png", results, machine)
    if why_not:  # a plot of an earlier run beside this run's JSON would pass for this one's
        (out / "bench.png").unlink(missing_ok=True)
    print(f"\nwrote {out / 'bench.json'}" + (f"; {why_not}" if why_not else f" and {out / 'bench.png'}"))
    if interrupted:
        print(f"xpvec bench: interrupted; {out / 'bench.json'} holds what was measured until then", file=sys.stderr)
        return 130
    if not any(r.median_s for r in results):
        print("xpvec bench: nothing was timed: " + "; ".join(dict.fromkeys(r.note for r in results)), file=sys.stderr)
        return 1
    return 0


def _bench_gpu(args: argparse.Namespace, ops: list[str], out) -> None:
    """The GPU experiment (``xpvec.bench.gpu``): both dtypes, sizes 1e3..1e8 unless --sizes."""
    from .bench import gpu, report
    from .bench.sweep import machine_info

    plan = gpu.quick_plan(ops) if args.quick else gpu.Plan(ops)
    if args.sizes:
        plan.sizes = args.sizes
    device = gpu.CupyDevice()
    plan.variants = len(device.variants())
    progress = _Progress(plan.steps)
    machine = machine_info()
    # gpu.json is rewritten after each phase: a run cut short keeps what it measured.
    experiment = gpu.run(device, plan, progress, lambda e: gpu.write_json(out, e, machine, plan))
    progress.close()
    for dtype in plan.dtypes:
        print(report.tables([r for r in experiment["results"] + experiment["loss_grad"] if r.dtype == dtype]) + "\n")
    print(gpu.format_summary(experiment))
    print("\nwrote " + ", ".join(gpu.write(out, experiment, machine, plan)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpvec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "info",
        help="which backends are usable here, and why not",
        description="List the backends, whether each can run here (and if not, why and how to fix it), "
        "the default backend, and which ops each backend runs with its own kernels.",
    ).set_defaults(run=_info)
    demo = sub.add_parser(
        "demo",
        help="train logistic regression on the digits images on every usable backend and compare",
        description="Train LogisticRegression on scikit-learn's digits images on each backend and print "
        "accuracy, fit time and agreement with NumPy's probabilities, the Python loop as the baseline; "
        "with --ops, time the ops (dot, sigmoid, softmax, normalize_rows, l2_loss) instead.",
    )
    demo.add_argument("--ops", action="store_true", help="time the ops instead (sigmoid, softmax, ...)")
    # No default here: None tells that --size was not given, which without --ops is an error.
    demo.add_argument("--size", type=_size, help="elements per array for --ops (default 1e6)")
    demo.add_argument("--backends", type=_names, help="comma-separated backend names (default: all usable)")
    demo.set_defaults(run=_demo)
    bench = sub.add_parser(
        "bench",
        help="time every op on every backend against peers and the copy floor; with cupy, the GPU experiment too",
        description="Time each op on each backend beside its peers (scipy, numexpr, NumPy expressions) and "
        "the memory-copy floor, print a table per op, and write bench.json and bench.png into --out.",
    )
    bench.add_argument(
        "--ops",
        type=_names,
        help="comma-separated benchmark cases, named after the ops they time (default: all: "
        + ", ".join(_bench_cases())
        + ")",
    )
    bench.add_argument(
        "--backends",
        type=_names,
        help="comma-separated backends (default: every usable one except array_api, which on the "
        "benchmark's NumPy inputs would time NumPy again, through the generic kernels; name it to include it)",
    )
    bench.add_argument("--sizes", type=_sizes, help="comma-separated element counts (default 1e3..1e7; 1e3..1e8 for the GPU experiment)")
    bench.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float64",
        help="host sweep (default: %(default)s; the GPU experiment runs both)",
    )
    bench.add_argument("--quick", action="store_true", help="sizes 1e3 and 1e5, fewer repeats (under a minute)")
    bench.add_argument("--no-peers", action="store_true", help="skip scipy/numexpr/NumPy-expression peers")
    bench.add_argument(
        "--out",
        type=_folder,
        default="xpvec-bench",
        help="folder for bench.json and bench.png (with cupy also gpu.json, gpu-float32.png and "
        "gpu-float64.png; default: %(default)s)",
    )
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as run, for bench.json
    if args.command is None:  # "xpvec" alone: what it can do, not argparse's "required: command"
        parser.print_help(sys.stderr)
        return 2
    if args.command == "demo" and args.size is not None and not args.ops:
        # The training demo's data is the fixed digits set (1797 images): there is no size to set.
        demo.error("argument --size: applies to --ops only (the training demo uses the fixed digits set); add --ops")
    try:
        code = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at interpreter exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback through whatever was running
        print(f"\nxpvec {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear one-line error, not a traceback, for what users can fix
        from .bench.sweep import InvalidRequest
        from .errors import BackendUnavailableError

        # Only these: a TypeError or ValueError from anywhere else is a bug, and its
        # traceback is what a report needs (a one-line "error:" would hide where it came from).
        if isinstance(exc, (BackendUnavailableError, _OutputFolderError, InvalidRequest)):
            print(f"xpvec {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise


def _bench_cases() -> list[str]:
    """The benchmark cases' names, for --help (loads NumPy, not the backends)."""
    from .bench.cases import CASES

    return list(CASES)


def _version() -> str:
    """The installed distribution's version; the package's own where it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("xpvec")
    except PackageNotFoundError:  # run from a checkout on sys.path, say
        from . import __version__

        return __version__


def _stdout_closed() -> int:
    """The reader of our output left (``xpvec info | head -3``): exit quietly.

    As the Python docs advise (signal module, "Note on SIGPIPE"): point stdout
    at devnull, so that the interpreter's final flush of what is still
    buffered does not fail again, and exit 1, as Python does on EPIPE.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1
