"""What the report says, worked out from the tidy table: headlines, summary, crossover, break-even.

Every figure here comes from rows of one machine (``snapshot``): the rows of ``numbabench run`` when
there are any, otherwise asv's newest commit. Rules that the page and the plots share:

* a speedup is NumPy's compute time over the target's, from the same run, for a correct result;
  a wrong result is never a speedup and the simulator never gets one (functional only);
* the *best CPU target* is the fastest correct compute among the targets that run on the host
  (numpy, cpu, parallel, ...);
* the *crossover* is the smallest measured size at which a GPU target's end-to-end time (host in,
  host out) beats the best CPU target's compute time;
* the *break-even* is how many calls pay back a target's one-time costs (its compile, plus the
  transfers to and from the GPU for a GPU target) against a reference: extra one-time cost divided
  by the per-call saving, "never" when the target is not faster per call.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .tidy import Collection, dedupe, registry_targets, target_kind, target_order

MAIN_PHASES = ("compile", "compute", "h2d", "d2h", "end_to_end")


def _f(v):
    """A finite float or None."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def version_key(v) -> tuple:
    parts = re.findall(r"\d+|[A-Za-z]+", str(v))
    return tuple((0, int(p)) if p.isdigit() else (-1, p) for p in parts)


def primary_machine(coll: Collection) -> str:
    """The machine the report is about: the first one of a results file that has rows."""
    measured = set(coll.table.machine)
    for kind in ("run", "asv"):
        for s in coll.sources:
            if s.kind == kind and s.machine in measured:
                return s.machine
    return coll.sources[0].machine


def snapshot(coll: Collection, machine: str):
    """The rows the headline figures of ``machine`` are made of (one per cell and phase)."""
    df = coll.table[coll.table.machine == machine]
    run = df[df.origin == "run"]
    if not run.empty:
        return dedupe(run)
    asv = df[df.origin == "asv"]
    if asv.empty:
        return asv
    newest = asv.sort_values("date", na_position="first").commit.iloc[-1]
    at = asv[asv.commit == newest]
    sim_env = at.env.str.contains("NUMBA_ENABLE_CUDASIM1", regex=False)
    if (~sim_env).any():  # host targets of a simulator environment repeat the main environment's
        at = at[~sim_env | at.simulated]
    versions = sorted({v for v in at.numba.dropna()}, key=version_key)
    if versions:
        at = at[at.numba.isna() | (at.numba == versions[-1])]
    return dedupe(at)


@dataclass
class Cell:
    """One target of one technique at one size: what the summary table shows."""

    target: str
    kind: str  # cpu / gpu / sim
    size: int | None = None
    status: str = "not run"  # ok / wrong / failed / skipped / not run
    why: str | None = None
    compute_s: float | None = None
    spread_s: float | None = None
    e2e_s: float | None = None
    h2d_s: float | None = None
    d2h_s: float | None = None
    compile_s: float | None = None
    speedup: float | None = None
    speedup_e2e: float | None = None
    gbps: float | None = None
    roofline: float | None = None
    correct: bool | None = None
    max_abs_err: float | None = None

    @property
    def ran(self) -> bool:
        return self.status in ("ok", "wrong")

    @property
    def usable(self) -> bool:
        """A timing that may be compared: correct and not simulated."""
        return self.status == "ok" and self.kind != "sim" and self.compute_s is not None

    @property
    def host_cost_s(self) -> float | None:
        """What a caller with host data pays per call: compute on the host, end-to-end on a GPU."""
        return self.e2e_s if self.kind == "gpu" else self.compute_s


@dataclass
class BreakEven:
    target: str
    reference: str
    one_time_s: float | None
    per_call_saving_s: float | None
    calls: int | None  # None: never (or no data, see text)
    text: str


@dataclass
class Crossover:
    target: str
    size: int | None
    text: str


@dataclass
class TechniqueSummary:
    name: str
    title: str
    size: int | None
    sizes: list[int]
    cells: list[Cell]
    best: Cell | None = None
    best_cpu: Cell | None = None
    headline: str = ""
    gpu_line: str = ""
    notes: list[str] = field(default_factory=list)
    crossovers: list[Crossover] = field(default_factory=list)
    break_even: list[BreakEven] = field(default_factory=list)
    other: list[dict] = field(default_factory=list)  # technique-specific phases at the headline size
    gpu_missing: dict = field(default_factory=dict)  # GPU target -> why it has no timing


