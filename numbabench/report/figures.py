"""The report's plots, made with matplotlib's Agg backend (no display, no network).

Each function returns a ``Figure`` (a matplotlib figure plus a name, a title and a caption) or
``None`` when there is nothing to draw; ``save`` writes it as PNG and SVG and returns the PNG bytes
for the page. Simulated rows are never drawn as times or speedups, and a wrong result is never a
bar: the slot where it would be says "wrong" in red.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed, ever
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from .analysis import TechniqueSummary  # noqa: E402
from .model import fmt_size, fmt_time, fmt_x, slot_label, slot_order, target_kind  # noqa: E402

COLORS = {
    "numpy": "#6b7280",
    "cpu": "#2563eb",
    "parallel": "#7c3aed",
    "cuda": "#16a34a",
    "cupy": "#ea580c",
    "cudasim": "#94a3b8",
}
OTHER_COLORS = ["#0891b2", "#db2777", "#ca8a04", "#4b5563", "#65a30d"]
WRONG = "#dc2626"
MUTED = "#9ca3af"

STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#9ca3af",
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "xtick.color": "#374151",
    "ytick.color": "#374151",
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "svg.fonttype": "none",
}


def color(target: str, variant: str | None = None) -> str:
    """A target's colour; the article's way of a target with another variant a lighter shade."""
    base = COLORS.get(target) or OTHER_COLORS[sum(map(ord, str(target))) % len(OTHER_COLORS)]
    if variant in (None, "tuned"):
        return base
    r, g, b = (int(base[i:i + 2], 16) for i in (1, 3, 5))
    mix = 0.45 if variant == "article" else 0.25
    return "#" + "".join(f"{int(c + (255 - c) * mix):02x}" for c in (r, g, b))


def _page_labels(summaries) -> dict[tuple[str, str], str]:
    """(target, variant) -> label, the same on every plot of the page."""
    per: dict[str, set] = {}
    for s in summaries:
        for c in s.slots:
            per.setdefault(c.target, set()).add(c.variant)
    return {(t, v): slot_label(t, v, len(vs) > 1) for t, vs in per.items() for v in vs}


def _slot_color(t, v, labels) -> str:
    return color(t, v if labels.get((t, v), t) != t else None)


@dataclass
class Figure:
    name: str
    title: str
    caption: str
    fig: object  # matplotlib.figure.Figure


def save(f: Figure, folder: Path) -> bytes:
    """Write ``<name>.png`` and ``<name>.svg`` into ``folder``; return the PNG bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    f.fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    png = buf.getvalue()
    (folder / f"{f.name}.png").write_bytes(png)
    f.fig.savefig(folder / f"{f.name}.svg", format="svg", bbox_inches="tight", facecolor="white",
                  metadata={"Date": None})
    plt.close(f.fig)
    return png


def _seconds_formatter():
    return FuncFormatter(lambda v, _: fmt_time(v) if v > 0 else "")


def _x_formatter():
    return FuncFormatter(lambda v, _: (f"{v:g}×" if v >= 0.01 else f"{v:.0e}×") if v > 0 else "")


def _size_formatter():
    def f(v, _):
        if v <= 0:
            return ""
        exp = math.log10(v)
        if abs(exp - round(exp)) < 1e-9:
            n = int(round(exp))
            return {0: "1", 1: "10", 2: "100", 3: "1k", 4: "10k", 5: "100k", 6: "1M", 7: "10M", 8: "100M",
                    9: "1G"}.get(n, f"1e{n}")
        return ""
    return FuncFormatter(f)


def _dense_log_ticks(ax) -> None:
    """A log y axis spanning less than three decades gets ticks at 1, 2 and 5 of each decade, so that it
    shows more than one labelled value."""
    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 1000:
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))


