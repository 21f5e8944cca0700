"""``xpvec demo``: the training table (the default) and the ops table (``--ops``)."""

from xpvec.cli import main


def test_demo_trains_on_digits_and_prints_the_table(capsys):
    assert main(["demo", "--backends", "numpy,dask,array_api"]) == 0
    out = capsys.readouterr().out
    assert "digits: 1797 8x8 images" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("numpy", "dask", "array_api"))]
    assert [row[0] for row in rows] == ["numpy", "dask", "array_api"]
    for row in rows:
        assert float(row[2]) > 0.9  # test accuracy
        assert float(row[4]) < 1e-8  # max |p - p_numpy|


def test_demo_ops_table(capsys):
    assert main(["demo", "--ops", "--size", "10000", "--backends", "numpy"]) == 0
    assert "sigmoid" in capsys.readouterr().out


def test_ops_table_times_the_work_not_the_graph(monkeypatch):
    # A Dask op returns at once with a task graph: its time is that of computing it.
    import pytest

    pytest.importorskip("dask")
    from xpvec import demo
    from xpvec._registry import get_instance

    backend, computed = get_instance("dask"), []
    finish = backend.finish
    monkeypatch.setattr(backend, "finish", lambda r: computed.append(type(finish(r)).__name__) or r)
    demo.ops_table(n=1000, backends=("dask",))
    assert len(computed) == 5 * 6 and set(computed) <= {"ndarray", "float64"}  # 5 ops, warm-up + 5 runs


def test_format_ratio_keeps_slow_ratios_readable():
    from xpvec._table import format_ratio

    assert [format_ratio(r) for r in (249.4, 10.0, 3.21, 1.0, 0.0961)] == ["249x", "10x", "3.2x", "1x", "0.096x"]


def test_ops_table_shows_a_backend_slower_than_the_loop(monkeypatch):
    from xpvec import demo

    # Made-up medians: numpy 10.4 times slower than the loop used to print "0x".
    seconds = {"python": 1e-3, "numpy": 10.4e-3}
    monkeypatch.setattr(demo, "_median_time", lambda call, repeats, finish: seconds[call.keywords["backend"]])
    rows = [line for line in demo.ops_table(n=100, backends=("numpy", "python")).splitlines() if " numpy " in line]
    assert len(rows) == 5 and all(" 0.096x " in row for row in rows), rows


def test_training_table_shows_a_backend_slower_than_the_loop(monkeypatch):
    from types import SimpleNamespace

    import xpvec.models
    from xpvec import demo

    class QuickLoop(xpvec.models.LogisticRegression):
        def fit(self, X, y):
            if self.backend == "python":  # one iteration, not seconds of them: its time is made up below
                self.max_iter = 1
            return super().fit(X, y)

    monkeypatch.setattr(xpvec.models, "LogisticRegression", QuickLoop)
    # perf_counter around each timed fit: the loop's one 1 s, numpy's three 10.4 s.
    monkeypatch.setattr(demo, "time", SimpleNamespace(perf_counter=iter([0.0, 1.0] + [0.0, 10.4] * 3).__next__))
    rows = {line.split()[0]: line.split() for line in demo.training_table(("python", "numpy")).splitlines()}
    assert rows["python"][-1] == "1x"
    assert rows["numpy"][-1] == "0.096x"


def test_classic_dot_shows_a_contender_slower_than_the_loop():
    from xpvec.bench.classic import format_classic

    result = {"n": 1000, "seconds": {"python for loop": 1e-3, "xpvec dask (accelerated)": 1e-2},
              "speedup_over_loop": {"python for loop": 1.0, "xpvec dask (accelerated)": 0.1}}  # fmt: skip
    lines = format_classic(result).splitlines()
    assert lines[1].split() == ["python", "for", "loop", "1", "ms", "(the", "baseline)"]
    assert lines[2].split() == ["xpvec", "dask", "(accelerated)", "10", "ms", "10x", "slower", "than", "the", "loop"]


def test_demo_runs_whatever_backend_xpvec_backend_names(monkeypatch, capsys):
    # Each row names its backend; the digits are prepared on the host. An unusable
    # XPVEC_BACKEND stopped the demo even with --backends given.
    from xpvec import _selection

    monkeypatch.setattr(_selection, "_env_name", "bogus")
    monkeypatch.setattr(_selection, "_default", None)
    assert main(["demo", "--backends", "numpy"]) == 0
    assert "numpy" in capsys.readouterr().out


def test_table_figures_keep_their_significant_zeros():
    from xpvec._table import format_table

    table = format_table(["s"], [[0.0233], [0.02], [300.0], [6.29], [1234.5]])
    assert table.splitlines()[2:] == ["  0.0233", "  0.0200", "     300", "    6.29", "1.23e+03"]
