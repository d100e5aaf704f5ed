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
# # Lesson 0 · Your first kernel: a solution
#
# Each thread takes the element at its global index `cuda.grid(1)`, and only if that index is
# inside the arrays. The launch rounds the number of blocks up, so the last, partly used block
# covers the tail: `ceil(n / threads)`, written with integers as `(n + threads - 1) // threads`.

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()

import math
import time

import numpy as np
from numba import cuda


# %%
@cuda.jit
def saxpy(a, x, y, out):
    """out[i] = a * x[i] + y[i], one element per thread."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = a * x[i] + y[i]


THREADS_PER_BLOCK = 32


def run_saxpy(a, x, y):
    n = x.shape[0]
    d_x, d_y = cuda.to_device(x), cuda.to_device(y)
    d_out = cuda.to_device(np.zeros_like(x))
    blocks = math.ceil(n / THREADS_PER_BLOCK)
    saxpy[blocks, THREADS_PER_BLOCK](a, d_x, d_y, d_out)
    return d_out.copy_to_host()


# %%
x = np.arange(100, dtype=np.float32)
y = np.ones(100, dtype=np.float32)
out = run_saxpy(np.float32(2.0), x, y)
print("first:", out[:5], "last:", out[-3:])
print("right?", np.allclose(out, 2 * x + y))

# %% [markdown]
# ## How slow is the simulator?
# The time of a launch grows with the number of threads. This cell launches `saxpy` itself, one
# thread per element (n is a multiple of 32, so the grid fits exactly), whatever `run_saxpy` does.
# On a GPU each launch takes microseconds once the first call has compiled the kernel; here, see
# for yourself.

# %%
for n in (256, 1024):
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    d_x, d_out = cuda.to_device(x), cuda.to_device(np.zeros_like(x))
    t0 = time.perf_counter()
    saxpy[n // THREADS_PER_BLOCK, THREADS_PER_BLOCK](np.float32(2.0), d_x, d_x, d_out)
    cuda.synchronize()
    print(f"n = {n:5d}: {n:5d} threads, {1e3 * (time.perf_counter() - t0):7.1f} ms ({MODE})")
