"""airspeed-velocity (asv) benchmarks generated from the technique registry, and their self-test.

``benchmarks/bench_techniques.py`` calls ``build_classes`` and puts one class per registered
technique into its globals, so a new technique module is benchmarked with no change there. Each
class is parameterised by ``(size, target)``:

* ``setup`` makes seeded inputs, computes the NumPy reference, moves the inputs to the target,
  times the first call (the one that compiles: ``track_compile_seconds`` is built from it), checks
  the result against the reference (a wrong result raises ``WrongResult``: the benchmark fails, it
  is never timed) and makes one end-to-end warm-up call, so that ``asv run --quick``, which takes a
  single sample, never times a compile. A target this process cannot run raises
  ``NotImplementedError`` (asv shows n/a): ``cudasim`` runs only where ``NUMBA_ENABLE_CUDASIM=1``,
  ``cuda``/``cupy`` only on a real GPU and never under the simulator, and the host targets
  (numpy, cpu, parallel) only in the real-mode environment (the simulator environment would only
  repeat them).
* Combinations that never make sense are declared statically in each method's ``skip_params``
  (asv reports them as n/a without running setup): a target at sizes that are not its own (the
  simulator gets its small sizes only), transfers on host targets, CUDA events off a real GPU, and
  bandwidth, roofline and compile figures for the simulator, whose times say nothing about a GPU
  (its events return -1.0 and its synchronize does nothing): simulator rows are functional only.

Nothing here makes a CUDA context at import time; importing the suite imports the technique
modules (numba, numba.cuda in whichever mode the environment chose), nothing more.

This module is also loaded straight from the working tree by ``benchmarks/bench_techniques.py``
(asv's model: the benchmark code of the current checkout measures every commit), so it uses only
absolute ``numbabench`` imports and registry API that every commit of the project has.

``python -m numbabench.asvsuite check`` runs the self-test (``validate``): benchmark methods asv
would not collect, ``params``/``param_names`` that disagree, unknown ``asv.conf.json`` keys, and
registry techniques or targets with no benchmark.
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import inspect
import json
import os
import re
import subprocess
import sys
import time
import types
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

#: sizes of the suite: each technique's ``quick`` sizes by default; ``full`` adds its full sweep
SIZES_ENV = "NUMBABENCH_ASV_SIZES"
SEED = 0
#: seconds of samples behind each track_* figure that needs a steady time
TRACK_MIN_TIME = 0.1
#: the sidecar written next to asv's results, one JSON record per line (a ".json" file there would
#: be read by asv as a results file and warned about on every publish/compare)
SIDECAR_SUFFIX = ".numbabench.jsonl"
SIDECAR_FORMAT = "numbabench-asv-env"

# -- the metrics ---------------------------------------------------------------------------------
#: every benchmark method a technique class has, and the targets it applies to
#: (kind: "all", "device" = data on a device, "gpu" = real GPU, "measured" = not simulated)
METRICS = {
    "time_compute": "all",
    "time_end_to_end": "all",
    "time_h2d": "device",
    "time_d2h": "device",
    "track_gbps": "measured",
    "track_roofline_fraction": "measured",
    "track_compile_seconds": "measured",
    "track_kernel_event_seconds": "gpu",
    "peakmem_end_to_end": "all",
}


class WrongResult(AssertionError):
    """A variant's result differs from the NumPy reference: the benchmark fails, it is not timed."""


try:  # raised inside a benchmark body, asv records n/a (a plain NotImplementedError is a failure)
    from asv_runner.benchmarks.mark import SkipNotImplemented as _Skip
except ImportError:  # outside asv the distinction does not matter
    _Skip = NotImplementedError


def _target(name):
    from numbabench.targets import get_target

    return get_target(name)


def applies(metric: str, target: str) -> bool:
    """Whether ``metric`` says anything for ``target`` (static: independent of this machine)."""
    t = _target(target)
    kind = METRICS[metric]
    if kind == "all":
        return True
    if kind == "device":
        return t.on_device
    if kind == "gpu":
        return t.on_device and not t.simulated
    if kind == "measured":
        return not t.simulated
    raise ValueError(kind)


