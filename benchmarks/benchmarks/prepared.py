"""The prepared measurement: one (technique, target, variant, size) made ready to time, checked.

``Prepared`` builds the seeded inputs and the NumPy reference, moves the inputs to the target,
times the first call (the compile), and compares that result and an end-to-end result with the
reference: **a wrong result raises ``WrongResult``**, so asv records a failure, never a time.
The time_* benchmarks then time its bodies; ``figures`` gives the track_* figures of a technique
(compile, GB/s, CUDA events) of the same prepared cell.

One measuring path: where the installed numbabench has ``numbabench.measure.prepare`` (what the
runner's ``measure_cell`` uses), ``prepare`` returns that; commits older than that module get the
same sequence from ``Prepared`` here, written against the registry API every commit has.
"""
from __future__ import annotations

import time

import numpy as np

from .common import ARTICLE, BATCH_MAX, BATCH_S, SEED, STEADY_S, WrongResult, synchronizer


def variant_callable(tech, target: str, variant: str):
    """The callable of ``variant`` on ``target``, on commits with and without variants."""
    try:
        return tech.variant(target, variant)
    except TypeError:  # a commit before variants: one way per target
        if variant != ARTICLE:
            raise NotImplementedError(f"this numbabench has no variants; {variant!r} is not here") from None
        return tech.variant(target)


class Prepared:
    """Inputs on the target, the compiled callable, its checked result; bodies to time."""

    def __init__(self, tech, target: str, variant: str, size: int, dtype: str | None = None, seed: int = SEED):
        self.tech, self.target, self.variant, self.size = tech, target, variant, int(size)
        self.dtype = dtype or tech.default_dtype()
        self.inputs = tech.check_inputs(tech.make_inputs(self.size, seed=seed, dtype=self.dtype))
        self.want = tech.reference(self.inputs)
        native = _native_prepare()
        ready = native(tech, target, variant, self.inputs, self.want, self.size, self.dtype) if native else None
        if ready is not None:  # numbabench.measure's own first call and check
            self.fn, self.args, self.sync = ready.fn, ready.args, ready.sync
            self.first_s, self.out = ready.first_s, ready.out
        else:
            self.fn = variant_callable(tech, target, variant)
            self.sync = synchronizer(target)
            self.args = tech.prepare(target, self.inputs)  # a GPU context, if any, is made here
            self.sync()
            # the first call of this process compiles (numbabench never asks Numba for an
            # on-disk cache): timed before anything else runs it
            t0 = time.perf_counter()
            self.out = self.fn(self.args)
            self.sync()
            self.first_s = time.perf_counter() - t0
        self.check(tech.fetch(target, self.out), "first call")
        self.check(self.end_to_end(), "end-to-end call")

    def label(self) -> str:
        return f"{self.tech.name} {self.target}:{self.variant} at size {self.size} ({self.dtype})"

    def check(self, got, what: str) -> None:
        ok, err = self.tech.compare(got, self.want)
        if not ok:
            raise WrongResult(f"{self.label()}: the {what} differs from the NumPy reference "
                              f"(max abs error {err:.3g}); a wrong result is not timed")

    # -- the bodies (one call each; ``batch`` repeats them) -----------------------------------
    def compute(self):
        return self.fn(self.args)

    def latency(self):
        self.fn(self.args)
        self.sync()

    def h2d(self):
        self.tech.prepare(self.target, self.inputs)

    def d2h(self):
        self.tech.fetch(self.target, self.out)

    def end_to_end(self):
        out = self.tech.fetch(self.target, self.fn(self.tech.prepare(self.target, self.inputs)))
        self.sync()
        return out

    def batch(self, phase: str):
        """(body, calls): ``calls`` repeats of ``phase`` filling about BATCH_S seconds, with one
        synchronize at each end (asv's clock does it): pipelined, as numbabench.timing.steady."""
        one = getattr(self, phase)
        calls, spent = 1, 0.0
        while calls < BATCH_MAX:
            self.sync()
            t0 = time.perf_counter()
            for _ in range(calls):
                one()
            self.sync()
            spent = time.perf_counter() - t0
            if spent >= BATCH_S:
                break
            calls = min(BATCH_MAX, calls * (10 if spent < BATCH_S / 10 else 2))

        def body():
            for _ in range(calls):
                one()

        return body, calls

    # -- steady figures ---------------------------------------------------------------------
    def steady_s(self) -> float:
        from numbabench import timing

        return timing.steady(self.compute, self.sync, min_time=STEADY_S).median_s

    def kernel_event_s(self, calls: int = 20, samples: int = 5) -> float:
        """Device time per call from CUDA events around ``calls`` back-to-back launches (the
        stream stays busy, so the events time kernels, not host work); median of ``samples``."""
        if self.target == "cupy":
            import cupy

            def sample():
                start, end = cupy.cuda.Event(), cupy.cuda.Event()
                start.record()
                for _ in range(calls):
                    self.fn(self.args)
                end.record()
                end.synchronize()
                return cupy.cuda.get_elapsed_time(start, end) / 1e3 / calls
        else:
            from numba import cuda

            def sample():
                start, end = cuda.event(timing=True), cuda.event(timing=True)
                start.record()
                for _ in range(calls):
                    self.fn(self.args)
                end.record()
                end.synchronize()
                return cuda.event_elapsed_time(start, end) / 1e3 / calls
        return float(np.median([sample() for _ in range(samples)]))


# -- the figures of one prepared cell -----------------------------------------------------------
def warm_numba() -> None:
    """Pay Numba's one-time start-up (LLVM, its type machinery) before any compile is timed, so a
    compile figure is the technique's own. Serial code only: compiling a ``parallel=True``
    function launches the threading layer, which must never happen before asv forks."""
    import numba

    @numba.njit
    def warm(a):
        return a.sum()

    warm(np.ones(4))


def _native_prepare():
    """numbabench.measure's preparation of one pair (the sequence the runner's ``measure_cell``
    uses), adapted to (tech, target, variant, inputs, want, size, dtype) -> an object with fn,
    args, sync, first_s, out; None on commits before numbabench.measure (``Prepared`` then does
    the same itself)."""
    try:
        from numbabench import measure
    except ImportError:
        return None
    public = getattr(measure, "prepare", None)
    if public is not None:
        return public
    private = getattr(measure, "prepare_pair", None) or getattr(measure, "_prepare", None)
    if private is None:
        return None

    def adapted(tech, target, variant, inputs, want, size, dtype):
        try:
            from numbabench.devices import memory
        except ImportError:
            return None
        key = {"technique": tech.name, "size": size, "dtype": dtype}
        return private(tech, target, variant, inputs, want, key, memory(target))

    return adapted


def figures(p, calls: int, gpu: bool) -> dict:
    """The track_* figures of a prepared cell: compile (its first call minus a steady call),
    steady compute seconds and GB/s, and on a GPU the CUDA-event device time per call."""
    steady = p.steady_s()
    fig = {"compile_s": max(p.first_s - steady, 0.0), "compute_s": steady}
    nbytes = _bytes_moved(p.tech, p.size, p.dtype)
    fig["gbps"] = nbytes / steady / 1e9 if nbytes and steady > 0 else None
    if gpu:
        fig["kernel_event_s"] = p.kernel_event_s(calls=max(calls, 10))
    return fig


def _bytes_moved(tech, size, dtype):
    try:
        return tech.bytes_moved(size, dtype)
    except NotImplementedError:
        return None
