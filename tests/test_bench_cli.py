"""``xpvec bench`` as a tool: it runs, and writes a table, well-formed JSON and a PNG.

This checks the tool, not any timing.
"""

from __future__ import annotations

import json
import re

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
    assert main(["bench", "--quick", "--sizes", "300", "--ops", "dot", "--backends", ",".join(asked),
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
    assert report._styles(rows) == report._styles(rows[::-1])  # another run order: the same colours
    assert report._styles(rows)["numba"] == report._styles(rows[:1])["numba"]  # and with other runners
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


@pytest.fixture
def instant_timing(monkeypatch):
    """The sweep with its timers replaced (every call 1 us, copies at 10 GB/s): the tool, not the timing."""
    import xpvec.bench.sweep

    monkeypatch.setattr(xpvec.bench.sweep, "time_calls", lambda calls, repeats, min_sample: [1e-6] * repeats)
    monkeypatch.setattr(xpvec.bench.sweep, "copy_bandwidth", lambda nbytes: 1e10)


def test_every_case_reports_the_elements_it_runs():
    # The sizes a case records are those its inputs have, and building it again from one
    # gives the same shape (the GPU experiment and re-runs take the recorded sizes).
    import numpy as np

    for op, case in CASES.items():
        for n in (1, 5, 300, 1000, 1400, 1500, 2500, 99_999):
            (run,) = case.sizes_run([n])
            first = case.make_inputs(n, np.random.default_rng(0), np.dtype("float64"))[0]
            assert first.size == run, (op, n)
            assert case.sizes_run([run]) == [run], (op, n)


def test_the_sweep_records_and_labels_the_sizes_it_ran(instant_timing):
    # softmax over rows of 1000 ran 1000 elements for each of 1000, 1400 and 1500, reported as
    # three sizes; image2vector and the fit round to whole images and rows of 64 features.
    from xpvec.bench.sweep import run_sweep

    labels: list[str] = []
    ops = ["sigmoid", "softmax", "image2vector", "logistic_fit"]
    results = list(run_sweep(ops, ["numpy"], [1000, 1400, 1500], peers=False, progress=labels.append))
    sizes = {op: [r.size for r in results if r.op == op] for op in ops}
    assert sizes == {"sigmoid": [1000, 1400, 1500], "softmax": [1000], "image2vector": [960, 1344],
                     "logistic_fit": [960, 1344, 1472]}  # fmt: skip
    assert labels == ["sigmoid n=1e3 numpy", "sigmoid n=1400 numpy", "sigmoid n=1500 numpy", "softmax n=1e3 numpy",
                      "image2vector n=960 numpy", "image2vector n=1344 numpy", "logistic_fit n=960 numpy",
                      "logistic_fit n=1344 numpy", "logistic_fit n=1472 numpy"]  # fmt: skip


def test_bench_counts_the_steps_it_runs_and_times_the_classic_only_with_dot(tmp_path, capsys, monkeypatch,
                                                                            instant_timing):  # fmt: skip
    import xpvec.bench.classic

    def classic(*args, **kwargs):
        raise AssertionError("the dot classic ran though --ops has no dot")

    monkeypatch.setattr(xpvec.bench.classic, "classic_dot", classic)
    out = tmp_path / "results"
    argv = ["bench", "--ops", "sigmoid,softmax", "--backends", "numpy", "--sizes", "1000,1400,1500", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    # sigmoid: 3 sizes x (numpy + 3 peers); softmax: one size x (numpy + 1 peer)
    assert captured.err.splitlines()[-1].split()[1] == "14/14"
    assert "dot of two" not in captured.out
    doc = json.loads((out / "bench.json").read_text())
    assert "classic_dot" not in doc
    assert sorted({r["size"] for r in doc["results"] if r["op"] == "softmax"}) == [1000]
    numpy_rows = [cells for line in captured.out.splitlines() if (cells := re.split(r"\s{2,}", line.strip()))[1:2] == ["numpy"]]
    assert [row[0] for row in numpy_rows] == ["1e3", "1400", "1500", "1e3"]  # sigmoid's, then softmax's


def test_the_fit_has_no_bandwidth_in_the_table():
    # A fit makes many passes over X: "0.00 GB/s" and "0%" of one copy said nothing true.
    from xpvec.bench import report
    from xpvec.bench.sweep import Result

    rows = [Result(op, 1000, "float64", "numpy", "backend", 1e-3, 8_000, 1e-6) for op in ("logistic_fit", "sigmoid")]
    fit, sigmoid = report.tables(rows).split("\n\n")
    assert "GB/s" not in fit and "copy floor" not in fit  # columns of dashes only are left out
    assert sigmoid.splitlines()[-1].split()[-2:] == ["0.008", "0%"]  # three significant digits, not 0.01


def test_plot_one_legend_one_look_per_runner_and_a_visible_floor(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure

    from xpvec.bench import report
    from xpvec.bench.sweep import Result

    drawn = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.append(fig) or save(fig, *a, **k))
    peers = {"sigmoid": ["numexpr", "scipy.special.expit"], "softmax": ["scipy.special.softmax"],
             "dot": ["np.dot"], "l2_loss": ["numpy sum((a-b)**2)"]}  # fmt: skip
    rows = [Result(op, 1000, "float64", runner, kind, 1e-5, 16_000, 1e-6)
            for op, names in peers.items()
            for runner, kind in [("numpy", "backend"), ("numba", "backend")] + [(p, "peer") for p in names]]  # fmt: skip
    assert report.write_plot(tmp_path / "bench.png", rows, {}) is None
    (fig,) = drawn
    looks: dict[str, set] = {}
    for ax in fig.axes[: len(peers)]:  # the rest of the grid is empty
        assert ax.get_legend() is None  # in a panel it covered points
        for line in ax.get_lines():
            looks.setdefault(line.get_label(), set()).add((to_rgba(line.get_color()), line.get_marker()))
            if line.get_label().startswith("copy floor"):
                assert line.get_marker() not in (None, "None", "")  # one size: a dashed line alone shows nothing
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1e3"]
    assert all(len(seen) == 1 for seen in looks.values()), looks  # one look per runner in every panel
    assert len({next(iter(seen)) for seen in looks.values()}) == len(looks)  # and no two runners alike
    (legend,) = fig.legends
    assert sorted(t.get_text() for t in legend.get_texts()) == sorted(looks)


def test_plot_labels_a_narrow_log_axis_with_plain_numbers(tmp_path, monkeypatch):
    # Within a decade matplotlib labels minor ticks, as "6 x 10^1" beside the tables' "60".
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from xpvec.bench import report
    from xpvec.bench.sweep import Result

    drawn = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.append(fig) or save(fig, *a, **k))
    # 16 kB moved in 1e-6 s (the copy floor: 16 GB/s) and in 2e-7..6e-7 s (27 to 80 GB/s).
    rows = [Result("sigmoid", n, "float64", "numpy", "backend", s, 16_000, 1e-6)
            for n, s in [(1000, 6e-7), (10_000, 4e-7), (100_000, 2e-7)]]  # fmt: skip
    assert report.write_plot(tmp_path / "bench.png", rows, {}) is None
    labels = [t.get_text() for t in drawn[0].axes[0].yaxis.get_ticklabels(which="both") if t.get_text()]
    assert labels and all(text.replace(".", "", 1).isdigit() for text in labels), labels


def test_the_gpu_experiment_runs_each_size_as_rounded_once():
    from xpvec.bench import gpu

    plan = gpu.Plan(["softmax"], [1000, 1400], dtypes=("float32",), fits=(), repeats=1, min_sample=0.0)
    steps: list[str] = []
    results = gpu.time_ops(gpu.HostStandIn(), plan, steps.append)
    assert [(r.size, r.runner) for r in results] == [(1000, "numpy"), (1000, "numpy expression")]
    assert steps == ["softmax float32 n=1e3 numpy", "softmax float32 n=1e3 numpy expression"]
    assert plan.steps == len(steps) + 2 * 2  # and the loss+gradient's: K=1 and 10, fused and 2-pass


def test_tables_align_figures_right_and_leave_out_empty_columns():
    from xpvec._table import format_table

    table = format_table(["size", "runner", "median", "speedup", "note"],
                         [["1e3", "numpy", "8.71 us", "1x", ""], ["123000", "python", "146 us", "-", ""]],
                         drop_empty=True)  # fmt: skip
    header, _, first, second = table.splitlines()
    assert header.split() == ["size", "runner", "median", "speedup"]  # no "note": empty in every row
    assert first.index("us") == second.index("us")  # "8.71 us" over "146 us", right-aligned
    assert first.startswith("   1e3  numpy ") and second.startswith("123000  python")
    # Not asked to: a table of goals keeps its columns of dashes (nothing measured yet).
    assert format_table(["goal", "measured"], [["80%", "-"]]).splitlines()[0].split() == ["goal", "measured"]


def test_a_noisy_median_is_noted():
    from xpvec.bench.sweep import Result

    steady = Result("sigmoid", 1000, "float64", "numpy", "backend", None, 16_000, 1e-6).timed([1.0, 1.01, 1.02, 0.99, 1.0])
    noisy = Result("sigmoid", 1000, "float64", "numpy", "backend", None, 16_000, 1e-6).timed([1.0, 1.0, 3.0, 3.0, 1.0])
    assert steady.median_s == 1.0 and steady.note == "" and steady.iqr_s == pytest.approx(0.01)
    assert noisy.median_s == 1.0 and noisy.note == "noisy: IQR 200% of the median"
    assert set(noisy.to_json()) >= {"iqr_s", "note"}


def test_bench_says_which_sizes_ran_as_other_counts(tmp_path, capsys, instant_timing):
    assert main(["bench", "--quick", "--sizes", "1500,1e3", "--ops", "sigmoid,softmax", "--backends", "numpy",
                 "--no-peers", "--out", str(tmp_path)]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert "softmax runs whole rows of 1000 elements: 1500 -> 1e3" in lines
    assert not any(line.startswith("sigmoid runs") for line in lines)


def test_bench_interrupted_writes_what_it_measured(tmp_path, capsys, monkeypatch, instant_timing):
    import xpvec.bench.sweep

    sweep = xpvec.bench.sweep.run_sweep

    def cut_short(*args, **kwargs):  # Ctrl-C after the first result
        results = sweep(*args, **kwargs)
        yield next(results)
        raise KeyboardInterrupt

    monkeypatch.setattr(xpvec.bench.sweep, "run_sweep", cut_short)
    argv = ["bench", "--quick", "--sizes", "1e3", "--ops", "sigmoid,dot", "--backends", "numpy", "--out", str(tmp_path)]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "interrupted" in captured.err.splitlines()[-1]
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["config"]["interrupted"] is True and len(doc["results"]) == 1 and "classic_dot" not in doc
    assert doc["config"]["command"] == " ".join(["xpvec", *argv])  # the arguments parsed, not sys.argv


def test_bench_that_times_nothing_fails_and_leaves_no_old_plot(tmp_path, capsys):
    (tmp_path / "bench.png").write_bytes(b"an earlier run's plot")
    argv = ["bench", "--quick", "--sizes", "1e6", "--ops", "sigmoid", "--backends", "python", "--no-peers",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 1  # the loop baseline stops at 1e5 elements: nothing was timed
    assert "nothing was timed: skipped: the loop baseline" in capsys.readouterr().err
    assert not (tmp_path / "bench.png").exists()


def test_an_unknown_op_gets_the_closest_name(tmp_path, capsys):
    assert main(["bench", "--ops", "sigmod", "--out", str(tmp_path)]) == 2
    assert "unknown op 'sigmod'; did you mean 'sigmoid'? choose from: sigmoid," in capsys.readouterr().err


def test_the_json_names_the_threads_numbas_kernels_ran_on():
    # OpenMP and TBB time alike on idle cores, not where other processes hold some.
    import numpy as np

    import xpvec
    from xpvec.bench.sweep import machine_info

    if "numba" not in xpvec.available_backends():
        pytest.skip(f"numba: {xpvec.backend_report()['numba']}")
    import numba

    xpvec.sigmoid(np.zeros(1 << 20), backend="numba")  # past PARALLEL_MIN_SIZE: the threads run
    assert machine_info()["numba_threading_layer"] == numba.threading_layer()


def test_the_json_counts_the_cpus_this_process_may_use():
    import os

    from xpvec.bench.sweep import machine_info

    info = machine_info()
    assert info["cores"] == (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    assert info["platform"]
