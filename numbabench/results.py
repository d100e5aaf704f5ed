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
from pathlib import Path

from .errors import ResultsError

FORMAT = "numbabench-results"
VERSION = 1
ROW_KEYS = (
    "technique", "target", "size", "dtype", "phase", "median_s", "spread_s", "repeats", "gbps",
    "roofline_fraction", "speedup_vs_numpy", "correct", "max_abs_err", "status", "error",
)
PHASES = ("compile", "compute", "h2d", "d2h", "end_to_end")
#: phases that are costs of getting somewhere, not answers: no speedup against NumPy
NO_SPEEDUP = ("compile", "h2d", "d2h")


def peak_key(target: str) -> str | None:
    """Which measured peak a target's compute rows are held against (None: no meaningful peak)."""
    from .targets import get_target

    t = get_target(target)
    if t.simulated:
        return None  # the simulator's speed says nothing about any memory system
    return "gpu_gbps" if t.on_device else "cpu_gbps"


def derive(rows: list[dict], peaks: dict) -> list[dict]:
    """Fill ``roofline_fraction`` and ``speedup_vs_numpy`` (in place) from rows and peaks.

    Speedup = NumPy's median / this row's median, for the same technique, size, dtype and phase,
    from the same run; only for correct rows: a wrong answer is never a speedup. For GPU targets,
    ``end_to_end`` rows are held against NumPy's compute (the host-in, host-out comparison a user
    feels). Rows without a median (a pickle size, say) get none.
    """
    # Rows from a cluster carry their ``host``: baselines and peaks are per host then.
    # A technique's own phases (fftmask's fft, mask) are compared with NumPy's row of that phase.
    base = {
        (r.get("host"), r["technique"], r["size"], r["dtype"], r["phase"]): r["median_s"]
        for r in rows
        if r["target"] == "numpy" and r["status"] == "ok" and r.get("median_s")
    }
    by_host = peaks.get("by_host", {})
    for r in rows:
        r["roofline_fraction"] = None
        r["speedup_vs_numpy"] = None
        if r["status"] != "ok" or not r.get("median_s"):
            continue
        if r["phase"] == "compute" and r.get("gbps"):
            key = peak_key(r["target"])
            host_peaks = by_host.get(r["host"], {}) if r.get("host") else peaks
            peak = host_peaks.get(key) if key else None
            if peak:
                r["roofline_fraction"] = r["gbps"] / peak
        if r["phase"] in NO_SPEEDUP or r.get("simulated"):
            continue
        phase = "compute" if r["phase"] == "end_to_end" else r["phase"]  # host in, host out vs NumPy
        b = base.get((r.get("host"), r["technique"], r["size"], r["dtype"], phase))
        if b:
            r["speedup_vs_numpy"] = b / r["median_s"]
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


def write_atomic(path: Path, doc: dict) -> None:
    """Write ``doc`` to ``path`` through a temp file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_clean(doc), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
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
    df = pd.DataFrame(doc["rows"])
    for k in ROW_KEYS:
        if k not in df.columns:
            df[k] = None
    df.attrs.update({k: v for k, v in doc.items() if k != "rows"})
    return df
