"""What a sweep shows: a table per op, JSON with the machine, and a PNG plot."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from .._table import format_ratio, format_table
from .sweep import Result


def _find(results: list[Result], op: str, size: int, runner: str) -> Result | None:
    return next((r for r in results if (r.op, r.size, r.runner) == (op, size, runner) and r.median_s), None)


def _ratio(base: Result | None, r: Result) -> str:
    return format_ratio(base.median_s / r.median_s) if base and r.median_s else "-"


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def tables(results: list[Result]) -> str:
    """One table per op: median time, speedups over numpy and the loop, GB/s, % of the copy floor."""
    by_op: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_op[r.op].append(r)
    out = []
    for op, rows in by_op.items():
        body = []
        for r in rows:
            numpy_r, loop_r = _find(results, op, r.size, "numpy"), _find(results, op, r.size, "python")
            body.append((
                f"{r.size:.0e}", r.runner, _time(r.median_s), _ratio(numpy_r, r), _ratio(loop_r, r),
                f"{r.gbps:.2f}" if r.gbps else "-",
                f"{r.percent_of_floor:.0f}%" if r.percent_of_floor else "-",
                r.note,
            ))  # fmt: skip
        headers = ["size", "backend / peer", "median", "vs numpy", "vs loop", "GB/s", "% copy floor", "note"]
        out.append(f"{op} ({rows[0].dtype})\n" + format_table(headers, body))
    return "\n\n".join(out)


#: What each result field means, written into every JSON so the file explains itself.
FIELDS = {
    "op": "the xpvec op (or the GPU experiment's loss_grad case)",
    "size": "elements of the op's first input",
    "dtype": "the inputs' dtype",
    "runner": "an xpvec backend, or a peer's label (what a user would write instead)",
    "kind": "'backend' (xpvec, or a variant of its backend) or 'peer'",
    "median_s": "median seconds per call over the samples (null: skipped, see note)",
    "bytes_moved": "bytes one call must read plus write at the least (a pass over the data)",
    "copy_floor_s": "median seconds of a copy moving bytes_moved, measured in the same run",
    "gb_per_s": "bytes_moved / median_s / 1e9",
    "percent_of_copy_floor": "100 * copy_floor_s / median_s (a ratio of times: over 100 is faster than the copy)",
    "note": "why a result is missing, if it is",
    "config.repeats": "samples per median",
    "config.min_sample": "seconds each sample lasts at the least (calls are repeated within it)",
}


def write_json(path: Path, results: list[Result], machine: dict, config: dict, extra: dict | None = None) -> None:
    doc = {"machine": machine, "config": config, "fields": FIELDS, "results": [r.to_json() for r in results],
           **(extra or {})}  # fmt: skip
    path.write_text(json.dumps(doc, indent=2))


BACKEND_COLOURS = {"numpy": "C0", "python": "C1", "numba": "C2", "dask": "C3", "cupy": "C4", "array_api": "C5"}
PEER_COLOURS = ("C6", "C8", "C9", "C7")


def _colours(rows: list[Result]) -> dict[str, str]:
    """A colour per runner that does not depend on the order things ran in: each backend
    keeps its own everywhere, an op's peers take the rest in alphabetical order."""
    peers = sorted({r.runner for r in rows} - set(BACKEND_COLOURS))
    return {**BACKEND_COLOURS, **{p: PEER_COLOURS[i % len(PEER_COLOURS)] for i, p in enumerate(peers)}}


def write_plot(
    path: Path, results: list[Result], machine: dict, floor_label: str = "copy floor (np.copyto)"
) -> str | None:
    """GB/s against size, one line per backend and peer, the copy floor dashed. None if written,
    else why not (matplotlib missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'xpvec[bench]'): no plot written"
    from .cases import CASES

    # A fit makes many passes over X: its GB/s against one copy would read as 1000x short.
    ops = [op for op in dict.fromkeys(r.op for r in results) if op not in CASES or CASES[op].one_pass]
    if not ops:
        return "no op here is a single pass over its data: no plot written"
    cols = min(3, len(ops))
    nrows = -(-len(ops) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.8 * nrows), squeeze=False)
    for ax, op in zip(axes.flat, ops):
        rows = [r for r in results if r.op == op]
        colours = _colours(rows)
        for runner in dict.fromkeys(r.runner for r in rows):
            pts = sorted((r.size, r.gbps) for r in rows if r.runner == runner and r.gbps)
            if pts:
                kind = next(r.kind for r in rows if r.runner == runner)
                style = "-" if kind == "backend" else ":"
                ax.plot(*zip(*pts), marker="o", linestyle=style, color=colours[runner], label=runner)
        floor = sorted({(r.size, r.bytes_moved / r.copy_floor_s / 1e9) for r in rows})
        ax.plot(*zip(*floor), color="black", linestyle="--", label=floor_label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{op} ({rows[0].dtype})")
        ax.set_xlabel("elements")
        ax.set_ylabel("GB/s (higher is better)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", framealpha=0.85)  # GB/s grows with size: that corner is free
    for ax in list(axes.flat)[len(ops):]:
        ax.axis("off")
    fig.suptitle(f"xpvec bench on {machine.get('cpu', '?')} ({machine.get('cores', '?')} cores)"
                 + (f", {machine['gpu']}" if machine.get("gpu") else ""), fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the title above the panels
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
