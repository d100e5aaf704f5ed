"""What the report says, worked out from the tidy table: headlines, summary, crossover, break-even.

Every figure here comes from rows of one machine (``snapshot``): the rows of ``numbabench run`` (or
``numbabench try``) when there are any, otherwise asv's newest commit. A *slot* is one target in
one variant (``cpu · tuned``, ``cpu · article``). Rules that the page and the plots share:

* a speedup is ``numbabench.results.derive``'s: the best (fastest correct) NumPy variant's time over
  the slot's, same run; a wrong result is never a speedup, the simulator never gets one;
* on a GPU, ``compute`` is throughput (pipelined calls), ``latency`` and ``end_to_end`` are per call;
* the *best CPU slot* is the fastest correct compute among the slots on the host (numpy included);
* the *crossover* is the smallest measured size from which a GPU slot's end-to-end time (host in,
  host out) beats the best CPU slot at that size and every larger size measured;
* the *break-even* is how many calls pay back a slot's one-time costs (its compile, plus the
  transfers for a GPU slot) against a reference: extra one-time cost over the per-call saving.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..results import DEFAULT_VARIANT
from .model import (Collection, finite, fmt_size, fmt_time, fmt_x, registry_targets, slot_label,
                    slot_order, target_kind, target_order, variant_order)
from .crossover import BreakEven, Crossover, break_even, crossovers, verdict  # noqa: F401 (public)
from .tidy import dedupe

MAIN_PHASES = ("compile", "compute", "latency", "h2d", "d2h", "end_to_end")


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


def simulator_env(df):
    """Rows of an asv environment that runs the simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    return df.asv_env.astype(str).str.contains("NUMBA_ENABLE_CUDASIM1", regex=False)


def snapshot(coll: Collection, machine: str):
    """The rows the headline figures of ``machine`` are made of (one per slot, size and phase)."""
    df = coll.table[coll.table.machine == machine]
    run = df[df.origin == "run"]
    if not run.empty:
        return dedupe(run)
    asv = df[df.origin == "asv"]
    if asv.empty:
        return asv
    newest = asv.sort_values("date", na_position="first").commit.iloc[-1]
    at = asv[asv.commit == newest]
    sim_env = simulator_env(at)
    if (~sim_env).any():  # host targets of a simulator environment repeat the main environment's
        at = at[~sim_env | at.simulated]
    versions = sorted({v for v in at.numba.dropna()}, key=version_key)
    if versions:
        at = at[at.numba.isna() | (at.numba == versions[-1])]
    return dedupe(at)


@dataclass
class Slot:
    """One slot (a target in one variant) of one technique at one size: a row of the summary."""

    target: str
    kind: str  # cpu / gpu / sim
    variant: str = DEFAULT_VARIANT
    label: str = ""  # "cpu · tuned"; just "cpu" where the target shows one variant
    size: int | None = None
    status: str = "not run"  # ok / wrong / failed / skipped / not run
    why: str | None = None
    compute_s: float | None = None  # throughput on a GPU: pipelined calls
    spread_s: float | None = None
    latency_s: float | None = None  # a GPU's per-call time, synchronized after every call
    e2e_s: float | None = None
    h2d_s: float | None = None
    d2h_s: float | None = None
    compile_s: float | None = None
    speedup: float | None = None
    speedup_spread: float | None = None  # IQR of per-round ratios, when timed interleaved
    speedup_latency: float | None = None
    speedup_e2e: float | None = None
    gbps: float | None = None
    roofline: float | None = None
    correct: bool | None = None
    max_abs_err: float | None = None
    threading_layer: str | None = None

    def __post_init__(self):
        self.label = self.label or self.target

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

    @property
    def host_speedup(self) -> float | None:
        return self.speedup_e2e if self.kind == "gpu" else self.speedup


