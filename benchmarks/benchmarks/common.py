"""What every module of numbabench's asv suite shares: metrics, parameters, targets, the clock.

asv runs this checkout's benchmark code against the numbabench installed in the environment (the
commit under test, possibly months old), so everything here reads the registry through the API
every commit has (``techniques``, ``get_technique``, ``Technique.targets/sizes/variant``,
``targets.get_target``) and treats newer API (variants) as optional.

The suite benchmarks real hardware only: the CUDA simulator is not a target here (its times say
nothing about a GPU; pytest proves that path). docs/asv.md says why, and what each metric means.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

#: the seed of every input
SEED = 0
#: sizes of the suite: each technique's ``quick`` sizes by default; ``full`` adds its full sweep
SIZES_ENV = "NUMBABENCH_ASV_SIZES"
#: a timed body runs enough calls to fill this many seconds (the clock reads are then negligible)
BATCH_S = 0.005
BATCH_MAX = 100_000
#: seconds of samples behind each steady figure of the prepared measurement
STEADY_S = 0.1
#: the article's variant, as numbabench.registry.ARTICLE names it (older commits have no variants)
ARTICLE = "article"
#: the version of every benchmark's meaning: asv keeps results only while it matches (its default,
#: a hash of the benchmark's source, would drop the history at every refactor of the suite). Bump
#: it when a metric changes what it measures.
VERSION = "1"
#: technique names that changed: a commit with the old name is benchmarked under the new one, so
#: its history continues (numbabench.results.RENAMED_TECHNIQUES, where the commit has it, adds more)
RENAMED = {"frame": "dataframe"}
#: targets asv does not benchmark, and why (the coverage check at import accepts only these)
EXCLUDED_TARGETS = {
    "cudasim": "the CUDA simulator runs each CUDA thread as a Python thread: its times say nothing "
               "about a GPU, and pytest already proves that the kernels run there",
}

#: metric -> the kinds of target it says something for ("host": numpy/cpu/parallel, "gpu": a real
#: device). Transfers, latency and CUDA events mean nothing where data never leaves the host.
METRICS = {
    "time_compute": ("host", "gpu"),
    "time_latency": ("gpu",),
    "time_end_to_end": ("gpu",),
    "time_h2d": ("gpu",),
    "time_d2h": ("gpu",),
    "track_compile_seconds": ("host", "gpu"),
    "track_gbps": ("host", "gpu"),
    "track_roofline_fraction": ("host", "gpu"),
    "track_kernel_event_seconds": ("gpu",),
}
#: metrics given at one size only (the smallest): compiling does not depend on the size
ONE_SIZE = ("track_compile_seconds",)
UNITS = {"track_compile_seconds": "seconds", "track_gbps": "GB/s",
         "track_roofline_fraction": "fraction of peak", "track_kernel_event_seconds": "seconds"}


class WrongResult(AssertionError):
    """A variant's result differs from the NumPy reference: the benchmark fails, it is not timed."""


try:  # raised inside a benchmark body, asv records n/a (a plain NotImplementedError is a failure)
    from asv_runner.benchmarks.mark import SkipNotImplemented as Skip
except ImportError:  # outside asv the distinction does not matter
    Skip = NotImplementedError


# -- targets and implementations -------------------------------------------------------------
def target_kind(name: str) -> str:
    """``host``, ``gpu`` or ``simulator`` (from numbabench's Target, as every commit has it)."""
    from numbabench.targets import get_target

    t = get_target(name)
    if getattr(t, "simulated", False):
        return "simulator"
    return "gpu" if t.on_device else "host"


def variants_of(tech, target: str) -> tuple[str, ...]:
    """The variants ``tech`` has on ``target``; ``("article",)`` for commits without variants."""
    fn = getattr(tech, "variants_for", None)
    return tuple(fn(target)) if fn else (ARTICLE,)


def benchmarked_targets(tech) -> list[str]:
    return [t for t in tech.targets if t not in EXCLUDED_TARGETS]


def impl_value(target: str, variant: str) -> str:
    """The ``target`` parameter value of one implementation: the bare target for the article's
    way (so a technique's history continues when it gains variants), ``target:variant`` else."""
    return target if variant == ARTICLE else f"{target}:{variant}"


def impl_param(tech) -> tuple[str, list[str]]:
    """(the parameter's name, its values): ``target``, one value per implementation the technique
    has (``cpu``, ``cpu:tuned``, ...): nothing multiplied out."""
    return "target", [impl_value(t, v) for t in benchmarked_targets(tech) for v in variants_of(tech, t)]


