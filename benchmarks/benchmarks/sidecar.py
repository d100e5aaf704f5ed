"""The GPU/versions sidecar: what asv's machine.json cannot say, saved beside asv's results.

asv's ``machine.json`` has no GPU field, so each run appends one JSON line to
``<results>/<machine>/<commit8>-<env name>.numbabench.jsonl``, the name of the results file it goes
with, with a suffix asv does not read (a ``.json`` there would be taken for a results file): the
GPU (name, compute capability, driver, CUDA runtime, or why there is none), CPU and cores,
versions, the bandwidth peaks of the run and what asv was asked. numbabench's report reads it.

asv passes no ``ASV_*`` variables to benchmark processes, so the machine, commit, configuration
and environment name are found from the ``asv`` command line and working directory of the parent
process, and from the ``asv-env-info.json`` of an environment asv built.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from .common import SIZES_ENV

try:  # one spelling for the suite and the report (commits before the shim: the same literals)
    from numbabench.asvsuite import SIDECAR_FORMAT, SIDECAR_SUFFIX
except ImportError:
    SIDECAR_SUFFIX, SIDECAR_FORMAT = ".numbabench.jsonl", "numbabench-asv-env"


# -- the bandwidth peaks of this run -------------------------------------------------------------
def measure_peaks(gpu: bool) -> dict:
    """The CPU's STREAM peak (and the GPU's device copy, where there is one)."""
    peaks = {}
    try:
        from numbabench import peaks as pk

        peaks.update(pk.cpu_stream_gbps() if hasattr(pk, "cpu_stream_gbps") else {"cpu_gbps": pk.cpu_triad_gbps()})
    except Exception as exc:  # no roofline for CPU rows then; the rest still runs
        print(f"numbabench asv: CPU peak not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
    if gpu:
        try:
            from numbabench.peaks import gpu_copy_gbps

            peaks["gpu_gbps"] = gpu_copy_gbps()
        except Exception as exc:
            print(f"numbabench asv: GPU peak not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
    return peaks


def probe() -> dict:
    """The GPU probe (a subprocess: this process keeps no CUDA context), as a plain dict."""
    from numbabench.targets import probe_gpu

    p = probe_gpu()
    return p.to_dict() if hasattr(p, "to_dict") else dict(p)


# -- where this asv run keeps its results ------------------------------------------------------
def _ancestors(max_depth: int = 8) -> list[tuple[int, list[str]]]:
    """(pid, command line) of this process's ancestors, nearest first (Linux /proc; else empty)."""
    out, pid = [], os.getppid()
    for _ in range(max_depth):
        if pid <= 1:
            break
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        out.append((pid, [a.decode(errors="replace") for a in raw.split(b"\0") if a]))
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def asv_process() -> tuple[int, list[str]] | None:
    """(pid, arguments) of the ``asv`` command that started this process, if it can be found."""
    for pid, argv in _ancestors():
        for i, a in enumerate(argv[:3]):
            if Path(a).name == "asv" and (i == 0 or argv[i - 1] == "-m" or Path(argv[0]).name.startswith("python")):
                return pid, argv[i + 1:]
    return None


def _option(argv, *names) -> str | None:
    argv = list(argv or ())
    for i, a in enumerate(argv):
        for name in names:
            if a == name and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(name + "="):
                return a.split("=", 1)[1]
            if len(name) == 2 and a.startswith(name) and len(a) > 2:
                return a[2:]
    return None


