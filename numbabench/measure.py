"""One measuring path: the rows of one cell, for the worker process, the dask task and asv.

A cell is one technique at one size and dtype on a set of (target, variant) *pairs* that share a
process. Each pair is prepared (inputs moved to its memory, outputs allocated), called once (the
call that compiles), and checked against the NumPy reference. Then the pairs' steady states are
timed *interleaved*: round after round, one sample of each pair, so that a machine whose speed
drifts moves every pair alike, and a speedup is the median of per-round ratios against the fastest
correct NumPy variant of the cell. Pairs on a device add per-call latency, transfers and end to
end. Every measured phase runs inside ``profiling.phase_range`` (an NVTX range when nvtx is there).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import timing
from .results import Row

from .profiling import phase_range  # NVTX ranges for nsys/ncu; a no-op without nvtx

Pair = tuple  # (target, variant)


@dataclass
class MeasureOptions:
    seed: int = 0
    min_time: float = 0.2
    repeat: int | None = None
    #: time the pairs' steady states in rounds (False: one pair after the other, e.g. after a
    #: crash in the interleaved phase, when the runner must learn which pair was to blame)
    interleave: bool = True

    @classmethod
    def from_job(cls, job: dict) -> "MeasureOptions":
        return cls(seed=job.get("seed", 0), min_time=job.get("min_time", 0.2), repeat=job.get("repeat"),
                   interleave=job.get("interleave", True))


@dataclass
class _Prepared:
    """One pair, ready to time: its callable, its prepared arguments and its check."""

    target: str
    variant: str
    fn: Callable
    args: dict
    sync: Callable
    first_s: float
    out: object
    base: dict = field(default_factory=dict)
    compute: timing.Timing | None = None


def _nbytes(obj) -> int:
    """Bytes of the arrays in ``obj`` (an array, or a dict/tuple/list of them); scalars count 0."""
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return int(obj.nbytes) if getattr(obj, "ndim", 0) and hasattr(obj, "nbytes") else 0


def _threading_layer(target: str) -> str | None:
    if target != "parallel":
        return None
    try:
        import numba

        return numba.threading_layer()
    except (ValueError, ImportError):  # no parallel region ran yet
        return None


def _settings(target: str, variant: str, tech) -> dict | None:
    env = tech.variant_env.get((target, variant))
    return dict(env) if env else None


def measure_cell(tech, pairs, size: int, dtype: str, opts: MeasureOptions,
                 compiled: set | None = None, on_stage: Callable | None = None) -> list[Row]:
    """The rows of one cell of ``tech`` on ``pairs``; a pair that raises gives a failed row.

    ``compiled`` remembers (target, variant, technique, dtype) this process compiled already (its
    compile row is given once). ``on_stage(stage, pair)`` is told before each pair's first call
    (``"first"``) and before the interleaved phase (``"steady"``, pair None), so that a runner can
    blame the right pair when the process dies.
    """
    from .devices import memory
    from .fmt import first_line
    from .targets import get_target

    compiled = set() if compiled is None else compiled
    on_stage = on_stage or (lambda stage, pair: None)
    inputs = tech.check_inputs(tech.make_inputs(size, seed=opts.seed, dtype=dtype))
    want = tech.reference(inputs)
    key = {"technique": tech.name, "size": size, "dtype": dtype}
    rows: list[Row] = []
    ready: list[_Prepared] = []
    for target, variant in pairs:
        on_stage("first", (target, variant))
        try:
            ready.append(prepare_pair(tech, target, variant, inputs, want, key, memory(target)))
        except Exception as exc:
            rows.append(Row.failed(dict(key), target, first_line(exc), variant=variant))
    if not ready:
        return rows

    nbytes, nflops = tech.bytes_moved(size, dtype), tech.flops(size, dtype)
    t_opts = {"min_time": opts.min_time, "repeat": opts.repeat}
    on_stage("steady", None)
    rounds = opts.interleave and len(ready) > 1
    if rounds:
        timings = interleaved([(p.fn, p.args, p.sync, p) for p in ready], **t_opts)
    else:
        timings = {}
        for p in ready:
            on_stage("steady", (p.target, p.variant))
            timings[id(p)] = _steady_one(p, t_opts)
    ratios = _round_ratios(ready, timings) if rounds else {}
    for p in ready:
        tm = timings[id(p)]
        p.compute = tm
        row = Row.timed("compute", tm, bytes=nbytes, flops=nflops, **p.base)
        if id(p) in ratios:
            row.speedup_vs_numpy, row.speedup_spread, row.speedup_base = ratios[id(p)]
        rows.append(row)
        ckey = (p.target, p.variant, tech.name, dtype)
        if ckey not in compiled:  # the first call in this process compiled: report it once
            compiled.add(ckey)
            compile_s = max(p.first_s - tm.median_s, 0.0)
            rows.append(Row(phase="compile", median_s=compile_s, spread_s=0.0, min_s=compile_s,
                            repeats=1, number=1, **p.base))
    for p in ready:
        if get_target(p.target).on_device:
            on_stage("device", (p.target, p.variant))
            rows.extend(_device_rows(tech, p, inputs, want, nbytes, nflops, t_opts))
    rows.extend(_extra_rows(tech, ready, inputs, t_opts, on_stage))
    return rows


def prepare_pair(tech, target, variant, inputs, want, key, mem) -> _Prepared:
    """One pair ready to time: its callable and arguments, its first (compiling) call timed, its
    result checked against ``want``. Public: asv's prepared measurement calls it."""
    from .targets import get_target

    fn = tech.variant(target, variant)
    sync = mem.synchronize
    args = tech.prepare(target, inputs)
    sync()
    with phase_range(tech.name, target, "compile", variant):
        first_s, out = timing.first_call(lambda: fn(args), sync)
    correct, err = tech.compare(tech.fetch(target, out), want)
    base = dict(key, target=target, variant=variant, correct=correct, max_abs_err=err,
                status="ok" if correct else "wrong",
                error=None if correct else f"result differs from the NumPy reference (max abs error {err:.3g})",
                simulated=get_target(target).simulated, threading_layer=_threading_layer(target),
                env=_settings(target, variant, tech))
    return _Prepared(target, variant, fn, args, sync, first_s, out, base)