def split_impl(value: str) -> tuple[str, str]:
    """``cpu:tuned`` -> (``cpu``, ``tuned``); a bare target is its article variant."""
    target, _, variant = str(value).partition(":")
    return target, variant or ARTICLE


def suite_sizes(tech, mode: str | None = None) -> dict[str, list[int]]:
    """target -> the sizes it runs at: the technique's quick sweep, plus its full one when
    ``$NUMBABENCH_ASV_SIZES`` (or ``mode``) is ``full``."""
    mode = (mode or os.environ.get(SIZES_ENV) or "quick").strip().lower()
    if mode not in ("quick", "full"):
        raise ValueError(f"{SIZES_ENV} must be quick or full, not {mode!r}")
    sweeps = ("quick",) if mode == "quick" else ("quick", "full")
    return {t: sorted({int(s) for sw in sweeps for s in tech.sizes.get(sw, ())})
            for t in benchmarked_targets(tech)}


def applies(metric: str, target: str) -> bool:
    return target_kind(target) in METRICS[metric]


# -- synchronizing a target, without depending on numbabench's module layout -------------------
def _nosync():
    pass


def synchronizer(target: str):
    """A function that waits for the work queued on ``target`` (a no-op on the host)."""
    kind = target_kind(target)
    if kind == "host":
        return _nosync
    if target == "cupy":
        import cupy

        return lambda: cupy.cuda.get_current_stream().synchronize()
    from numba import cuda

    return cuda.synchronize


# -- the clock of the time_* benchmarks --------------------------------------------------------
@dataclass
class Clock:
    """asv's ``timer`` for the time_* benchmarks: synchronizes, then reads ``perf_counter``
    divided by the number of calls one benchmark body makes. asv takes the difference of two
    reads around the body, so its figure is seconds per call, and a GPU's queue is drained
    before each read (the same discipline as numbabench.timing.steady)."""

    sync: object = _nosync
    calls: int = 1

    def __call__(self) -> float:
        self.sync()
        return time.perf_counter() / self.calls


CLOCK = Clock()


@dataclass
class Current:
    """What the setup of this process (one benchmark, one parameter set) made ready."""

    body: object = None  # the timed body (a time_* benchmark)
    figure: dict = field(default_factory=dict)  # the prepared figures (a track_* benchmark)
    cache: dict = field(default_factory=dict)  # setup_cache's answer


CURRENT = Current()


def current_name(technique: str) -> str:
    try:
        from numbabench.results import RENAMED_TECHNIQUES as more
    except ImportError:
        more = {}
    return {**RENAMED, **more}.get(technique, technique)


def class_name(technique: str) -> str:
    """The benchmark class of a technique: its current name as a public identifier (the report
    reads ``bench_techniques.<technique>.<metric>``)."""
    import re

    name = re.sub(r"\W", "_", current_name(technique))
    return name if name and not name[0].isdigit() and not name.startswith("_") else f"t_{name}"


def missing_benchmarks(classes, techs) -> list[str]:
    """Every registered (technique, target, variant) the classes do not benchmark, by name.

    The one accepted gap is a target in EXCLUDED_TARGETS; anything else (a technique without
    quick sizes, two techniques with one class name, a target the metrics table has no kind for)
    is named here, and the suite refuses to import.
    """
    by_tech = {getattr(c, "technique", None): c for c in classes}
    out = []
    for tech in techs:
        cls = by_tech.get(tech.name)
        if cls is None:
            out.append(f"technique {tech.name!r} has no benchmark class")
            continue
        name, _ = impl_param(tech)
        sizes = suite_sizes(tech)
        for target in tech.targets:
            if target in EXCLUDED_TARGETS:
                continue
            kind = target_kind(target)
            metrics = [m for m, kinds in METRICS.items() if kind in kinds]
            if not metrics:
                out.append(f"technique {tech.name!r}: target {target!r} is of kind {kind!r}, which no metric measures")
                continue
            for variant in variants_of(tech, target):
                value = impl_value(target, variant)
                for metric in metrics:
                    bench = getattr(cls, metric, None)
                    params = getattr(bench, "params", None) or [[], []]
                    if getattr(bench, "param_names", None) != ["size", name] or value not in params[1]:
                        out.append(f"technique {tech.name!r}: {value!r} has no {cls.__name__}.{metric}")
                        break
                    if not sizes[target] or not set(params[0]) & set(sizes[target]):
                        out.append(f"technique {tech.name!r}: {value!r} has no benchmarked size "
                                   f"(quick sizes {sizes[target]})")
                        break
    return out
