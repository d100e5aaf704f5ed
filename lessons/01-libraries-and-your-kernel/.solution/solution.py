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
# # Lesson 1 · A library's FFT and your own kernel: a solution
#
# `apply_mask` writes only where its thread is inside the frame on both axes, so any launch that
# covers the frame is safe. `fft_filter` hands the library's spectrum to the kernel as it is: on a
# GPU, Numba takes the CuPy array by DLPack (or its `__cuda_array_interface__`) and the kernel
# works in place on cuFFT's output. Three transfers in all: the frame and the mask in, the result out.

# %%
from numbabench.lessons import fft_library, gpu_or_simulator

MODE = gpu_or_simulator()

import math

import numpy as np
from numba import cuda

lib = fft_library()
print("FFT library:", lib.name)


# %%
@cuda.jit
def apply_mask(frame, mask):
    """In place: frame[i, j] *= mask[i, j]."""
    i, j = cuda.grid(2)
    if i < frame.shape[0] and j < frame.shape[1]:
        frame[i, j] *= mask[i, j]


THREADS = (8, 8)


def launch_shape(shape):
    """(blocks, threads) that cover a frame of this shape."""
    return (math.ceil(shape[0] / THREADS[0]), math.ceil(shape[1] / THREADS[1])), THREADS


def fft_filter(frame, mask, lib=lib):
    """Low-pass filter a complex64 frame: FFT, multiply by the float32 mask, inverse FFT."""
    spec = lib.fft2(lib.asarray(frame))  # the library's FFT: the spectrum is in GPU memory
    blocks, threads = launch_shape(spec.shape)
    apply_mask[blocks, threads](spec, lib.asarray(mask))  # in place, on the library's memory
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
# On a GPU, look at what a CuPy array hands to Numba, and check that the kernel's view of it is the
# very same memory.

# %%
if MODE == "gpu":
    spec = lib.fft2(lib.asarray(frame))
    print(spec.__cuda_array_interface__)
    print("same memory:", cuda.as_cuda_array(spec).device_ctypes_pointer.value == spec.data.ptr)
else:
    print("the simulator's device arrays have no __cuda_array_interface__:",
          not hasattr(cuda.to_device(np.zeros(1)), "__cuda_array_interface__"))