def suite_sizes(tech, mode: str | None = None) -> tuple[list[int], dict[str, set[int]]]:
    """(the size parameter values, target -> the sizes that target runs at) for ``tech``.

    ``mode`` is ``quick`` (default, or ``$NUMBABENCH_ASV_SIZES``) or ``full`` (quick + full).
    The simulator targets get the technique's simulator sizes, every other target its own.
    """
    mode = (mode or os.environ.get(SIZES_ENV) or "quick").strip().lower()
    if mode not in ("quick", "full"):
        from numbabench.errors import NumbabenchError

        raise NumbabenchError(f"{SIZES_ENV} must be quick or full, not {mode!r}")
    sweeps = ("quick",) if mode == "quick" else ("quick", "full")
    own = {}
    for target in tech.targets:
        table = tech.simulator_sizes if _target(target).simulated else tech.sizes
        own[target] = {int(s) for sweep in sweeps for s in table.get(sweep, ())}
    return sorted(set().union(*own.values())), own


def skip_params(tech, metric: str, sizes, own) -> list[tuple]:
    """The (size, target) pairs ``metric`` never runs for ``tech`` (asv shows them as n/a)."""
    return [(size, target) for size in sizes for target in tech.targets
            if size not in own[target] or not applies(metric, target)]


# -- one measured cell (technique, size, target) in this process --------------------------------
class Cell:
    """Inputs on the target, the compiled variant, the compile figure and the steady time.

    Built once per process: asv re-runs ``setup`` between timing samples, and a rebuilt cell would
    compile nothing (the dispatcher is warm) and only waste time.
    """

    def __init__(self, tech, size: int, target: str):
        from numbabench import timing
        from numbabench.devices import memory

        self.tech, self.size, self.target = tech, int(size), target
        self.dtype = tech.default_dtype()
        self.mem = memory(target)
        self.sync = self.mem.synchronize
        self.fn = tech.variant(target)
        self.inputs = tech.check_inputs(tech.make_inputs(self.size, seed=SEED, dtype=self.dtype))
        self.want = tech.reference(self.inputs)
        self.args = tech.prepare(target, self.inputs)  # a GPU context, if any, is made here
        self.sync()
        # the first call of this fresh process compiles: timed before any warm-up (numbabench
        # never asks Numba for an on-disk cache; a warm one would hide this cost)
        self.first_s, self.out = timing.first_call(lambda: self.fn(self.args), self.sync)
        self.check(tech.fetch(target, self.out), "first call")
        self.check(self.end_to_end(), "end-to-end warm-up call")
        self._steady = None

    def label(self) -> str:
        return f"{self.tech.name} on {self.target} at size {self.size} ({self.dtype})"

    def check(self, got, what: str) -> None:
        ok, err = self.tech.compare(got, self.want)
        if not ok:
            raise WrongResult(f"{self.label()}: the {what} differs from the NumPy reference "
                              f"(max abs error {err:.3g}); a wrong result is not timed")

    def compute(self):
        self.fn(self.args)
        self.sync()

    def end_to_end(self):
        tech, target = self.tech, self.target
        out = tech.fetch(target, self.fn(tech.prepare(target, self.inputs)))
        self.sync()
        return out

    def h2d(self):
        self.tech.prepare(self.target, self.inputs)
        self.sync()

    def d2h(self):
        self.tech.fetch(self.target, self.out)
        self.sync()

    def steady(self):
        """The steady compute time (numbabench.timing, calibrated); measured once per process."""
        if self._steady is None:
            from numbabench import timing

            self._steady = timing.steady(lambda: self.fn(self.args), self.sync, min_time=TRACK_MIN_TIME)
        return self._steady

    def event_seconds(self, min_time: float = TRACK_MIN_TIME, max_samples: int = 1000) -> float:
        """Median kernel time from CUDA events around one call (real GPU only)."""
        if self.target == "cupy":
            import cupy

            def once():
                start, end = cupy.cuda.Event(), cupy.cuda.Event()
                start.record()
                self.fn(self.args)
                end.record()
                end.synchronize()
                return cupy.cuda.get_elapsed_time(start, end) / 1e3
        else:
            from numba import cuda

            def once():
                start, end = cuda.event(timing=True), cuda.event(timing=True)
                start.record()
                self.fn(self.args)
                end.record()
                end.synchronize()
                return cuda.event_elapsed_time(start, end) / 1e3

        samples, t0 = [], time.perf_counter()
        while len(samples) < 5 or (time.perf_counter() - t0 < min_time and len(samples) < max_samples):
            samples.append(once())
        if min(samples) < 0:  # the simulator's events answer -1.0: no data
            raise _Skip(f"{self.label()}: CUDA events timed nothing")
        return float(np.median(samples))


