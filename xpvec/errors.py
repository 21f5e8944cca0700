"""Exceptions raised by xpvec."""


class BackendUnavailableError(RuntimeError):
    """A backend name is unknown, or the backend cannot run here.

    The message says why (not installed, no device, ...) and how to fix it.
    """