def _grid(n: int, ncols: int = 3, w: float = 4.1, h: float = 3.0):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + 0.4), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _bar_slots(summaries, value, include_numpy=False, gpu_e2e=False):
    """The bar positions shared by every technique: (target, variant, phase) in slot order, for slots
    with something to show (a value, or a wrong/failed result to flag) in at least one technique."""
    def shown(c, ph="compute"):
        return bool(value(c, ph)) or c.status in ("wrong", "failed")

    pairs = sorted({(c.target, c.variant) for s in summaries for c in s.slots if c.kind != "sim"
                    and (include_numpy or c.target != "numpy") and shown(c)}, key=slot_order)
    slots = []
    for t, v in pairs:
        slots.append((t, v, "compute"))
        if gpu_e2e and target_kind(t) == "gpu":
            slots.append((t, v, "end_to_end"))
    return slots


def _footnote(fig, summaries, slots, labels, extra=""):
    """Say which slots have no bars at all, so an empty slot is never a silent omission."""
    drawn = {(t, v) for t, v, _ in slots}
    missing = sorted({(c.target, c.variant) for s in summaries for c in s.slots
                      if c.kind != "sim" and (c.target, c.variant) not in drawn and c.target != "numpy"},
                     key=slot_order)
    sims = sorted({c.label for s in summaries for c in s.slots if c.kind == "sim" and c.ran})
    parts = []
    if missing:
        parts.append("no timing here for " + ", ".join(labels.get(p, p[0]) for p in missing)
                     + " (see the summary for why)")
    if sims:
        parts.append(", ".join(sims) + ": functional only, never drawn")
    if extra:
        parts.append(extra)
    if parts:
        fig.text(0.01, -0.01, "  ·  ".join(parts), fontsize=7.5, color=MUTED, ha="left", va="top")


def _speedup_of(c, ph):
    return c.speedup if ph == "compute" else c.speedup_e2e


def _mark(ax, x, text, colour, y):
    ax.text(x, y, text, rotation=90, ha="center", va="bottom", fontsize=7.5, color=colour,
            fontweight="bold" if colour == WRONG else "normal")


def _status_label(slot) -> tuple[str, str]:
    if slot is None:
        return "", MUTED
    if slot.status == "wrong":
        return "wrong", WRONG
    if slot.status == "failed":
        return "failed", WRONG
    if slot.status == "ok":
        return "", MUTED
    return "n/a", MUTED