def _steady_one(p: _Prepared, t_opts) -> timing.Timing:
    with phase_range(p.base["technique"], p.target, "compute", p.variant):
        return timing.steady(lambda: p.fn(p.args), p.sync, **t_opts)


def interleaved(entries, *, min_time: float = 0.2, repeat: int | None = None, min_samples: int = 5,
                max_samples: int = 10_000, resolution: float = 2e-3) -> dict:
    """Steady-state timings of several callables, one sample of each per round.

    ``entries``: (fn, args, sync, key-object). Each gets its own calls-per-sample (calibrated as
    ``timing.steady`` does); rounds run until ``min_time`` per entry has passed (at least
    ``min_samples`` rounds), or exactly ``repeat`` rounds. Returns id(key-object) -> Timing, whose
    ``samples`` line up round by round across entries.
    """
    numbers = {}
    for fn, args, sync, key in entries:
        numbers[id(key)], _ = timing.calibrate(_sampler(fn, args, sync), resolution)
    samples: dict[int, list[float]] = {id(k): [] for *_, k in entries}
    start = timing.clock()
    budget = min_time * len(entries)
    while True:
        n = len(samples[id(entries[0][3])])
        if repeat is not None:
            if n >= repeat:
                break
        elif n >= max_samples or (n >= min_samples and timing.clock() - start >= budget):
            break
        for fn, args, sync, key in entries:
            number = numbers[id(key)]
            name = key.base["technique"] if hasattr(key, "base") else "cell"
            with phase_range(name, getattr(key, "target", "?"), "compute", getattr(key, "variant", None)):
                sync()
                t0 = timing.clock()
                for _ in range(number):
                    fn(args)
                sync()
                samples[id(key)].append((timing.clock() - t0) / number)
    return {k: timing.summarize(v, numbers[k], "throughput") for k, v in samples.items()}


