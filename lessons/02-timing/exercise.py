# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 2 · Timing like you mean it
#
# *Article item 2: Numba + Jupyter = rapid CUDA prototyping.* Numba compiles a kernel the moment
# it is first called, so you change a cell, press Shift-Enter and run again: no build step. And
# Jupyter's `%timeit` times a line for you — "don't forget to synchronize the device after running
# the kernel to get accurate timings", says the article. Two things make a naive GPU timing lie:
#
# 1. **The first call compiles.** `%time launch()` on a fresh kernel measures Numba's compiler
#    (tens or hundreds of milliseconds), not the kernel. Time compilation on its own — the first
#    call minus a steady one — and keep it out of the steady figure.
# 2. **A launch returns before the work is done.** `kernel[blocks, threads](...)` queues the work
#    on the GPU and returns in microseconds; timing it measures the queueing. Call
#    `cuda.synchronize()` before you read the clock (and before you start it, so that earlier work
#    does not land in your measurement).
#
# Two clocks will do. The host clock (`time.perf_counter()`) with `cuda.synchronize()` around
# each call, or **CUDA events**: `start, end = cuda.event(), cuda.event()`, then `start.record()`,
# the call, `end.record()`, `end.synchronize()` and `cuda.event_elapsed_time(start, end)` (in
# milliseconds). Events stamp the GPU's own stream, so they time the work, and what was queued
# before `start` is not counted; but the stream must be idle when the first call compiles, or the
# compile hides behind earlier work.
#
# On the simulator a launch runs to the end before it returns and `cuda.synchronize()` does
# nothing, so neither lie shows here, and no figure measured here says anything about a GPU (the
# simulator's own events keep no time; `gpu_or_simulator()` gives them the host clock, so the
# events way runs here too). That is why the check runs your `benchmark` on a *stand-in* GPU whose
# costs it knows: each call queues work that finishes a fixed time later, `cuda.synchronize()`
# waits for it, the first call compiles for a while, and when `benchmark` starts some earlier work
# is still queued. Its events stamp the moment the work before them is done. Your benchmark must
# find both numbers, by either clock.
#
# Every spot to fill in says `# TODO`.
# Grade your copy with `.venv/bin/numbabench lessons check 2` (typed in the clone's folder; plain
# `numbabench` once the venv is active).

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()

import statistics
import time

import numpy as np
from numba import cuda


# %%
def scale(x, out, factor):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = x[i] * factor


d_x = cuda.to_device(np.arange(1024, dtype=np.float32))
d_out = cuda.device_array_like(d_x)


def make_launch():
    """A function that launches a freshly jitted `scale`: the first call of each one compiles."""
    kernel = cuda.jit(scale)

    def launch():
        kernel[4, 32](d_x, d_out, 2.0)

    return launch


# %% [markdown]
# ## In Jupyter: `%time` and `%timeit`
# The first `%time` below runs a launch that has never been called, so it includes the compile; the
# first `%timeit`, without a synchronize, times the queueing; the last line times the work. (In a
# `.py` file the magics are comments; jupytext turns them back into magics when the file opens as a
# notebook. On the simulator all three show the simulator, not a GPU.)

# %%
launch = make_launch()
# %time launch()
# %timeit -n 3 -r 3 launch()
# %timeit -n 3 -r 3 launch(); cuda.synchronize()


# %% [markdown]
# ## Your benchmark
# `benchmark(fn)` times `fn()`, a function that launches GPU work, and returns two numbers:
# `compile_s`, how much longer the first call took than a steady one, and `steady_s`, the median
# time of one call once compiled, measured until the GPU has finished the work. Use
# `cuda.synchronize()` to wait for the GPU.


# %%
def benchmark(fn, repeats=10):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        # TODO: the launch returned before the GPU finished: wait for the work before reading the clock
        times.append(time.perf_counter() - t0)
    steady_s = sum(times) / len(times)  # TODO: the first call compiled the kernel: keep it out of this figure
    compile_s = 0.0  # TODO: how much longer the first call took than a steady one
    return compile_s, steady_s


# %%
compile_s, steady_s = benchmark(make_launch())  # a fresh kernel: its first call compiles
print(f"compile: {compile_s * 1e3:.1f} ms, steady: {steady_s * 1e3:.3f} ms per launch ({MODE})")
