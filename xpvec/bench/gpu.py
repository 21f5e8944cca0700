"""The GPU experiment of ``xpvec bench``, run when ``cupy`` is among ``--backends``.

On the device, in float32 and float64, at sizes from 1e3 to 1e8:
- the floor: a device-to-device copy moving the op's bytes, timed like the ops;
- each op on the cupy backend, and the CuPy expression a user would write
  instead, timed with CUDA events around back-to-back calls on the current
  stream after a warm-up (kernel compilation, CuPy's memory pool), with no
  wait between calls, small inputs rotated through up to 16 copies (the
  smallest still fit in L2 together: the peers and the floor are timed so too);
- the logistic loss+gradient on 1e6 x 64 (binary and 10 classes), fused and
  as two cuBLAS passes, against one copy of X;
- LogisticRegression fits on n x 64 on the device against scikit-learn's
  lbfgs on the host CPU, same C and tol, with the objective each reaches
  (``xpvec.bench.fit``).
``targets`` checks the issue's goals against the numbers. The phases run in
the order the goals need them (the ops in float32, the loss+gradient, the fits,
then the ops in float64), and each ends with a checkpoint: a run cut short by
a time limit keeps what the goals are judged on.

The code is written against a small device interface (put arrays, time
calls, copy), so the tests run the whole experiment on the host with NumPy
(``HostStandIn``); only ``CupyDevice`` needs a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from .._registry import get_instance
from .._table import format_count
from ..backends._base import Backend
from .cases import CASES
from .fit import Fit, time_fits
from .sweep import Result
from .timing import median, time_calls

DTYPES = ("float32", "float64")
SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
ROTATE_BYTES = 256 * 2**20  # copies of an input up to this much in all (past an H100's 50 MB L2), at most 16
LOSS_GRAD_SHAPE = (1_000_000, 64)
# rows, features, classes, dtype: float32 is the GPU's natural type, float64 shows the same optimum
# without float32's rounding floor in the stopping test.
FITS = (
    (1_000_000, 64, 2, "float32"),
    (1_000_000, 64, 2, "float64"),
    (4_000_000, 64, 2, "float32"),
    (1_000_000, 64, 10, "float32"),
)
ELEMENTWISE_TARGET = ("sigmoid", "sigmoid_grad", "log_sigmoid", "softmax", "log_softmax")
# Ops also timed with the device's variants of the backend: the cost of a launch shows on the
# smallest elementwise op at each size, and on the fused loss+gradient.
VARIED_OPS = ("sigmoid",)


@dataclass
class Plan:
    ops: list[str]
    sizes: list[int] = field(default_factory=lambda: list(SIZES))
    dtypes: tuple[str, ...] = DTYPES
    loss_grad_shape: tuple[int, int] = LOSS_GRAD_SHAPE
    fits: tuple[tuple[int, int, int, str], ...] = FITS
    repeats: int = 7
    min_sample: float = 0.02
    variants: int = 0  # the device's other ways of launching the backend's kernels (``CupyDevice.variants``)

    @property
    def steps(self) -> int:
        per_dtype = sum(
            len(CASES[op].sizes_run(self.sizes)) * (1 + (op in PEERS) + (op in VARIED_OPS) * self.variants)
            for op in self.ops
        )
        per_dtype += 2 * (2 + self.variants)  # loss_grad K=1, 10 x fused, 2-pass, variants
        return len(self.dtypes) * per_dtype + len(self.fits)


def quick_plan(ops: list[str]) -> Plan:
    return Plan(ops, [1_000, 100_000], loss_grad_shape=(20_000, 64), fits=((20_000, 16, 2, "float32"),), repeats=3, min_sample=0.005)


# ----------------------------------------------------------------- devices
class CupyDevice:
    """The current CUDA device through CuPy; times with CUDA events on the current stream."""

    backend = "cupy"

    def __init__(self):
        import cupy

        self.xp = cupy
        self.name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
        self._variants: list[tuple[str, Backend]] | None = None

    def variants(self) -> list[tuple[str, Backend]]:
        """The backend with its kernels launched by numba-cuda, beside the default launch by CuPy."""
        if self._variants is None:
            from ..backends.cupy_backend import CupyBackend

            self._variants = [("cupy, numba-cuda launch", CupyBackend(launch="numba"))]
        return self._variants

    def put(self, a: np.ndarray):
        return self.xp.asarray(a)

    def time(self, calls: list[Callable], repeats: int, min_sample: float) -> list[float]:
        """Seconds per call, one value per sample: events around ``number`` rotated calls."""
        cuda = self.xp.cuda
        start, end = cuda.Event(), cuda.Event()
        for call in calls:  # warm-up: JIT compilation, the memory pool, clocks
            call()
        start.record()
        calls[0]()
        end.record()
        end.synchronize()
        once = max(cuda.get_elapsed_time(start, end) / 1e3, 1e-7)
        number = max(1, int(min_sample / once))
        samples = []
        for _ in range(repeats):
            start.record()
            for i in range(number):
                calls[i % len(calls)]()
            end.record()
            end.synchronize()
            samples.append(cuda.get_elapsed_time(start, end) / 1e3 / number)
        return samples


class HostStandIn:
    """NumPy on the host in the device's place: runs the experiment's code where there is no GPU."""

    backend = "numpy"
    name = "host stand-in (NumPy)"
    xp = np

    def put(self, a: np.ndarray):
        return a

    def variants(self) -> list[tuple[str, Backend]]:
        return []

    def time(self, calls: list[Callable], repeats: int, min_sample: float) -> list[float]:
        return time_calls(calls, repeats=repeats, min_sample=min_sample)


# ----------------------------------------------------------------- peers: what a CuPy user writes
def _sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def _softmax(xp, x):
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(xp, x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=-1, keepdims=True))


PEERS: dict[str, Callable] = {
    "sigmoid": _sigmoid,
    "sigmoid_grad": lambda xp, x: _sigmoid(xp, x) * (1 - _sigmoid(xp, x)),
    "log_sigmoid": lambda xp, x: -xp.logaddexp(0, -x),
    "softmax": _softmax,
    "softmax_vector": _softmax,
    "log_softmax": _log_softmax,
    "normalize_rows": lambda xp, x: x / xp.linalg.norm(x, axis=1, keepdims=True),
    "l1_loss": lambda xp, a, b: xp.abs(a - b).sum(),
    "l2_loss": lambda xp, a, b: ((a - b) ** 2).sum(),
}


# ----------------------------------------------------------------- the experiment
def _rotations(nbytes: int) -> int:
    return int(min(16, max(1, ROTATE_BYTES // max(nbytes, 1))))


def _copies(device, host: tuple[np.ndarray, ...], nbytes: int) -> list[tuple]:
    return [tuple(device.put(a.copy()) for a in host) for _ in range(_rotations(nbytes))]


def _copy_floor(device, nbytes_moved: int, plan: Plan) -> float:
    """Seconds a device-to-device copy takes to move ``nbytes_moved`` (half read, half written)."""
    n = max(nbytes_moved // 16, 1)  # float64 elements, each read once and written once
    pairs = [(device.put(np.ones(n)), device.put(np.empty(n))) for _ in range(_rotations(16 * n))]
    calls = [lambda s=s, d=d: device.xp.copyto(d, s) for s, d in pairs]
    return median(device.time(calls, plan.repeats, plan.min_sample)) * nbytes_moved / (16 * n)


def time_ops(
    device, plan: Plan, progress: Callable[[str], None], dtypes: tuple[str, ...] | None = None,
    keep: Callable[[list[Result]], None] | None = None,
) -> list[Result]:
    """Each op at each size, in ``dtypes`` (default: the plan's), against its peer and the copy
    floor; ``keep`` gets the results so far after each op."""
    rng = np.random.default_rng(0)
    results = []
    variants = device.variants()
    for dtype in plan.dtypes if dtypes is None else dtypes:
        floors: dict[int, float] = {}
        for op in plan.ops:
            case = CASES[op]
            for size in case.sizes_run(plan.sizes):  # as run and recorded (``Case.sizes_run``)
                host = case.make_inputs(size, rng, np.dtype(dtype))
                nbytes = case.bytes_moved(host)
                if nbytes not in floors:
                    floors[nbytes] = _copy_floor(device, nbytes, plan)
                moved = _copies(device, host, nbytes)
                # The events bracket the calls: a wait after each would time the host's gaps too.
                xpvec_calls = [case.xpvec_call(device.backend, a, finish=False) for a in moved]
                runners = [(device.backend, "backend", xpvec_calls)]
                if op in VARIED_OPS:
                    for label, variant in variants:
                        fn = getattr(variant, op)
                        runners.append((label, "backend", [lambda a=a, f=fn: f(*a) for a in moved]))
                if op in PEERS:
                    calls = [lambda a=a, fn=PEERS[op]: fn(device.xp, *a) for a in moved]
                    runners.append((f"{device.xp.__name__} expression", "peer", calls))
                for label, kind, calls in runners:
                    progress(f"{op} {dtype} n={format_count(size)} {label}")
                    with np.errstate(all="ignore"):  # the peers' overflow is theirs to fix
                        seconds = median(device.time(calls, plan.repeats, plan.min_sample))
                    results.append(Result(op, size, dtype, label, kind, seconds, nbytes, floors[nbytes]))
                del moved
            if keep is not None:
                keep(results)
    return results


def time_loss_grad(device, plan: Plan, progress: Callable[[str], None]) -> list[Result]:
    """The fused loss+gradient and the two-pass formulation, against one copy of X."""
    backend = get_instance(device.backend)
    kernels = [(device.backend, backend._logistic_loss_grad)]
    kernels += [(label, variant._logistic_loss_grad) for label, variant in device.variants()]
    kernels.append(("two BLAS passes", _two_pass(backend)))
    n, d = plan.loss_grad_shape
    rng = np.random.default_rng(1)
    results = []
    for dtype in plan.dtypes:
        host_X = rng.standard_normal((n, d)).astype(dtype)
        X = device.put(host_X)
        xp = backend.namespace(X)
        floor = _copy_floor(device, host_X.nbytes, plan)  # one pass over X at the copy's bandwidth
        for k in (1, 10):
            labels = np.arange(n) % max(k, 2)
            Y = device.put((labels if k == 1 else np.eye(k)[labels]).astype(dtype))
            W = device.put(np.full(d if k == 1 else (d, k), 0.05, dtype=dtype))
            b = device.put(np.zeros(k, dtype=dtype))
            args = (xp, X, Y, W, b, None)
            for label, kernel in kernels:
                progress(f"loss_grad K={k} {dtype} {label}")
                seconds = median(device.time([lambda f=kernel, a=args: f(*a)], plan.repeats, plan.min_sample))
                op = f"loss_grad {format_count(n)}x{d} K={k}"
                kind = "peer" if label == "two BLAS passes" else "backend"
                results.append(Result(op, n * d, dtype, label, kind, seconds, host_X.nbytes, floor))
    return results


def _two_pass(backend: Backend) -> Callable:
    """The generic formulation (a BLAS pass for the logits, one for X^T R) on ``backend``'s arrays."""
    return lambda *a: Backend._logistic_loss_grad(backend, *a)


def targets(results: list[Result], loss_grad: list[Result], fits: list[Fit], backend: str = "cupy") -> list[dict]:
    """The issue's goals, each with the measured value and whether it is met (None: not measured)."""
    goals = []
    for op in ELEMENTWISE_TARGET:
        r = [x for x in results if (x.op, x.dtype, x.size, x.runner) == (op, "float32", 100_000_000, backend)]
        pct = r[0].percent_of_floor if r else None
        goals.append({"goal": f"{op} 1e8 float32 >= 80% of copy bandwidth", "value": pct, "met": None if pct is None else bool(pct >= 80)})
    for r in loss_grad:
        if r.runner == backend:
            ratio = float(r.median_s / r.copy_floor_s)
            goals.append({"goal": f"{r.op} {r.dtype} within 1.3x of one pass over X", "value": ratio, "met": ratio <= 1.3})
    for f in fits:
        goals.append({
            "goal": f"fit {format_count(f.n)}x{f.d} {f.classes} classes {f.dtype} >= 20x scikit-learn, same optimum (1e-6)",
            "value": f.speedup, "met": bool(f.speedup >= 20 and f.objective_rel_diff <= 1e-6),
        })  # fmt: skip
    return goals


def run(device, plan: Plan, progress: Callable[[str], None], checkpoint: Callable[[dict], None] | None = None) -> dict:
    """The whole experiment. ``checkpoint`` gets the experiment so far after each phase: the ops
    in the plan's first dtype (float32, which the goals name), the loss+gradient, the fits, the
    ops in the other dtypes; and within the ops' phases after each op. A run cut short still
    leaves what it measured, goals first."""
    experiment = {"device": device.name, "results": [], "loss_grad": [], "fits": [], "targets": [], "complete": False}

    def save(key: str, so_far: list, complete: bool = False) -> dict:
        done = {**experiment, key: experiment[key] + so_far, "complete": complete}
        done["targets"] = targets(done["results"], done["loss_grad"], done["fits"], device.backend)
        if checkpoint is not None:
            checkpoint(done)
        return done

    first, others = plan.dtypes[:1], plan.dtypes[1:]
    phases = [
        ("results", lambda d, p, f: time_ops(d, p, f, first, lambda r: save("results", r))),
        ("loss_grad", time_loss_grad),
        ("fits", lambda d, p, f: time_fits(d, p.fits, f)),
    ]
    if others:
        phases.append(("results", lambda d, p, f: time_ops(d, p, f, others, lambda r: save("results", r))))
    for i, (key, measure) in enumerate(phases):
        experiment = save(key, measure(device, plan, progress), complete=i == len(phases) - 1)
    return experiment


def format_summary(experiment: dict) -> str:
    """The fits and the targets as tables (the per-op tables come from ``report.tables``)."""
    from .._table import format_ratio, format_table

    fits = format_table(
        ["rows x features", "classes", "dtype", "xpvec s", "sklearn s", "speedup", "iters (xpvec/sklearn)", "objective rel diff"],
        [(format_count(f.n) + f"x{f.d}", f.classes, f.dtype, f.xpvec_s, f.sklearn_s, format_ratio(f.speedup),
          f"{f.xpvec_iter}/{f.sklearn_iter}", f"{f.objective_rel_diff:.1e}") for f in experiment["fits"]],
    )  # fmt: skip
    goals = format_table(
        ["target", "measured", "met"],
        [(g["goal"], "-" if g["value"] is None else f"{g['value']:.3g}", {True: "yes", False: "NO", None: "-"}[g["met"]])
         for g in experiment["targets"]],
    )  # fmt: skip
    return f"LogisticRegression fit on {experiment['device']} vs scikit-learn on the host CPU\n{fits}\n\n{goals}"


def write_json(out, experiment: dict, machine: dict, plan: Plan) -> str:
    """gpu.json into ``out`` (``complete`` false while phases are still to come); its path."""
    from . import report

    config = {**asdict(plan), "timing": "CUDA events after warm-up; floor: device-to-device copy"}
    extra = {"device": experiment["device"], "complete": experiment["complete"],
             "fits": [f.to_json() for f in experiment["fits"]], "targets": experiment["targets"]}  # fmt: skip
    report.write_json(out / "gpu.json", experiment["results"] + experiment["loss_grad"], machine, config, extra)
    return str(out / "gpu.json")


def write(out, experiment: dict, machine: dict, plan: Plan) -> list[str]:
    """gpu.json and one gpu-<dtype>.png per dtype into ``out``; the paths written, or why not."""
    from . import report

    written = [write_json(out, experiment, machine, plan)]
    timed = experiment["results"] + experiment["loss_grad"]
    for dtype in plan.dtypes:
        path = out / f"gpu-{dtype}.png"
        rows = [r for r in timed if r.dtype == dtype]
        why_not = report.write_plot(path, rows, {**machine, "gpu": experiment["device"]}, "copy floor (device copy)")
        written.append(why_not or str(path))
    return written
