"""What a sweep shows: a table per op, JSON with the machine, and a PNG plot."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from .._table import format_count, format_ratio, format_seconds, format_table
from .cases import CASES
from .sweep import Result


def _find(results: list[Result], op: str, size: int, runner: str) -> Result | None:
    return next((r for r in results if (r.op, r.size, r.runner) == (op, size, runner) and r.median_s), None)


def _ratio(base: Result | None, r: Result) -> str:
    return format_ratio(base.median_s / r.median_s) if base and r.median_s else "-"


def _one_pass(op: str) -> bool:
    """Whether ``op``'s bandwidth means something: a fit makes many passes over X, so its
    GB/s against one copy would read as 1000x short (the GPU experiment's ops are all one pass)."""
    return op not in CASES or CASES[op].one_pass


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
            one_pass = _one_pass(op)
            body.append((
                format_count(r.size), r.runner, format_seconds(r.median_s), _ratio(numpy_r, r), _ratio(loop_r, r),
                f"{r.gbps:.3g}" if r.gbps and one_pass else "-",
                f"{r.percent_of_floor:.0f}%" if r.percent_of_floor and one_pass else "-",
                r.note,
            ))  # fmt: skip
        headers = ["size", "backend / peer", "median", "speedup vs numpy", "speedup vs loop", "GB/s", "% copy floor", "note"]
        out.append(f"{op} ({rows[0].dtype})\n" + format_table(headers, body, drop_empty=True))
    return "\n\n".join(out)


#: What each result field means, written into every JSON so the file explains itself.
FIELDS = {
    "op": "the xpvec op (or the GPU experiment's loss_grad case)",
    "size": "elements of the op's first input, as run (config.sizes rounded to whole rows or images)",
    "dtype": "the inputs' dtype",
    "runner": "an xpvec backend, or a peer's label (what a user would write instead)",
    "kind": "'backend' (xpvec, or a variant of its backend) or 'peer'",
    "median_s": "median seconds per call over the samples (null: skipped, see note)",
    "bytes_moved": "bytes one call must read plus write at the least (a pass over the data)",
    "copy_floor_s": "median seconds of a copy moving bytes_moved, measured in the same run",
    "gb_per_s": "bytes_moved / median_s / 1e9",
    "percent_of_copy_floor": "100 * copy_floor_s / median_s (a ratio of times: over 100 is faster than the copy)",
    "note": "why a result is missing, or that its samples spread widely",
    "iqr_s": "interquartile range of the samples' seconds per call (null: skipped)",
    "config.repeats": "samples per median",
    "config.min_sample": "seconds each sample lasts at the least (calls are repeated within it)",
}


def write_json(path: Path, results: list[Result], machine: dict, config: dict, extra: dict | None = None) -> None:
    doc = {"machine": machine, "config": config, "fields": FIELDS, "results": [r.to_json() for r in results],
           **(extra or {})}  # fmt: skip
    path.write_text(json.dumps(doc, indent=2))


BACKEND_COLOURS = {"numpy": "C0", "python": "C1", "numba": "C2", "dask": "C3", "cupy": "C4", "array_api": "C5"}
PEER_COLOURS = ("C6", "C8", "C9", "C7")
PEER_MARKERS = ("s", "^", "D", "v", "P", "X")  # backends are circles


def _styles(rows: list[Result]) -> dict[str, tuple[str, str]]:
    """A (colour, marker) per runner in ``rows``, the same in every panel (one legend serves
    them all) and whatever the order things ran in: each backend its own colour, the other
    runners (peers, a backend's variants) the rest, alphabetically, then each colour again
    with the next marker, so that no two runners look alike."""
    backends = {name: (colour, "o") for name, colour in BACKEND_COLOURS.items()}
    others = sorted({r.runner for r in rows} - set(backends))
    n = len(PEER_COLOURS)
    looks = {p: (PEER_COLOURS[i % n], PEER_MARKERS[i // n % len(PEER_MARKERS)]) for i, p in enumerate(others)}
    return {**backends, **looks}


def _size_labels(sizes: list[int]) -> list[str]:
    """``format_count`` of each of the ascending ``sizes``, but "" for one within an eighth of
    the axis's span (log scale) of the last labelled: 1400 beside 1e3 would print over it."""
    span = math.log10(sizes[-1] / sizes[0])
    labels, last = [], None
    for n in sizes:
        crowded = last is not None and math.log10(n / last) < span / 8
        labels.append("" if crowded else format_count(n))
        last = last if crowded else n
    return labels


def write_plot(
    path: Path, results: list[Result], machine: dict, floor_label: str = "copy floor (np.copyto)"
) -> str | None:
    """GB/s against size, one line per backend and peer, the copy floor dashed. None if written,
    else why not (matplotlib missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import LogFormatter, NullLocator

        class PlainLog(LogFormatter):
            """The ticks LogFormatter labels, as plain numbers: "60" and "0.3", not 6 x 10^1."""

            def __call__(self, x, pos=None):
                return f"{x:g}" if super().__call__(x, pos) else ""
    except ImportError:
        return "matplotlib is not installed (pip install 'xpvec[bench]'): no plot written"

    ops = [op for op in dict.fromkeys(r.op for r in results) if _one_pass(op)]
    if not ops:
        return "no op here is a single pass over its data: no plot written"
    plotted = [r for r in results if r.op in ops and r.gbps]  # skipped runs have no point to draw
    ops = [op for op in ops if any(r.op == op for r in plotted)]
    if not ops:
        return "nothing was timed: no plot written"
    styles = _styles(plotted)
    cols = min(3, len(ops))
    nrows = -(-len(ops) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.8 * nrows), squeeze=False)
    for ax, op in zip(axes.flat, ops):
        rows = [r for r in plotted if r.op == op]
        for runner in dict.fromkeys(r.runner for r in rows):
            pts = sorted((r.size, r.gbps) for r in rows if r.runner == runner and r.gbps)
            if pts:
                kind = next(r.kind for r in rows if r.runner == runner)
                colour, marker = styles[runner]
                style = "-" if kind == "backend" else ":"
                ax.plot(*zip(*pts), marker=marker, linestyle=style, color=colour, label=runner)
        floor = sorted({(r.size, r.bytes_moved / r.copy_floor_s / 1e9) for r in rows})
        # Markers too: a line through a single size is a point, which a dash alone does not draw.
        ax.plot(*zip(*floor), color="black", linestyle="--", marker="x", label=floor_label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Ticks at the sizes run, written as the tables write them (not 10^3 beside "1e3").
        sizes = sorted({r.size for r in rows})
        ax.set_xticks(sizes, _size_labels(sizes))
        if len(sizes) == 1:  # matplotlib would span the decade below 960, its one point at the edge
            ax.set_xlim(sizes[0] / 3, sizes[0] * 3)
        ax.xaxis.set_minor_locator(NullLocator())
        # A panel spanning less than a decade labels minor ticks too: plainly, as the tables write.
        ax.yaxis.set_major_formatter(PlainLog(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(PlainLog(labelOnlyBase=False))
        ax.set_title(f"{op} ({rows[0].dtype})")
        ax.set_xlabel("elements")
        ax.set_ylabel("GB/s (higher is better)")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(ops):]:
        ax.axis("off")
    fig.suptitle(f"xpvec bench on {machine.get('cpu', '?')} ({machine.get('cores', '?')} cores)"
                 + (f", {machine['gpu']}" if machine.get("gpu") else ""), fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the title above the panels
    # One legend for all panels, below them: inside a panel it covered points, wherever it went.
    drawn = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    order = [name for name in styles if name in drawn] + [floor_label]
    fig.legend([drawn[name] for name in order], order, loc="upper center", bbox_to_anchor=(0.5, 0),
               ncol=max(1, int(fig.get_figwidth() // 3.2)), fontsize=8, frameon=False)  # fmt: skip
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight": the saved image takes the legend in
    plt.close(fig)
    return None
