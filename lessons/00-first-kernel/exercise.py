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
# # Lesson 0 · Your first kernel
#
# A CUDA kernel is a function that thousands of GPU threads run at the same time, each on its own
# piece of the data. With Numba you write it in Python:
#
# * `@cuda.jit` turns a function into a kernel. A kernel returns nothing: it writes its results
#   into an array it was given.
# * `kernel[blocks, threads_per_block](args...)` launches it on `blocks x threads_per_block`
#   threads. Threads come in blocks of equal size (a multiple of 32 is usual on a GPU).
# * `cuda.grid(1)` is this thread's index in the whole grid:
#   `cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x`.
# * The grid is made of whole blocks, so it usually has *more* threads than elements: 100 elements
#   in blocks of 32 need 4 blocks, 128 threads, and the last 28 must do nothing. That `if` is the
#   **bounds check**; without it those threads read and write past the end of the arrays.
#
# ### Why is it so slow here?
# Without a GPU, the lessons run on the **CUDA simulator** (`NUMBA_ENABLE_CUDASIM=1`, set before
# numba is imported). It runs every CUDA thread as a Python thread, one block after another,
# interpreting your kernel line by line. That makes it great for finding bugs — you can print, use
# pdb, and an out-of-bounds index raises `IndexError` instead of silently corrupting memory — and
# hopeless for speed: keep the sizes small, and never read its timings as GPU timings.
#
# Your task: complete `saxpy` (`out[i] = a * x[i] + y[i]`) and the launch in `run_saxpy`.
# Every spot to fill in says `# TODO`.
# Grade your copy with `.venv/bin/numbabench lessons check 0` (typed in the clone's folder; plain
# `numbabench` once the venv is active).

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()  # before numba is imported: the simulator is chosen at import time

import math
import time

import numpy as np
from numba import cuda


# %%
@cuda.jit
def saxpy(a, x, y, out):
    """out[i] = a * x[i] + y[i], one element per thread."""
    i = 0  # TODO: this thread's index in the whole grid
    # TODO: threads past the end of the arrays must do nothing (the bounds check)
    out[i] = a * x[i] + y[i]


THREADS_PER_BLOCK = 32


def run_saxpy(a, x, y):
    """Launch saxpy over all of x and y; return the result as a NumPy array."""
    n = x.shape[0]
    d_x, d_y = cuda.to_device(x), cuda.to_device(y)
    d_out = cuda.to_device(np.zeros_like(x))
    blocks = 1  # TODO: enough blocks of THREADS_PER_BLOCK threads to cover all n elements
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