@dataclass
class TechniqueSummary:
    name: str
    title: str
    size: int | None
    sizes: list[int]
    slots: list[Slot]
    best: Slot | None = None
    best_cpu: Slot | None = None
    baseline: Slot | None = None  # the best NumPy variant: what every speedup is against
    headline: str = ""
    variants_line: str = ""  # what the article's way costs against the tuned way
    baseline_line: str = ""
    gpu_line: str = ""
    verdict: str = ""  # the table's closing sentence: from which size the GPU wins end to end
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


def _text(v) -> str | None:
    return None if v is None or v != v else str(v)


def _slot(df, technique, target, variant, size, reasons, label) -> Slot:
    c = Slot(target=target, kind=target_kind(target), variant=variant, label=label, size=size)
    here = df[(df.technique == technique) & (df.target == target) & (df.variant == variant)]
    compile_rows = here[(here.phase == "compile") & (here.status == "ok")]
    if not compile_rows.empty:
        c.compile_s = finite(compile_rows.median_s.min())
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
    c.status, c.why = str(r.status), _text(r.error)
    c.compute_s, c.spread_s = finite(r.median_s), finite(r.spread_s)
    c.speedup, c.speedup_spread = finite(r.speedup_vs_numpy), finite(r.speedup_spread)
    c.gbps, c.roofline = finite(r.gbps), finite(r.roofline_fraction)
    c.correct = None if r.correct is None or r.correct != r.correct else bool(r.correct)
    c.max_abs_err = finite(r.max_abs_err)
    c.threading_layer = _text(r.threading_layer)
    for phase, attr, sp in (("latency", "latency_s", "speedup_latency"), ("end_to_end", "e2e_s", "speedup_e2e"),
                            ("h2d", "h2d_s", None), ("d2h", "d2h_s", None)):
        pr = at[(at.phase == phase) & (at.status == "ok")]
        if not pr.empty:
            setattr(c, attr, finite(pr.median_s.iloc[0]))
            if sp and c.status == "ok":
                setattr(c, sp, finite(pr.speedup_vs_numpy.iloc[0]))
    if c.status != "ok" or c.kind == "sim":  # never a speedup, whatever a file says
        c.speedup = c.speedup_spread = c.speedup_latency = c.speedup_e2e = None
    if c.kind == "sim":
        c.roofline = None
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
    good = [s for s, g in ok.groupby("size") if (g.target == "numpy").any() and (g.target != "numpy").any()]
    if good:
        return int(max(good))
    if not ok.empty:
        return int(ok["size"].max())
    return int(comp["size"].max())


def slots_of(df, technique) -> list[tuple[str, str, str]]:
    """(target, variant, label) of a technique: every variant its rows have, and every target the
    registry declares (one "not run" slot where there are no rows)."""
    mine = df[df.technique == technique]
    targets = (set(mine.target.unique()) - {"n/a"}) | set(registry_targets(technique) or ())
    out = []
    for t in sorted(targets, key=target_order):
        variants = sorted(set(mine[mine.target == t].variant)) or [DEFAULT_VARIANT]
        for v in sorted(variants, key=variant_order):
            out.append((t, v, slot_label(t, v, len(variants) > 1)))
    return out


def summarize(coll: Collection, machine: str) -> list[TechniqueSummary]:
    df = snapshot(coll, machine)
    if df.empty:
        return []
    reasons = not_run_reasons(coll, machine, df)
    out = []
    for tech in sorted(df.technique.unique(), key=_technique_order):
        size = headline_size(df, tech)
        sizes = sorted(int(s) for s in df[df.technique == tech]["size"].unique())
        slots = []
        for t, v, label in slots_of(df, tech):
            s = size
            if target_kind(t) == "sim":  # the simulator has its own, small sizes: show its largest
                mine = df[(df.technique == tech) & (df.target == t) & (df.variant == v) & (df.phase == "compute")]
                s = int(mine["size"].max()) if not mine.empty else size
            slots.append(_slot(df, tech, t, v, s, reasons, label))
        ts = TechniqueSummary(name=tech, title=_title(tech), size=size, sizes=sizes, slots=slots)
        _headline(ts)
        ts.notes[:0] = tried_notes(coll, machine, tech)
        ts.crossovers = crossovers(df, tech, {(c.target, c.variant): c.label for c in slots})
        ts.verdict = verdict(df, tech)
        ts.break_even = break_even(ts)
        ts.other = other_phases(df, tech, size, {(c.target, c.variant): c.label for c in slots})
        out.append(ts)
    return out


