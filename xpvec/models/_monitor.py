"""What every solver does per iteration besides the math: record, show, guard."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


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
    """Keeps the loss curve, drives the progress bar, and stops on a non-finite loss.

    The bar (tqdm) is created only with ``verbose``, so quiet fits import nothing.
    """

    def __init__(self, solver: str, max_iter: int, verbose: bool, learning_rate: float | None) -> None:
        self.solver = solver
        self.learning_rate = learning_rate
        self.loss_curve: list[float] = []
        self._bar = None
        if verbose:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=max_iter, desc=f"LogisticRegression({solver})", unit="it")

    def record(self, loss: float) -> None:
        """One finished iteration (or epoch for sgd) with objective value ``loss``."""
        self.check_finite(loss)
        self.loss_curve.append(loss)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            self._bar.update()

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
