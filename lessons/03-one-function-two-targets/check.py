"""Grades lesson 3: the article's clamp bug, clamp on the CPU, clamp in a grid-stride kernel.

Reference: the ``clamp`` technique (``np.clip``). The kernel's loop is graded on its own: its output
is compared with the learner's ``clamp`` called on the CPU, so a clamp bug is reported once. Under
the simulator the check also counts the calls to ``clamp`` during a launch (the kernel looks its
globals up at run time there): a loop that strides by 1 gives right answers while every thread
redoes the whole array, and only the count shows it. On a GPU the speed against the technique's own
kernel shows it instead.
"""
import threading
from contextlib import contextmanager

import numpy as np

from numbabench import get_technique
from numbabench.lessons.grading import kernel

# What the lesson teaches, each graded below (tests/test_lessons.py plants a wrong answer for each).
PROPERTIES = {
    "article-bug": "clamp compares with xmax in its second branch (the article's bug fixed)",
    "grid-start": "each thread starts at its own global index (cuda.grid(1))",
    "grid-stride": "each thread steps by the number of threads in the grid (cuda.gridsize(1))",
    "one-function": "the kernel calls the @numba.jit clamp: one function, two targets",
    "no-signature": "the helper has no explicit signature, so Numba can compile it for the GPU",
}

CASES = [  # x, xmin, xmax, expected, why
    (0.25, -0.5, 0.5, 0.25, "a value already between the bounds must come back unchanged"),
    (-0.125, -0.5, 0.5, -0.125, "a value already between the bounds must come back unchanged"),
    (-0.9, -0.5, 0.5, -0.5, "a value below xmin becomes xmin"),
    (0.9, -0.5, 0.5, 0.5, "a value above xmax becomes xmax"),
    (0.5, -0.5, 0.5, 0.5, "a value equal to a bound stays"),
    (3.0, 1.0, 5.0, 3.0, "a value already between the bounds must come back unchanged"),
]
LAUNCHES = [(4, 32), (3, 7), (1, 1)]
SIZES = [200, 37]


@contextmanager
def counting(ex, name):
    """Replace ex.<name> by a thread-safe counting wrapper for the duration."""
    real = getattr(ex, name)
    lock = threading.Lock()
    calls = [0]

    def counted(*args):
        with lock:
            calls[0] += 1
        return real(*args)

    setattr(ex, name, counted)
    try:
        yield calls
    finally:
        setattr(ex, name, real)


def check(ex, g):
    tech = get_technique("clamp")

    with g.part("clamp returns the value itself, or the bound it crossed"):
        clamp = g.need(ex, "clamp")
        for x, lo, hi, want, why in CASES:
            got = clamp(x, lo, hi)
            if got != want:
                g.fail(f"clamp({x}, {lo}, {hi}) returned {got}, expected {want}: {why}")

    with g.part("clamp_cpu (clamp in an @njit loop) matches np.clip"):
        fn = g.need(ex, "clamp_cpu")
        inputs = tech.make_inputs(1000, seed=3, dtype="float32")
        x = inputs["x"]
        got = fn(x, inputs["xmin"], inputs["xmax"], np.empty_like(x))
        g.expect_array(got, tech.reference(inputs), "clamp_cpu(x, -0.5, 0.5, out) on 1000 random float32 values")

    with g.part("clamp_kernel clamps every element exactly once, whatever the grid"):
        from numba import cuda

        k = g.need(ex, "clamp_kernel", "kernel")
        clamp = g.need(ex, "clamp")
        for n in SIZES:
            inputs = tech.make_inputs(n, seed=n, dtype="float32")
            x, lo, hi = inputs["x"], inputs["xmin"], inputs["xmax"]
            want = np.array([clamp(v, lo, hi) for v in x], dtype=x.dtype)  # the learner's own clamp
            for blocks, threads in LAUNCHES:
                d_x = cuda.to_device(x)
                d_out = cuda.to_device(np.full_like(x, np.nan))
                what = f"clamp_kernel[{blocks}, {threads}] over {n} elements"
                if g.simulator:
                    with counting(ex, "clamp") as calls:
                        k[blocks, threads](d_x, lo, hi, d_out)
                else:
                    k[blocks, threads](d_x, lo, hi, d_out)
                    calls = None
                got = d_out.copy_to_host()
                unwritten = np.isnan(got) & ~np.isnan(want)
                if unwritten.any():
                    g.fail(f"{what}: {int(unwritten.sum())} of {n} elements were never written (they "
                           f"still hold the NaN the check put there), the first at index "
                           f"{int(np.flatnonzero(unwritten)[0])}. Does each thread start at its own "
                           "index in the grid, and step by the grid's size?")
                g.expect_array(got, want, what + " (compared with your clamp called on the CPU)")
                if calls is None:
                    continue
                if calls[0] == 0:
                    g.fail(f"{what} never called clamp: call the @numba.jit clamp from the kernel "
                           "(one function, two targets)")
                if calls[0] > n:
                    g.fail(f"{what} called clamp {calls[0]:,} times, not {n}: each element was done "
                           f"{calls[0] / n:.3g} times over. A grid-stride loop starts at this thread's "
                           "global index and steps by the number of threads in the whole grid, so the "
                           "threads share the elements instead of each doing them all.")

    if g.gpu:
        from numba import cuda

        k = getattr(ex, "clamp_kernel", None)
        if k is not None:
            # A fixed, modest grid: a loop that strides by 1 is slow here, not endless.
            n, blocks, threads = 1 << 20, 16, 128
            inputs = tech.make_inputs(n, seed=0, dtype="float32")
            d_x = cuda.to_device(inputs["x"])
            d_out = cuda.device_array_like(d_x)
            lo, hi = inputs["xmin"], inputs["xmax"]
            ref = cuda.jit(tech.kernels()[0].pyfunc)  # the technique's own grid-stride kernel
            g.speed(f"clamp_kernel[{blocks}, {threads}] over {n:,} float32",
                    lambda: k[blocks, threads](d_x, lo, hi, d_out),
                    lambda: ref[blocks, threads](d_x, lo, hi, d_out), max_ratio=2.0)
    else:
        g.speed("clamp_kernel", None, None)


def ptx_kernels(ex, types):
    sigs = [(types.Array(t, 1, "C"), t, t, types.Array(t, 1, "C")) for t in (types.float32, types.float64)]
    return [kernel(ex, "clamp_kernel", sigs)]