def tried_notes(coll: Collection, machine: str, technique: str) -> list[str]:
    """What a `numbabench try` file says about a user's function: whose it is, what its NumPy row is."""
    for s in coll.sources:
        t = s.tried
        if s.machine != machine or t.get("technique") != technique:
            continue
        notes = [f"Your {'kernel' if t.get('kind') == 'kernel' else 'function'} {t.get('function') or technique}, "
                 "through every variant by `numbabench try`."]
        if t.get("numpy_way") == "vectorize":
            notes.append("Its numpy row is np.vectorize of the function, a Python loop: speedups here are "
                         "against Python, not NumPy (give --reference FILE.py:FN for a NumPy baseline).")
        return notes
    return []


def _technique_order(name):
    try:
        from ..registry import techniques

        names = techniques()
    except Exception:
        names = []
    return (names.index(name), name) if name in names else (len(names), name)


def _shown(c: Slot) -> str:
    if c.status == "ok" and c.speedup is not None:
        return f"{c.label} {fmt_x(c.speedup)}"
    return f"{c.label} {'WRONG' if c.status == 'wrong' else c.status}"


def _headline(ts: TechniqueSummary) -> None:
    usable = [c for c in ts.slots if c.usable and c.host_cost_s is not None]
    cpu = [c for c in usable if c.kind == "cpu"]
    numpy = [c for c in usable if c.target == "numpy"]
    ts.best_cpu = min(cpu, key=lambda c: c.compute_s) if cpu else None
    ts.best = min(usable, key=lambda c: c.host_cost_s) if usable else None
    ts.baseline = min(numpy, key=lambda c: c.compute_s) if numpy else None
    at = f"for {ts.name} at size {fmt_size(ts.size)}"
    if ts.best is None:
        ts.headline = f"On this machine, {at}, no target produced a correct timing."
    else:
        b, sp = ts.best, ts.best.host_speedup
        how = " end to end" if b.kind == "gpu" else ""
        if b.target == "numpy":
            which = "NumPy" if b.label == "numpy" else f"NumPy ({b.label})"
            ts.headline = f"On this machine, {at}, {which} is the fastest: no Numba target beats it."
        elif sp is not None and sp < 1.1:
            ts.headline = (f"On this machine, {at}, no target is clearly faster than NumPy: the quickest, "
                           f"{b.label}, is {fmt_x(sp)} NumPy{how}.")
        else:
            ts.headline = f"On this machine, {at}, the best target is {b.label}: {fmt_x(sp)} NumPy{how}."
    _variant_lines(ts)
    _gpu_line(ts)
    for c in ts.slots:
        if c.status == "wrong":
            ts.notes.append(f"{c.label} gave a WRONG result (max abs error {c.max_abs_err:.3g}): not counted."
                            if c.max_abs_err is not None else f"{c.label} gave a WRONG result: not counted.")
        elif c.status == "failed":
            ts.notes.append(f"{c.label} failed: {c.why or 'no reason recorded'}")
    for c in ts.slots:
        if c.kind == "sim" and c.ran:
            verdict_ = "correct" if c.status == "ok" else "WRONG"
            ts.notes.append(f"{c.label} ran the CUDA kernels at size {fmt_size(c.size)}: {verdict_} "
                            "(functional check only, its times say nothing about a GPU).")


