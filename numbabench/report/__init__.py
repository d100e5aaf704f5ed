"""``numbabench report``: results files and asv results in, one self-contained HTML page out.

    from numbabench.report import build
    page = build(results=["results/vm-20260101-120000.json"], asv=[".asv/results"])

writes ``reports/<machine>/index.html`` (plots embedded as base64 PNG: no network, no external CSS
or JS) and every figure beside it as PNG and SVG. The page is made with a jinja2 template
(``templates/report.html.j2``) and matplotlib's Agg backend. The table behind it is
``numbabench.report.tidy.load`` (the typed row's columns, plus where each row came from).

Modules, imports flowing downward: ``model`` (Source, Collection, ordering, formats) <- ``tidy``
and ``asv_results`` (files in) <- ``analysis`` (one machine's summary) <- ``compare`` (machines,
commits, Numba versions), ``environment`` (the cards), ``figures`` <- this module (the page).
"""
from __future__ import annotations

import base64
import datetime as _dt
import os
import struct
from pathlib import Path

from ..results import write_atomic
from .model import Collection
from .tidy import load  # noqa: F401  (public)

__all__ = ["build", "load", "render"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _png_size(png: bytes) -> tuple[int, int]:
    w, h = struct.unpack(">II", png[16:24])  # the IHDR chunk
    return w, h


def _shortpath(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


def _asv_context(coll: Collection, machine: str) -> dict:
    from .compare import numba_versions

    df = coll.table[coll.table.origin == "asv"]
    srcs = [s for s in coll.sources if s.kind == "asv"]
    failures = []
    for _, r in df[df.status == "failed"].iterrows():
        failures.append(f"{r.benchmark} ({r.target}, size {int(r['size']):,}) on {r.machine}, "
                        f"commit {str(r.commit)[:8]}, {r.asv_env}")
    versions, _ = numba_versions(coll, machine)
    return {"sources": srcs, "machines": sorted({s.machine for s in srcs}),
            "commits": len({s.commit for s in srcs if s.machine == machine}) or len({s.commit for s in srcs}),
            "envs": sorted({s.env for s in srcs if s.env}), "versions": versions,
            "ok": int((df.status == "ok").sum()), "failed": int((df.status == "failed").sum()),
            "skipped": int((df.status == "skipped").sum()), "failures": failures[:200]}


def render(coll: Collection, out: Path, machine: str | None = None) -> Path:
    """Write the page and its figures for ``coll`` into ``out``; return the page's path."""
    import jinja2

    from . import analysis, compare, environment, figures
    from .model import PHASE_MEANING, fmt_size, fmt_time, fmt_x

    machine = machine or analysis.primary_machine(coll)
    out = Path(out)
    summaries = analysis.summarize(coll, machine)
    no_gpu = analysis.gpu_banner(summaries)
    snap = analysis.snapshot(coll, machine)
    peaks: dict = {}
    for s in coll.sources:
        if s.machine == machine and s.kind == "run":
            peaks.update(s.peaks)
    asv_machine = compare.asv_machine(coll, machine)
    hist = compare.history(coll, asv_machine) if asv_machine else {}
    versions, vtable = compare.numba_versions(coll, asv_machine) if asv_machine else ([], None)
    made = {
        "speedup": (figures.speedup_bars(summaries), "no correct, non-simulated timing with a NumPy baseline"),
        "time_vs_size": (figures.time_vs_size(snap, summaries), "no correct, non-simulated timing"),
        "roofline": (figures.roofline(summaries, peaks), "no roofline fraction (no bandwidth peak was measured, "
                     "or `numbabench run --no-peak`)"),
        "compile": (figures.compile_times(summaries), "no compile time was recorded"),
        "asv_history": (figures.history(hist), "no asv compute timing"),
        "asv_numba_versions": (figures.numba_versions(versions, vtable), "fewer than two Numba versions"),
    }
    images, missing = {}, {}
    for name, (fig, why) in made.items():
        if fig is None:
            missing[name] = why
            continue
        png = figures.save(fig, out)
        w, h = _png_size(png)
        images[name] = {"b64": base64.b64encode(png).decode("ascii"), "title": fig.title,
                        "caption": fig.caption, "width": w, "height": h}
    for name in missing:  # no stale figure from an earlier report stays beside the page
        for ext in ("png", "svg"):
            (out / f"{name}.{ext}").unlink(missing_ok=True)

    reasons = analysis.not_run_reasons(coll, machine, snap)
    ran = set(snap[snap.status.isin(["ok", "wrong"])].target)
    not_run = {t: why for t, why in sorted(reasons.items(), key=lambda kv: kv[0]) if t not in ran}
    env_machines = [machine] + [m for m in coll.machines if m != machine]
    cards = environment.cards(coll, env_machines)
    first = next((c for c in cards if c["title"] == machine), None)
    env = None
    if first:
        f = dict(first["fields"])
        env = {"cpu": f.get("CPU"), "gpu": None if f.get("GPU") in ("none", "none recorded") else f.get("GPU")}

    jenv = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    jenv.filters.update(shortpath=_shortpath, t=fmt_time, x=fmt_x, size=fmt_size,
                        pct=lambda v: "-" if v is None else (f"{v:.0%}" if v >= 0.01 else f"{v:.2%}"))
    html = jenv.get_template("report.html.j2").render(
        machine=machine, env=env, summaries=summaries, no_gpu=no_gpu, images=images, missing=missing, peaks=peaks,
        asv=_asv_context(coll, asv_machine or machine), side_by_side=compare.machines_side_by_side(coll),
        phases=PHASE_MEANING, any_gpu=any(c.kind == "gpu" and c.ran for s in summaries for c in s.slots),
        env_cards=cards, not_run=not_run, sources=coll.sources,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    page = out / "index.html"
    write_atomic(page, html)
    return page


def build(results=(), asv=(), out=None) -> Path:
    """Read ``results`` files and ``asv`` folders, write the report, return the page's path.

    ``out`` defaults to ``reports/<machine>`` for the machine of the first results file (or of the
    first asv results when no results file is given).
    """
    from .analysis import primary_machine

    coll = load(results, asv)
    machine = primary_machine(coll)
    out = Path(out) if out is not None else Path("reports") / machine
    return render(coll, out, machine)
