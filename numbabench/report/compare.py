"""Comparisons beyond one run: machines side by side, asv's history across commits, Numba against Numba.

All of it reads the tidy table (``model.Collection``). asv rows are compute rows (throughput),
correct, outside simulator environments; a slot is labelled ``target · variant`` wherever a
target was measured in more than one variant.
"""
from __future__ import annotations

from .analysis import simulator_env, snapshot, version_key
from .model import Collection, finite, fmt_time, fmt_x, slot_label, slot_order


def _labels(df) -> dict[tuple[str, str], str]:
    """(target, variant) -> its label, over the rows of ``df``."""
    pairs = set(zip(df.target, df.variant))
    per_target: dict[str, int] = {}
    for t, _ in pairs:
        per_target[t] = per_target.get(t, 0) + 1
    return {(t, v): slot_label(t, v, per_target[t] > 1) for t, v in pairs}


def with_slot(df):
    """``df`` with a ``slot`` column: the label of each row's target and variant."""
    labels = _labels(df)
    return df.assign(slot=[labels[(t, v)] for t, v in zip(df.target, df.variant)])


def slot_key(df):
    """A sort key over ``slot`` labels in ``df``: target order, then variant order."""
    order = {labels: (t, v) for (t, v), labels in _labels(df).items()}
    return lambda label: slot_order(order.get(label, (label, "")))


# -- several machines -----------------------------------------------------------------------------
def machines_side_by_side(coll: Collection) -> list[dict]:
    """Per technique, the size measured on the most machines (two or more): a row per machine."""
    import pandas as pd

    from .analysis import _technique_order

    if len(coll.machines) < 2:
        return []
    snaps = [snapshot(coll, m) for m in coll.machines]
    d = pd.concat([s[(s.phase == "compute") & (s.status == "ok") & ~s.simulated] for s in snaps])
    out = []
    for tech in sorted(d.technique.unique(), key=_technique_order):
        g = d[d.technique == tech]
        counts = g.groupby("size").machine.nunique()
        common = [(n, int(s)) for s, n in counts.items() if n >= 2]
        if not common:
            continue
        size = max(common)[1]  # the size most machines measured, the larger on a tie
        at = with_slot(g[g["size"] == size])
        slots = sorted(set(at.slot), key=slot_key(at))
        rows = []
        for m in coll.machines:
            mine = at[at.machine == m].drop_duplicates("slot").set_index("slot")
            if mine.empty:
                continue
            cells = {s: (f"{fmt_time(mine.loc[s, 'median_s'])} ({fmt_x(mine.loc[s, 'speedup_vs_numpy'])})"
                         if s in mine.index else "-") for s in slots}
            rows.append({"machine": m, "cells": cells})
        out.append({"technique": tech, "size": size, "targets": slots, "rows": rows})
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
    ran beside the simulator and belong to another environment of the matrix), with their slot."""
    df = coll.table
    a = df[(df.origin == "asv") & (df.machine == machine)]
    a = a[(a.phase == "compute") & (a.status == "ok") & ~a.simulated & ~simulator_env(a)]
    return with_slot(a)


def history(coll: Collection, machine: str):
    """Compute times across commits: technique -> (size, DataFrame commit x slot), newest Numba."""
    a = asv_rows(coll, machine)
    if a.empty:
        return {}
    versions = sorted(a.numba.dropna().unique(), key=version_key)
    if versions:
        a = a[a.numba.isna() | (a.numba == versions[-1])]
    out = {}
    for tech, g in a.groupby("technique"):
        # the size with the most slots measured (the larger on a tie)
        size = int(max(g.groupby("size").slot.nunique().items(), key=lambda kv: (kv[1], kv[0]))[0])
        g = g[g["size"] == size]
        order = g.groupby("commit").date.min().sort_values()
        table = g.pivot_table(index="commit", columns="slot", values="median_s", aggfunc="min")
        table = table.reindex(order.index)
        table = table[sorted(table.columns, key=slot_key(g))]
        table.attrs["dates"] = order
        out[tech] = (size, table)
    return out


def numba_versions(coll: Collection, machine: str):
    """Per technique and slot: compute time per Numba version, all from one commit (the newest
    commit measured with two or more versions) and one size (the largest such)."""
    import pandas as pd

    a = asv_rows(coll, machine)
    a = a[a.numba.notna()]
    versions = sorted(a.numba.unique(), key=version_key)
    if len(versions) < 2:
        return versions, None
    rows = []
    for (tech, slot), g in a.groupby(["technique", "slot"]):
        best = None  # (size, date, commit)
        for (size, commit), gg in g.groupby(["size", "commit"]):
            if gg.numba.nunique() >= 2:
                key = (int(size), gg.date.max(), commit)
                best = key if best is None or key[:2] > best[:2] else best
        if best is None:
            continue
        size, _, commit = best
        at = g[(g["size"] == size) & (g.commit == commit)].groupby("numba").median_s.min()
        rows.append({"technique": tech, "target": slot, "order": slot_key(a)(slot), "size": size, "commit": commit,
                     **{v: finite(at.get(v)) for v in versions}})
    return versions, pd.DataFrame(rows)
