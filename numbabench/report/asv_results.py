"""Read airspeed velocity's results folder (asv 0.6 layout) into the report's tidy rows.

The layout, as ``asv.results.Results.save`` writes it::

    <results_dir>/benchmarks.json                       # name -> {params, param_names, unit, type}
    <results_dir>/<machine>/machine.json                # {"machine", "cpu", "num_cpu", "os", ...}
    <results_dir>/<machine>/<hash8>-<env-name>.json     # one commit in one environment

A results file holds ``result_columns`` (``result, params, version, started_at, duration,
stats_ci_99_a, stats_ci_99_b, stats_q_25, stats_q_75, stats_number, stats_repeat, samples,
profile``) and ``results``: benchmark name -> a list in that column order, cut short after the
last non-null column. ``params`` are lists of ``repr()`` strings (``"1000"``, ``"'cuda'"``) whose
product, first parameter slowest, is the order of ``result``. In ``result``, ``null`` is a
benchmark that *failed* and ``NaN`` one that was *skipped* (asv's "n/a": its ``setup`` raised
``NotImplementedError``, e.g. a target this machine lacks); ``result`` itself is ``null`` when
nothing ran (a failed build).

A benchmark ``bench_<technique>.<Technique>Suite.<metric>`` with params (size, target) becomes rows
of the run table: ``time_compute`` -> phase compute, ``time_end_to_end`` -> end_to_end,
``time_h2d``/``time_d2h`` -> h2d/d2h, ``track_compile_seconds`` -> compile; ``track_gbps`` and
``track_roofline_fraction`` fill those columns of the compute row; any other metric is kept as a
phase of its own (a time in ``median_s``, anything else in ``value`` with its ``unit``).
The Numba version comes from the environment (asv's matrix puts it in the results' ``params`` and
in the environment name); an environment with ``NUMBA_ENABLE_CUDASIM=1`` runs the simulator, so
its ``cuda`` rows are ``cudasim`` rows (functional only).
"""
from __future__ import annotations

import ast
import datetime as _dt
import itertools
import json
import math
import re
from pathlib import Path

from ..asvsuite import split_impl
from ..errors import NumbabenchError, ResultsError
from ..fmt import first_line
from ..results import DEFAULT_VARIANT, RENAMED_TECHNIQUES
from ..targets import HOST_TARGETS
from .model import STATUS_RANK, Source, default_dtype

API_VERSION = 2  # asv.results.Results.api_version in asv 0.6

KNOWN_PHASES = {
    "time_compute": "compute",
    "time_latency": "latency",
    "time_end_to_end": "end_to_end",
    "time_h2d": "h2d",
    "time_d2h": "d2h",
    "track_compile_seconds": "compile",
}
#: metrics that are columns of the compute row rather than rows of their own
COLUMN_METRICS = {"track_gbps": "gbps", "track_roofline_fraction": "roofline_fraction", "track_gflops": "gflops"}
SECONDS = {"seconds", "second", "s", "sec"}


def parse_param(text):
    """One of asv's parameter strings (a ``repr``) back to a Python value: ``"'cuda'"`` -> ``'cuda'``."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        m = re.match(r"^<class '(.+)'>$", text)  # a class parameter, as asv shows it
        return m.group(1) if m else text


def _load_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # asv writes NaN/Infinity: json accepts them
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultsError(f"{path} is not a readable {what} ({first_line(exc)})") from None


def find_results_root(path: Path) -> Path:
    """Accept an asv project folder, its results folder, or one machine's folder."""
    path = Path(path)
    if not path.exists():
        raise NumbabenchError(f"no asv results folder at {path}; `asv run` writes one (results_dir in asv.conf.json)")
    if not path.is_dir():
        raise NumbabenchError(f"--asv {path} is a file; give the asv results folder (e.g. .asv/results)")
    for candidate in (path / ".asv" / "results", path / "results"):
        if candidate.is_dir() and not (path / "machine.json").exists():
            if any(candidate.glob("*/machine.json")):
                return candidate
    return path


def machine_dirs(root: Path) -> list[Path]:
    if (root / "machine.json").is_file():
        return [root]
    dirs = sorted(p.parent for p in root.glob("*/machine.json"))
    if not dirs:
        raise NumbabenchError(f"{root} holds no asv results (expected <machine>/machine.json and "
                              "<commit>-<env>.json files, as `asv run` writes them)")
    return dirs