def _title(name: str) -> str:
    try:
        from ..registry import get_technique

        return get_technique(name).title
    except Exception:
        return ""


def fmt_size(n) -> str:
    return f"{int(n):,}" if n is not None else "?"


def fmt_time(s) -> str:
    s = _f(s)
    if s is None:
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_x(v) -> str:
    v = _f(v)
    if v is None:
        return "–"
    return f"{v:.3g}×" if v < 100 else f"{v:,.0f}×"


def _rows_for(df, technique):
    return df[df.technique == technique]


def _cell(df, technique, target, size, reasons) -> Cell:
    kind = target_kind(target)
    c = Cell(target=target, kind=kind, size=size)
    here = df[(df.technique == technique) & (df.target == target)]
    compile_rows = here[(here.phase == "compile") & (here.status == "ok")]
    if not compile_rows.empty:
        c.compile_s = _f(compile_rows.median_s.min())
    at = here[here["size"] == size]
    comp = at[at.phase == "compute"]
    if comp.empty:
        other = here[here.phase == "compute"]
        if other.empty:
            c.status, c.why = "not run", reasons.get(target) or "no rows for this target"
        else:
            c.status = "not at this size"
            bad = other[other.status.isin(["failed", "skipped"])]
            c.why = (f"measured at {', '.join(fmt_size(s) for s in sorted(other['size'].unique()))} only"
                     + (f"; {bad.error.dropna().iloc[0]}" if not bad.empty and bad.error.notna().any() else ""))
        return c
    r = comp.iloc[0]
    c.status = str(r.status)
    c.why = None if r.error is None or r.error != r.error else str(r.error)
    c.compute_s, c.spread_s = _f(r.median_s), _f(r.spread_s)
    c.speedup, c.gbps, c.roofline = _f(r.speedup_vs_numpy), _f(r.gbps), _f(r.roofline_fraction)
    c.correct = None if r.correct is None or r.correct != r.correct else bool(r.correct)
    c.max_abs_err = _f(r.max_abs_err)
    if c.status == "wrong":
        c.speedup = None  # never a speedup, whatever a file says
    for phase, attr in (("end_to_end", "e2e_s"), ("h2d", "h2d_s"), ("d2h", "d2h_s")):
        pr = at[(at.phase == phase) & (at.status == "ok")]
        if not pr.empty:
            setattr(c, attr, _f(pr.median_s.iloc[0]))
            if phase == "end_to_end" and c.status == "ok":
                c.speedup_e2e = _f(pr.speedup_vs_numpy.iloc[0])
    if kind == "sim":
        c.speedup = c.speedup_e2e = c.roofline = None
    return c


def not_run_reasons(coll: Collection, machine: str, df) -> dict[str, str]:
    """target -> why it has no rows, from the results files' targets section and the rows."""
    reasons: dict[str, str] = {}
    for s in coll.sources:
        if s.machine != machine:
            continue
        chosen = s.options.get("targets") if isinstance(s.options, dict) else None
        for t, info in s.targets.items():
            if not info.get("available", True):
                reasons.setdefault(t, f"not available here: {info.get('reason') or 'no reason given'}")
            elif chosen and t not in chosen:
                reasons.setdefault(t, "available, but not chosen for this run (--targets)")
    bad = df[df.status.isin(["failed", "skipped"]) & df.error.notna()]
    for t, g in bad.groupby("target"):
        reasons.setdefault(str(t), str(g.error.iloc[0]))
    return reasons


def headline_size(df, technique) -> int | None:
    comp = df[(df.technique == technique) & (df.phase == "compute")]
    if comp.empty:
        return None
    ok = comp[(comp.status == "ok") & ~comp.simulated]
    with_base = ok.groupby("size").apply(
        lambda g: (g.target == "numpy").any() and (g.target != "numpy").any(), include_groups=False)
    good = [s for s, v in with_base.items() if v]
    if good:
        return int(max(good))
    if not ok.empty:
        return int(ok["size"].max())
    return int(comp["size"].max())


def _targets_of(df, technique) -> list[str]:
    names = set(df[df.technique == technique].target.unique()) - {"n/a"}
    names |= set(registry_targets(technique) or ())
    return sorted(names, key=target_order)


