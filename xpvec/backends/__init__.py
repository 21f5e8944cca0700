"""Backends: one small class per way of running the ops (see ``_base.Backend``)."""
