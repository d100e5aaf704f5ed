"""asv benchmarks of every technique in numbabench's registry, one class per technique.

Each class is parameterised by ``(size, target)``, or by ``(size, impl)`` with ``target:variant``
values where the technique has more than one way on some target. The classes are built at import
from ``numbabench.registry.techniques()`` (the numbabench of the commit under test), so a new
technique module is benchmarked with no change here; the import fails, naming it, if a registered
technique, target or variant has no benchmark (numpy's bench_ufunc idiom).

Only parameter sets that can give a number exist: the simulator is not benchmarked, and metrics
that mean nothing for a host target (transfers, latency, CUDA events) are ``skip_params`` there.
Every benchmark method has its own ``setup``: the time_* ones prepare and check the cell in their
process (``prepared.Prepared``), the track_* ones read the figures measured once per run.
"""
from __future__ import annotations

import ast
import json
import os
import sys
import types
from pathlib import Path

from numbabench.registry import get_technique, techniques

from . import common, prepared, sidecar
from .common import CLOCK, CURRENT, METRICS, ONE_SIZE, UNITS, Skip, WrongResult


# -- setup_cache: once per run and environment ----------------------------------------------------
def _suite_cache() -> dict:
    """The GPU probe, the bandwidth peaks, the sidecar, and the parameter-grid guard."""
    from numbabench.targets import simulator_active

    sim = simulator_active()
    if sim:
        probe = {"cuda": False, "cupy": False, "reason": "this process runs the CUDA simulator "
                 "(NUMBA_ENABLE_CUDASIM=1), which asv does not benchmark",
                 "cupy_reason": "the CUDA simulator is on"}
    else:
        probe = sidecar.probe()  # in this process: asv forked it for setup_cache alone
    gpu = bool(probe.get("cuda"))
    peaks = sidecar.measure_peaks(gpu)
    ctx = sidecar.asv_context()
    try:
        path = sidecar.write(sidecar.record(probe, peaks, ctx))
    except Exception as exc:  # say so loudly, but a missing sidecar must not fail every benchmark
        print(f"numbabench asv: sidecar not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        path = None
    return {"peaks": peaks, "gpu": gpu, "gpu_reason": probe.get("reason"), "cupy": bool(probe.get("cupy")),
            "cupy_reason": probe.get("cupy_reason"), "sidecar": str(path) if path else None}


# -- the parameters: the registry's when asv discovers, asv's when it runs ----------------------
def _running() -> bool:
    """Whether asv imports the suite to run benchmarks (its ``benchmark.py run_server``/``run``/
    ``setup_cache``), not to discover or check them."""
    return (len(sys.argv) > 1 and Path(sys.argv[0]).name == "benchmark.py"
            and sys.argv[1] in ("run_server", "run", "setup_cache"))


def _discovered_grid() -> dict | None:
    """What asv discovered (from the newest commit), when it runs benchmarks. asv files every
    result by the index of its parameter set in that grid, so a commit whose registry has other
    sizes or variants must use the same grid, or its figures land under the wrong parameters:
    the sets it cannot run are n/a there."""
    if not _running():
        return None
    found = sidecar.discovered(sidecar.asv_context())
    if found is None:
        print("numbabench asv: asv's benchmarks.json not found: parameters from this registry",
              file=sys.stderr)
    return found


def _parse(params) -> list:
    return [[ast.literal_eval(v) if isinstance(v, str) else v for v in p] for p in params]


# -- what a setup checks before it measures -----------------------------------------------------
def _require(cache: dict, tech, target: str) -> None:
    """NotImplementedError (asv: n/a) where this process cannot run ``target``."""
    if target not in tech.targets:
        raise NotImplementedError(f"this commit's {tech.name} has no target {target!r}")
    if common.target_kind(target) != "gpu":
        return
    if not cache.get("gpu"):
        raise NotImplementedError(f"target {target!r} needs a GPU: {cache.get('gpu_reason')}")
    needs = (getattr(tech, "needs", None) or {}).get(target)
    if (target == "cupy" or needs == "cupy") and not cache.get("cupy"):
        raise NotImplementedError(f"target {target!r} needs CuPy: {cache.get('cupy_reason')}")


_PREPARED: dict[tuple, prepared.Prepared] = {}
_BODIES: dict[tuple, tuple] = {}


def _prepared(tech, size, target, variant) -> prepared.Prepared:
    """One per process (asv re-runs setup between samples; a rebuilt cell would only cost time)."""
    from numbabench.errors import TargetUnavailable, UnknownName

    key = (tech.name, int(size), target, variant)
    if key not in _PREPARED:
        if variant not in common.variants_of(tech, target):
            raise NotImplementedError(f"this commit's {tech.name} has no variant {variant!r} on {target!r}")
        _apply_variant_env(tech, target, variant)
        try:
            _PREPARED[key] = prepared.Prepared(tech, target, variant, size)
        except (TargetUnavailable, UnknownName) as exc:
            raise NotImplementedError(str(exc)) from None
    return _PREPARED[key]


def _figure_path(tech, size, impl) -> Path:
    """Where the time_compute benchmark of a cell leaves its figures for the track_* ones: asv's
    setup_cache folder, the working directory of every benchmark of the run."""
    safe = str(impl).replace(":", "-")
    return Path(os.getcwd()) / f"numbabench-figures-{common.class_name(tech.name)}-{int(size)}-{safe}.json"


def _record_figures(cache, tech, size, impl, p, calls) -> dict:
    fig = prepared.figures(p, calls, gpu=common.target_kind(common.split_impl(impl)[0]) == "gpu")
    path = _figure_path(tech, size, impl)
    try:
        tmp = path.with_name(path.name + f".{os.getpid()}")
        tmp.write_text(json.dumps(fig))
        os.replace(tmp, path)
    except OSError:
        pass  # not under asv (a read-only folder): a track_* benchmark measures it again
    return fig


def _apply_variant_env(tech, target, variant) -> None:
    """A variant's own settings (e.g. a threading layer), applied before anything of it runs:
    this process is a fresh fork for this one parameter set, so nothing else sees them."""
    env = (getattr(tech, "variant_env", None) or {}).get((target, variant))
    if env:
        os.environ.update(env)
        from numba.core import config

        config.reload_config()


def _time_setup(tech, phase: str):
    def setup(cache, size, impl):
        target, variant = common.split_impl(impl)
        _require(cache, tech, target)
        p = _prepared(tech, size, target, variant)
        key = (tech.name, int(size), impl, phase)
        if key not in _BODIES:
            _BODIES[key] = p.batch(phase)
            if phase == "compute":  # the figures of this fresh process's compile and steady state
                _record_figures(cache, tech, size, impl, p, _BODIES[key][1])
        CURRENT.body, CLOCK.calls = _BODIES[key]
        CLOCK.sync = p.sync

    setup.__qualname__ = f"{common.class_name(tech.name)}.setup_{phase}"
    return setup


def _figure_setup(tech):
    def setup(cache, size, impl):
        target, variant = common.split_impl(impl)
        _require(cache, tech, target)
        path = _figure_path(tech, size, impl)
        if path.is_file():
            fig = json.loads(path.read_text())
        else:  # time_compute did not run for this cell in this run (a --bench selection)
            p = _prepared(tech, size, target, variant)
            fig = _record_figures(cache, tech, size, impl, p, p.batch("compute")[1])
        CURRENT.figure, CURRENT.cache = fig, cache

    setup.__qualname__ = f"{common.class_name(tech.name)}.setup_figures"
    return setup


# -- the benchmark methods every technique class gets ----------------------------------------
class _Hooks:
    """What every technique class inherits: one setup_cache (one key for the whole suite: asv
    runs it once per environment and commit), the timeout."""

    timeout = 300

    def setup_cache(self):
        return _suite_cache()

    setup_cache.timeout = 600


class _Methods:
    """The benchmark methods; each class gets copies of those that apply to its targets."""

    def time_compute(self, cache, size, impl):
        """Data on the target: pipelined calls, a synchronize at each end, seconds per call."""
        CURRENT.body()

    def time_latency(self, cache, size, impl):
        """One call and a synchronize after it, every call (GPU): launch + kernel + sync."""
        CURRENT.body()

    def time_end_to_end(self, cache, size, impl):
        """Host in, host out: inputs to the device, the call, the result back (GPU)."""
        CURRENT.body()

    def time_h2d(self, cache, size, impl):
        """The inputs to the device, output buffers allocated there (GPU)."""
        CURRENT.body()

    def time_d2h(self, cache, size, impl):
        """The result back to the host (GPU)."""
        CURRENT.body()

    def track_compile_seconds(self, cache, size, impl):
        """First call of the run's figures process minus a steady call (smallest size only)."""
        return CURRENT.figure["compile_s"]

    def track_gbps(self, cache, size, impl):
        """The technique's bytes_moved over the steady compute time."""
        gbps = CURRENT.figure.get("gbps")
        if not gbps:
            raise Skip("the technique declares no bytes moved")
        return gbps

    def track_roofline_fraction(self, cache, size, impl):
        """track_gbps over the bandwidth peak measured in this run (CPU STREAM; GPU device copy)."""
        target, _ = common.split_impl(impl)
        key = "gpu_gbps" if common.target_kind(target) == "gpu" else "cpu_gbps"
        peak = (CURRENT.cache.get("peaks") or {}).get(key)
        gbps = CURRENT.figure.get("gbps")
        if not peak or not gbps:
            raise Skip(f"no {key} peak or no GB/s in this run")
        return gbps / peak

    def track_kernel_event_seconds(self, cache, size, impl):
        """Device time per call from CUDA events around back-to-back launches (GPU)."""
        value = CURRENT.figure.get("kernel_event_s")
        if value is None or value < 0:
            raise Skip("CUDA events timed nothing")
        return value


def _copy(f, qualname: str, **attrs):
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__dict__.update(f.__dict__, **attrs)
    g.__qualname__, g.__module__, g.__doc__ = qualname, __name__, f.__doc__
    return g


def metric_params(tech, metric: str, grid: dict | None = None) -> tuple[list, list[str], list[tuple]]:
    """(params, param_names, skip_params) of ``metric`` for ``tech``: only the implementations it
    says something for, and for a one-size metric only the smallest size; empty params where none
    applies. ``grid``: what asv discovered, which wins when asv runs benchmarks."""
    pname, impls = common.impl_param(tech)
    if grid is not None:
        found = grid.get(f"{__name__.rsplit('.', 1)[-1]}.{common.class_name(tech.name)}.{metric}")
        return (_parse(found["params"]), list(found["param_names"]), []) if found else ([], [], [])
    own = common.suite_sizes(tech)
    impls = [i for i in impls if common.applies(metric, common.split_impl(i)[0])]
    if not impls:
        return [], [], []
    sizes = sorted(set().union(*(own[common.split_impl(i)[0]] for i in impls)))
    if metric in ONE_SIZE:
        sizes = sorted({min(own[common.split_impl(i)[0]]) for i in impls if own[common.split_impl(i)[0]]})
    skip = [(s, i) for s in sizes for i in impls if s not in own[common.split_impl(i)[0]]]
    return [sizes, impls], ["size", pname], skip


def build_class(tech, module: str = __name__, grid: dict | None = None) -> type:
    """The benchmark class of one technique: each metric with its own parameters and setup."""
    name = common.class_name(tech.name)
    ns = {"__module__": module, "__qualname__": name, "technique": tech.name,
          "__doc__": f"{tech.name}: {tech.title}."}
    for metric in METRICS:
        params, names, skip = metric_params(tech, metric, grid)
        if not params or not all(params):
            continue  # e.g. no GPU target: no GPU metric
        attrs = {"params": params, "param_names": names, "skip_params": skip, "version": common.VERSION}
        if metric.startswith("time_"):
            attrs.update(setup=_time_setup(tech, metric[len("time_"):]), timer=CLOCK)
        else:
            attrs.update(setup=_figure_setup(tech), unit=UNITS[metric])
        ns[metric] = _copy(getattr(_Methods, metric), f"{name}.{metric}", **attrs)
    return type(name, (_Hooks,), ns)


def build_classes(techs, grid: dict | None = None) -> dict[str, type]:
    classes = {}
    for tech in techs:
        cls = build_class(tech, grid=grid)
        if cls.__name__ in classes:  # the coverage check names the technique left out
            continue
        classes[cls.__name__] = cls
    return classes


def _absent(name: str, grid: dict) -> type:
    """A class asv discovered whose technique this commit does not have: every set is n/a."""
    prefix = f"{__name__.rsplit('.', 1)[-1]}.{name}."

    def setup(cache, *params):
        raise NotImplementedError(f"this commit has no technique {name!r}")

    ns = {"__module__": __name__, "__qualname__": name, "technique": name}
    for key, found in grid.items():
        metric = key[len(prefix):]
        if key.startswith(prefix) and metric in METRICS:
            attrs = {"params": _parse(found["params"]), "param_names": list(found["param_names"]),
                     "setup": setup, "version": common.VERSION}
            if metric in UNITS:
                attrs["unit"] = UNITS[metric]
            ns[metric] = _copy(getattr(_Methods, metric), f"{name}.{metric}", **attrs)
    return type(name, (_Hooks,), ns)


_TECHS = [get_technique(n) for n in techniques()]
prepared.warm_numba()  # before asv forks: serial only, no thread, no CUDA context (docs/asv.md)
_GRID = _discovered_grid()
CLASSES = build_classes(_TECHS, _GRID)
for _name in sorted({k.split(".")[1] for k in (_GRID or {}) if k.count(".") == 2} - set(CLASSES)):
    CLASSES[_name] = _absent(_name, _GRID)
globals().update(CLASSES)

if _GRID is None:  # discovery, asv check, the tests: the registry must be covered
    _missing = common.missing_benchmarks(CLASSES.values(), _TECHS)
    if _missing:
        raise AssertionError("numbabench asv suite: no benchmark for " + "; ".join(_missing))
