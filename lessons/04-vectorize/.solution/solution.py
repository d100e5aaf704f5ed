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
# # Lesson 4 · `@vectorize`: a solution
#
# The scalar function is the article's formula with `math.exp`; its constants are made with
# `type(x)(...)`, so the float32 loop computes in float32 (a bare `2` would pull it into float64).
# Two signatures give a float32 and a float64 loop; `target="parallel"` splits the loop over the
# CPU's cores. The cuda ufunc is built inside a function, on first use.

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()

import math

import numpy as np
from numba import vectorize

SQRT_2PI = math.sqrt(2.0 * math.pi)


# %%
def gaussian(x, x0, sigma):
    """The normal density with mean x0 and standard deviation sigma, at one point x."""
    t = type(x)  # constants of x's own type: a float32 loop stays float32
    return math.exp(-((x - x0) / sigma) ** 2 / t(2)) / t(SQRT_2PI) / sigma


SIGNATURES = ["float32(float32, float32, float32)", "float64(float64, float64, float64)"]

gaussian_cpu = vectorize(SIGNATURES, target="cpu")(gaussian)
gaussian_parallel = vectorize(SIGNATURES, target="parallel")(gaussian)


def gaussian_cuda():
    """The same ufunc on the GPU; built on first use (it needs a GPU driver)."""
    return vectorize(SIGNATURES, target="cuda")(gaussian)


# %%
x = np.linspace(-3, 3, 7, dtype=np.float32)
print("cpu     ", gaussian_cpu(x, np.float32(0), np.float32(1)))
print("parallel", gaussian_parallel(x, np.float32(0), np.float32(1)))
print("dtype of a float32 call:", gaussian_cpu(x, np.float32(0), np.float32(1)).dtype)

# %% [markdown]
# ## Broadcasting
# A 2-D `x` with scalar `x0` and `sigma`, then one centre per column.

# %%
x2d = np.linspace(-3, 3, 12).reshape(3, 4)
centres = np.array([-1.0, 0.0, 1.0, 2.0])
print(gaussian_cpu(x2d, 0.0, 1.0))
print(gaussian_cpu(x2d, centres, 1.0))

# %% [markdown]
# ## On a GPU
# Where there is one, the same scalar function becomes a GPU ufunc: NumPy arrays in, NumPy array
# out (Numba copies them over and back), or device arrays in and out to avoid the copies.

# %%
if MODE == "gpu":
    g = gaussian_cuda()
    print("cuda    ", g(x, np.float32(0), np.float32(1)))
