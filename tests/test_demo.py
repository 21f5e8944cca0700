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