def _sampler(fn, args, sync):
    def sample(number):
        sync()
        t0 = timing.clock()
        for _ in range(number):
            fn(args)
        sync()
        return timing.clock() - t0
    return sample


def _round_ratios(ready: list[_Prepared], timings: dict) -> dict:
    """id(pair) -> (median, IQR, base variant) of per-round ratios vs the fastest correct NumPy pair.

    Only where the samples line up round by round (interleaved), and never for a wrong row."""
    numpy_pairs = [p for p in ready if p.target == "numpy" and p.base["status"] == "ok"]
    lengths = {len(getattr(timings[id(p)], "samples", None) or []) for p in ready}
    if not numpy_pairs or len(lengths) != 1 or 0 in lengths:
        return {}
    base = min(numpy_pairs, key=lambda p: timings[id(p)].median_s)
    b = np.asarray(timings[id(base)].samples)
    out = {}
    for p in ready:
        if p.base["status"] != "ok" or p.base["simulated"]:
            continue
        r = b / np.asarray(timings[id(p)].samples)
        q25, q50, q75 = np.percentile(r, [25, 50, 75])
        out[id(p)] = (float(q50), float(q75 - q25), base.variant)
    return out


def _device_rows(tech, p: _Prepared, inputs, want, nbytes, nflops, t_opts) -> list[Row]:
    from .errors import TargetUnavailable
    from .targets import get_target

    name, target, fn, args, sync = tech.name, p.target, p.fn, p.args, p.sync
    rows = []
    with phase_range(name, target, "latency", p.variant):
        rows.append(Row.timed("latency", timing.latency(lambda: fn(args), sync, **t_opts), bytes=nbytes,
                              flops=nflops, **p.base))
    if get_target(target).uses_gpu:  # the kernel's own time, by CUDA events on a busy stream
        try:
            with phase_range(name, target, "kernel", p.variant):
                kt = timing.kernel_time(lambda: fn(args), sync, **t_opts)
            rows.append(Row.timed("kernel", kt, bytes=nbytes, flops=nflops, **p.base))
        except TargetUnavailable:
            pass
        except Exception as exc:  # a variant that cannot be timed by events keeps its other rows
            from .fmt import first_line

            rows.append(Row(phase="kernel", **dict(p.base, status="failed",
                                                   error=f"kernel time by CUDA events: {first_line(exc)}")))
    in_bytes, out_bytes = _nbytes(inputs), _nbytes(want)
    with phase_range(name, target, "h2d", p.variant):
        h2d = timing.steady(lambda: tech.prepare(target, inputs), sync, **t_opts)
    rows.append(Row.timed("h2d", h2d, bytes=in_bytes, **p.base))
    with phase_range(name, target, "d2h", p.variant):
        d2h = timing.steady(lambda: tech.fetch(target, p.out), sync, **t_opts)
    rows.append(Row.timed("d2h", d2h, bytes=out_bytes, **p.base))
    with phase_range(name, target, "end_to_end", p.variant):
        e2e = timing.steady(lambda: tech.fetch(target, fn(tech.prepare(target, inputs))), sync, **t_opts)
    rows.append(Row.timed("end_to_end", e2e, bytes=nbytes, flops=nflops, **p.base))
    return rows


def _extra_rows(tech, ready: list[_Prepared], inputs, t_opts, on_stage) -> list[Row]:
    """A technique's own phases, once per target (with the variants of the cell in ``opts``)."""
    rows = []
    seen = set()
    for p in ready:
        if p.target in seen:
            continue
        seen.add(p.target)
        on_stage("extra", (p.target, p.variant))
        variants = tuple(q.variant for q in ready if q.target == p.target)
        opts = dict(t_opts, variants=variants)
        base = {k: p.base[k] for k in ("technique", "target", "variant", "size", "dtype", "correct",
                                       "max_abs_err", "status", "error", "simulated", "threading_layer",
                                       "env")}
        for extra in tech.extra_rows(p.target, inputs, opts):
            rows.append(Row.extra(dict(base, repeats=None, number=None), extra))
    return rows
