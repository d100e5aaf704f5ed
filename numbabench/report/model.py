"""The report's model: what every part of the report shares, below all of them.

``Source`` (one file read) and ``Collection`` (the tidy table and its sources), which duplicate
row wins (``STATUS_RANK``), how targets and variants are ordered and labelled ("cpu · tuned"),
and how a time, a ratio and a size are written. ``tidy`` and ``asv_results`` read files into
this model; ``analysis``, ``environment`` and ``figures`` read it. Imports flow one way: nothing
here imports another module of the report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..fmt import seconds
from ..results import DEFAULT_VARIANT

#: which duplicate of a row wins (lower first), e.g. a cuda row of a simulator env meeting the cudasim one
STATUS_RANK = {"ok": 0, "wrong": 1, "failed": 2, "limitation": 3, "skipped": 4, "interrupted": 5}
#: variants in the order the page shows them: the tuned way first, the article's way beside it
VARIANT_ORDER = ("tuned", "fused", DEFAULT_VARIANT)
#: what a GPU figure is: pipelined throughput or per-call latency (see numbabench.results.PHASES)
PHASE_MEANING = {
    "compute": "throughput: calls pipelined, one synchronize per sample",
    "latency": "latency: per call, synchronized after every call",
    "end_to_end": "per call, host in, host out, transfers included",
}


@dataclass
class Source:
    """One file the report read, and what it says about where its rows were measured."""

    kind: str  # "run" (numbabench run) or "asv"
    path: str
    machine: str
    info: dict = field(default_factory=dict)  # cpu, cores, os, gpu, compute_capability, driver, ...
    versions: dict = field(default_factory=dict)
    commit: str | None = None
    date: str | None = None  # ISO 8601
    targets: dict = field(default_factory=dict)  # target -> {"available": bool, "reason": str|None}
    peaks: dict = field(default_factory=dict)
    env: str | None = None  # asv environment name
    options: dict = field(default_factory=dict)
    interrupted: bool = False
    load_average: list | None = None  # at the start of the run: a busy machine makes noisy figures
    ptx: list = field(default_factory=list)  # the PTX layer's kernels: {kernel, cc, registers, spills, ok, reason}
    ptx_error: str | None = None  # why the PTX layer could not run, when it could not
    tried: dict = field(default_factory=dict)  # `numbabench try`: the user's function, its NumPy row's way


@dataclass
class Collection:
    table: "object"  # pandas.DataFrame
    sources: list[Source]

    @property
    def machines(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.sources:
            seen.setdefault(s.machine, None)
        return list(seen)


# -- targets and variants, tolerant of names the core does not know -------------------------------
def target_kind(name: str) -> str:
    """'cpu' (host memory), 'gpu' (a real GPU) or 'sim' (the CUDA simulator: functional only)."""
    from ..targets import TARGETS

    t = TARGETS.get(name)
    if t is None:
        return "sim" if "sim" in str(name) else "cpu"
    if t.simulated:
        return "sim"
    return "gpu" if t.on_device else "cpu"


def target_order(name: str) -> tuple:
    from ..targets import TARGETS

    names = list(TARGETS)
    return (names.index(name), "") if name in names else (len(names), str(name))


def variant_order(name) -> tuple:
    name = DEFAULT_VARIANT if name is None or name != name else str(name)
    return (VARIANT_ORDER.index(name), "") if name in VARIANT_ORDER else (len(VARIANT_ORDER), name)


def slot_order(slot: tuple) -> tuple:
    """Order of a (target, variant) pair: by target, then tuned before the article's way."""
    return target_order(slot[0]) + variant_order(slot[1])


def slot_label(target: str, variant: str, several: bool) -> str:
    """``cpu · tuned`` where the target shows more than one variant, else just ``cpu``."""
    return f"{target} · {variant}" if several else str(target)


def registry_targets(technique: str) -> tuple[str, ...] | None:
    """The targets the registry declares for a technique, or None for a technique it lacks."""
    try:
        from ..registry import get_technique

        return tuple(get_technique(technique).targets)
    except Exception:  # a technique from another checkout, a user's `try` function, a broken registry
        return None


def default_dtype(technique: str) -> str | None:
    try:
        from ..registry import get_technique

        return get_technique(technique).default_dtype()
    except Exception:
        return None


# -- how figures are written ------------------------------------------------------------------
def finite(v):
    """A finite float or None."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_size(n) -> str:
    return f"{int(n):,}" if n is not None else "?"


def fmt_time(s) -> str:
    return seconds(finite(s))


def fmt_x(v) -> str:
    v = finite(v)
    if v is None:
        return "-"
    return f"{v:.3g}×" if v < 100 else f"{v:,.0f}×"
