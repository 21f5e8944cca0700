"""``xpvec bench`` as a tool: it runs, and writes a table, well-formed JSON and a PNG.

This checks the tool, not any timing.
"""

from __future__ import annotations

import json

import pytest

from xpvec.bench.cases import CASES
from xpvec.cli import main


def test_quick_bench_writes_table_json_and_png(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["bench", "--quick", "--sizes", "300,2000", "--ops", "sigmoid,softmax,dot", "--out", str(out)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "sigmoid (float64)" in stdout and "% copy floor" in stdout
    assert "python for loop" in stdout  # the classic dot demonstration

    doc = json.loads((out / "bench.json").read_text())
    assert {"cpu", "cores", "numpy", "scipy"} <= set(doc["machine"])
    assert set(doc["results"][0]) <= set(doc["fields"])  # every field explained in the file
    assert doc["config"]["sizes"] == [300, 2000]
    rows = doc["results"]
    assert {r["op"] for r in rows} == {"sigmoid", "softmax", "dot"}
    assert {"numpy", "python"} <= {r["runner"] for r in rows}
    for r in rows:
        if r["median_s"] is not None:
            assert r["median_s"] > 0 and r["gb_per_s"] > 0 and r["percent_of_copy_floor"] > 0
        else:
            assert r["note"].startswith("skipped")
    assert doc["classic_dot"]["speedup_over_loop"]["np.dot (vectorized)"] > 1

    png = (out / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = pytest.importorskip("matplotlib.image").imread(out / "bench.png")
    assert image.shape[0] > 200 and image.shape[1] > 200


@pytest.mark.parametrize(
    "args,message",
    [
        (["--ops", "sigmoid,nope"], "unknown op 'nope'"),
        (["--backends", "numpy,gpu"], "unknown backend 'gpu'"),
        (["--sizes", "0"], "sizes must be positive"),
    ],
)
def test_bad_arguments_give_clear_errors(tmp_path, capsys, args, message):
    try:
        code = main(["bench", "--quick", "--out", str(tmp_path), *args])
    except SystemExit as exc:  # argparse rejects malformed values itself
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_every_op_has_a_case_with_a_peer():
    import xpvec

    assert set(CASES) == set(xpvec.OPS) - {"check_grad"} | {"softmax_vector", "logistic_loss_grad", "logistic_fit"}
    assert all(case.peers for case in CASES.values())


def test_the_classic_dot_times_the_backends_asked_for(tmp_path):
    import xpvec

    asked = [b for b in ("numpy", "numba") if b in xpvec.available_backends()]
    out = tmp_path / "results"
    assert main(["bench", "--quick", "--sizes", "300", "--ops", "sigmoid", "--backends", ",".join(asked),
                 "--no-peers", "--out", str(out)]) == 0  # fmt: skip
    timed = set(json.loads((out / "bench.json").read_text())["classic_dot"]["seconds"])
    # The loop and np.dot are the references; beyond them, only what --backends names.
    numba = {"xpvec numba (accelerated)"} if "numba" in asked else set()
    assert timed == {"python for loop", "np.dot (vectorized)"} | numba


def test_plot_colours_do_not_depend_on_run_order_and_fits_are_not_plotted(tmp_path):
    from xpvec.bench import report
    from xpvec.bench.sweep import Result

    def result(op, runner, kind="backend"):
        return Result(op, 1000, "float64", runner, kind, 1e-5, 16_000, 1e-6)

    rows = [result("sigmoid", "numba"), result("sigmoid", "numexpr", "peer"), result("sigmoid", "numpy"),
            result("sigmoid", "scipy.special.expit", "peer")]  # fmt: skip
    assert report._colours(rows) == report._colours(rows[::-1])  # another run order: the same colours
    assert report._colours(rows)["numba"] == report._colours(rows[:1])["numba"]  # and with other runners
    # A fit makes many passes: GB/s against one copy would mislead. Alone, there is nothing to plot.
    why_not = report.write_plot(tmp_path / "fit.png", [result("logistic_fit", "numpy")], {})
    assert why_not is not None and "no plot" in why_not and not (tmp_path / "fit.png").exists()


def test_tables_show_a_runner_slower_than_numpy_readably():
    from xpvec.bench import report
    from xpvec.bench.sweep import Result

    rows = [Result("sigmoid", 1000, "float64", name, "backend", s, 16_000, 1e-6)
            for name, s in (("numpy", 1e-5), ("dask", 1.04e-4))]  # fmt: skip
    dask_line = next(line for line in report.tables(rows).splitlines() if " dask " in line)
    assert " 0.096x " in dask_line  # one format for every speed-up, not "0.1x" here and "0.096x" elsewhere
