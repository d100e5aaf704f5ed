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
# time is the first call minus a steady one. CUDA events do as well: `cuda.synchronize()` once
# before the first call (so that the compile does not hide behind earlier work on the stream), then
# for each call `start.record()`, `fn()`, `end.record()`, `end.synchronize()` and
# `cuda.event_elapsed_time(start, end) / 1e3`.

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
compile_s, steady_s = benchmark(make_launch())  # a fresh kernel: its first call compiles
print(f"compile: {compile_s * 1e3:.1f} ms, steady: {steady_s * 1e3:.3f} ms per launch ({MODE})")