def _variant_lines(ts: TechniqueSummary) -> None:
    """What the article's way costs beside the tuned way, per target with both; which NumPy row
    the speedups are against, and what the plain NumPy expression gives."""
    parts = []
    for t in sorted({c.target for c in ts.slots if c.target != "numpy" and c.kind != "sim"}, key=target_order):
        mine = [c for c in ts.slots if c.target == t and c.ran]
        article = [c for c in mine if c.variant == DEFAULT_VARIANT]
        others = [c for c in mine if c.variant != DEFAULT_VARIANT]
        if article and others:
            parts.append(f"{_shown(article[0])} NumPy against " + ", ".join(_shown(c) for c in others))
    if parts:
        ts.variants_line = "The article's way: " + "; ".join(parts) + "."
    numpys = [c for c in ts.slots if c.target == "numpy" and c.ran]
    if ts.baseline is not None and len(numpys) > 1:
        rest = [c for c in numpys if c is not ts.baseline]
        ts.baseline_line = (f"Speedups are against NumPy's best, {ts.baseline.label} ({fmt_time(ts.baseline.compute_s)}); "
                            + ", ".join(f"{c.label} is {fmt_x(c.speedup)} of it" if c.speedup is not None
                                        else f"{c.label} {c.status}" for c in rest) + ".")


def _gpu_line(ts: TechniqueSummary) -> None:
    gpus = [c for c in ts.slots if c.kind == "gpu"]
    ran = [c for c in gpus if c.usable]
    if ran:
        parts = []
        for c in ran:
            text = f"{c.label} {fmt_x(c.speedup)} NumPy on device-resident data (throughput)"
            if c.speedup_latency is not None:
                text += f", {fmt_x(c.speedup_latency)} per call (latency)"
            parts.append(text + f", {fmt_x(c.speedup_e2e)} end to end")
        ts.gpu_line = "GPU: " + "; ".join(parts) + "."
    elif gpus:
        ts.gpu_missing = {}
        for c in gpus:
            ts.gpu_missing.setdefault(c.target, c.why or c.status)
        why = "; ".join(f"{t}: {w}" for t, w in ts.gpu_missing.items())
        ts.gpu_line = f"GPU: no GPU timing here ({why})."
    else:
        ts.gpu_line = "GPU: this technique has no GPU target."


def gpu_banner(summaries: list[TechniqueSummary]) -> dict[str, str]:
    """When no technique has a GPU timing: GPU target -> why, said once for the page (and the cards
    then say it in a few words instead of repeating the reasons)."""
    if not summaries or any(c.kind == "gpu" and c.usable for s in summaries for c in s.slots):
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


def other_phases(df, technique, size, labels: dict) -> list[dict]:
    """Technique-specific phases (pickle sizes, FFT stages...) at the headline size, per slot."""
    d = df[(df.technique == technique) & ~df.phase.isin(MAIN_PHASES)]
    if d.empty:
        return []
    at = d[d["size"] == size] if size in set(d["size"]) else d[d["size"] == d["size"].max()]
    out = []
    rows = sorted(at.itertuples(), key=lambda r: ((r.phase,) + slot_order((r.target, r.variant))))
    for r in rows:
        if r.status == "ok":
            if finite(r.median_s) is not None:
                shown = fmt_time(r.median_s)
                if finite(r.speedup_vs_numpy) is not None and r.target != "numpy":
                    shown += f" ({fmt_x(r.speedup_vs_numpy)} NumPy)"
            elif finite(r.value) is not None:
                shown = f"{finite(r.value):,.4g} {r.unit if isinstance(r.unit, str) else ''}".strip()
            else:
                shown = "-"
        else:
            shown = f"{r.status}: {r.error}" if isinstance(r.error, str) else str(r.status)
        out.append({"phase": r.phase, "target": labels.get((r.target, r.variant), r.target),
                    "size": int(r.size), "shown": shown, "status": r.status})
    return out
