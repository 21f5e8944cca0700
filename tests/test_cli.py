"""The command line: ``xpvec info`` and ``xpvec demo`` (and ``python -m xpvec``)."""

from __future__ import annotations

import re
import subprocess
import sys

from xpvec.cli import main


def test_info_prints_the_backend_table(capsys):
    import xpvec

    assert main(["info"]) == 0
    backends_part, *rest = capsys.readouterr().out.strip().split("\n\n")
    header, rule, *rows = backends_part.splitlines()
    assert header.split()[:2] == ["backend", "status"]
    status = {row.split()[0]: row.split()[1] for row in rows}
    report = xpvec.backend_report()
    assert status == {name: "ok" if s == "ok" else "unavailable" for name, s in report.items()}
    for name, reason in report.items():  # each unusable backend's reason is printed
        assert reason == "ok" or f"{name}: {reason}" in rest
    grid = rest[-1].splitlines()
    assert grid[1].split() == ["op", *xpvec.available_backends()]
    sigmoid = next(line.split() for line in grid if line.startswith("sigmoid "))
    assert sigmoid[1 + xpvec.available_backends().index("python")] == "x"


def test_python_dash_m_works(tmp_path):
    # Outside the checkout, so the installed package (with its kernels) is imported.
    r = subprocess.run(
        [sys.executable, "-m", "xpvec", "info"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert re.search(r"^numba\s+ok\b", r.stdout, re.M), r.stdout


def test_demo_shows_every_op_on_every_backend(capsys):
    assert main(["demo", "--ops", "--size", "400", "--backends", "numpy,python"]) == 0
    out = capsys.readouterr().out
    for op in ("dot", "sigmoid", "softmax", "normalize_rows", "l2_loss"):
        assert op in out
    assert "python" in out and "numpy" in out


def test_cli_errors_are_one_line(capsys):
    assert main(["demo", "--ops", "--size", "100", "--backends", "nunpy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xpvec demo: error: unknown backend 'nunpy'")