def _benchmarks_info(root: Path) -> dict:
    for candidate in (root / "benchmarks.json", root.parent / "benchmarks.json"):
        if candidate.is_file():
            d = _load_json(candidate, "asv benchmarks.json")
            if isinstance(d, dict):
                return {k: v for k, v in d.items() if isinstance(v, dict)}
    return {}


def _js_date(ms) -> str | None:
    if not isinstance(ms, (int, float)) or not math.isfinite(ms):
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds")


def _numba_version(params: dict, requirements, env_name: str) -> str | None:
    for d in (params, requirements if isinstance(requirements, dict) else {}):
        for key in ("numba", "pip+numba", "conda+numba"):
            if d.get(key):
                return str(d[key])
    m = re.search(r"(?:^|-)numba(\d[\w.]*)", env_name or "")
    return m.group(1) if m else None


def _guess_param_names(params: list[list]) -> list[str]:
    from ..targets import TARGETS

    names = []
    for i, values in enumerate(params):
        vals = [parse_param(v) for v in values]
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            name = "size"
        elif vals and all(isinstance(v, str) for v in vals) and any(v in TARGETS for v in vals):
            name = "target"
        elif vals and all(isinstance(v, str) and re.fullmatch(r"(float|int|uint|complex)\d+", v) for v in vals):
            name = "dtype"
        else:
            name = f"param{i}"
        names.append(name if name not in names else f"param{i}")
    return names


def _registry_names() -> dict[str, str]:
    """Benchmark class spellings of the registry's techniques -> technique name."""
    try:
        from ..registry import techniques

        names = techniques()
    except Exception:
        return {}
    out = {}
    for t in names:
        ident = re.sub(r"\W", "_", t)
        for spelling in (t, ident, f"t_{ident}", ident.replace("_", "") + "suite"):
            out[spelling.lower()] = t
    return out


def split_name(name: str) -> tuple[str, str]:
    """The technique and metric of a benchmark: ``bench_techniques.clamp.time_compute`` and
    ``bench_clamp.ClampSuite.time_compute`` both give (``clamp``, ``time_compute``)."""
    parts = name.split(".")
    method = parts[-1]
    module = parts[0] if len(parts) > 1 else ""
    cls = parts[-2] if len(parts) > 2 else ""
    known = _registry_names()
    if cls:
        if cls.lower() in known:
            return known[cls.lower()], method
        if cls.lower().endswith("suite") and len(cls) > 5:
            return cls[:-5].lower(), method
        return cls, method
    if module.startswith("bench_") and len(module) > 6:
        return known.get(module[6:].lower(), module[6:]), method
    return module or name, method


def metric_phase(method: str, unit: str | None) -> tuple[str, bool]:
    """(phase, is a time) for a benchmark method asv collected."""
    if method in KNOWN_PHASES:
        return KNOWN_PHASES[method], True
    if method.startswith("time_"):
        return method[5:], True
    if method.startswith("track_"):
        rest = method[6:]
        if rest.endswith("_seconds"):
            return rest[: -len("_seconds")], True
        return rest, (unit or "").lower() in SECONDS
    return method, False  # peakmem_*, mem_* and anything else: a value with its unit


def _sidecars(mdir: Path) -> dict[str, dict]:
    """Notes beside the results that are not results, flattened: numbabench's
    ``<hash8>-<env>.numbabench.jsonl`` (its newest line) under the name of the results file it goes
    with, any other JSON object under ``"*" + its own name`` (matched by commit and environment)."""
    from ..asvsuite import SIDECAR_SUFFIX  # the suite writes the note: one name for both sides

    out = {}
    for p in sorted(mdir.glob(f"*{SIDECAR_SUFFIX}")):
        try:
            lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
            d = json.loads(lines[-1]) if lines else None
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # a damaged note costs the GPU line of the card, nothing more
        if isinstance(d, dict):
            out[p.name[: -len(SIDECAR_SUFFIX)] + ".json"] = _flatten(d)
    for p in sorted(mdir.glob("*.json")):
        if p.name == "machine.json":
            continue
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # reported when it is read as a results file
        if isinstance(d, dict) and "result_columns" not in d and "results" not in d:
            out["*" + p.name] = _flatten(d)
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
            if k == "gpu" and "name" in v:
                flat["gpu"] = v["name"]
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def _pick(flat: dict, *keys):
    for k in keys:
        for fk, v in flat.items():
            if (fk == k or fk.endswith("." + k)) and v not in (None, ""):
                return v
    return None


