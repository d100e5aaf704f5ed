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
# On the simulator a launch runs to the end before it returns, `cuda.synchronize()` does nothing
# and CUDA events record no time, so neither lie shows here, and no figure measured here says
# anything about a GPU. That is why the check runs your `benchmark` on a *stand-in* GPU whose
# costs it knows: each call queues work that finishes a fixed time later, `cuda.synchronize()` waits
# for it, and the first call compiles for a while. Your benchmark must find both numbers.
#
# Every spot to fill in says `# TODO`. Grade your copy with `numbabench lessons check 2`.

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()

import statistics
import time

import numpy as np
from numba import cuda


# %%
@cuda.jit
def scale(x, out, factor):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = x[i] * factor


d_x = cuda.to_device(np.arange(1024, dtype=np.float32))
d_out = cuda.device_array_like(d_x)


def launch():
    scale[4, 32](d_x, d_out, 2.0)


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
compile_s, steady_s = benchmark(launch)
print(f"compile: {compile_s * 1e3:.1f} ms, steady: {steady_s * 1e3:.3f} ms per launch ({MODE})")


# %% [markdown]
# ## In Jupyter: `%time` and `%timeit`
# Run the next cell in a fresh kernel, before `benchmark` has called `launch`: `%time` then includes
# the compile, and `%timeit` without a synchronize times the queueing; the last line times the
# work. (In a `.py` file the magics are comments; jupytext turns them back into magics when the
# file opens as a notebook.)

# %%
# %time launch()
# %timeit -n 3 -r 3 launch()
# %timeit -n 3 -r 3 launch(); cuda.synchronize()
