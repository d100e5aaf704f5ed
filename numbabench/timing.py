"""How numbabench reads a clock.

* Compile time is never mixed into a steady-state figure: ``first_call`` times the call that
  compiles, ``steady`` times calls after it, and the compile phase is their difference.
* GPU work is asynchronous: ``sync`` is called before the clock is read, every time.
* Repeats are calibrated timeit-style: a sample runs ``number`` calls (enough to dwarf the clock's
  resolution), samples are taken until ``min_time`` has passed (at least ``min_samples``) or
  exactly ``repeat`` samples when asked; the median and the interquartile range are kept.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

clock = time.perf_counter


@dataclass
class Timing:
    median_s: float
    spread_s: float  # interquartile range of the per-call times
    min_s: float
    repeats: int  # samples taken
    number: int  # calls per sample

    def as_row(self) -> dict:
        return {"median_s": self.median_s, "spread_s": self.spread_s, "min_s": self.min_s,
                "repeats": self.repeats, "number": self.number}


def _nosync():
    pass


def first_call(fn: Callable[[], object], sync: Callable[[], None] = _nosync) -> tuple[float, object]:
    """Time one call (the one that compiles), synchronized; return (seconds, its result)."""
    sync()
    t0 = clock()
    out = fn()
    sync()
    return clock() - t0, out


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
    """Steady-state time per call of ``fn`` (already compiled and warmed up)."""
    # calibrate: how many calls make a sample long enough to read reliably
    number = 1
    while True:
        sync()
        t0 = clock()
        for _ in range(number):
            fn()
        sync()
        dt = clock() - t0
        if dt >= resolution or number >= 1 << 20:
            break
        number *= 10 if dt < resolution / 10 else 2
    samples: list[float] = [dt / number]
    start = clock()
    while True:
        n = len(samples)
        if repeat is not None:
            if n >= repeat:
                break
        elif n >= max_samples or (n >= min_samples and clock() - start >= min_time):
            break
        sync()
        t0 = clock()
        for _ in range(number):
            fn()
        sync()
        samples.append((clock() - t0) / number)
    a = np.asarray(samples)
    q25, q50, q75 = np.percentile(a, [25, 50, 75])
    return Timing(float(q50), float(q75 - q25), float(a.min()), len(samples), number)
