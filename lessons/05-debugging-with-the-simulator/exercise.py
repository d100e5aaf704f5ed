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
# # Lesson 5 · Debugging with the simulator
#
# *Article item 5: Numba comes with a CUDA simulator.*
#
# With `NUMBA_ENABLE_CUDASIM=1` set before numba is imported, every kernel runs in the Python
# interpreter: each CUDA thread is a Python thread, and every array access is an ordinary NumPy
# access. So, under the simulator:
#
# * an index past the end of an array raises `IndexError`, and the message says which thread:
#   `tid=[x, y, z]` is `cuda.threadIdx`, `ctaid=[x, y, z]` is `cuda.blockIdx` — on a GPU the same
#   bug writes into someone else's memory and nothing is reported;
# * `print(...)` works inside a kernel (on a GPU too, for constant strings and numbers) — print from
#   one thread only, or you get one line per thread: `if cuda.grid(1) == 5: print(i, x[i])`;
# * `import pdb; pdb.set_trace()` works inside a kernel: you step through the thread that hits it
#   (guard it the same way, or every thread stops);
# * what it cannot show you: the simulator runs one block at a time, and its threads take turns
#   under Python's lock, so a **race** between threads that a GPU would run at the same moment
#   almost never shows up. Read the code, or the compiled PTX, for those.
#
# On a real GPU, the tool is **compute-sanitizer** (it replaced the article's `cuda-memcheck`,
# which CUDA 12 removed): `compute-sanitizer --tool memcheck python my_script.py` reports
# out-of-bounds and misaligned accesses, `--tool racecheck` races on shared memory. Compile the
# kernel with `@cuda.jit(debug=True, opt=False)` (or `lineinfo=True` on a GPU) and it names the line of
# your Python source. The `scale_rows` below is a ready-made case: on a GPU, before you fix it, run
# `NUMBA_ENABLE_CUDASIM=0 compute-sanitizer --tool memcheck .venv/bin/python my-lessons/05-debugging-with-the-simulator.py`
# from the repository's folder and read the `Invalid __global__ write` it reports (the README says
# more).
#
# Below are three kernels, each with one bug. Find and fix them; every kernel to fix says `# TODO`.
# Grade your copy with `.venv/bin/numbabench lessons check 5` (typed in the clone's folder; plain
# `numbabench` once the venv is active).

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()

import math

import numpy as np
from numba import cuda


# %% [markdown]
# ## 1. `scale_rows`: an out-of-bounds write
# The launch below has more threads than the array has elements, in both directions. Run the cell:
# the simulator stops at the first thread that indexes past the end and says which one.

# %%
# TODO: this kernel writes out of bounds: find the thread the error names, and why its test let it in.
@cuda.jit
def scale_rows(a, s, out):
    """out[i, j] = a[i, j] * s[i] for every row i and column j."""
    i, j = cuda.grid(2)
    if i < out.shape[0] or j < out.shape[1]:
        out[i, j] = a[i, j] * s[i]


def run_scale_rows(a, s, threads=(4, 4)):
    blocks = (math.ceil(a.shape[0] / threads[0]), math.ceil(a.shape[1] / threads[1]))
    out = cuda.to_device(np.zeros_like(a))
    scale_rows[blocks, threads](cuda.to_device(a), cuda.to_device(s), out)
    return out.copy_to_host()


a = np.arange(35, dtype=np.float64).reshape(5, 7)
s = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
try:
    print(run_scale_rows(a, s))
except IndexError as exc:
    print("IndexError:", exc)


# %% [markdown]
# ## 2. `centered_diff`: a wrong sign
# `out[i] = (x[i + 1] - x[i - 1]) / 2` inside, `0` at both ends: the slope of `x` at `i`. For
# `x = i**2` the slope is `2 * i`. Print from one thread to see what the kernel computes, e.g.
# `if i == 3: print("i", i, "left", x[i - 1], "right", x[i + 1], "out", out[i])`.

# %%
# TODO: this kernel gets the slope wrong: compare a printed value with the one you expect.
@cuda.jit(debug=True, opt=False)
def centered_diff(x, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        if 0 < i < x.shape[0] - 1:
            out[i] = (x[i - 1] - x[i + 1]) / 2
        else:
            out[i] = 0.0


def run_centered_diff(x, blocks=2, threads=8):
    out = cuda.to_device(np.zeros_like(x))
    centered_diff[blocks, threads](cuda.to_device(x), out)
    return out.copy_to_host()


x = np.arange(10, dtype=np.float64) ** 2
print("slope of i**2:", run_centered_diff(x))


# %% [markdown]
# ## 3. `histogram`: a race the simulator hides
# `bins[k]` counts the values of `x` equal to `k`. Under the simulator this gives the right counts.
# On a GPU, thousands of threads run `bins[k] += 1` at the same time: that is a read, an add and a
# write, and two threads that read the same old count both write old + 1, so counts get lost —
# silently. `cuda.atomic.add(array, index, value)` does the three steps as one.

# %%
# TODO: this kernel has a race that a GPU would run silently wrong. Make the update atomic.
@cuda.jit
def histogram(x, bins):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        bins[x[i]] += 1


def run_histogram(x, n_bins, blocks=4, threads=32):
    bins = cuda.to_device(np.zeros(n_bins, dtype=np.int32))
    histogram[blocks, threads](cuda.to_device(x), bins)
    return bins.copy_to_host()


x = np.random.default_rng(0).integers(0, 8, 1000).astype(np.int32)
print("histogram:", run_histogram(x, 8), " numpy:", np.bincount(x, minlength=8))
