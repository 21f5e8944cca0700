"""Models trained with xpvec backends: estimators over one fused loss+gradient kernel."""

from .logistic import LogisticRegression

__all__ = ["LogisticRegression"]
