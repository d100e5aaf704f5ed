"""Where the GPU starts to pay: the crossover size, the closing verdict, and the break-even in calls.

* the *crossover* of a GPU slot is the smallest measured size from which its end-to-end time (host
  in, host out) beats the best CPU slot's compute at that size and every larger size measured;
* the *verdict* is the sentence that closes a technique's table: from which size the GPU (its best
  slot) wins end to end, that it does not, or that no GPU was measured;
* the *break-even* is how many calls pay back a slot's one-time costs (its compile, plus the
  transfers for a GPU slot) against a reference: extra one-time cost over the per-call saving.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .model import fmt_size, fmt_time, slot_order, target_kind


@dataclass
class BreakEven:
    target: str  # the slot's label
    reference: str
    one_time_s: float | None
    per_call_saving_s: float | None
    calls: int | None  # None: never (or no data, see text)
    text: str


@dataclass
class Crossover:
    target: str  # the GPU slot's label
    size: int | None
    text: str


def _measured(df, technique):
    d = df[(df.technique == technique) & (df.status == "ok") & ~df.simulated & (df.median_s > 0)]
    comp = d[d.phase == "compute"]
    best_cpu = comp[comp.target.map(target_kind) == "cpu"].groupby("size").median_s.min()
    gpu_e2e = d[(d.phase == "end_to_end") & (d.target.map(target_kind) == "gpu")]
    return best_cpu, gpu_e2e


def _wins_from(e2e, best_cpu) -> tuple[int | None, list]:
    """The smallest common size from which ``e2e`` beats ``best_cpu`` at every larger common size."""
    common = sorted(set(e2e.index) & set(best_cpu.index))
    start = None
    for s in reversed(common):
        if e2e[s] < best_cpu[s]:
            start = s
        else:
            break
    return (int(start) if start is not None else None), common


def crossovers(df, technique, labels: dict) -> list[Crossover]:
    best_cpu, gpu_e2e = _measured(df, technique)
    slots = sorted({(t, v) for t, v in zip(df[df.technique == technique].target, df[df.technique == technique].variant)
                    if target_kind(t) == "gpu"}, key=slot_order)
    out = []
    for t, v in slots:
        name = labels.get((t, v), t)
        e2e = gpu_e2e[(gpu_e2e.target == t) & (gpu_e2e.variant == v)].groupby("size").median_s.min()
        s, common = _wins_from(e2e, best_cpu)
        if not common:
            out.append(Crossover(name, None, f"{name}: no end-to-end timing next to a CPU one; no crossover to find"))
        elif s is not None:
            out.append(Crossover(name, s, f"{name} end to end beats the best CPU target from size {fmt_size(s)} "
                                          f"({fmt_time(e2e[s])} against {fmt_time(best_cpu[s])})"))
        else:
            last = common[-1]
            out.append(Crossover(name, None, f"{name}: no crossover in the measured sizes (end to end "
                                             f"{fmt_time(e2e[last])} against {fmt_time(best_cpu[last])} at {fmt_size(last)})"))
    return out


def verdict(df, technique) -> str:
    """The one sentence that closes a technique's table: from which size the GPU wins end to end."""
    best_cpu, gpu_e2e = _measured(df, technique)
    best_gpu = gpu_e2e.groupby("size").median_s.min()
    s, common = _wins_from(best_gpu, best_cpu)
    if best_gpu.empty:
        return "No GPU was measured here."
    if not common:
        return "The GPU was measured at sizes without a CPU timing beside them: no end-to-end comparison."
    if s is None:
        return "On this machine, the GPU does not win end to end at any size measured."
    return f"On this machine, from size {fmt_size(s)} the GPU wins end to end."


def _one_time(c) -> float | None:
    if c.compile_s is None:
        return None
    if c.kind == "gpu":
        if c.h2d_s is None or c.d2h_s is None:
            return None
        return c.compile_s + c.h2d_s + c.d2h_s
    return c.compile_s


def break_even(ts) -> list[BreakEven]:
    """Per usable non-NumPy slot of a ``TechniqueSummary``: calls to pay back its one-time cost."""
    refs = [ts.best_cpu] if ts.best_cpu is not None else []
    if ts.baseline is not None and ts.baseline is not ts.best_cpu:
        refs.append(ts.baseline)
    out = []
    for c in ts.slots:
        if not c.usable or c.target == "numpy":
            continue
        for ref in refs:
            if ref is c:
                continue
            mine, theirs = _one_time(c), _one_time(ref) or 0.0
            saving = ref.compute_s - c.compute_s
            if mine is None:
                out.append(BreakEven(c.label, ref.label, None, saving, None,
                                     "no compile" + (" or transfer" if c.kind == "gpu" else "") + " timing"))
                continue
            extra = mine - theirs
            if saving <= 0:
                out.append(BreakEven(c.label, ref.label, extra, saving, None,
                                     f"never: {fmt_time(c.compute_s)} per call against {fmt_time(ref.compute_s)}"))
                continue
            calls = max(1, math.ceil(extra / saving)) if extra > 0 else 1
            out.append(BreakEven(c.label, ref.label, extra, saving, calls, f"{calls:,} call{'s' if calls != 1 else ''}"))
    return out


