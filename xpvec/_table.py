"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(c) for c in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]

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
