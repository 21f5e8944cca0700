"""The ``xpvec`` command: ``info`` and ``demo`` (also ``python -m xpvec ...``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._registry import SPECS, backend_report
from ._table import format_table


def _info(args: argparse.Namespace) -> int:
    from ._registry import _load_class

    rows = []
    for name, status in backend_report().items():
        native = ", ".join(_load_class(SPECS[name]).native_ops()) if status == "ok" else "-"
        rows.append((name, status, SPECS[name].summary, native))
    print(format_table(["backend", "status", "what runs", "native kernels"], rows))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import ops_table, training_table

    backends = tuple(args.backends.split(",")) if args.backends else None
    if args.ops:
        print(ops_table(n=args.size, backends=backends))
    else:
        print(training_table(backends=backends))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpvec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="which backends are usable here, and why not").set_defaults(run=_info)
    demo = sub.add_parser(
        "demo", help="train logistic regression on the digits images on every usable backend and compare"
    )
    demo.add_argument("--ops", action="store_true", help="time the ops instead (sigmoid, softmax, ...)")
    demo.add_argument("--size", type=int, default=1_000_000, help="elements per array for --ops (default 1e6)")
    demo.add_argument("--backends", help="comma-separated backend names (default: all usable)")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except Exception as exc:  # a clear one-line error, not a traceback, for CLI users
        from .errors import BackendUnavailableError

        if isinstance(exc, (BackendUnavailableError, ValueError, TypeError)):
            print(f"xpvec {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise
