"""The benchmark harness behind ``xpvec bench`` and ``benchmarks/``: one set of cases, two front ends.

- ``cases``: what is measured (op, input builder, bytes moved, peers).
- ``timing``: how (warm-up, rotating inputs, medians, the copy floor).
- ``sweep``: the loop over ops x sizes x backends and peers.
- ``report``: tables, JSON (with the machine) and the PNG plot.
- ``gpu`` and ``fit``: the GPU experiment (when cupy is among the backends).
"""
