"""Plain-text tables for the command line."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A cell that is a figure, whatever follows it ("8.71 us", "3.2x", "65%", "1e3"), or the
# placeholder for a missing one.
_FIGURE = re.compile(r"[-+]?\.?\d")
EMPTY = ("-", "")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, drop_empty: bool = False) -> str:
    """Columns padded to their widest cell; figures right-aligned (numbers, and text that starts
    with one: "8.71 us" over "146 us"), other text left-aligned. With ``drop_empty``, a column
    with nothing in any row ("-" or "" throughout) is left out: for tables whose optional
    columns (a baseline not run, notes) would otherwise be dashes only."""
    if drop_empty and rows:
        keep = [i for i in range(len(headers)) if any(_cell(row[i]) not in EMPTY for row in rows)]
        headers, rows = [headers[i] for i in keep], [[row[i] for i in keep] for row in rows]
    cells = [[str(c) for c in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_figure(row[i]) for row in rows) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def format_ratio(ratio: float) -> str:
    """A speed-up such as ``loop seconds / seconds``: "249x", "3.2x", "0.096x".

    Whole numbers from 10 up; below that two significant digits, so that a
    contender slower than the baseline reads "0.096x", not "0x".
    """
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def format_speed(ratio: float, baseline: str) -> str:
    """``ratio`` (baseline seconds / seconds) in words: "483x faster than the loop",
    "25x slower than the loop" (not "0.04x the loop", which reads as a time)."""
    if ratio >= 1:
        return f"{format_ratio(ratio)} faster than {baseline}"
    return f"{format_ratio(1 / ratio)} slower than {baseline}"


def format_seconds(seconds: float | None) -> str:
    """Seconds with a unit that keeps three significant digits: "146 us", "1.27 ms"; "-" for None."""
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_count(n: int) -> str:
    """An element count, exactly and briefly: "1e3", "1400", "2.5e6", "9999936", "300".

    The shorter of the digits and the exact mantissa-exponent form, the digits on a
    tie: no two counts read alike (``f"{n:.0e}"`` wrote 1000 and 1400 both as "1e+03"),
    and either form is also what ``--size``/``--sizes`` read back.
    """
    digits = str(n)
    significant = digits.rstrip("0") or "0"  # 0 has no significant digit
    mantissa = significant[0] + (f".{significant[1:]}" if len(significant) > 1 else "")
    short = f"{mantissa}e{len(digits) - 1}"
    return short if len(short) < len(digits) else digits


def _cell(value: object) -> str:
    if isinstance(value, float):
        # Three significant digits, trailing zeros kept, so a column's figures line up:
        # 0.0200 under 0.0233, not 0.02 ("#" would also write 300 as "300.").
        text = f"{value:#.3g}"
        return text[:-1] if text.endswith(".") else text
    return str(value)


def _is_figure(value: object) -> bool:
    if isinstance(value, (int, float)):
        return True
    text = str(value)
    return text in EMPTY or _FIGURE.match(text) is not None
