"""Warnings that point at the user's line, however deep in xpvec they are raised."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def warn_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` at the first frame outside xpvec (Python 3.12's
    ``skip_file_prefixes``, which 3.11 lacks): a fixed ``stacklevel`` is right for
    one call path only, and predict, predict_proba and score reach the same
    check at different depths."""
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
