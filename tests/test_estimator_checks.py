"""scikit-learn's own estimator checks, for each solver and every usable backend.

No check is expected to fail; ``expected_failed_checks`` stays empty on purpose
so that a regression shows up as a failure rather than as an xfail. The
checks that skip do so for missing optional packages (pandas) or because
scikit-learn's array-API mode is off; neither says anything about the estimator.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

import xpvec

from .conftest import training_backends

ESTIMATORS = [xpvec.LogisticRegression(solver=s, random_state=0) for s in ("lbfgs", "gd", "sgd")] + [
    xpvec.LogisticRegression(backend=name) for name in training_backends() if name != "numpy"
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: {})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
