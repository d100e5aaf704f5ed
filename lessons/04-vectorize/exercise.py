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
# # Lesson 4 · `@vectorize`: one scalar function, every target
#
# *Article item 4: Numba makes array processing easy with `@vectorize`.*
#
# A full CUDA kernel means choosing a thread layout and a launch configuration. For an
# element-by-element function there is a shortcut: write what happens to *one* element, a plain
# scalar function, and `numba.vectorize` compiles it into a NumPy **ufunc** — for one CPU thread
# (`target="cpu"`), for all CPU cores (`target="parallel"`) or for the GPU (`target="cuda"`), where
# it writes and launches the kernel for you.
#
# * **Signatures.** Unlike `@jit`, `@vectorize` with a target wants the list of loops to build,
#   as `"return_type(arg_types)"` strings. A call picks the loop that fits its inputs; float32
#   data with only a float64 loop is converted to float64 and comes back as float64: twice the
#   memory traffic, and on a GPU much slower arithmetic.
# * **Broadcasting.** A ufunc broadcasts like any NumPy ufunc: `gaussian(x2d, 0.0, 1.0)` with
#   scalars, or `gaussian(x2d, centres, 1.0)` with one centre per column. No loop to write.
# * **float32 vs float64.** Numba types a literal like `2` as a 64-bit number, so `x / 2` in a
#   float32 loop is computed in float64 and rounded back: right, but slower. `type(x)(2)` is a
#   constant of `x`'s own type.
# * **The simulator cannot build a `target="cuda"` ufunc** (numba-cuda 0.30: it fails with
#   `'FakeOverload' object has no attribute 'signature'`), and building one where there is no GPU
#   driver raises `CudaSupportError`: build it inside a function, on first use. Here the check
#   compiles your scalar function for a real GPU instead (PTX), and runs the cuda ufunc only on a GPU.
#
# The article's example is the normal density
# `gaussian(x, x0, sigma) = exp(-((x - x0) / sigma)**2 / 2) / sqrt(2 pi) / sigma`.
#
# Every spot to fill in says `# TODO`.
# Grade your copy with `.venv/bin/numbabench lessons check 4` (typed in the clone's folder; plain
# `numbabench` once the venv is active).

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
    return 0.0  # TODO: the formula above, with math.exp (math, not numpy: it must compile for a GPU too)


SIGNATURES = ["float64(float64, float64, float64)"]  # TODO: a float32 loop too, so float32 data stays float32

gaussian_cpu = vectorize(SIGNATURES, target="cpu")(gaussian)
gaussian_parallel = vectorize(SIGNATURES, target="cpu")(gaussian)  # TODO: the loop split over all CPU cores


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