def load_conf(path) -> dict:
    """An asv.conf.json as a dict (asv allows // comments; its own loader is used where present)."""
    try:
        from asv.util import load_json

        return load_json(str(path), js_comments=True)
    except ImportError:
        text = Path(path).read_text()
        return json.loads("\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("//")))


def _git(repo, *args) -> str | None:
    try:
        p = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None


def _sanitize(name: str) -> str:
    """asv's file-name sanitiser (asv.util.sanitize_filename, which results file names pass)."""
    return re.sub(r'[<>:"/\^|?*\x00-\x1f]', "_", name)


def _read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def asv_env_name(conf: dict, argv=None, environ=None, prefix=None, executable=None) -> str:
    """The name asv gives the environment this process runs in (its results file carries it):
    tool, Python, matrix requirements (from the ``asv-env-info.json`` asv keeps in an environment
    it built), matrix environment variables."""
    environ = os.environ if environ is None else environ
    prefix = Path(sys.prefix if prefix is None else prefix)
    info = _read_json(prefix / "asv-env-info.json")
    if info.get("tool_name"):
        tool, python, reqs = info["tool_name"], str(info.get("python")), info.get("requirements") or {}
    else:  # --python=same: an existing interpreter, named by its path; requirements are ignored
        tool, python, reqs = "existing", (executable or sys.executable).replace(os.sep, "_"), {}
    matrix = conf.get("matrix") or {}
    keys = set(matrix.get("env") or {}) | set(matrix.get("env_nobuild") or {})
    explicit = _option(argv, "-E", "--environment")
    if tool == "existing" and explicit and explicit.split(":", 1)[0] == "existing":
        keys = set()  # `-E existing:...` takes no matrix at all
    parts = [tool, f"py{python}"]
    parts += [f"{k}{v}" if v else k for k, v in sorted(reqs.items())]
    parts += [f"{k}{environ[k]}" for k in sorted(keys) if k in environ]
    return _sanitize("-".join(parts))


def asv_context(environ=None) -> dict:
    """Conf dir, results dir, machine, commit and environment name of the asv run of this process.

    The machine comes from ``--machine`` or else the ``machine.json`` asv has just written (every
    ``asv run`` rewrites it before any benchmark runs); the commit from ``--set-commit-hash`` or
    the ``asv-install-status.json`` of the environment asv built.
    """
    env = os.environ if environ is None else environ
    proc = asv_process()
    pid, argv = proc if proc else (None, None)
    conf_dir = None
    if pid is not None:
        try:
            conf_dir = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            pass
    conf_dir = (conf_dir or Path(env.get("ASV_CONF_DIR") or ".")).resolve()
    conf_file = conf_dir / Path(_option(argv, "--config") or "asv.conf.json").name
    conf = load_conf(conf_file) if conf_file.is_file() else {}
    results = (conf_dir / conf.get("results_dir", "results")).resolve()
    machine = _option(argv, "--machine")
    if not machine and results.is_dir():
        marks = sorted(results.glob("*/machine.json"), key=lambda p: p.stat().st_mtime)
        machine = marks[-1].parent.name if marks else None
    commit = env.get("ASV_COMMIT") or _read_json(Path(sys.prefix) / "asv-install-status.json").get("commit_hash")
    wanted = _option(argv, "--set-commit-hash")
    if wanted:
        repo = conf_dir / conf.get("repo", ".")
        commit = (_git(repo, "rev-parse", "--verify", "--quiet", wanted + "^{commit}") if repo.is_dir() else None) or wanted
    return {"conf_dir": str(conf_dir), "conf": str(conf_file), "results_dir": str(results),
            "machine": machine, "commit": commit, "env_name": env.get("ASV_ENV_NAME") or asv_env_name(conf, argv, env),
            "command": argv}


def discovered(context: dict) -> dict[str, dict] | None:
    """benchmark name -> {"params", "param_names"} as asv discovered them (``benchmarks.json``,
    written by ``asv run`` before any benchmark runs); None where it cannot be found."""
    data = _read_json(Path(context.get("results_dir") or ".") / "benchmarks.json")
    if not data:
        return None
    return {k: {"params": v.get("params") or [], "param_names": v.get("param_names") or []}
            for k, v in data.items() if isinstance(v, dict) and "params" in v}


# -- the sidecar itself --------------------------------------------------------------------------
def sidecar_path(results_dir, machine: str, commit: str | None, env_name: str | None) -> Path:
    """``<results>/<machine>/<commit8>-<env name>.numbabench.jsonl``: asv's results file name
    (same commit and environment, so the two pair up) with a suffix asv does not read."""
    name = _sanitize(env_name or "unknown-env")
    if len(name) >= 128:  # as asv shortens long environment names
        name = "env-" + hashlib.md5(name.encode("utf-8")).hexdigest()
    return Path(results_dir) / machine / f"{(commit or 'unknown')[:8]}-{name}{SIDECAR_SUFFIX}"


def record(gpu_probe: dict, peaks: dict | None = None, context: dict | None = None) -> dict:
    """What ran where: GPU (name, compute capability, driver, CUDA runtime), CPU, versions, peaks."""
    from numbabench.machine import machine_info, versions
    from numbabench.targets import simulator_active

    info = machine_info(gpu_probe)
    return {
        "format": SIDECAR_FORMAT,
        "version": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "asv": context if context is not None else asv_context(),
        "simulator": simulator_active(),
        "sizes": (os.environ.get(SIZES_ENV) or "quick"),
        "gpu": {k: info.get(k) for k in ("gpu", "compute_capability", "gpu_memory_gib", "driver", "nvrtc")},
        "gpu_probe": {k: gpu_probe.get(k) for k in ("cuda", "reason", "cupy", "cupy_reason")},
        "machine": info,
        "versions": versions(),
        "peaks": peaks or {},
    }


def write(rec: dict) -> Path | None:
    """Append ``rec`` to its sidecar file; None (with a note) when the run's machine is unknown."""
    ctx = rec["asv"]
    if not ctx.get("machine"):
        print("numbabench asv: no machine name found (no asv command line, no machine.json): "
              "sidecar not written", file=sys.stderr)
        return None
    path = sidecar_path(ctx["results_dir"], ctx["machine"], ctx.get("commit"), ctx.get("env_name"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    return path


def read(path) -> dict:
    """The newest record of a sidecar file."""
    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    return json.loads(lines[-1])


if __name__ == "__main__":  # python -m benchmarks.sidecar (from benchmarks/): the record a run would write
    p = probe()
    print(json.dumps(record(p, measure_peaks(bool(p.get("cuda")))), indent=2, sort_keys=True, default=str))
