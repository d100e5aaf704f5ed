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
# # Lesson 3 · One function, two targets
#
# *Article item 3: Numba can compile for the CPU and the GPU at the same time.*
#
# In CUDA C++ a helper that both the CPU and the GPU may call is declared `__host__ __device__`.
# In Numba you write it once, with the ordinary CPU decorator `@numba.jit`, and call it from a
# `@cuda.jit` kernel as well: when the kernel compiles, Numba compiles a GPU version of the helper
# on the fly. The article's example is `clamp`; its CUDA C++ version reads
#
# ```c++
# __host__ __device__ float clamp(float x, float xmin, float xmax) {
#     if (x < xmin){
#         return xmin;
#     } else if (x > xmin) {
#         return xmax;
#     } else {
#         return x;
#     }
# }
# ```
#
# The cell below is that function translated line by line, and it carries the article's bug with
# it. Find it: a test with a value *between* the bounds shows it at once.
#
# Three rules make a helper work on both sides (the article lists them):
# * no explicit type signature on `@numba.jit` (a signature freezes it to the CPU);
# * `math` functions, not `numpy` ones, and no array allocation inside;
# * let Numba pick the types: the GPU often runs float32 where the CPU runs float64.
#
# Every spot to fill in says `# TODO`.
# Grade your copy with `.venv/bin/numbabench lessons check 3` (typed in the clone's folder; plain
# `numbabench` once the venv is active).

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()  # before numba is imported: the simulator is chosen at import time

import numba
import numpy as np
from numba import cuda


# %%
# TODO: this is the article's CUDA C++ clamp, translated line by line. Call it with a value between
#       the bounds, such as clamp(0.25, -0.5, 0.5), and fix it.
@numba.jit
def clamp(x, xmin, xmax):
    if x < xmin:
        return xmin
    elif x > xmin:
        return xmax
    else:
        return x


print(clamp(-0.9, -0.5, 0.5), clamp(0.25, -0.5, 0.5), clamp(0.9, -0.5, 0.5))


# %% [markdown]
# ## The CPU side: `clamp` called from an `@njit` loop
# Nothing to do here: it is only ordinary Numba code calling `clamp`.

# %%
@numba.njit
def clamp_cpu(x, xmin, xmax, out):
    for i in range(x.shape[0]):
        out[i] = clamp(x[i], xmin, xmax)
    return out


# %% [markdown]
# ## The GPU side: the same `clamp` in a grid-stride kernel
#
# A grid-stride loop lets any grid cover any array: each thread starts at its own global index
# and steps by the number of threads in the *whole* grid, so between them the threads visit every
# element exactly once. `cuda.grid(1)` is this thread's global index, `cuda.gridsize(1)` the
# number of threads in the grid.

# %%
@cuda.jit
def clamp_kernel(x, xmin, xmax, out):
    start = 0  # TODO: this thread's global index
    stride = 1  # TODO: the number of threads in the whole grid
    for i in range(start, x.shape[0], stride):
        out[i] = clamp(x[i], xmin, xmax)  # the "CPU" function, called on the GPU


def clamp_gpu(x, xmin, xmax, blocks=4, threads=32):
    """Host wrapper: copy x to the device, launch, copy the result back."""
    d_x = cuda.to_device(x)
    d_out = cuda.device_array_like(d_x)
    clamp_kernel[blocks, threads](d_x, xmin, xmax, d_out)
    return d_out.copy_to_host()


# %%
x = np.linspace(-1, 1, 9).astype(np.float32)
lo, hi = np.float32(-0.5), np.float32(0.5)
print("np.clip  ", np.clip(x, lo, hi))
print("clamp_cpu", clamp_cpu(x, lo, hi, np.empty_like(x)))
print("clamp_gpu", clamp_gpu(x, lo, hi))
