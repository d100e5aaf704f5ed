"""The results file: one JSON document, written atomically, read back as one tidy table.

Layout: ``{"format": "numbabench-results", "version": 1, "machine", "versions", "commit",
"created", "finished", "interrupted", "options", "peaks", "targets", "rows": [...]}``. Each row is
a flat record (``ROW_KEYS`` at least); ``load_results(path)`` gives them as a pandas DataFrame
with the document's other fields in ``DataFrame.attrs``.

Derived columns (``roofline_fraction``, ``speedup_vs_numpy``) are computed from the rows and the
peaks by ``derive`` every time the file is written, so they can never disagree with the rows.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import ResultsError

FORMAT = "numbabench-results"
VERSION = 1
#: the phases of a cell. ``compute`` is pipelined throughput (many calls, one synchronize per
#: sample); ``latency`` is per call (synchronize after every call): on a GPU they differ by the
#: launch and sync cost, on a CPU they agree, so host targets record ``compute`` only.
PHASES = ("compile", "compute", "latency", "kernel", "h2d", "d2h", "end_to_end")
#: phases that are costs of getting somewhere, not answers: no speedup against NumPy
NO_SPEEDUP = ("compile", "h2d", "d2h", "kernel")
#: the variant of a row written before variants existed
DEFAULT_VARIANT = "article"
#: technique names that were renamed: old results files still load under the new name
RENAMED_TECHNIQUES = {"frame": "dataframe"}


@dataclass
class Row:
    """One figure of one cell: what the results file, the report and asv's loader share.

    A timed row has ``median_s`` (and its spread); a figure that is not a time (a pickle's size)
    has ``value`` and ``unit``; a failed, wrong, skipped or interrupted one has ``status`` and
    ``error``. Derived columns (``roofline_fraction``, ``speedup_vs_numpy``) are filled by
    ``derive``, except a speedup measured interleaved in one process, which the worker gives.
    """

    technique: str
    target: str
    size: int
    dtype: str
    phase: str = "compute"
    variant: str = DEFAULT_VARIANT
    median_s: float | None = None
    spread_s: float | None = None  # interquartile range
    min_s: float | None = None
    repeats: int | None = None
    number: int | None = None
    bytes: int | None = None
    flops: int | None = None
    gbps: float | None = None
    gflops: float | None = None
    roofline_fraction: float | None = None
    roofline_level: str | None = None  # which measured peak the fraction is of
    speedup_vs_numpy: float | None = None
    speedup_spread: float | None = None  # IQR of the per-round ratios, when timed interleaved
    speedup_base: str | None = None  # the NumPy variant the speedup is against
    correct: bool | None = None
    max_abs_err: float | None = None
    status: str = "ok"
    error: str | None = None
    simulated: bool = False
    value: float | None = None
    unit: str | None = None
    threading_layer: str | None = None
    env: dict | None = None  # settings this row ran with (threading layer, wait policy)
    samples_s: list | None = None  # raw per-call samples (at most MAX_SAMPLES kept)
    # where it ran, for a cluster sweep
    host: str | None = None
    worker: str | None = None
    worker_address: str | None = None
    worker_cpu: str | None = None
    #: a technique's own keys (remote's ``function``, ``pickled_by``): flattened into the record
    detail: dict | None = None

    @classmethod
    def timed(cls, phase: str, timing, *, bytes=None, flops=None, **key) -> "Row":
        """A row of ``timing`` (a ``numbabench.timing.Timing``) with its achieved rates."""
        t = timing.median_s
        samples = list(getattr(timing, "samples", None) or [])[:MAX_SAMPLES] or None
        return cls(phase=phase, median_s=t, spread_s=timing.spread_s, min_s=timing.min_s,
                   repeats=timing.repeats, number=timing.number, bytes=bytes, flops=flops,
                   gbps=bytes / t / 1e9 if bytes and t and t > 0 else None,
                   gflops=flops / t / 1e9 if flops and t and t > 0 else None,
                   samples_s=samples, **key)

    @classmethod
    def failed(cls, cell: dict, target: str, error: str, status: str = "failed",
               variant: str = DEFAULT_VARIANT) -> "Row":
        """A cell that gave no figure: failed, timed out, interrupted or skipped (with why)."""
        return cls(technique=cell["technique"], target=target, size=cell["size"], dtype=cell["dtype"],
                   variant=variant, repeats=0, number=0, status=status, error=error)

    @classmethod
    def extra(cls, base: dict, fields_: dict) -> "Row":
        """A row for one of a technique's own phases: ``base`` keys plus the technique's dict,
        whose keys that are not Row fields go to ``detail``."""
        merged = {**base, **fields_}
        known = {k: v for k, v in merged.items() if k in _FIELD_NAMES}
        rest = {k: v for k, v in merged.items() if k not in _FIELD_NAMES}
        if rest:
            known["detail"] = {**(known.get("detail") or {}), **rest}
        return cls(**known)

    def to_dict(self) -> dict:
        d = asdict(self)
        detail = d.pop("detail") or {}
        d.update({k: v for k, v in detail.items() if k not in d})
        return d


_FIELD_NAMES = frozenset(f.name for f in fields(Row))
#: every column of a results row, in order: the report's table is built from these
COLUMNS = tuple(f.name for f in fields(Row) if f.name != "detail")
#: the columns every row has a meaningful value for (the rest may be None)
ROW_KEYS = ("technique", "target", "variant", "size", "dtype", "phase", "median_s", "spread_s",
            "repeats", "gbps", "roofline_fraction", "speedup_vs_numpy", "correct", "max_abs_err",
            "status", "error")
MAX_SAMPLES = 200


def upgrade_row(r: dict) -> dict:
    """A row as this version writes it: old files lack ``variant`` and may use renamed names."""
    r.setdefault("variant", DEFAULT_VARIANT)
    r["technique"] = RENAMED_TECHNIQUES.get(r.get("technique"), r.get("technique"))
    return r


# -- memory levels: which measured peak a working set is held against --------------------------

@dataclass(frozen=True)
class Level:
    name: str  # "L2", "L3", "DRAM"
    bytes: int | None  # what fits at this level for the threads used (None: unbounded, DRAM)
    peak_key: str  # the key of its peak in a results document's ``peaks``


def levels(peaks: dict, device: str) -> list[Level]:
    """The memory levels of ``device`` ("cpu" or "gpu") that ``peaks`` has a peak for, inner first."""
    names = ("l2", "l3") if device == "cpu" else ("l2",)
    out = [Level(n.upper(), int(peaks[f"{device}_{n}_bytes"]), f"{device}_{n}_gbps")
           for n in names if peaks.get(f"{device}_{n}_gbps") and peaks.get(f"{device}_{n}_bytes")]
    return out + [Level("DRAM", None, f"{device}_gbps")]


def level_for(nbytes: int | None, peaks: dict, device: str) -> Level:
    """The level a working set of ``nbytes`` lives in: the innermost one it fits in (DRAM otherwise
    or when ``nbytes`` is unknown). Its ``peak_key`` names the peak to hold the row against."""
    for level in levels(peaks, device):
        if level.bytes is None or (nbytes is not None and nbytes <= level.bytes):
            return level
    return levels(peaks, device)[-1]


def peak_key(target: str) -> str | None:
    """Which measured peak a target's compute rows are held against (None: no meaningful peak)."""
    from .targets import TARGETS

    t = TARGETS.get(target)
    if t is None or t.simulated:  # a target of another checkout, or the simulator: no peak
        return None
    return "gpu_gbps" if t.on_device else "cpu_gbps"


def derive(rows: list[dict], peaks: dict) -> list[dict]:
    """Fill ``roofline_fraction`` and ``speedup_vs_numpy`` (in place) from rows and peaks.

    Speedup = the fastest correct NumPy variant's median / this row's median, for the same
    technique, size, dtype and phase, from the same run; only for correct rows: a wrong answer is
    never a speedup. A speedup the worker measured interleaved (the median of per-round ratios,
    with ``speedup_spread``) is kept as it is. For GPU targets, ``end_to_end`` rows are held
    against NumPy's compute (the host-in, host-out comparison a user feels). Rows without a median
    (a pickle size, say) get none.
    """
    # Rows from a cluster carry their ``host``: baselines and peaks are per host then.
    # A technique's own phases (fftmask's fft, mask) are compared with NumPy's row of that phase.
    base: dict = {}
    for r in rows:
        if r["target"] == "numpy" and r["status"] == "ok" and r.get("median_s"):
            k = (r.get("host"), r["technique"], r["size"], r["dtype"], r["phase"])
            if k not in base or r["median_s"] < base[k][0]:
                base[k] = (r["median_s"], r.get("variant") or DEFAULT_VARIANT)
    by_host = peaks.get("by_host", {})
    for r in rows:
        r["roofline_fraction"] = None
        interleaved = r.get("speedup_spread") is not None and r.get("speedup_base") is not None
        if not interleaved:
            r["speedup_vs_numpy"] = None
            r["speedup_base"] = None
        if r["status"] != "ok" or not r.get("median_s"):
            r["speedup_vs_numpy"] = r["speedup_spread"] = r["speedup_base"] = None
            continue
        if r["phase"] in ("compute", "latency", "kernel") and r.get("gbps"):
            key = peak_key(r["target"])
            host_peaks = by_host.get(r["host"], {}) if r.get("host") else peaks
            if key:  # the innermost memory level the working set fits in (DRAM when unknown)
                level = level_for(r.get("bytes"), host_peaks, "gpu" if key == "gpu_gbps" else "cpu")
                peak = host_peaks.get(level.peak_key) or host_peaks.get(key)
                if peak:
                    r["roofline_fraction"] = r["gbps"] / peak
                    r["roofline_level"] = level.name if host_peaks.get(level.peak_key) else "dram"
        if r["phase"] in NO_SPEEDUP or r.get("simulated"):
            r["speedup_vs_numpy"] = r["speedup_spread"] = r["speedup_base"] = None
            continue
        if interleaved:
            continue
        phase = "compute" if r["phase"] in ("end_to_end", "latency") else r["phase"]  # vs NumPy's compute
        b = base.get((r.get("host"), r["technique"], r["size"], r["dtype"], phase))
        if b:
            r["speedup_vs_numpy"] = b[0] / r["median_s"]
            r["speedup_base"] = b[1]
    return rows


def _clean(obj):
    """JSON has no NaN/inf: write them as null (a failed figure), never as invalid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_atomic(path: Path, doc) -> None:
    """Write ``doc`` (a JSON document, or text as it is) to ``path`` through a temp file in the
    same folder and a rename, so a reader never sees half a file; permissions as for a new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if isinstance(doc, str):
                f.write(doc)
            else:
                json.dump(_clean(doc), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"no results file at {path}; `numbabench run` writes one")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultsError(f"{path} is not a readable results file ({exc}); run the sweep again") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("rows"), list):
        raise ResultsError(f"{path} is not a numbabench results file (no '{FORMAT}' format with rows)")
    if doc.get("version", 0) > VERSION:
        raise ResultsError(f"{path} was written by a newer numbabench (format {doc['version']}); upgrade")
    return doc


def load_results(path):
    """The rows of a results file as a tidy pandas DataFrame (metadata in ``.attrs``)."""
    import pandas as pd

    doc = read(path)
    df = pd.DataFrame([upgrade_row(dict(r)) for r in doc["rows"]])
    for k in COLUMNS:
        if k not in df.columns:
            df[k] = None
    df.attrs.update({k: v for k, v in doc.items() if k != "rows"})
    return df
