"""Time every host (target, variant) of techniques interleaved in one process: A B A B rounds.

A helper's check, not the benchmark (``numbabench run`` is): each round times every pair once
(the best of a few calls), and a pair's ratio is the median over rounds of best-numpy-of-round /
pair-of-round. Usage: python scripts/interleave_cpu.py [technique ...] [--sizes 1e6,1e7] [--rounds 7]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from numbabench import get_technique
from numbabench.targets import HOST_TARGETS


def best_of(fn, args, calls):
    best = float("inf")
    for _ in range(calls):
        t0 = time.perf_counter()
        fn(args)
        best = min(best, time.perf_counter() - t0)
    return best


def measure(name, size, rounds, min_time=0.02, only=None, quiet=False):
    """{(target, variant): (median ratio vs best numpy, min, max, correct)}; ``only`` limits the
    non-numpy pairs timed (numpy's are always timed: they are the baseline of every round)."""
    tech = get_technique(name)
    inputs = tech.check_inputs(tech.make_inputs(size))
    want = tech.reference(inputs)
    pairs, runs = [], {}
    for target in HOST_TARGETS:
        if target not in tech.targets:
            continue
        for variant in tech.variants_for(target):
            if only is not None and target != "numpy" and (target, variant) not in only:
                continue
            fn = tech.variant(target, variant)
            args = tech.prepare(target, inputs)
            ok, err = tech.compare(tech.fetch(target, fn(args)), want)
            t = best_of(fn, args, 1)
            calls = max(1, min(50, int(min_time / max(t, 1e-7))))
            pairs.append((target, variant, ok))
            runs[(target, variant)] = (fn, args, calls)
    times = {p[:2]: [] for p in pairs}
    for _ in range(rounds):
        for key, (fn, args, calls) in runs.items():
            times[key].append(best_of(fn, args, calls))
    numpy_keys = [k for k in times if k[0] == "numpy"]
    best_np = [min(times[k][r] for k in numpy_keys) for r in range(rounds)]
    result = {}
    if not quiet:
        print(f"{name} size={size}")
    for target, variant, ok in pairs:
        ts = times[(target, variant)]
        ratios = [b / t for b, t in zip(best_np, ts)]
        med = statistics.median(ratios)
        result[(target, variant)] = (med, min(ratios), max(ratios), ok, statistics.median(ts))
        if not quiet:
            print(f"  {target:9s} {variant:8s} {statistics.median(ts) * 1e3:9.3f} ms  "
                  f"x{med:6.2f} vs best numpy  [{min(ratios):.2f}-{max(ratios):.2f}]"
                  f"{'' if ok else '  WRONG'}")
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("techniques", nargs="*", default=["gaussian", "remote", "clamp", "fftmask", "dataframe"])
    ap.add_argument("--sizes", default="1e6,1e7")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    for name in a.techniques:
        for s in a.sizes.split(","):
            size = int(float(s))
            if name == "fftmask":
                size = {1_000_000: 921_600, 10_000_000: 3_686_400}.get(size, size)
            measure(name, size, a.rounds)


if __name__ == "__main__":
    main()