def summarize(coll: Collection, machine: str) -> list[TechniqueSummary]:
    df = snapshot(coll, machine)
    if df.empty:
        return []
    reasons = not_run_reasons(coll, machine, df)
    out = []
    for tech in sorted(df.technique.unique(), key=_technique_order):
        size = headline_size(df, tech)
        sizes = sorted(int(s) for s in _rows_for(df, tech)["size"].unique())
        cells = []
        for t in _targets_of(df, tech):
            if target_kind(t) == "sim":  # the simulator has its own, small sizes: show its largest
                mine = df[(df.technique == tech) & (df.target == t) & (df.phase == "compute")]
                s = int(mine["size"].max()) if not mine.empty else size
                cells.append(_cell(df, tech, t, s, reasons))
            else:
                cells.append(_cell(df, tech, t, size, reasons))
        ts = TechniqueSummary(name=tech, title=_title(tech), size=size, sizes=sizes, cells=cells)
        _headline(ts)
        ts.crossovers = crossovers(df, tech)
        ts.break_even = break_even(ts)
        ts.other = other_phases(df, tech, size)
        out.append(ts)
    return out


def _technique_order(name):
    try:
        from ..registry import techniques

        names = techniques()
    except Exception:
        names = []
    return (names.index(name), name) if name in names else (len(names), name)


def _headline(ts: TechniqueSummary) -> None:
    usable = [c for c in ts.cells if c.usable and c.host_cost_s is not None]
    cpu = [c for c in usable if c.kind == "cpu"]
    ts.best_cpu = min(cpu, key=lambda c: c.compute_s) if cpu else None
    ts.best = min(usable, key=lambda c: c.host_cost_s) if usable else None
    at = f"for {ts.name} at size {fmt_size(ts.size)}"
    if ts.best is None:
        ts.headline = f"On this machine, {at}, no target produced a correct timing."
    else:
        b = ts.best
        how = "end to end" if b.kind == "gpu" else ""
        sp = b.speedup_e2e if b.kind == "gpu" else b.speedup
        if b.target == "numpy":
            ts.headline = f"On this machine, {at}, plain NumPy is the fastest: no Numba target beats it."
        elif sp is not None and sp < 1.1:
            ts.headline = (f"On this machine, {at}, no target is clearly faster than NumPy: the quickest, "
                           f"{b.target}, is {fmt_x(sp)} NumPy{' ' + how if how else ''}.")
        else:
            ts.headline = (f"On this machine, {at}, the best target is {b.target}: "
                           f"{fmt_x(sp)} NumPy{' ' + how if how else ''}.")
    gpus = [c for c in ts.cells if c.kind == "gpu"]
    ran = [c for c in gpus if c.usable]
    if ran:
        parts = [f"{c.target} {fmt_x(c.speedup)} NumPy on device-resident data, {fmt_x(c.speedup_e2e)} end to end"
                 for c in ran]
        ts.gpu_line = "GPU: " + "; ".join(parts) + "."
    elif gpus:
        ts.gpu_missing = {c.target: c.why or c.status for c in gpus}
        why = "; ".join(f"{t}: {w}" for t, w in ts.gpu_missing.items())
        ts.gpu_line = f"GPU: no GPU timing here ({why})."
    else:
        ts.gpu_line = "GPU: this technique has no GPU target."
    for c in ts.cells:
        if c.status == "wrong":
            ts.notes.append(f"{c.target} gave a WRONG result (max abs error {c.max_abs_err:.3g}): not counted."
                            if c.max_abs_err is not None else f"{c.target} gave a WRONG result: not counted.")
        elif c.status == "failed":
            ts.notes.append(f"{c.target} failed: {c.why or 'no reason recorded'}")
    sims = [c for c in ts.cells if c.kind == "sim" and c.ran]
    for c in sims:
        verdict = "correct" if c.status == "ok" else "WRONG"
        ts.notes.append(f"{c.target} ran the CUDA kernels at size {fmt_size(c.size)}: {verdict} "
                        "(functional check only, its times say nothing about a GPU).")


def gpu_banner(summaries: list[TechniqueSummary]) -> dict[str, str]:
    """When no technique has a GPU timing: GPU target -> why, said once for the page (and the cards
    then say it in a few words instead of repeating the reasons)."""
    if not summaries or any(c.kind == "gpu" and c.usable for s in summaries for c in s.cells):
        return {}
    reasons: dict[str, str] = {}
    for s in summaries:
        for t, why in s.gpu_missing.items():
            reasons.setdefault(t, why)
    if reasons:
        for s in summaries:
            if s.gpu_missing:
                s.gpu_line = "GPU: not measured on this machine (why: see the note above)."
    return reasons


