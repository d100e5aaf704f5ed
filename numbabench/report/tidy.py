"""Everything the report reads, as one tidy table.

``load(results=[...], asv=[...])`` reads results files written by ``numbabench run`` (a user's
``numbabench try`` included) and asv results directories and returns a ``Collection``: one pandas
DataFrame with the columns of the typed results row (``numbabench.results.COLUMNS``) plus where
each row came from (``origin``, ``source``, ``machine``, ``commit``, ``date``, ``numba``,
``asv_env``, ``benchmark``), and one ``Source`` per file with what that file says about its machine
(CPU, cores, GPU, driver, versions, targets that could not run and why, bandwidth peaks, PTX).

Speedups and roofline fractions come from ``numbabench.results.derive``, per file (and per host
of a cluster sweep), exactly as ``numbabench run`` computes them when it writes the file.

Nothing here measures anything and nothing needs a GPU. A user's mistake (a missing, corrupt or
foreign file) is a ``NumbabenchError`` with one line that says which file and what is wrong.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from .. import results
from ..errors import NumbabenchError, ResultsError
from .model import STATUS_RANK, Collection, Source, default_dtype, target_kind  # noqa: F401 (public)

#: where a row came from (``asv_env``: the asv environment; a row's own ``env`` is its settings)
ORIGIN_KEYS = ("origin", "source", "machine", "commit", "date", "numba", "asv_env", "benchmark")
#: columns every row of the table has (missing ones are filled with None / NaN)
COLUMNS = results.COLUMNS + ORIGIN_KEYS


def _numeric_columns() -> tuple[str, ...]:
    """The row fields typed int or float (not bool): read as numbers, whatever a file wrote."""
    out = []
    for f in dataclasses.fields(results.Row):
        types = {t.strip() for t in str(f.type).split("|")}
        if types & {"int", "float"}:
            out.append(f.name)
    return tuple(out)


NUMERIC = _numeric_columns()
# -- numbabench run results files -------------------------------------------------------------
def read_run_file(path) -> tuple[list[dict], list[Source]]:
    """The rows of one results file and a Source per machine in it: the machine that ran the sweep,
    or, for a sweep on a dask cluster (rows tagged with their ``host``), each host."""
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
    base.ptx, base.ptx_error = _ptx(doc.get("ptx"))
    base.tried = dict(doc["try"]) if isinstance(doc.get("try"), dict) else {}
    hosts = _cluster_sources(doc, base)
    rows = []
    for i, r in enumerate(doc["rows"]):
        if not isinstance(r, dict):
            raise ResultsError(f"{path}: row {i} is not an object; the file is damaged")
        missing = [k for k in ("technique", "target", "phase") if not r.get(k)]
        if missing:
            raise ResultsError(f"{path}: row {i} has no {', '.join(missing)}; the file is damaged")
        row = results.upgrade_row(dict(r))  # an old file: variant "article", renamed techniques
        row.setdefault("status", "ok" if _is_number(r.get("median_s")) or _is_number(r.get("value")) else "failed")
        if row.get("simulated") is None:
            row["simulated"] = target_kind(str(row["target"])) == "sim"
        rows.append(normalize(row))
    derive(rows, doc.get("peaks") if isinstance(doc.get("peaks"), dict) else {})
    for row in rows:
        host = row.get("host")
        src = base
        if host:
            src = hosts.get(str(host)) or hosts.setdefault(str(host), _host_source(base, str(host), {}))
        row.update(origin="run", source=str(path), machine=src.machine, commit=src.commit, date=src.date,
                   numba=src.versions.get("numba"), asv_env=None, benchmark=None)
    used = {r["machine"] for r in rows}
    sources = ([base] if name in used or not hosts else []) + [s for h, s in hosts.items() if h in used or not rows]
    return rows, sources


def _ptx(value) -> tuple[list[dict], str | None]:
    """The PTX layer's kernels from a results document: a list of kernels, or ``ptx.summary()``'s
    record (``{"kernels": [...], "error": ...}``); anything else is no PTX."""
    if isinstance(value, dict):
        kernels, error = value.get("kernels"), value.get("error")
    else:
        kernels, error = value, None
    kernels = [dict(k) for k in kernels if isinstance(k, dict)] if isinstance(kernels, list) else []
    return kernels, (str(error) if error else None)


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
                          nvrtc=gpu.get("nvrtc") or gpu.get("runtime"))
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
def normalize(row: dict) -> dict:
    """The keys ``results.derive`` reads, for a row of any file (a foreign one may lack them)."""
    row.setdefault("variant", results.DEFAULT_VARIANT)
    if not isinstance(row.get("size"), int) or isinstance(row.get("size"), bool):
        row["size"] = int(row["size"]) if _is_number(row.get("size")) else 0
    if not row.get("dtype"):
        row["dtype"] = default_dtype(str(row["technique"])) or "default"
    return row


def derive(rows: list[dict], peaks: dict) -> list[dict]:
    """Speedups and roofline fractions of one file's rows, by ``numbabench.results.derive``.

    Rows of a target this checkout does not know get neither (derive needs the target's memory).
    A roofline fraction asv measured itself (``track_roofline_fraction``) stays where derive has
    no peak to compute one from."""
    from ..targets import TARGETS

    measured = {id(r): r.get("roofline_fraction") for r in rows if r.get("origin") == "asv"}
    known = [r for r in rows if r.get("target") in TARGETS]
    for r in rows:
        if r.get("target") not in TARGETS:
            r["speedup_vs_numpy"] = r["roofline_fraction"] = None
    results.derive(known, peaks)
    for r in rows:
        if r.get("roofline_fraction") is None and measured.get(id(r)) is not None:
            r["roofline_fraction"] = measured[id(r)]
    return rows


def to_frame(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame(rows)
    for k in COLUMNS:
        if k not in df.columns:
            df[k] = None
    for k in NUMERIC:
        df[k] = pd.to_numeric(df[k], errors="coerce")
    df["size"] = df["size"].fillna(0).astype("int64")
    for k in ("technique", "target", "phase", "status", "machine", "source"):
        df[k] = df[k].astype(str)
    df["dtype"] = df["dtype"].fillna("default").astype(str)
    df["variant"] = df["variant"].fillna(results.DEFAULT_VARIANT).astype(str)
    df["simulated"] = df["simulated"].map(lambda v: bool(v) if v is not None and v == v else False)
    df["date"] = pd.to_datetime(df["date"], utc=True, errors="coerce", format="ISO8601")
    return df


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
        by_file: dict[str, list[dict]] = {}
        for row in r:
            by_file.setdefault(row["source"], []).append(normalize(row))
        for src in s:  # one asv results file: one commit in one environment, with its note's peaks
            derive(by_file.get(src.path, []), src.peaks)
        rows += r
        sources += s
    if not sources:
        raise NumbabenchError("nothing to report: give a results file of `numbabench run` or an asv results folder")
    return Collection(to_frame(rows), sources)


def dedupe(df):
    """One row per (machine, technique, target, variant, size, dtype, phase): the best status, then
    the newest."""
    if df.empty:
        return df
    d = df.assign(_rank=df.status.map(STATUS_RANK).fillna(9))
    d = d.sort_values(["_rank", "date"], ascending=[True, False], na_position="last", kind="stable")
    d = d.drop_duplicates(["machine", "technique", "target", "variant", "size", "dtype", "phase"], keep="first")
    return d.drop(columns="_rank").sort_index()
