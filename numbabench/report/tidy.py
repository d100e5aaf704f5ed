"""Everything the report reads, as one tidy table.

``load(results=[...], asv=[...])`` reads results files written by ``numbabench run`` and asv
results directories and returns a ``Collection``: one pandas DataFrame with the columns of the run
rows (``numbabench.results.ROW_KEYS`` and friends) plus where each row came from (``origin``,
``source``, ``machine``, ``commit``, ``date``, ``numba``, ``env``), and one ``Source`` per file
with what that file says about its machine (CPU, cores, GPU, driver, versions, targets that could
not run and why, bandwidth peaks).

Nothing here measures anything and nothing needs a GPU. A user's mistake (a missing, corrupt or
foreign file) is a ``NumbabenchError`` with one line that says which file and what is wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NumbabenchError, ResultsError
from ..results import ROW_KEYS

#: columns every row of the table has (missing ones are filled with None / NaN)
EXTRA_KEYS = ("min_s", "number", "bytes", "flops", "gflops", "simulated", "value", "unit")
ORIGIN_KEYS = ("origin", "source", "machine", "commit", "date", "numba", "env", "benchmark")
COLUMNS = ROW_KEYS + EXTRA_KEYS + ORIGIN_KEYS
NUMERIC = ("size", "median_s", "spread_s", "repeats", "gbps", "roofline_fraction", "speedup_vs_numpy",
           "max_abs_err", "min_s", "number", "bytes", "flops", "gflops", "value")

STATUS_RANK = {"ok": 0, "wrong": 1, "failed": 2, "skipped": 3}  # which duplicate wins: lower


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


# -- target facts, tolerant of names the core does not know ---------------------------------------
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


def registry_targets(technique: str) -> tuple[str, ...] | None:
    """The targets the registry declares for a technique, or None for a technique it lacks."""
    try:
        from ..registry import get_technique

        return tuple(get_technique(technique).targets)
    except Exception:  # a technique from another checkout, or a registry that fails to import
        return None


def default_dtype(technique: str) -> str | None:
    try:
        from ..registry import get_technique

        return get_technique(technique).default_dtype()
    except Exception:
        return None


# -- numbabench run results files -------------------------------------------------------------
def read_run_file(path) -> tuple[list[dict], list[Source]]:
    """The rows of one results file and a Source per machine in it: the machine that ran the sweep,
    or, for a sweep on a dask cluster (rows tagged with their ``host``), each host."""
    from .. import results

    try:
        doc = results.read(path)  # ResultsError (one line) for a missing, corrupt or foreign file
    except ResultsError:
        if _looks_like_asv(Path(path)):
            raise ResultsError(f"{path} is an asv results file, not a numbabench one: give its folder "
                               f"with --asv {Path(path).parent.parent}") from None
        raise
    machine = doc.get("machine") if isinstance(doc.get("machine"), dict) else {}
    name = str(machine.get("name") or "unknown-machine")
    targets = doc.get("targets") if isinstance(doc.get("targets"), dict) else {}
    load = doc.get("load_average")
    base = Source(
        kind="run", path=str(path), machine=name, info=dict(machine),
        versions=dict(doc.get("versions") or {}), commit=doc.get("commit"),
        date=doc.get("finished") or doc.get("created"),
        targets={k: dict(v) for k, v in targets.items() if isinstance(v, dict)},
        peaks={k: v for k, v in (doc.get("peaks") or {}).items() if _is_number(v)},
        options=dict(doc.get("options") or {}), interrupted=bool(doc.get("interrupted")),
        load_average=load if isinstance(load, list) else None,
    )
    hosts = _cluster_sources(doc, base)
    rows = []
    for i, r in enumerate(doc["rows"]):
        if not isinstance(r, dict):
            raise ResultsError(f"{path}: row {i} is not an object; the file is damaged")
        missing = [k for k in ("technique", "target", "phase") if not r.get(k)]
        if missing:
            raise ResultsError(f"{path}: row {i} has no {', '.join(missing)}; the file is damaged")
        row = dict(r)
        host = r.get("host")
        src = base
        if host:
            src = hosts.get(str(host)) or hosts.setdefault(str(host), _host_source(base, str(host), {}))
        row.setdefault("status", "ok" if _is_number(r.get("median_s")) or _is_number(r.get("value")) else "failed")
        row.update(origin="run", source=str(path), machine=src.machine, commit=src.commit, date=src.date,
                   numba=src.versions.get("numba"), env="run", benchmark=None)
        kind = target_kind(str(row["target"]))
        if row.get("simulated") is None:
            row["simulated"] = kind == "sim"
        if (row.get("roofline_fraction") is None and row["phase"] == "compute" and row["status"] == "ok"
                and _is_number(row.get("gbps")) and kind != "sim"):
            peak = src.peaks.get("gpu_gbps" if kind == "gpu" else "cpu_gbps")
            if peak:  # as numbabench.results.derive does, for a file written without it
                row["roofline_fraction"] = row["gbps"] / peak
        rows.append(row)
    used = {r["machine"] for r in rows}
    sources = ([base] if name in used or not hosts else []) + [s for h, s in hosts.items() if h in used or not rows]
    return rows, sources


def _host_source(base: Source, host: str, peaks: dict) -> Source:
    return Source(kind="run", path=base.path, machine=host, info={"name": host}, versions=dict(base.versions),
                  commit=base.commit, date=base.date, targets=base.targets,
                  peaks={k: v for k, v in peaks.items() if _is_number(v)}, options=base.options,
                  interrupted=base.interrupted)


def _cluster_sources(doc: dict, base: Source) -> dict[str, Source]:
    """host -> Source, from the workers a cluster sweep surveyed (``doc["cluster"]["workers"]``)."""
    cluster = doc.get("cluster") if isinstance(doc.get("cluster"), dict) else {}
    workers = cluster.get("workers") if isinstance(cluster.get("workers"), dict) else {}
    by_host = (doc.get("peaks") or {}).get("by_host")
    by_host = by_host if isinstance(by_host, dict) else {}
    out: dict[str, Source] = {}
    for w in workers.values():
        if not isinstance(w, dict) or not w.get("host"):
            continue
        host = str(w["host"])
        s = out.get(host)
        if s is None:
            s = out[host] = _host_source(base, host, by_host.get(host) or {})
            s.info.update(cpu=w.get("cpu"), cores=w.get("cores"))
            if isinstance(w.get("versions"), dict):
                s.versions = dict(w["versions"])
        gpu = w.get("gpu")
        if isinstance(gpu, dict) and gpu.get("name") and not s.info.get("gpu"):
            s.info.update(gpu=gpu["name"], compute_capability=gpu.get("compute_capability"),
                          gpu_memory_gib=gpu.get("memory_gib"), driver=gpu.get("driver"),
                          cuda_runtime=gpu.get("runtime"))
    return out


def _looks_like_asv(path: Path) -> bool:
    import json

    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(d, dict) and "result_columns" in d


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# -- the table ----------------------------------------------------------------------------------
NO_SPEEDUP = ("compile", "h2d", "d2h")  # costs of getting somewhere, not answers


def derive_speedups(df):
    """Speedup vs NumPy within each run and machine, as ``numbabench.results.derive`` computes it:
    NumPy's median over the row's, same technique, size, dtype and phase (a GPU's end to end against
    NumPy's compute), for correct, non-simulated rows only. Rows whose file carries a speedup keep it;
    a wrong or simulated row never has one, whatever a file says."""
    import numpy as np

    key = ["source", "machine", "env", "technique", "size", "dtype", "_phase"]
    df = df.assign(_phase=df.phase.where(df.phase != "end_to_end", "compute"))
    base = df[(df.target == "numpy") & (df.status == "ok") & (df.median_s > 0)]
    base = base.groupby(key, dropna=False)["median_s"].min().rename("_base")
    df = df.join(base, on=key)
    eligible = (~df.phase.isin(NO_SPEEDUP) & (df.status == "ok") & (df.median_s > 0)
                & ~df.simulated.fillna(False).astype(bool))
    computed = np.where(eligible, df["_base"] / df["median_s"], np.nan)
    df["speedup_vs_numpy"] = df["speedup_vs_numpy"].where(df["speedup_vs_numpy"].notna() & eligible, computed)
    return df.drop(columns=["_base", "_phase"])


def to_frame(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame(rows)
    for k in COLUMNS:
        if k not in df.columns:
            df[k] = None
    for k in NUMERIC:
        df[k] = pd.to_numeric(df[k], errors="coerce")
    df["size"] = df["size"].fillna(0).astype("int64")
    for k in ("technique", "target", "phase", "status", "machine", "source", "env"):
        df[k] = df[k].astype(str)
    df["dtype"] = df["dtype"].fillna("default").astype(str)
    df["simulated"] = df["simulated"].map(lambda v: bool(v) if v is not None and v == v else False)
    df["date"] = pd.to_datetime(df["date"], utc=True, errors="coerce", format="ISO8601")
    return derive_speedups(df)


def load(results=(), asv=()) -> Collection:
    """Read results files and asv results directories into one ``Collection``."""
    from .asv_results import read_asv_dir

    rows: list[dict] = []
    sources: list[Source] = []
    for path in results:
        r, s = read_run_file(Path(path))
        rows += r
        sources += s
    for path in asv:
        r, s = read_asv_dir(Path(path))
        rows += r
        sources += s
    if not sources:
        raise NumbabenchError("nothing to report: give a results file of `numbabench run` or an asv results folder")
    return Collection(to_frame(rows), sources)


def dedupe(df):
    """One row per (machine, technique, target, size, dtype, phase): the best status, then the newest."""
    if df.empty:
        return df
    d = df.assign(_rank=df.status.map(STATUS_RANK).fillna(9))
    d = d.sort_values(["_rank", "date"], ascending=[True, False], na_position="last", kind="stable")
    d = d.drop_duplicates(["machine", "technique", "target", "size", "dtype", "phase"], keep="first")
    return d.drop(columns="_rank").sort_index()