def _grouped_bars(summaries, slots, value, label, ylabel, ref=None, flag=True, show_size=True,
                  rotate=False, tick=None, e2e_name="end to end"):
    """Bars per technique (x) and slot, log y. ``value(slot, phase)`` gives a bar's height or None;
    a slot with no bar but a wrong/failed result is flagged in its slot (never a bar: a wrong answer
    is no speedup). ``ref``: (y, label) of a dashed reference line. None when there is no bar."""
    labels = _page_labels(summaries)
    vals = [value(c, ph) for s in summaries for c in s.slots for (t, v, ph) in slots
            if (c.target, c.variant) == (t, v) and c.status == "ok"]
    vals = [x for x in vals if x]
    if not slots or not vals:
        return None
    fig, ax = plt.subplots(figsize=(max(8.5, 0.5 * len(summaries) * len(slots) + 2), 3.8))
    width = 0.8 / len(slots)
    lo, hi = min(vals + ([ref[0]] if ref else [])), max(vals + ([ref[0]] if ref else []))
    ymin, ymax = lo / 3, hi * 3.5
    ax.set_yscale("log")
    ax.set_ylim(ymin, ymax)
    handles = {}
    for i, s in enumerate(summaries):
        by_pair = {(c.target, c.variant): c for c in s.slots}
        for j, (t, v, ph) in enumerate(slots):
            x = i - 0.4 + width * (j + 0.5)
            c = by_pair.get((t, v))
            y = value(c, ph) if c is not None and c.status == "ok" else None
            if y:
                e2e, col = ph == "end_to_end", _slot_color(t, v, labels)
                handles[(t, v, ph)] = ax.bar(x, y, width * 0.92, color=col, hatch="////" if e2e else None,
                                             edgecolor=col if e2e else "white", alpha=0.55 if e2e else 1.0,
                                             linewidth=0.6)
                ax.text(x, y * 1.08, label(y), ha="center", va="bottom", fontsize=7.5, color="#111827",
                        rotation=90 if rotate else 0)
            elif c is not None and flag and ph == "compute":
                text, col = _status_label(c)
                if text:
                    _mark(ax, x, text, col, ymin * 1.15)
    if ref:
        handles[("ref", ref[1], "")] = ax.axhline(ref[0], color="#111827", linewidth=1.1, linestyle="--")
    ax.set_xticks(range(len(summaries)))
    ax.set_xticklabels([f"{s.name}\n(size {fmt_size(s.size)})" if show_size else s.name for s in summaries])
    ax.set_xlim(-0.55, len(summaries) - 0.45)
    _dense_log_ticks(ax)
    if tick is not None:
        ax.yaxis.set_major_formatter(tick)
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)
    keys = [k for k in slots if k in handles] + [k for k in handles if k[0] == "ref"]
    names = [ref[1] if t == "ref" else labels.get((t, v), t) + (f" {e2e_name}" if ph == "end_to_end" else "")
             for (t, v, ph) in keys]
    ax.legend([handles[k] for k in keys], names, ncols=min(6, len(handles)), loc="upper center",
              bbox_to_anchor=(0.5, 1.13 + 0.07 * ((len(handles) - 1) // 6)))
    _footnote(fig, summaries, slots, labels)
    return fig


# -- 2. speedup bars -------------------------------------------------------------------------
def speedup_bars(summaries: list[TechniqueSummary]) -> Figure | None:
    baselines = {id(s.baseline) for s in summaries if s.baseline is not None}

    def value(c, ph):  # the NumPy row a technique's speedups are against: a bar of 1x says nothing
        return None if id(c) in baselines else _speedup_of(c, ph)

    slots = _bar_slots(summaries, value, include_numpy=True, gpu_e2e=True)
    with plt.rc_context(STYLE):
        fig = _grouped_bars(summaries, slots, value, fmt_x, "speedup vs NumPy's best (log)",
                            ref=(1.0, "NumPy's best = 1×"), tick=_x_formatter(), e2e_name="end to end, per call")
    if fig is None:
        return None
    return Figure("speedup", "Speedup vs NumPy's best · compute is throughput, hatched GPU bars end to end per call",
                  "The best NumPy variant's time over each slot's (a target in one variant: the tuned way and "
                  "the article's way side by side), same run, same size (the summary's size); higher is "
                  "better, log scale. Solid bars: compute (on a GPU, pipelined throughput on device-resident "
                  "data). Hatched bars: GPU end to end (host in, host out, per call). A wrong result has no "
                  "bar; the simulator is functional only and never shown as a speedup.", fig)


# -- 3. time vs size ---------------------------------------------------------------------------
LINES = (("compute", "-"), ("latency", "-."), ("end_to_end", "--"))


def time_vs_size(df, summaries: list[TechniqueSummary]) -> Figure | None:
    d = df[(df.status == "ok") & ~df.simulated & df.phase.isin([p for p, _ in LINES]) & (df.median_s > 0)]
    techs = [s for s in summaries if not d[d.technique == s.name].empty]
    if not techs:
        return None
    labels = _page_labels(summaries)
    with plt.rc_context(STYLE):
        fig, axes = _grid(len(techs))
        handles = {}
        for ax, s in zip(axes, techs):
            g = d[d.technique == s.name]
            for t, v in sorted(set(zip(g.target, g.variant)), key=slot_order):
                for ph, style in LINES:
                    line = g[(g.target == t) & (g.variant == v) & (g.phase == ph)].sort_values("size")
                    if line.empty or (ph != "compute" and target_kind(t) != "gpu"):
                        continue
                    (h,) = ax.plot(line["size"], line.median_s, style, marker="o", markersize=3.5,
                                   color=_slot_color(t, v, labels), linewidth=1.6)
                    handles[(t, v, ph)] = h
            for cx in s.crossovers:
                if cx.size is not None:
                    col = color(next((c.target for c in s.slots if c.label == cx.target), cx.target))
                    ax.axvline(cx.size, color=col, linestyle=":", linewidth=1.4)
                    ax.annotate(f"crossover\n{fmt_size(cx.size)}", (cx.size, 1), xycoords=("data", "axes fraction"),
                                xytext=(3, -3), textcoords="offset points", va="top", fontsize=7.5, color=col)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10))
            ax.xaxis.set_major_formatter(_size_formatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
            _dense_log_ticks(ax)
            ax.yaxis.set_major_formatter(_seconds_formatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
            sizes = sorted(g["size"].unique())
            if len(sizes) == 1:
                ax.set_xlim(sizes[0] / 3, sizes[0] * 3)
            ax.set_title(s.name)
            ax.set_ylabel("median time per call")
            no_cross = [c for c in s.crossovers if c.size is None]
            if not any(c.kind == "gpu" for c in s.slots):
                ax.set_xlabel("size")  # no GPU target: no crossover to speak of
            elif not s.crossovers:
                ax.set_xlabel("size  ·  no GPU timing: no crossover", color="#374151")
            elif len(no_cross) == len(s.crossovers):
                ax.set_xlabel("size  ·  no crossover in the measured sizes", color="#374151")
            else:
                ax.set_xlabel("size")
        names = {"compute": "", "latency": " latency (per call)", "end_to_end": " end to end (per call)"}
        texts = [labels.get((t, v), t) + names[ph] for (t, v, ph) in handles]
        fig.legend(list(handles.values()), texts, loc="upper center", ncols=min(6, len(handles)),
                   bbox_to_anchor=(0.5, 1.0))
        rows = (len(handles) - 1) // 6 + 1
        fig.tight_layout(rect=(0, 0, 1, (0.93 if len(axes) <= 3 else 0.96) - 0.04 * (rows - 1)))
        _footnote(fig, summaries, list(handles), labels)
    return Figure("time_vs_size", "Time vs size · compute is throughput; GPU latency and end to end are per call",
                  "Median time per call (log-log). Solid: compute (on a GPU, pipelined throughput); dash-dot: "
                  "GPU latency (synchronized after every call); dashed: GPU end to end (host in, host out). "
                  "A lighter shade is the article's way beside the tuned way. A dotted line marks the "
                  "CPU/GPU crossover: the smallest size from which a GPU slot's end-to-end time beats the "
                  "best CPU slot. Simulator times are not drawn.", fig)


# -- 4. roofline fraction ----------------------------------------------------------------------
def _pct(v) -> str:
    return f"{v:.0%}" if v >= 0.01 else f"{v:.1%}"


def roofline(summaries: list[TechniqueSummary], peaks: dict) -> Figure | None:
    def value(c, ph):
        return c.roofline if c.status == "ok" else None

    slots = _bar_slots(summaries, value, include_numpy=True)
    peak_text = ", ".join(f"{k.replace('_gbps', '').upper()} {v:.1f} GB/s"
                          for k, v in peaks.items() if k in ("cpu_gbps", "gpu_gbps"))
    with plt.rc_context(STYLE):
        fig = _grouped_bars(summaries, slots, value, _pct, "achieved GB/s / measured peak (log)",
                            ref=(1.0, "measured peak = 100%" + (f" ({peak_text})" if peak_text else "")),
                            tick=FuncFormatter(lambda v, _: _pct(v)))
    if fig is None:
        return None
    return Figure("roofline", "Roofline fraction · compute (throughput)",
                  "Achieved bandwidth (the technique's bytes moved over the median compute time) against the "
                  "peak measured in the same run: STREAM copy/triad on all cores for CPU targets, a device "
                  "copy for GPU targets. Data that fits in cache can pass 100%.", fig)


# -- 5. compile time -------------------------------------------------------------------------------
def compile_times(summaries: list[TechniqueSummary]) -> Figure | None:
    def value(c, ph):
        return c.compile_s

    slots = _bar_slots(summaries, value)
    with plt.rc_context(STYLE):
        fig = _grouped_bars(summaries, slots, value, fmt_time, "first call minus a steady call (log)",
                            flag=False, show_size=False, rotate=len(slots) > 3, tick=_seconds_formatter())
    if fig is None:
        return None
    return Figure("compile", "Compile time",
                  "The JIT cost of the first call (first call minus the steady median), once per technique "
                  "and slot. The break-even table below says how many calls pay it back.", fig)


# -- 6. asv: history and Numba versions -------------------------------------------------------
def _slot_parts(label: str) -> tuple[str, str | None]:
    t, _, v = label.partition(" · ")
    return t, (v or None)


def history(hist: dict) -> Figure | None:
    if not hist:
        return None
    techs = sorted(hist)
    with plt.rc_context(STYLE):
        fig, axes = _grid(len(techs))
        handles = {}
        for ax, tech in zip(axes, techs):
            size, table = hist[tech]
            x = list(range(len(table.index)))
            for label in table.columns:
                (h,) = ax.plot(x, table[label].values, "-o", color=color(*_slot_parts(label)), markersize=4,
                               linewidth=1.6)
                handles[label] = h
            dates = table.attrs.get("dates")
            ticks = []
            for c in table.index:
                d = dates.get(c) if dates is not None else None
                ticks.append(f"{str(c)[:8]}\n{d:%Y-%m-%d}" if d is not None and d == d else str(c)[:8])
            ax.set_xticks(x)
            ax.set_xticklabels(ticks, fontsize=7.5, rotation=0 if len(x) <= 4 else 45,
                               ha="center" if len(x) <= 4 else "right")
            ax.set_xlim(-0.5, len(x) - 0.5)
            ax.set_yscale("log")
            _dense_log_ticks(ax)
            ax.yaxis.set_major_formatter(_seconds_formatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{tech} (size {fmt_size(size)})")
            ax.set_ylabel("compute, median")
        fig.legend(list(handles.values()), list(handles), loc="upper center", ncols=min(7, len(handles)))
        fig.tight_layout(rect=(0, 0, 1, 0.92 if len(axes) <= 3 else 0.96))
    return Figure("asv_history", "History across commits (asv) · compute (throughput)",
                  "asv's compute time per commit, oldest to newest, at the size with the most slots measured; "
                  "one line per target (and variant), newest Numba version of the matrix.", fig)


def numba_versions(versions: list[str], table) -> Figure | None:
    if table is None or table.empty or len(versions) < 2:
        return None
    old = versions[0]
    t = table[table[old].notna()]
    t = t.assign(_k=[(tech,) + o for tech, o in zip(t.technique, t.order)]).sort_values("_k")
    if t.empty:
        return None
    newer = versions[1:]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(6.5, 0.55 * len(t) * len(newer) + 2), 3.6))
        width = 0.8 / len(newer)
        cmap = plt.get_cmap("viridis")
        for j, v in enumerate(newer):
            ratios = (t[v] / t[old]).values
            xs = [i - 0.4 + width * (j + 0.5) for i in range(len(t))]
            ax.bar(xs, ratios, width * 0.92, color=cmap(0.25 + 0.5 * j / max(1, len(newer) - 1)),
                   label=f"numba {v}")
            for x, r in zip(xs, ratios):
                if r == r:
                    ax.text(x, r, f"{r:.2f}", ha="center", va="bottom", fontsize=7.5)
        ax.axhline(1.0, color="#111827", linestyle="--", linewidth=1.1, label=f"numba {old} = 1")
        ax.set_xticks(range(len(t)))
        ax.set_xticklabels([f"{r.technique}\n{r.target}" for r in t.itertuples()], fontsize=8)
        ax.set_ylabel(f"time relative to numba {old}\n(lower is faster)")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper center", ncols=len(newer) + 1, bbox_to_anchor=(0.5, 1.12))
    return Figure("asv_numba_versions", "Numba version against Numba version (asv) · compute (throughput)",
                  f"Compute time with each newer Numba over the time with numba {old}: same machine, same "
                  "commit (the newest measured with several versions), largest size measured with both. "
                  "Below 1: faster.", fig)
