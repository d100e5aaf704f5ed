"""How numbabench reads a clock: three figures, each measured one way everywhere.

* ``steady`` — **throughput**: many calls, one ``sync`` per sample (pipelined). On a GPU the host
  queues launches while earlier ones run, so launch cost hides behind the work. Phase ``compute``.
* ``latency`` — **per call**: ``sync`` after every call, so each sample is launch + work + sync.
  On a CPU it agrees with ``steady``; on a GPU it is larger by the launch and sync cost. Phase
  ``latency``.
* ``kernel_time`` — **the device's own time**: CUDA events around many back-to-back launches,
  recorded while the stream is kept busy, so the interval holds kernels only and no host work
  (an event pair on an idle stream starts timing when the host *begins* the call).

Compile time is never mixed into a steady-state figure: ``first_call`` times the call that compiles,
the others time calls after it. Repeats are calibrated timeit-style: a sample runs ``number`` calls
(enough to dwarf the clock's resolution), samples are taken until ``min_time`` has passed (at least
``min_samples``) or exactly ``repeat`` samples when asked; the median, the interquartile range and
the raw per-call samples are kept.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

clock = time.perf_counter


@dataclass
class Timing:
    median_s: float
    spread_s: float  # interquartile range of the per-call times
    min_s: float
    repeats: int  # samples taken
    number: int  # calls per sample
    samples: list[float] = field(default_factory=list)  # per-call seconds, one per sample
    method: str = "throughput"  # throughput (pipelined), latency (per call) or events (kernel)

    def as_row(self) -> dict:
        return {"median_s": self.median_s, "spread_s": self.spread_s, "min_s": self.min_s,
                "repeats": self.repeats, "number": self.number}


def summarize(samples: list[float], number: int, method: str) -> Timing:
    """A ``Timing`` of per-call ``samples`` (seconds), each the mean of ``number`` calls."""
    a = np.asarray(samples, dtype=float)
    q25, q50, q75 = np.percentile(a, [25, 50, 75])
    return Timing(float(q50), float(q75 - q25), float(a.min()), len(samples), number,
                  [float(s) for s in samples], method)


def _nosync():
    pass


def first_call(fn: Callable[[], object], sync: Callable[[], None] = _nosync) -> tuple[float, object]:
    """Time one call (the one that compiles), synchronized; return (seconds, its result)."""
    sync()
    t0 = clock()
    out = fn()
    sync()
    return clock() - t0, out


def _enough(n: int, start: float, repeat, min_time, min_samples, max_samples) -> bool:
    if repeat is not None:
        return n >= repeat
    return n >= max_samples or (n >= min_samples and clock() - start >= min_time)


def calibrate(sample: Callable[[int], float], resolution: float = 2e-3) -> tuple[int, float]:
    """(calls per sample, seconds of the last trial): enough calls that a sample dwarfs the clock's
    resolution. ``sample(number)`` runs ``number`` calls, synchronized, and returns their seconds."""
    number = 1
    while True:
        dt = sample(number)
        if dt >= resolution or number >= 1 << 20:
            return number, dt
        number *= 10 if dt < resolution / 10 else 2


def steady(
    fn: Callable[[], object],
    sync: Callable[[], None] = _nosync,
    *,
    min_time: float = 0.2,
    repeat: int | None = None,
    min_samples: int = 3,
    max_samples: int = 10_000,
    resolution: float = 2e-3,
) -> Timing:
    """Pipelined time per call of ``fn`` (already compiled and warmed up): ``number`` calls, one sync."""

    def sample(number):
        sync()
        t0 = clock()
        for _ in range(number):
            fn()
        sync()
        return clock() - t0

    number, dt = calibrate(sample, resolution)
    samples: list[float] = [dt / number]
    start = clock()
    while not _enough(len(samples), start, repeat, min_time, min_samples, max_samples):
        samples.append(sample(number) / number)
    return summarize(samples, number, "throughput")


def latency(
    fn: Callable[[], object],
    sync: Callable[[], None] = _nosync,
    *,
    min_time: float = 0.2,
    repeat: int | None = None,
    min_samples: int = 3,
    max_samples: int = 10_000,
) -> Timing:
    """Per-call time of ``fn``: every sample is one call followed by ``sync`` (launch + work + sync)."""
    samples: list[float] = []
    start = clock()
    sync()
    while not _enough(len(samples), start, repeat, min_time, min_samples, max_samples):
        t0 = clock()
        fn()
        sync()
        samples.append(clock() - t0)
    return summarize(samples, 1, "latency")


# -- CUDA events ------------------------------------------------------------------------------------

class Event(Protocol):
    def done(self) -> bool: ...  # the stream has reached this event

    def seconds_since(self, start: "Event") -> float: ...


class EventClock(Protocol):
    """A stream that ``fn`` launches on, with timing events (numba.cuda's, or a test's stand-in)."""

    def record(self) -> Event: ...  # queue an event on the stream

    def busy(self, seconds: float) -> None: ...  # queue device work lasting about ``seconds``

    def wait(self, event: Event) -> None: ...  # block the host until the stream reaches ``event``


class CudaEventClock:
    """numba.cuda events on one stream (default: the legacy default stream, which CuPy uses too).

    ``busy`` launches a one-thread kernel that sleeps in ``nanosleep`` steps; its length is only
    approximate, and ``kernel_time`` checks afterwards that it was long enough.
    """

    def __init__(self, stream=0):
        from numba import cuda

        from .errors import TargetUnavailable
        from .targets import simulator_active

        if simulator_active() or not cuda.is_available():
            raise TargetUnavailable("kernel time needs CUDA events on a real GPU (the simulator's time nothing)")
        self.cuda, self.stream = cuda, stream
        self._spin = cuda.jit(spin_kernel())

    def record(self):
        ev = self.cuda.event(timing=True)
        ev.record(self.stream)
        return _CudaEvent(ev)

    def busy(self, seconds: float) -> None:
        steps = max(1, min(int(seconds / _SPIN_STEP_S), 2**31 - 1))
        self._spin[1, 1, self.stream](steps)

    def wait(self, event) -> None:
        event.ev.synchronize()


_SPIN_STEP_S = 1e-6


def spin_kernel():
    """The Python function of the spin kernel (the PTX layer compiles it too: nanosleep is sm_70+)."""
    from numba import cuda

    def spin(steps):
        # One thread sleeping ~1 µs at a time: the stream stays busy while the host queues launches.
        for _ in range(steps):
            cuda.nanosleep(1000)

    return spin


class _CudaEvent:
    def __init__(self, ev):
        self.ev = ev

    def done(self) -> bool:
        return bool(self.ev.query())

    def seconds_since(self, start) -> float:
        return start.ev.elapsed_time(self.ev) / 1e3


def kernel_time(
    fn: Callable[[], object],
    sync: Callable[[], None] = _nosync,
    *,
    min_time: float = 0.2,
    repeat: int | None = None,
    min_samples: int = 3,
    max_samples: int = 1000,
    resolution: float = 1e-4,
    events: EventClock | None = None,
    max_spin: float = 0.25,
) -> Timing:
    """Device time per call of ``fn`` (which only queues work on ``events``' stream), by CUDA events.

    Each sample: queue a spin kernel, the start event, ``number`` calls of ``fn``, the end event;
    then wait for the end. The spin keeps the stream busy while the host queues the calls, so the
    device runs them back to back and the events hold no host time. If the start event has already
    been reached when the last call is queued, the device may have waited for the host: the spin is
    doubled and the sample taken again (up to ``max_spin`` seconds of spin).
    """
    events = events or CudaEventClock()
    sync()
    spin = 1e-4

    def sample(number):
        nonlocal spin
        while True:
            events.busy(spin)
            start = events.record()
            t0 = clock()
            for _ in range(number):
                fn()
            host = clock() - t0
            starved = start.done()
            end = events.record()
            events.wait(end)
            if not starved or spin >= max_spin:
                return end.seconds_since(start) / number
            spin = min(max_spin, max(2 * spin, 2 * host))

    number = 1
    while True:
        per_call = sample(number)
        if per_call * number >= resolution or number >= 1 << 16:
            break
        number *= 10 if per_call * number < resolution / 10 else 2
    samples = [per_call]
    start_t = clock()
    while not _enough(len(samples), start_t, repeat, min_time, min_samples, max_samples):
        samples.append(sample(number))
    sync()
    return summarize(samples, number, "events")
