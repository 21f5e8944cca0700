"""What every solver does per iteration besides the math: record, show, guard."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

STANDARDIZE = "Standardize the features (e.g. sklearn.preprocessing.StandardScaler)."
BADLY_SCALED = "the problem is too badly scaled (features of very different or extreme magnitudes)"


@dataclass
class SolverResult:
    theta: Any
    n_iter: int
    converged: bool
    loss_curve: list[float] = field(default_factory=list)
    #: Why the solver stopped without converging, and what to do about it (the ConvergenceWarning's two parts).
    message: str = ""
    advice: str = (
        "Increase max_iter, standardize the features (e.g. sklearn.preprocessing.StandardScaler), "
        "or loosen tol."
    )


class Monitor:
    """Keeps the loss curve, shows progress with ``verbose``, and stops on a non-finite loss.

    Progress is a tqdm bar in a terminal or a notebook, and a plain line every tenth of
    ``max_iter`` elsewhere (a log file, a CI job, a worker of a parallel search), where a bar
    would write a carriage-return line per update. tqdm is imported only with ``verbose``.
    """

    def __init__(self, solver: str, max_iter: int, verbose: bool, learning_rate: float | None) -> None:
        self.solver = solver
        self.learning_rate = learning_rate
        self.loss_curve: list[float] = []
        self._name = f"LogisticRegression({solver})"
        self._unit = "epoch" if solver == "sgd" else "iteration"  # what max_iter counts
        self._max_iter = max_iter
        self._bar = None
        self._lines = False
        if verbose:
            from tqdm.auto import tqdm

            # tqdm.auto hands out the notebook bar inside a Jupyter kernel, whose stderr is no terminal.
            if tqdm.__module__ == "tqdm.notebook" or _stderr_is_a_terminal():
                self._bar = tqdm(total=max_iter, desc=self._name, unit="epoch" if solver == "sgd" else "it")
            else:
                self._lines = True

    def record(self, loss: float) -> None:
        """One finished iteration (or epoch for sgd) with objective value ``loss``."""
        self.check_finite(loss)
        self.loss_curve.append(loss)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            self._bar.update()
        elif self._lines and len(self.loss_curve) % max(1, -(-self._max_iter // 10)) == 0:
            self._say(f"{self._unit} {len(self.loss_curve)} of at most {self._max_iter}, loss {loss:.6g}")

    def finish(self, result: SolverResult) -> None:
        """Shows how the solver ended: a bar that stopped short of max_iter is complete, not cut off."""
        how = "converged" if result.converged else f"stopped ({result.message})"
        loss = f", loss {self.loss_curve[-1]:.6g}" if self.loss_curve else ""
        if self._bar is not None:
            self._bar.total = self._bar.n
            self._bar.set_postfix_str(f"{how}{loss}", refresh=True)
        elif self._lines:
            self._say(f"{how} after {result.n_iter} {self._unit}s{loss}")

    def _say(self, what: str) -> None:
        print(f"{self._name}: {what}", file=sys.stderr, flush=True)

    def check_finite(self, loss: float) -> None:
        if math.isfinite(loss):
            return
        self.close()
        step = "" if self.learning_rate is None else f" (learning_rate={self.learning_rate:g})"
        raise FloatingPointError(
            f"LogisticRegression(solver={self.solver!r}): the loss became {loss} after "
            f"{len(self.loss_curve)} iterations, so training diverged. Try a smaller "
            f"learning_rate{step} or learning_rate=None (a safe step), standardize the "
            "features (e.g. sklearn.preprocessing.StandardScaler), or solver='lbfgs'."
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._lines = False


def _stderr_is_a_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)  # None under pythonw
    return bool(isatty and isatty())