def crossovers(df, technique) -> list[Crossover]:
    d = df[(df.technique == technique) & (df.status == "ok") & ~df.simulated]
    comp = d[d.phase == "compute"]
    cpu = comp[comp.target.map(target_kind) == "cpu"]
    best_cpu = cpu.groupby("size").median_s.min()
    gpu_targets = sorted({t for t in df[df.technique == technique].target.unique() if target_kind(t) == "gpu"},
                         key=target_order)
    out = []
    for t in gpu_targets:
        e2e = d[(d.target == t) & (d.phase == "end_to_end")].set_index("size").median_s
        common = sorted(set(e2e.index) & set(best_cpu.index))
        if not common:
            out.append(Crossover(t, None, f"{t}: no end-to-end timing next to a CPU one; no crossover to find"))
            continue
        wins = [s for s in common if e2e[s] < best_cpu[s]]
        if wins:
            s = int(wins[0])
            out.append(Crossover(t, s, f"{t} end to end beats the best CPU target from size {fmt_size(s)} "
                                       f"({fmt_time(e2e[s])} against {fmt_time(best_cpu[s])})"))
        else:
            s = common[-1]
            out.append(Crossover(t, None, f"{t}: no crossover in the measured sizes (end to end "
                                          f"{fmt_time(e2e[s])} against {fmt_time(best_cpu[s])} at {fmt_size(s)})"))
    return out


def _one_time(c: Cell) -> float | None:
    if c.compile_s is None:
        return None
    if c.kind == "gpu":
        if c.h2d_s is None or c.d2h_s is None:
            return None
        return c.compile_s + c.h2d_s + c.d2h_s
    return c.compile_s


def break_even(ts: TechniqueSummary) -> list[BreakEven]:
    refs = []
    if ts.best_cpu is not None:
        refs.append(ts.best_cpu)
    numpy = next((c for c in ts.cells if c.target == "numpy" and c.usable), None)
    if numpy is not None and numpy is not ts.best_cpu:
        refs.append(numpy)
    out = []
    for c in ts.cells:
        if not c.usable or c.target == "numpy":
            continue
        for ref in refs:
            if ref is c:
                continue
            mine, theirs = _one_time(c), _one_time(ref) or 0.0
            saving = ref.compute_s - c.compute_s
            if mine is None:
                out.append(BreakEven(c.target, ref.target, None, saving, None,
                                     "no compile" + (" or transfer" if c.kind == "gpu" else "") + " timing"))
                continue
            extra = mine - theirs
            if saving <= 0:
                out.append(BreakEven(c.target, ref.target, extra, saving, None,
                                     f"never: {fmt_time(c.compute_s)} per call against {fmt_time(ref.compute_s)}"))
                continue
            calls = max(1, math.ceil(extra / saving)) if extra > 0 else 1
            out.append(BreakEven(c.target, ref.target, extra, saving, calls,
                                 f"{calls:,} call{'s' if calls != 1 else ''}"))
    return out


def other_phases(df, technique, size) -> list[dict]:
    """Technique-specific phases (pickle sizes, FFT stages...) at the headline size, per target."""
    d = df[(df.technique == technique) & ~df.phase.isin(MAIN_PHASES)]
    if d.empty:
        return []
    at = d[d["size"] == size] if size in set(d["size"]) else d[d["size"] == d["size"].max()]
    out = []
    for _, r in at.sort_values(["phase", "target"], key=lambda s: s.map(
            lambda v: target_order(v) if s.name == "target" else (v,))).iterrows():
        if r.status == "ok":
            if _f(r.median_s) is not None:
                shown = fmt_time(r.median_s)
                if _f(r.speedup_vs_numpy) is not None and r.target != "numpy":
                    shown += f" ({fmt_x(r.speedup_vs_numpy)} NumPy)"
            elif _f(r.value) is not None:
                shown = f"{_f(r.value):,.4g} {r.unit if isinstance(r.unit, str) else ''}".strip()
            else:
                shown = "–"
        else:
            shown = f"{r.status}: {r.error}" if isinstance(r.error, str) else str(r.status)
        out.append({"phase": r.phase, "target": r.target, "size": int(r["size"]), "shown": shown,
                    "status": r.status})
    return out