_CELLS: dict[tuple, Cell] = {}


def require_target(target: str) -> None:
    """Raise NotImplementedError (asv: n/a) if this process cannot run ``target``."""
    from numbabench.errors import TargetUnavailable
    from numbabench.targets import require_in_process, simulator_active

    t, sim = _target(target), simulator_active()
    if sim and not t.simulated:
        raise NotImplementedError(
            f"target {target!r} is measured in the NUMBA_ENABLE_CUDASIM=0 environment; "
            "this process runs the CUDA simulator")
    if not sim and t.simulated:
        raise NotImplementedError(
            f"target {target!r} runs only where NUMBA_ENABLE_CUDASIM=1 (the simulator environment "
            "of asv.conf.json's matrix): the simulator is chosen when numba.cuda is imported")
    try:
        require_in_process(target)
    except TargetUnavailable as exc:
        raise NotImplementedError(str(exc)) from None


# -- the benchmark class every technique's class derives from ------------------------------------
class TechniqueBenchmark:
    """asv benchmarks of one technique over (size, target); see the module docstring.

    Rows of target ``cudasim`` are functional only: the simulator's times say nothing about a GPU.
    """

    _technique: str = ""  # the registry name
    _tech = None  # the Technique object
    param_names = ["size", "target"]
    params: list = [[], []]
    timeout = 300

    def setup_cache(self):
        """Once per run and environment: the bandwidth peaks, and the GPU/versions sidecar."""
        return suite_cache()

    setup_cache.timeout = 300

    def setup(self, cache, size, target):
        self._cache = cache or {}
        require_target(target)
        key = (self._technique, int(size), target)
        if key not in _CELLS:
            _CELLS[key] = Cell(self._tech, size, target)
        self._cell = _CELLS[key]

    def time_compute(self, cache, size, target):
        """Device-resident data: one call plus a synchronize of the stream it ran on."""
        self._cell.compute()

    def time_end_to_end(self, cache, size, target):
        """Host in, host out: to the target, the call, back to the host, synchronized."""
        self._cell.end_to_end()

    def time_h2d(self, cache, size, target):
        """The inputs to the device, with the output buffers allocated there."""
        self._cell.h2d()

    def time_d2h(self, cache, size, target):
        """The result back to the host."""
        self._cell.d2h()

    def track_gbps(self, cache, size, target):
        """Achieved bandwidth of the steady compute time (the technique's bytes_moved model)."""
        cell = self._cell
        try:
            nbytes = cell.tech.bytes_moved(cell.size, cell.dtype)
        except NotImplementedError:  # raised in a benchmark body, plain NotImplementedError fails
            nbytes = None
        if not nbytes:
            raise _Skip(f"{cell.label()}: the technique declares no bytes moved")
        return nbytes / cell.steady().median_s / 1e9

    track_gbps.unit = "GB/s"

    def track_roofline_fraction(self, cache, size, target):
        """Achieved GB/s over the bandwidth peak measured in this run's setup_cache."""
        key = "gpu_gbps" if _target(target).on_device else "cpu_gbps"
        peak = (self._cache.get("peaks") or {}).get(key)
        if not peak:
            raise _Skip(f"no {key} peak was measured in this run")
        return self.track_gbps(cache, size, target) / peak

    track_roofline_fraction.unit = "fraction of peak"

    def track_compile_seconds(self, cache, size, target):
        """First call of this fresh process (timed in setup) minus a steady call."""
        cell = self._cell
        return max(cell.first_s - cell.steady().median_s, 0.0)

    track_compile_seconds.unit = "seconds"

    def track_kernel_event_seconds(self, cache, size, target):
        """Median time between CUDA events recorded around one call, on a real GPU."""
        return self._cell.event_seconds()

    track_kernel_event_seconds.unit = "seconds"

    def peakmem_end_to_end(self, cache, size, target):
        """Peak resident memory of the process through an end-to-end call (host memory only)."""
        self._cell.end_to_end()


