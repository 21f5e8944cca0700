"""The command line: ``xpvec info`` and ``xpvec demo`` (and ``python -m xpvec``)."""

from __future__ import annotations

import subprocess
import sys

from xpvec.cli import main


def test_info_prints_the_backend_table(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    header, rule, *rows = out.strip().splitlines()
    assert header.split()[:2] == ["backend", "status"]
    names = {row.split()[0]: row.split()[1] for row in rows}
    assert names["numpy"] == "ok" and names["python"] == "ok"


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "xpvec", "info"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "numpy" in r.stdout


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