# -- several machines -----------------------------------------------------------------------------
def machines_side_by_side(coll: Collection) -> list[dict]:
    """Per technique, the size measured on the most machines (two or more): a row per machine."""
    if len(coll.machines) < 2:
        return []
    snaps = {m: snapshot(coll, m) for m in coll.machines}
    out = []
    techs = sorted({t for d in snaps.values() for t in d.technique.unique()}, key=_technique_order)
    for tech in techs:
        per = {m: d[(d.technique == tech) & (d.phase == "compute") & (d.status == "ok") & ~d.simulated]
               for m, d in snaps.items()}
        counts: dict[int, int] = {}
        for d in per.values():
            for s in set(d["size"]):
                counts[int(s)] = counts.get(int(s), 0) + 1
        common = [(n, s) for s, n in counts.items() if n >= 2]
        if not common:
            continue
        size = max(common)[1]  # the size most machines measured, the larger on a tie
        targets = sorted({t for d in per.values() for t in d[d["size"] == size].target}, key=target_order)
        rows = []
        for m, d in per.items():
            at = d[d["size"] == size].set_index("target")
            if at.empty:
                continue
            cells = {}
            for t in targets:
                if t in at.index:
                    r = at.loc[t]
                    r = r.iloc[0] if hasattr(r, "ndim") and r.ndim > 1 else r
                    cells[t] = f"{fmt_time(r.median_s)} ({fmt_x(r.speedup_vs_numpy)})"
                else:
                    cells[t] = "–"
            rows.append({"machine": m, "cells": cells})
        out.append({"technique": tech, "size": size, "targets": targets, "rows": rows})
    return out


# -- asv: history and Numba versions ------------------------------------------------------------
def asv_machine(coll: Collection, machine: str) -> str | None:
    """The machine whose asv results the history shows: this one if asv ran here, else the first."""
    names = [s.machine for s in coll.sources if s.kind == "asv"]
    if not names:
        return None
    return machine if machine in names else names[0]


def asv_rows(coll: Collection, machine: str):
    """asv's correct compute rows of ``machine``, outside simulator environments (their NumPy rows
    ran beside the simulator and belong to another environment of the matrix)."""
    df = coll.table
    a = df[(df.origin == "asv") & (df.machine == machine)]
    return a[(a.phase == "compute") & (a.status == "ok") & ~a.simulated
             & ~a.env.str.contains("NUMBA_ENABLE_CUDASIM1", regex=False)]


def history(coll: Collection, machine: str):
    """Compute times across commits: technique -> (size, DataFrame commit x target), newest Numba."""
    a = asv_rows(coll, machine)
    if a.empty:
        return {}
    versions = sorted(a.numba.dropna().unique(), key=version_key)
    if versions:
        a = a[a.numba.isna() | (a.numba == versions[-1])]
    out = {}
    for tech, g in a.groupby("technique"):
        # the size with the most targets measured (the larger on a tie)
        size = int(max(g.groupby("size").target.nunique().items(), key=lambda kv: (kv[1], kv[0]))[0])
        g = g[g["size"] == size]
        order = g.groupby("commit").date.min().sort_values()
        table = g.pivot_table(index="commit", columns="target", values="median_s", aggfunc="min")
        table = table.reindex(order.index)
        table.attrs["dates"] = order
        out[tech] = (size, table)
    return out


def numba_versions(coll: Collection, machine: str):
    """Per technique and target: compute time per Numba version, all from one commit (the newest
    commit measured with two or more versions) and one size (the largest such)."""
    import pandas as pd

    a = asv_rows(coll, machine)
    a = a[a.numba.notna()]
    versions = sorted(a.numba.unique(), key=version_key)
    if len(versions) < 2:
        return versions, None
    rows = []
    for (tech, target), g in a.groupby(["technique", "target"]):
        best = None  # (size, date, commit)
        for (size, commit), gg in g.groupby(["size", "commit"]):
            if gg.numba.nunique() >= 2:
                key = (int(size), gg.date.max(), commit)
                best = key if best is None or key[:2] > best[:2] else best
        if best is None:
            continue
        size, _, commit = best
        at = g[(g["size"] == size) & (g.commit == commit)].groupby("numba").median_s.min()
        rows.append({"technique": tech, "target": target, "size": size, "commit": commit,
                     **{v: _f(at.get(v)) for v in versions}})
    return versions, pd.DataFrame(rows)