def _copy_function(f, qualname: str, **attrs):
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__dict__.update(f.__dict__)
    g.__dict__.update(attrs)
    g.__qualname__ = qualname
    g.__module__ = f.__module__
    g.__doc__ = f.__doc__
    return g


def class_name(technique: str) -> str:
    """The benchmark class name of a technique: its name, made a public Python identifier."""
    name = re.sub(r"\W", "_", technique)
    return name if name and not name[0].isdigit() and not name.startswith("_") else f"t_{name}"


def build_class(tech, module: str, mode: str | None = None) -> type:
    sizes, own = suite_sizes(tech, mode)
    name = class_name(tech.name)
    ns = {
        "__module__": module,
        "__qualname__": name,
        "__doc__": f"{tech.name}: {tech.title}. Targets {', '.join(tech.targets)}; the cudasim rows "
                   "are functional only (the simulator's times say nothing about a GPU).",
        "_technique": tech.name,
        "_tech": tech,
        "params": [sizes, list(tech.targets)],
        "param_names": ["size", "target"],
    }
    for metric in METRICS:
        ns[metric] = _copy_function(getattr(TechniqueBenchmark, metric), f"{name}.{metric}",
                                    skip_params=skip_params(tech, metric, sizes, own))
    return type(name, (TechniqueBenchmark,), ns)


def build_classes(module: str, mode: str | None = None, techniques=None) -> dict[str, type]:
    """One benchmark class per registered technique (or per ``techniques``), by class name."""
    from numbabench.registry import get_technique
    from numbabench.registry import techniques as registered

    techs = [get_technique(n) for n in registered()] if techniques is None else list(techniques)
    classes = {}
    for tech in techs:
        cls = build_class(tech, module, mode)
        if cls.__name__ in classes:
            raise ValueError(f"two techniques map to the benchmark class {cls.__name__!r}")
        classes[cls.__name__] = cls
    return classes


def bench_selection(module: str = "bench_techniques", mode: str | None = None) -> list[str]:
    """``asv run --bench`` regular expressions for every pair that is not a static n/a.

    asv starts a process for every (benchmark, parameters) pair, n/a or not, and each one imports
    numba and every technique module first; selecting only the pairs that can run (about half)
    halves a run. The expressions hold no spaces and no glob characters, so a shell can pass
    ``$(python -m numbabench.asvsuite bench-args)`` unquoted.
    """
    out = []
    for cls in build_classes(module, mode).values():
        for metric in METRICS:
            skip = set(getattr(cls, metric).skip_params)
            pairs = [f"{size},\\s'{target}'" for size in cls.params[0] for target in cls.params[1]
                     if (size, target) not in skip]
            if pairs:
                out.append(rf"^{re.escape(module)}\.{cls.__name__}\.{metric}\(({'|'.join(pairs)})\)$")
    return out


