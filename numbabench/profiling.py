"""Profiler ranges: every measured phase inside an NVTX range ``numbabench/<technique>/<target>/<phase>``.

nvprof and the Visual Profiler, which the article names, are gone; Nsight Systems (``nsys``) and
Nsight Compute (``ncu``) replaced them, and both attribute time and kernels to NVTX ranges. With
the ``nvtx`` package installed (the ``gpu`` extra), ``phase_range`` opens one push/pop range in
NVTX's default domain around the code it wraps; without it, it does nothing. Outside a profiler
an NVTX range costs next to nothing (the library has no tool to call).
"""
from __future__ import annotations

import contextlib
from functools import lru_cache

PREFIX = "numbabench"
#: timeline colours by phase (nsys shows them); any other phase gets the default
COLORS = {"compile": "orange", "compute": "green", "latency": "olive", "h2d": "blue", "d2h": "purple",
          "end_to_end": "red"}


def range_name(technique: str, target: str, phase: str, variant: str | None = None) -> str:
    """``numbabench/<technique>/<target>/<phase>``; a variant other than the article's is named
    with its target, ``<target>:<variant>``."""
    where = target if variant in (None, "article") else f"{target}:{variant}"
    return f"{PREFIX}/{technique}/{where}/{phase}"


@lru_cache(maxsize=1)
def _nvtx():
    """The ``nvtx`` module, or None where it is not installed (looked up once per process)."""
    try:
        import nvtx
    except ImportError:
        return None
    return nvtx


def phase_range(technique: str, target: str, phase: str, variant: str | None = None):
    """A context manager: the NVTX range of this phase while the block runs, or nothing without nvtx."""
    nvtx = _nvtx()
    if nvtx is None:
        return contextlib.nullcontext()
    return nvtx.annotate(range_name(technique, target, phase, variant), color=COLORS.get(phase))
