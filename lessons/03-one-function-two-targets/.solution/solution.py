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
# # Lesson 3 · One function, two targets: a solution
#
# The article's CUDA C++ `clamp` compares `x > xmin` in its second branch, where `x > xmax` is
# meant: every value above the lower bound came back as `xmax`, so a value between the bounds was
# pushed up to the top. The kernel's grid-stride loop starts at the thread's global index and
# steps by the grid's size, so each element is clamped by exactly one thread.

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()

import numba
import numpy as np
from numba import cuda


# %%
@numba.jit
def clamp(x, xmin, xmax):
    if x < xmin:
        return xmin
    elif x > xmax:
        return xmax
    else:
        return x


print(clamp(-0.9, -0.5, 0.5), clamp(0.25, -0.5, 0.5), clamp(0.9, -0.5, 0.5))


# %%
@numba.njit
def clamp_cpu(x, xmin, xmax, out):
    for i in range(x.shape[0]):
        out[i] = clamp(x[i], xmin, xmax)
    return out


# %%
@cuda.jit
def clamp_kernel(x, xmin, xmax, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = clamp(x[i], xmin, xmax)


def clamp_gpu(x, xmin, xmax, blocks=4, threads=32):
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
