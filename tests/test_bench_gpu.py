"""The GPU experiment of ``xpvec bench`` as a tool: it runs end to end and writes JSON and plots.

Without a GPU it runs on the host stand-in (NumPy in the device's place), which
exercises every step but the CUDA-event timer; with cupy unusable, asking for
it fails before any timing with the probe's reason. This checks the tool, not
any timing.
"""

from __future__ import annotations

import itertools
import json

import pytest

import xpvec
from xpvec.bench import gpu
from xpvec.bench.sweep import machine_info
from xpvec.cli import main


def test_experiment_runs_end_to_end_on_the_host_stand_in(tmp_path, capsys):
    plan = gpu.Plan(
        ["sigmoid", "softmax", "l2_loss", "dot"], [300, 2000], loss_grad_shape=(2000, 8),
        fits=((3000, 8, 2, "float32"), (3000, 8, 3, "float64")), repeats=2, min_sample=0.001,
    )  # fmt: skip
    steps: list[str] = []
    phases: list[tuple] = []  # what a run cut short would have left: (complete, results, loss_grad, fits)

    def checkpoint(e):
        phases.append((e["complete"], len(e["results"]), len(e["loss_grad"]), len(e["fits"])))

    experiment = gpu.run(gpu.HostStandIn(), plan, steps.append, checkpoint)
    assert len(steps) == plan.steps
    per_op = len(plan.sizes)  # sigmoid, softmax and l2_loss also have a peer; dot has not
    so_far = list(itertools.accumulate(2 * per_op if op != "dot" else per_op for op in plan.ops))
    per_dtype = so_far[-1]
    # What the goals are judged on first (float32 ops, op by op; loss+gradient; fits), float64's ops last.
    assert phases == (
        [(False, n, 0, 0) for n in so_far] + [(False, per_dtype, 0, 0), (False, per_dtype, 8, 0), (False, per_dtype, 8, 2)]
        + [(False, per_dtype + n, 8, 2) for n in so_far] + [(True, 2 * per_dtype, 8, 2)]
    )  # fmt: skip
    assert [r.dtype for r in experiment["results"]] == ["float32"] * per_dtype + ["float64"] * per_dtype

    results = experiment["results"]
    assert {r.op for r in results} == set(plan.ops)
    assert {r.dtype for r in results} == {"float32", "float64"}
    assert {"numpy", "numpy expression"} == {r.runner for r in results}
    assert all(r.median_s > 0 and r.copy_floor_s > 0 for r in results + experiment["loss_grad"])
    assert {r.runner for r in experiment["loss_grad"]} == {"numpy", "two BLAS passes"}
    for fit in experiment["fits"]:
        assert fit.speedup > 0 and abs(fit.objective_rel_diff) < 1e-3
    goals = {g["goal"]: g for g in experiment["targets"]}
    assert goals["sigmoid 1e8 float32 >= 80% of copy bandwidth"]["met"] is None  # not measured at 1e8
    assert sum("within 1.3x" in g for g in goals) == 4 and sum("scikit-learn" in g for g in goals) == 2

    print(gpu.format_summary(experiment))
    assert "objective rel diff" in capsys.readouterr().out
    written = gpu.write(tmp_path, experiment, machine_info(), plan)
    assert written == [str(tmp_path / n) for n in ("gpu.json", "gpu-float32.png", "gpu-float64.png")]
    doc = json.loads((tmp_path / "gpu.json").read_text())
    assert doc["device"] == "host stand-in (NumPy)" and len(doc["fits"]) == 2 and doc["targets"] and doc["complete"]
    assert doc["config"]["sizes"] == [300, 2000]
    assert (tmp_path / "gpu-float32.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(xpvec.backend_report()["cupy"] == "ok", reason="cupy is usable here")
def test_bench_with_unusable_cupy_fails_before_timing(tmp_path, capsys):
    code = main(["bench", "--quick", "--backends", "numpy,cupy", "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "backend 'cupy' is unavailable" in err and xpvec.backend_report()["cupy"] in err
    assert not (tmp_path / "out").exists()


def test_cli_glue_prints_and_writes_the_experiment(tmp_path, capsys, monkeypatch):
    # The CLI's GPU branch with the host stand-in in the device's place (quick plan, one size).
    import argparse

    from xpvec import cli

    monkeypatch.setattr(gpu, "CupyDevice", gpu.HostStandIn)
    cli._bench_gpu(argparse.Namespace(quick=True, sizes=[500]), ["sigmoid", "l1_loss"], tmp_path)
    out = capsys.readouterr().out
    assert "sigmoid (float32)" in out and "sigmoid (float64)" in out and "vs scikit-learn" in out
    assert {p.name for p in tmp_path.iterdir()} == {"gpu.json", "gpu-float32.png", "gpu-float64.png"}
    assert json.loads((tmp_path / "gpu.json").read_text())["config"]["sizes"] == [500]


def test_a_run_cut_short_keeps_what_it_measured(tmp_path, monkeypatch):
    # A run on a GPU machine can be cut short (a time limit): gpu.json must already hold the ops timed.
    import argparse

    from xpvec import cli

    def cut(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(gpu, "CupyDevice", gpu.HostStandIn)
    monkeypatch.setattr(gpu, "time_fits", cut)
    with pytest.raises(KeyboardInterrupt):
        cli._bench_gpu(argparse.Namespace(quick=True, sizes=[500]), ["sigmoid"], tmp_path)
    doc = json.loads((tmp_path / "gpu.json").read_text())
    assert doc["complete"] is False and doc["fits"] == []
    ops = [(r["op"].split()[0], r["dtype"]) for r in doc["results"]]
    # float32's ops (backend and peer) and the loss+gradient (K=1, 10; fused, 2-pass) came before the
    # fits; float64's ops were to come after them.
    assert sorted(ops) == sorted([("sigmoid", "float32")] * 2
                                 + [("loss_grad", "float32"), ("loss_grad", "float64")] * 4)
    goals = {g["goal"]: g["met"] for g in doc["targets"]}
    assert sum("within 1.3x" in g for g in goals) == 4 and not any("scikit-learn" in g for g in goals)


def test_a_run_cut_within_the_ops_keeps_the_ops_already_timed(tmp_path, monkeypatch):
    import argparse
    import dataclasses

    from xpvec import cli

    def cut(*args):
        raise KeyboardInterrupt

    cases = dict(gpu.CASES)
    cases["softmax"] = dataclasses.replace(cases["softmax"], make_inputs=cut)
    monkeypatch.setattr(gpu, "CASES", cases)
    monkeypatch.setattr(gpu, "CupyDevice", gpu.HostStandIn)
    with pytest.raises(KeyboardInterrupt):
        cli._bench_gpu(argparse.Namespace(quick=True, sizes=[500]), ["sigmoid", "softmax"], tmp_path)
    doc = json.loads((tmp_path / "gpu.json").read_text())
    assert doc["complete"] is False
    assert [(r["op"], r["dtype"], r["kind"]) for r in doc["results"]] == [
        ("sigmoid", "float32", "backend"), ("sigmoid", "float32", "peer")]  # fmt: skip


def test_variants_of_the_backend_are_timed_beside_it():
    # On a GPU the backend is also timed with numba-cuda launching its kernels: on sigmoid at
    # every size and on the fused loss+gradient, each a runner of its own, steps counted.
    from xpvec.backends.numpy_backend import NumpyBackend

    class WithVariant(gpu.HostStandIn):
        def variants(self):
            return [("numpy, again", NumpyBackend())]

    plan = gpu.Plan(["sigmoid", "softmax"], [300, 2000], dtypes=("float32",), loss_grad_shape=(500, 4),
                    fits=(), repeats=2, min_sample=0.001, variants=1)  # fmt: skip
    steps: list[str] = []
    experiment = gpu.run(WithVariant(), plan, steps.append)
    assert len(steps) == plan.steps
    runners = {(r.op, r.size, r.runner) for r in experiment["results"]}
    assert {("sigmoid", n, "numpy, again") for n in (300, 2000)} <= runners
    assert not any(op == "softmax" and runner == "numpy, again" for op, _, runner in runners)
    varied = [r for r in experiment["loss_grad"] if r.runner == "numpy, again"]
    assert len(varied) == 2 and all(r.kind == "backend" and r.median_s > 0 for r in varied)  # K=1, 10


def test_ops_are_timed_without_a_wait_after_each_call(monkeypatch):
    # The device timer brackets the calls with CUDA events; a device-wide wait inside each
    # call (Backend.finish) would add the host's launch gaps to every op's time, and to
    # xpvec's only: the peers and the copy floor run back to back.
    from xpvec._registry import get_instance

    backend = get_instance(gpu.HostStandIn.backend)
    waits = []
    monkeypatch.setattr(type(backend), "finish", lambda self, result: waits.append(1) or result)
    plan = gpu.Plan(["sigmoid", "softmax"], [300], dtypes=("float32",), repeats=2, min_sample=0.001)
    results = gpu.time_ops(gpu.HostStandIn(), plan, lambda step: None)
    assert {r.runner for r in results} == {"numpy", "numpy expression"}
    assert waits == []