# -- setup_cache: peaks and the sidecar ----------------------------------------------------------
def measure_peaks() -> dict:
    """The bandwidth peaks of this process's kind: the CPU's (real mode) and the GPU's (if any)."""
    from numbabench.targets import simulator_active

    peaks = {}
    if simulator_active():
        return peaks  # nothing measured under the simulator has a roofline
    try:
        from numbabench import peaks as pk

        cpu = pk.cpu_stream_gbps() if hasattr(pk, "cpu_stream_gbps") else {"cpu_gbps": pk.cpu_triad_gbps()}
        peaks.update(cpu)
    except Exception as exc:  # no roofline for CPU rows then; the rest still runs
        print(f"numbabench asv: CPU peak not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
    try:
        from numba import cuda

        if cuda.is_available():
            from numbabench.peaks import gpu_copy_gbps

            peaks["gpu_gbps"] = gpu_copy_gbps()
    except Exception as exc:
        print(f"numbabench asv: GPU peak not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
    return peaks


def suite_cache() -> dict:
    peaks = measure_peaks()
    try:
        path = write_sidecar(sidecar_record(peaks))
    except Exception as exc:  # say so loudly, but a missing sidecar must not fail every benchmark
        print(f"numbabench asv: sidecar not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        path = None
    return {"peaks": peaks, "sidecar": str(path) if path else None}


def _ancestors(max_depth: int = 6) -> list[tuple[int, list[str]]]:
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
            if a.startswith(name + "=") or (len(name) == 2 and a.startswith(name) and len(a) > 2):
                return a.split("=", 1)[1] if a.startswith(name + "=") else a[2:]
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
    """The name asv gives the environment this process runs in (its results file carries it).

    asv passes its ASV_* variables to build and install commands only, not to benchmarks, so the
    name is rebuilt the way asv builds it: tool, Python, matrix requirements (read from the
    ``asv-env-info.json`` asv keeps in an environment it created), matrix environment variables.
    """
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
    """Where this asv run keeps its results: conf dir, results dir, machine, commit, env name.

    A benchmark process gets none of asv's ASV_* variables, so this reads the ``asv`` command line
    and working directory of the ancestor process that is asv (asv changes to the folder of its
    ``--config``), the machine from ``--machine`` or else the ``machine.json`` asv has just
    written (every ``asv run`` rewrites it before any benchmark runs), and the commit from
    ``--set-commit-hash`` or from the ``asv-install-status.json`` of the environment asv built.
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


def sidecar_path(results_dir, machine: str, commit: str | None, env_name: str | None) -> Path:
    """``<results>/<machine>/<commit8>-<env name>.numbabench.jsonl``: asv's results file name
    (same commit and environment, so the two pair up) with a suffix asv does not read."""
    name = _sanitize(env_name or "unknown-env")
    if len(name) >= 128:  # as asv shortens long environment names
        name = "env-" + hashlib.md5(name.encode("utf-8")).hexdigest()
    return Path(results_dir) / machine / f"{(commit or 'unknown')[:8]}-{name}{SIDECAR_SUFFIX}"


def sidecar_record(peaks: dict | None = None, context: dict | None = None) -> dict:
    """What ran where: GPU (name, compute capability, driver, CUDA runtime), CPU, versions, peaks."""
    from numbabench.machine import machine_info, versions
    from numbabench.targets import probe_gpu, simulator_active

    probe = probe_gpu()  # a fresh real-mode process: this one keeps no CUDA context
    info = machine_info(probe)
    return {
        "format": SIDECAR_FORMAT,
        "version": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "asv": context if context is not None else asv_context(),
        "simulator": simulator_active(),
        "sizes": (os.environ.get(SIZES_ENV) or "quick"),
        "gpu": {k: info.get(k) for k in ("gpu", "compute_capability", "gpu_memory_gib", "driver", "cuda_runtime")},
        "gpu_probe": {k: probe.get(k) for k in ("cuda", "reason", "cupy", "cupy_reason")},
        "machine": info,
        "versions": versions(),
        "peaks": peaks or {},
    }


def write_sidecar(record: dict) -> Path | None:
    """Append ``record`` to its sidecar file; None (with a note) when the run's machine is unknown."""
    ctx = record["asv"]
    if not ctx.get("machine"):
        print("numbabench asv: no machine name found (no asv command line, no machine.json): "
              "sidecar not written", file=sys.stderr)
        return None
    path = sidecar_path(ctx["results_dir"], ctx["machine"], ctx.get("commit"), ctx.get("env_name"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def read_sidecar(path) -> dict:
    """The newest record of a sidecar file."""
    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    return json.loads(lines[-1])


# -- the self-test -------------------------------------------------------------------------------
_STATIC_PATTERNS = (r"^(Time[A-Z_].+)|(time_.+)$", r"^(Timeraw[A-Z_].+)|(timeraw_.+)$",
                    r"^(Mem[A-Z_].+)|(mem_.+)$", r"^(PeakMem[A-Z_].+)|(peakmem_.+)$",
                    r"^(Track[A-Z_].+)|(track_.+)$")
PREFIXES = ("time_", "timeraw_", "mem_", "peakmem_", "track_")
HOOKS = ("setup", "teardown", "setup_cache")
#: attributes asv reads from a benchmark, its class or its module
KNOWN_ATTRIBUTES = {
    "params", "param_names", "timeout", "unit", "number", "repeat", "rounds", "processes",
    "sample_time", "warmup_time", "min_run_count", "timer", "pretty_name", "pretty_source",
    "version", "skip_params", "type", "benchmark_name", "goal_time", "skip_benchmark",
}


def benchmark_patterns() -> list[re.Pattern]:
    """The name patterns asv collects benchmarks by (asv_runner's own, where it is installed)."""
    try:
        from asv_runner.benchmarks import benchmark_types

        return [cls.name_regex for cls in benchmark_types]
    except ImportError:
        return [re.compile(p) for p in _STATIC_PATTERNS]


def is_benchmark_name(name: str, patterns=None) -> bool:
    return any(p.match(name) for p in (patterns or benchmark_patterns()))


def _hint(name: str) -> str:
    head = name.split("_", 1)[0] + "_" if "_" in name else name
    close = difflib.get_close_matches(head.lower(), PREFIXES, n=1, cutoff=0.5)
    return f" (did you mean {close[0]}{name.split('_', 1)[1] if '_' in name else ''}?)" if close else ""


def _normalise_params(params):
    params = list(params)
    if params and not isinstance(params[0], (tuple, list)):
        return [params]
    return [list(p) for p in params]


def validate_class(cls, where: str = "", patterns=None) -> list[str]:
    """What asv would silently get wrong in one benchmark class."""
    patterns = patterns or benchmark_patterns()
    label = f"{where}{cls.__name__}"
    problems, benches = [], []
    for name, value in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if inspect.isfunction(value) or inspect.ismethod(value):
            if is_benchmark_name(name, patterns):
                benches.append((name, value))
            elif name.lower() not in HOOKS:
                problems.append(
                    f"{label}.{name} is a public method asv will not collect (benchmark names start "
                    f"with {', '.join(PREFIXES)}){_hint(name)}; rename it or make it private (_{name})")
        elif name not in KNOWN_ATTRIBUTES and not inspect.isclass(value):
            close = difflib.get_close_matches(name, sorted(KNOWN_ATTRIBUTES), n=1)
            problems.append(f"{label}.{name} is not an attribute asv reads"
                            + (f" (did you mean {close[0]}?)" if close else ""))
    if not benches:
        return problems
    params = _normalise_params(getattr(cls, "params", []) or [])
    names = list(getattr(cls, "param_names", []) or [])
    if len(params) != len(names):
        problems.append(f"{label}: {len(params)} params but {len(names)} param_names ({names}); "
                        "asv pads or truncates the names silently")
    for bname, func in benches:
        for skip in getattr(func, "skip_params", None) or []:
            skip = tuple(skip)
            if len(skip) != len(params) or any(v not in p for v, p in zip(skip, params)):
                problems.append(f"{label}.{bname}: skip_params entry {skip!r} matches no parameter "
                                "combination")
    return problems


def validate_module(module, patterns=None) -> list[str]:
    """Every public class and function of a benchmark module, as asv's discovery sees them."""
    patterns = patterns or benchmark_patterns()
    problems = []
    where = module.__name__.split(".", 1)[-1] + "."
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(value) and not inspect.isabstract(value):
            problems += validate_class(value, where, patterns)
        elif inspect.isfunction(value) and value.__module__ == module.__name__:
            if not is_benchmark_name(name, patterns) and name.lower() not in HOOKS:
                problems.append(f"{where}{name} is a public function asv will not collect{_hint(name)}")
    return problems


def validate_coverage(classes, techniques=None) -> list[str]:
    """Every registered technique has a class with every metric and every one of its targets."""
    from numbabench.registry import get_technique
    from numbabench.registry import techniques as registered

    techs = {n: get_technique(n) for n in registered()} if techniques is None else \
        {t.name: t for t in techniques}
    by_tech = {}
    for cls in classes:
        name = getattr(cls, "_technique", None)
        if name:
            by_tech[name] = cls
    problems = []
    for name in sorted(set(by_tech) - set(techs)):
        problems.append(f"benchmark class {by_tech[name].__name__} is for {name!r}, which the registry does not have")
    for name, tech in techs.items():
        cls = by_tech.get(name)
        if cls is None:
            problems.append(f"technique {name!r} has no benchmark class")
            continue
        names = list(getattr(cls, "param_names", []))
        params = _normalise_params(getattr(cls, "params", []))
        if "target" not in names or "size" not in names or len(params) != len(names):
            problems.append(f"{cls.__name__}: params must be (size, target), got param_names {names}")
            continue
        targets = params[names.index("target")]
        sizes = params[names.index("size")]
        for target in tech.targets:
            if target not in targets:
                problems.append(f"technique {name!r}: target {target!r} has no benchmark in {cls.__name__}")
        _, own = suite_sizes(tech)
        for target, want in own.items():
            missing = sorted(want - set(sizes))
            if missing and target in targets:
                problems.append(f"{cls.__name__}: target {target!r} sizes {missing} are not benchmarked")
        for metric in METRICS:
            if not callable(getattr(cls, metric, None)):
                problems.append(f"{cls.__name__} has no {metric}")
    return problems


def known_conf_keys() -> set[str]:
    """The keys asv.conf.json may have: asv's Config defaults plus the ones it reads by name."""
    keys = {"version", "build_cache_size", "wheel_cache_size", "install_timeout", "default_benchmark_timeout"}
    try:
        from asv.config import Config

        keys |= set(vars(Config()))
    except ImportError:
        keys |= {"project", "project_url", "repo", "repo_subdir", "branches", "pythons", "matrix",
                 "exclude", "include", "env_dir", "benchmark_dir", "results_dir", "html_dir",
                 "show_commit_url", "hash_length", "environment_type", "dvcs",
                 "regressions_first_commits", "regressions_thresholds", "plugins", "conda_channels",
                 "conda_environment_file", "build_command", "install_command", "uninstall_command",
                 "launch_method"}
    return keys


def same_env_names(conf: dict) -> list[str] | None:
    """The environments ``asv run --python=same`` makes of ``conf`` (None where asv is absent).

    asv 0.6 turns ``--python=same`` into the environment spec ``:same``, which goes through the
    matrix: the env/env_nobuild variables apply, the requirements are ignored, and every Numba
    version of the matrix would otherwise give the same environment again.
    """
    try:
        from asv import environment
        from asv.config import Config
    except ImportError:
        return None
    cfg = Config.from_json(dict(conf, repo=conf.get("repo") or "."))
    return [env.name for env in environment.get_environments(cfg, [":same"], verbose=False)]


def validate_conf(conf: dict, policy: bool = True) -> list[str]:
    """Unknown keys (asv ignores them silently), and, with ``policy``, this project's choices."""
    problems = []
    known = known_conf_keys()
    for key in conf:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            problems.append(f"asv.conf.json: unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    matrix = conf.get("matrix") or {}
    for key in matrix:
        if key not in ("req", "env", "env_nobuild") and not isinstance(matrix[key], list):
            problems.append(f"asv.conf.json: matrix key {key!r} is neither req, env nor env_nobuild")
    if not policy:
        return problems
    want = {"environment_type": "virtualenv", "launch_method": "spawn"}
    for key, value in want.items():
        if conf.get(key) != value:
            problems.append(f"asv.conf.json: {key} must be {value!r} (got {conf.get(key)!r})")
    build = " ".join(conf.get("build_command") or [])
    if "--no-deps" not in build:
        problems.append("asv.conf.json: build_command must build the project wheel alone (pip wheel --no-deps); "
                        "asv's default collects dependency wheels and fails with 'Found multiple wheels'")
    if not conf.get("default_benchmark_timeout"):
        problems.append("asv.conf.json: default_benchmark_timeout is not set")
    sim = (matrix.get("env_nobuild") or {}).get("NUMBA_ENABLE_CUDASIM")
    if sorted(sim or []) != ["0", "1"]:
        problems.append('asv.conf.json: matrix.env_nobuild.NUMBA_ENABLE_CUDASIM must be ["0", "1"]')
    numba = (matrix.get("req") or {}).get("numba") or []
    if len([v for v in numba if v]) < 2:
        problems.append("asv.conf.json: matrix.req.numba must list at least two Numba versions")
    names = same_env_names(conf)
    if names and len(names) != len(set(names)):
        problems.append(
            f"asv.conf.json: --python=same would run {len(names)} environments but only "
            f"{len(set(names))} are different (asv does not apply the req matrix to an existing "
            "interpreter): exclude all but one numba version for environment_type existing")
    for key in ("env_dir", "results_dir", "html_dir"):
        if not str(conf.get(key, "")).startswith(".asv/"):
            problems.append(f"asv.conf.json: {key} should live under .asv/ (git-ignored), got {conf.get(key)!r}")
    return problems


def load_benchmark_module(benchmark_dir, name: str = "bench_techniques"):
    """Import ``<benchmark_dir>/<name>.py`` as asv does (the folder as a package)."""
    import importlib

    bdir = Path(benchmark_dir).resolve()
    parent = str(bdir.parent)
    added = parent not in sys.path
    if added:
        sys.path.insert(0, parent)
    try:
        return importlib.import_module(f"{bdir.name}.{name}")
    finally:
        if added:
            sys.path.remove(parent)


def validate(conf_path="asv.conf.json", module=None, techniques=None, policy: bool = True) -> list[str]:
    """The whole self-test: the conf, the benchmark module, and registry coverage."""
    conf_path = Path(conf_path)
    conf = load_conf(conf_path)
    problems = validate_conf(conf, policy=policy)
    if module is None:
        module = load_benchmark_module(conf_path.parent / conf.get("benchmark_dir", "benchmarks"))
    problems += validate_module(module)
    classes = [v for k, v in vars(module).items() if inspect.isclass(v) and not k.startswith("_")]
    problems += validate_coverage(classes, techniques)
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m numbabench.asvsuite",
                                description="numbabench's asv suite: self-test and sidecar")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="validate asv.conf.json and benchmarks/ against the registry")
    c.add_argument("--conf", default="asv.conf.json")
    sub.add_parser("bench-args", help="print --bench arguments selecting every pair that is not a static n/a")
    s = sub.add_parser("sidecar", help="print the GPU/versions record a run would save")
    s.add_argument("--no-peaks", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "check":
        problems = validate(args.conf)
        for line in problems:
            print(line)
        print(f"{len(problems)} problem(s)" if problems else "asv suite: ok")
        return 1 if problems else 0
    if args.cmd == "bench-args":
        print(" ".join(f"--bench {r}" for r in bench_selection()))
        return 0
    print(json.dumps(sidecar_record({} if args.no_peaks else measure_peaks()), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
