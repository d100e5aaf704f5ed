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
# # Lesson 1 · A library's FFT and your own kernel, on the same memory
#
# *Article item 1: Numba is 100% open source — and works with the CUDA libraries.*
#
# The article filters a 720x1280 video frame in frequency space: a forward FFT from a CUDA
# library, a hand-written `apply_mask` kernel that multiplies the spectrum by a mask, an inverse
# FFT — with the data staying on the GPU between the steps. Its library was **pyculib**, which is
# dead: archived, no release since 2018, built for CUDA toolkits that no longer exist. Today the
# FFT comes from **CuPy** (`cupy.fft`, cuFFT underneath) or **nvmath-python** (NVIDIA's bindings
# to cuFFT, cuBLAS and friends).
#
# What makes the mix work is that a GPU array from one library can be handed to another as it is:
# its device pointer, shape, strides and type travel, the data stay put. Two protocols say how:
# the **CUDA Array Interface** (a `__cuda_array_interface__` dict, what the article's Numba read)
# and **DLPack** (`__dlpack__`), which numba-cuda 0.30 tries first for a CuPy array. Either way a
# Numba kernel takes the array as it is. No copy, no trip through the host: the kernel works on the
# library's memory. The mistake to avoid is the round trip — device to host and back — between the library
# and your kernel; at 720x1280 complex64 that is 7 MB each way, for nothing.
#
# `fft_library()` gives you a library with CuPy's names — `asarray` (host to device), `asnumpy`
# (device to host), `fft2`, `ifft2`. On a GPU it is CuPy itself. On the simulator CuPy cannot run
# and the simulator's arrays carry neither protocol, so a stand-in plays its part: its
# arrays are the simulator's device arrays and its FFT is `numpy.fft` on their memory. Your code is
# the same in both places.
#
# Your tasks (each spot says `# TODO`):
# 1. `apply_mask`, as the article writes it, has no bounds check: it works only when the launch
#    tiles the frame exactly. Make it safe for any frame.
# 2. `fft_filter` copies the spectrum to the host and back between the FFT and the kernel. Hand the
#    library's array to the kernel as it is.
#
# Grade your copy with `.venv/bin/numbabench lessons check 1` (typed in the clone's folder; plain
# `numbabench` once the venv is active).

# %%
from numbabench.lessons import fft_library, gpu_or_simulator

MODE = gpu_or_simulator()

import math

import numpy as np
from numba import cuda

lib = fft_library()
print("FFT library:", lib.name)


# %%
# TODO: the article's kernel: a launch that does not tile the frame exactly indexes past its edges
@cuda.jit
def apply_mask(frame, mask):
    """In place: frame[i, j] *= mask[i, j]."""
    i, j = cuda.grid(2)
    frame[i, j] *= mask[i, j]


THREADS = (8, 8)


def launch_shape(shape):
    """(blocks, threads) that cover a frame of this shape."""
    return (math.ceil(shape[0] / THREADS[0]), math.ceil(shape[1] / THREADS[1])), THREADS


def fft_filter(frame, mask, lib=lib):
    """Low-pass filter a complex64 frame: FFT, multiply by the float32 mask, inverse FFT."""
    spec = lib.fft2(lib.asarray(frame))  # the library's FFT: the spectrum is in GPU memory
    blocks, threads = launch_shape(spec.shape)
    # TODO: this round trip copies the spectrum to the host and back: give the kernel `spec` itself
    host_spec = lib.asnumpy(spec)
    d_spec = cuda.to_device(host_spec)
    apply_mask[blocks, threads](d_spec, lib.asarray(mask))
    spec = lib.asarray(d_spec.copy_to_host())
    return lib.asnumpy(lib.ifft2(spec))


# %% [markdown]
# ## Try it
# A frame with a smooth pattern and noise, and a mask that keeps the low frequencies (in the FFT's
# layout the lowest frequencies sit in the corners). The filtered frame keeps the pattern.

# %%
rows, cols = (32, 64) if MODE == "simulator" else (720, 1280)  # the article's frame on a GPU
rng = np.random.default_rng(0)
y, x = np.mgrid[0:rows, 0:cols]
pattern = np.cos(2 * np.pi * 3 * y / rows) * np.cos(2 * np.pi * 5 * x / cols)
frame = (pattern + 0.5 * rng.standard_normal((rows, cols))).astype(np.complex64)
fy, fx = np.fft.fftfreq(rows)[:, None], np.fft.fftfreq(cols)[None, :]
mask = (np.hypot(fy, fx) <= 0.125).astype(np.float32)

filtered = fft_filter(frame, mask)
want = np.fft.ifft2(np.fft.fft2(frame) * mask)
print("max error vs NumPy:", float(np.abs(filtered - want).max()))
print("noise left: before", float(np.abs(frame - pattern).std()), "after", float(np.abs(filtered - pattern).std()))

# %% [markdown]
# ## `__cuda_array_interface__`
# On a GPU, look at what a CuPy array describes of itself, and check that Numba's view of it is the
# very same memory.

# %%
if MODE == "gpu":
    spec = lib.fft2(lib.asarray(frame))
    print(spec.__cuda_array_interface__)
    print("same memory:", cuda.as_cuda_array(spec).device_ctypes_pointer.value == spec.data.ptr)
else:
    print("the simulator's device arrays have no __cuda_array_interface__:",
          not hasattr(cuda.to_device(np.zeros(1)), "__cuda_array_interface__"))