def _sidecar_for(sidecars: dict[str, dict], path: Path, commit: str | None, env: str | None) -> dict:
    if path.name in sidecars:  # the note made for this very results file
        return sidecars[path.name]
    best: dict = {}
    for key, s in sidecars.items():
        if not key.startswith("*"):
            continue  # a note paired with another results file
        c = _pick(s, "commit_hash", "commit")
        e = _pick(s, "env_name", "env")
        if c and commit and not (str(commit).startswith(str(c)) or str(c).startswith(str(commit))):
            continue
        if e and env and e != env:
            continue
        best.update(s)
    return best


def read_results_file(path: Path, machine: str, info: dict, bench_info: dict, sidecars: dict[str, dict]):
    d = _load_json(path, "asv results file")
    if not isinstance(d, dict) or "result_columns" not in d or not isinstance(d.get("results"), dict):
        raise ResultsError(f"{path} is not an asv results file (no result_columns/results)")
    version = d.get("version")
    if version != API_VERSION:
        raise ResultsError(f"{path} is in asv results format {version!r}; this reader knows format "
                           f"{API_VERSION} (asv 0.6): run `asv update` with a matching asv")
    cols = d["result_columns"]
    params = d.get("params") if isinstance(d.get("params"), dict) else {}
    env = str(d.get("env_name") or path.stem.split("-", 1)[-1])
    env_vars = d.get("env_vars") if isinstance(d.get("env_vars"), dict) else {}
    simulator_env = str(env_vars.get("NUMBA_ENABLE_CUDASIM", "0")) == "1"
    commit = d.get("commit_hash")
    side = _sidecar_for(sidecars, path, commit, env)
    numba = _numba_version(params, d.get("requirements"), env) or _pick(side, "numba")
    cores = {k.split(".")[-1]: v for k, v in side.items() if k.startswith("machine.cores.")}
    src = Source(
        kind="asv", path=str(path), machine=machine, commit=commit, date=_js_date(d.get("date")), env=env,
        info=dict(info, has_note=bool(side), cpu=_pick(side, "machine.cpu") or info.get("cpu"),
                  cores=cores or info.get("cores"),
                  gpu=_pick(side, "gpu.gpu", "gpu.name", "gpu_name") or (
                      side.get("gpu") if isinstance(side.get("gpu"), str) else None),
                  compute_capability=_pick(side, "compute_capability"),
                  gpu_memory_gib=_pick(side, "gpu_memory_gib"),
                  driver=_pick(side, "driver", "driver_version"),
                  nvrtc=_pick(side, "nvrtc", "cuda_runtime", "cuda_runtime_version")),
        versions={"python": _pick(side, "versions.python") or d.get("python") or params.get("python"),
                  "numba": numba, "numba-cuda": params.get("numba-cuda") or _pick(side, "numba-cuda", "numba_cuda"),
                  "numpy": _pick(side, "versions.numpy"),
                  "env_vars": ", ".join(f"{k}={v}" for k, v in sorted(env_vars.items())) or None},
        peaks={k.split(".", 1)[1]: v for k, v in side.items()
               if k.startswith("peaks.") and isinstance(v, (int, float)) and not isinstance(v, bool)},
    )
    base = {"origin": "asv", "source": str(path), "machine": machine, "commit": commit, "date": src.date,
            "numba": numba, "asv_env": env}
    rows: dict[tuple, dict] = {}
    attach: list[tuple[tuple, str, float]] = []
    for name, values in d["results"].items():
        if not isinstance(values, list):
            raise ResultsError(f"{path}: results[{name!r}] is not a list; the file is damaged")
        rec = dict(zip(cols, values))
        bparams = rec.get("params") or []
        combos = list(itertools.product(*bparams)) if bparams else [()]
        result = rec.get("result")
        if result is None:
            result = [None] * len(combos)  # nothing ran for this benchmark (e.g. a failed build)
        if not isinstance(result, list) or len(result) != len(combos):
            raise ResultsError(f"{path}: {name} has {len(result) if isinstance(result, list) else 'no'} "
                               f"results for {len(combos)} parameter combinations; the file is damaged")
        meta = bench_info.get(name, {})
        names = meta.get("param_names")
        if not isinstance(names, list) or len(names) != len(bparams):
            names = _guess_param_names(bparams)
        unit = meta.get("unit")
        technique, method = split_name(name)
        stats = {k[6:]: rec.get(k) for k in cols if k.startswith("stats_")}
        for j, (combo, value) in enumerate(zip(combos, result)):
            p = {n: parse_param(v) for n, v in zip(names, combo)}
            tech = str(p.get("technique", technique))
            tech = RENAMED_TECHNIQUES.get(tech, tech)
            # the suite gives a variant as part of its target parameter ("cpu:tuned")
            target, variant = split_impl(str(p.get("target", "n/a")), str(p.get("variant") or DEFAULT_VARIANT))
            if simulator_env and target == "cuda":
                target = "cudasim"  # the same kernels, on the simulator
            size = p.get("size", 0)
            size = size if isinstance(size, int) else 0
            dtype = str(p.get("dtype") or default_dtype(tech) or "default")
            key = (tech, target, variant, size, dtype)
            simulated = target == "cudasim" or simulator_env and target not in HOST_TARGETS
            if method in COLUMN_METRICS:
                if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
                    attach.append((key, COLUMN_METRICS[method], float(value)))
                continue
            phase, is_time = metric_phase(method, unit)
            if value is None:
                status, error = "failed", "asv recorded a failure (null): `asv run -e --bench ...` shows why"
            elif isinstance(value, float) and math.isnan(value):
                status, error = "skipped", ("n/a in asv: not available in that environment (setup raised "
                                            "NotImplementedError) or not applicable (skip_params)")
            elif is_time and simulated and isinstance(value, (int, float)) and value < 0:
                status, error = "skipped", "the simulator's events time nothing (-1): no data"
            else:
                status, error = "ok", None
            ok = status == "ok"
            q25, q75 = _stat(stats, "q_25", j), _stat(stats, "q_75", j)
            row = dict(base, technique=tech, target=target, variant=variant, size=size, dtype=dtype, phase=phase,
                       status=status, error=error, simulated=bool(simulated), benchmark=name,
                       correct=True if ok and phase == "compute" else None,  # setup checked it against NumPy
                       median_s=float(value) if ok and is_time else None,
                       value=None if is_time or not ok else value,
                       unit=None if is_time else (unit or ("bytes" if method.startswith(("peakmem_", "mem_")) else None)),
                       spread_s=(q75 - q25) if ok and is_time and q25 is not None and q75 is not None else None,
                       repeats=_stat(stats, "repeat", j), number=_stat(stats, "number", j))
            old = rows.get(key + (phase,))
            if old is None or STATUS_RANK[status] < STATUS_RANK[old["status"]]:
                rows[key + (phase,)] = row  # (a cuda row of a simulator env meets the cudasim one)
    for key, col, value in attach:
        row = rows.get(key + ("compute",))
        if row is not None and row["status"] == "ok":
            row[col] = value
    return list(rows.values()), src


