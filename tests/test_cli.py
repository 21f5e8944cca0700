"""The command line: ``xpvec info`` and ``xpvec demo`` (and ``python -m xpvec``)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("layer", [None, "omp"], ids=["default-layer", "omp"])
def test_info_says_which_threads_run_numbas_kernels(tmp_path, layer):
    import importlib.metadata

    import xpvec

    if "numba" not in xpvec.available_backends():
        pytest.skip(f"numba: {xpvec.backend_report()['numba']}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    if layer:
        env["NUMBA_THREADING_LAYER"] = layer
    r = subprocess.run([sys.executable, "-m", "xpvec", "info"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path, env=env)  # fmt: skip
    line = next(line for line in r.stdout.splitlines() if line.startswith("numba's parallel kernels: "))
    try:
        importlib.metadata.version("tbb")
        default = "TBB"
    except importlib.metadata.PackageNotFoundError:  # off Linux x86-64: OpenMP or numba's workqueue
        default = None
    if layer == "omp":
        assert re.fullmatch(r"numba's parallel kernels: \d+ threads on OpenMP \(not TBB, .*pip install tbb\)", line)
    elif default:
        assert re.fullmatch(r"numba's parallel kernels: \d+ threads on TBB", line)


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


def test_demo_size_takes_the_notation_of_its_help_and_of_bench_sizes(capsys):
    assert main(["demo", "--ops", "--size", "1e3", "--backends", "numpy"]) == 0
    assert "sigmoid (1e3)" in capsys.readouterr().out


@pytest.mark.parametrize("size", ["-5", "0", "0.5", "1.5", "inf", "nan", "many"])
def test_demo_refuses_a_size_that_is_not_a_positive_whole_number(capsys, size):
    # Refused by argparse (exit 2, with the usage), not by numpy halfway through the demo.
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--ops", f"--size={size}", "--backends", "numpy"])
    assert exc.value.code == 2
    assert f"argument --size: size must be a positive whole number like 1000 or 1e6, got '{size}'" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("sizes", ["1e3,inf", "1e3,1.5", "-1,1e3"])
def test_bench_sizes_refuses_the_same_values(tmp_path, capsys, no_timing, sizes):
    with pytest.raises(SystemExit) as exc:  # "inf" was an OverflowError traceback, "1.5" read as 1
        main(["bench", "--quick", f"--sizes={sizes}", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "argument --sizes: sizes must be positive whole numbers" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["demo", "--ops", "--size", "1e30"], ["bench", "--quick", "--sizes", "1e3,1e30"]])
def test_sizes_beyond_the_machines_memory_are_refused_first(tmp_path, capsys, no_timing, argv):
    # Not numpy's "Maximum allowed dimension exceeded" or a MemoryError halfway through a run.
    from xpvec.cli import _physical_memory

    if _physical_memory() is None:
        pytest.skip("this OS does not report its memory: sizes are not checked against it")
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path)] if argv[0] == "bench" else argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "size 1e+30 needs 7.45e+21 GiB per float64 array; this machine has" in err
    assert "GiB of memory: choose a smaller size" in err


@pytest.fixture
def no_timing(monkeypatch):
    """``xpvec bench`` with every timing entry point failing the test: errors must come first."""
    import xpvec.bench.classic
    import xpvec.bench.sweep

    def timed(*args, **kwargs):
        raise AssertionError("timing started before the output folder was checked")

    monkeypatch.setattr(xpvec.bench.sweep, "run_sweep", timed)
    monkeypatch.setattr(xpvec.bench.classic, "classic_dot", timed)


def _bench_into(out) -> list[str]:
    return ["bench", "--ops", "sigmoid", "--sizes", "1e3", "--backends", "numpy", "--out", str(out)]


def test_bench_out_under_a_file_is_a_one_line_error(tmp_path, capsys, no_timing):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "x"  # as /etc/passwd/x
    assert main(_bench_into(out)) == 2
    err = capsys.readouterr().err
    assert err == f"xpvec bench: error: cannot write to the output folder '{out}': Not a directory\n"


@pytest.mark.parametrize("kind", ["file", "device"])
def test_bench_out_that_is_not_a_folder_is_a_one_line_error(tmp_path, capsys, no_timing, kind):
    # Worded as for a folder under a file (the system's words); /dev/null is no file either.
    if kind == "file":
        out = tmp_path / "results"
        out.write_text("")
    else:
        out = Path(os.devnull)
        if not out.exists() or out.is_dir():
            pytest.skip(f"{os.devnull} is not a device here")
    assert main(_bench_into(out)) == 2
    assert (
        capsys.readouterr().err
        == f"xpvec bench: error: cannot write to the output folder '{out}': {os.strerror(errno.ENOTDIR)}\n"
    )


def test_bench_out_empty_is_refused_not_the_current_folder(tmp_path, capsys, no_timing, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where Path("") would have written bench.json
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--ops", "sigmoid", "--backends", "numpy", "--out", ""])
    assert exc.value.code == 2
    assert "argument --out: expected a folder, got ''; for the current directory write '.'" in (
        capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []


def test_bench_out_not_writable_is_a_one_line_error(tmp_path, capsys, no_timing, monkeypatch):
    # The folder exists, so mkdir succeeds; only a write finds out. Simulated, since
    # root (as in CI containers) may write anywhere; the real case is the next test.
    import errno
    import tempfile

    def refuse(dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", dir)

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert main(_bench_into(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err == f"xpvec bench: error: cannot write to the output folder '{tmp_path}': Permission denied\n"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write to a read-only folder"
)
def test_bench_out_read_only_folder(tmp_path, capsys, no_timing):
    out = tmp_path / "read-only"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert main(_bench_into(out)) == 2
    finally:
        out.chmod(0o700)
    assert (
        capsys.readouterr().err
        == f"xpvec bench: error: cannot write to the output folder '{out}': Permission denied\n"
    )


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_closed_stdout_exits_quietly(tmp_path, buffered):
    # `xpvec info | head -3`: the reader is gone. A pipe whose read end is already
    # closed makes that deterministic. Buffered, the error comes at the final
    # flush; unbuffered (PYTHONUNBUFFERED), at the first print.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = subprocess.run(
            [sys.executable, "-m", "xpvec", "info"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )
    finally:
        os.close(write_end)
    assert r.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert r.returncode == 1  # as Python itself on EPIPE (the docs' recipe)


@pytest.mark.parametrize("listed", ["numpy, python", "numpy,python,", " numpy , python ,, numpy"])
def test_demo_backends_are_read_as_bench_reads_them(capsys, listed):
    # Spaces, empty items and repeats: "unknown backend ' python'" and "unknown backend ''" were errors.
    assert main(["demo", "--ops", "--size", "100", "--backends", listed]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("sigmoid ")]
    assert [row[2] for row in rows] == ["python", "numpy"]  # each once, the loop baseline first


def test_demo_and_bench_share_one_reading_of_names(tmp_path, capsys, no_timing):
    from xpvec.cli import _names

    assert _names(" numba, numpy,,numba ,") == ["numba", "numpy"]
    # Unknown names still fail with the closest suggestion, in both commands.
    assert main(["demo", "--ops", "--size", "100", "--backends", "numpy, nunpy,"]) == 2
    assert "xpvec demo: error: unknown backend 'nunpy'" in (err := capsys.readouterr().err)
    assert "(did you mean 'numpy'?)" in err
    assert main(["bench", "--backends", "numpy, nunpy,", "--out", str(tmp_path)]) == 2
    assert "unknown backend 'nunpy'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["demo", "--backends", ","], ["bench", "--backends", " "], ["bench", "--ops", ","]])
def test_a_list_without_names_is_refused_not_read_as_all(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "expected one or more comma-separated names, got" in capsys.readouterr().err


def test_demo_size_without_ops_is_an_error_not_ignored(capsys):
    with pytest.raises(SystemExit) as exc:  # was: the training demo, at its fixed size, silently
        main(["demo", "--size", "1e3"])
    assert exc.value.code == 2
    assert "argument --size: applies to --ops only" in capsys.readouterr().err


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"xpvec {version('xpvec')}\n"


def test_version_without_installed_metadata(monkeypatch, capsys):
    import importlib.metadata

    import xpvec

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"xpvec {xpvec.__version__}\n"


def test_bench_help_says_its_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal's width
    assert "default: xpvec-bench)" in text and "gpu.json" in text
    assert "(default: every usable one except array_api," in text


def test_bench_default_backends_are_those_its_help_names(tmp_path, monkeypatch, no_timing):
    import xpvec
    import xpvec.bench.sweep

    asked = {}

    def validate(ops, backends, sizes):
        asked["backends"] = backends
        raise xpvec.bench.sweep.InvalidRequest("stop before timing")

    monkeypatch.setattr(xpvec.bench.sweep, "validate", validate)
    assert main(["bench", "--out", str(tmp_path)]) == 2
    assert asked["backends"] == [b for b in xpvec.available_backends() if b != "array_api"]


@pytest.mark.parametrize("value", ["numpyy", "cupy"])
def test_info_with_an_unusable_xpvec_backend_says_why_and_fails(capsys, monkeypatch, value):
    # It printed the usual table and exited 0, while every op then raised.
    from xpvec._registry import unusable_reason

    reason = unusable_reason(value)
    if reason is None:
        pytest.skip(f"{value} is usable here")
    monkeypatch.setenv("XPVEC_BACKEND", value)
    assert main(["info"]) == 1
    captured = capsys.readouterr()
    assert captured.out.split()[:2] == ["backend", "status"]  # the table still shows what is usable
    error = captured.err.strip()
    assert error.startswith(f"xpvec info: error: XPVEC_BACKEND={value!r} is unusable: {reason}")
    assert "\n" not in error
    if value == "numpyy":
        assert "(did you mean 'numpy'?)" in error


def test_info_says_where_the_default_backend_comes_from(capsys, monkeypatch):
    monkeypatch.setenv("XPVEC_BACKEND", "python")
    assert main(["info"]) == 0
    assert "\ndefault backend: python (from XPVEC_BACKEND)\n" in capsys.readouterr().out
    for unset in ("", None):  # empty is unset, as xpvec reads it at import
        if unset is None:
            monkeypatch.delenv("XPVEC_BACKEND")
        else:
            monkeypatch.setenv("XPVEC_BACKEND", unset)
        assert main(["info"]) == 0
        captured = capsys.readouterr()
        assert "\ndefault backend: inferred from each input's array type (numpy for NumPy data)\n" in captured.out
        assert captured.err == ""


def test_bench_unknown_backend_gets_the_registrys_closest_match(tmp_path, capsys, no_timing):
    from xpvec._registry import _unknown_name_message

    assert main(["bench", "--backends", "numpyy", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"xpvec bench: error: {_unknown_name_message('numpyy')}\n"
    assert "(did you mean 'numpy'?)" in _unknown_name_message("numpyy")


def test_bench_help_says_what_it_does_and_writes(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    usage_and_description = " ".join(capsys.readouterr().out.split("options:")[0].split())
    assert "Time each op on each backend" in usage_and_description
    assert "write bench.json and bench.png into --out." in usage_and_description


def test_sizes_read_back_as_bench_and_demo_write_them():
    # One formatter for every size label, exact (1e3 and 1400 were both "1e+03"), and what
    # --size/--sizes read back; the CLI's reader is named for what it does.
    from xpvec._table import format_count
    from xpvec.cli import _parse_count

    counts = [1, 300, 960, 1000, 1400, 1500, 2000, 9984, 156_250, 2_500_000, 9_999_936, 10**7, 10**8]
    labels = [format_count(n) for n in counts]
    assert labels == ["1", "300", "960", "1e3", "1400", "1500", "2e3", "9984", "156250", "2.5e6", "9999936",
                      "1e7", "1e8"]  # fmt: skip
    assert [_parse_count(label) for label in labels] == counts


def test_dir_lists_the_lazily_loaded_names():
    import xpvec

    names = dir(xpvec)
    assert set(xpvec.__all__) <= set(names)  # LogisticRegression was missing before first use
    assert "__version__" in names and names == sorted(names)


def test_a_bug_shows_its_traceback_not_a_usage_error(tmp_path, monkeypatch, capsys):
    # Any TypeError or ValueError became "xpvec bench: error: ..." with exit code 2, so a bug
    # read as a mistake of the user's, without the traceback a report needs.
    import xpvec.bench.sweep

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'")

    monkeypatch.setattr(xpvec.bench.sweep, "validate", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["bench", "--out", str(tmp_path)])
    assert "error:" not in capsys.readouterr().err


def test_xpvec_alone_prints_its_help(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: xpvec") and "info" in err and "bench" in err


def test_ctrl_c_is_one_line_not_a_traceback(monkeypatch, capsys):
    import xpvec.demo

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(xpvec.demo, "training_table", interrupted)
    assert main(["demo"]) == 130
    assert capsys.readouterr().err.strip() == "xpvec demo: interrupted"


def test_info_help_says_what_it_shows(capsys):
    with pytest.raises(SystemExit):
        main(["info", "--help"])
    assert "whether each can run here" in capsys.readouterr().out
