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
# # Lesson 2 · Timing like you mean it: a solution
#
# Every measurement is bracketed by `cuda.synchronize()`: before, so that earlier queued work is
# not counted; after, so that the clock is read once the GPU has finished. The first call is timed
# on its own: it compiles. The steady figure is the median of the calls after it, and the compile
# time is the first call minus a steady one.

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
    def timed():
        cuda.synchronize()  # earlier work must not land in this measurement
        t0 = time.perf_counter()
        fn()
        cuda.synchronize()  # the launch only queued the work: wait for it
        return time.perf_counter() - t0

    first = timed()  # compiles the kernel (the first time fn's kernel is called)
    steady_s = statistics.median(timed() for _ in range(repeats))
    compile_s = max(first - steady_s, 0.0)
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