def _stat(stats: dict, name: str, j: int):
    v = stats.get(name)
    if isinstance(v, list) and j < len(v) and isinstance(v[j], (int, float)) and math.isfinite(v[j]):
        return v[j]
    return None


def read_asv_dir(path: Path) -> tuple[list[dict], list[Source]]:
    """All results under an asv results folder: (rows, one Source per results file)."""
    root = find_results_root(Path(path))
    bench_info = _benchmarks_info(root)
    rows: list[dict] = []
    sources: list[Source] = []
    for mdir in machine_dirs(root):
        m = _load_json(mdir / "machine.json", "asv machine.json")
        if not isinstance(m, dict) or not isinstance(m.get("machine"), str):
            raise ResultsError(f"{mdir / 'machine.json'} is not an asv machine.json (no machine name)")
        machine = m["machine"]
        info = {"name": machine, "cpu": m.get("cpu"), "cores": {"logical": _int(m.get("num_cpu"))},
                "os": m.get("os"), "arch": m.get("arch"), "ram": m.get("ram")}
        sidecars = _sidecars(mdir)
        for p in sorted(mdir.glob("*.json")):
            if p.name == "machine.json":
                continue
            d_is_sidecar = False
            try:
                d = json.loads(p.read_text(encoding="utf-8"))
                d_is_sidecar = isinstance(d, dict) and "result_columns" not in d and "results" not in d
            except (OSError, UnicodeDecodeError, ValueError):
                pass  # read_results_file says what is wrong with it
            if d_is_sidecar:
                continue
            r, s = read_results_file(p, machine, info, bench_info, sidecars)
            rows += r
            sources.append(s)
    if not sources:
        raise NumbabenchError(f"{root} holds no asv results files yet; `asv run` writes them")
    return rows, sources


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None
