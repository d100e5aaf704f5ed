"""Helpers the lesson notebooks import (through ``numbabench.lessons``), each built on first use.

``fft_library()`` gives lesson 1 a GPU FFT library with CuPy's names — ``asarray`` (host to
device), ``asnumpy`` (device to host), ``fft2``, ``ifft2`` — so that the learner's pipeline is the
same code on a GPU and on the simulator:

* on a GPU it *is* CuPy (cuFFT underneath). Its arrays carry ``__cuda_array_interface__``, so a
  Numba kernel takes them as they are: same device memory, no copy.
* on the simulator, CuPy cannot run and the simulator's device arrays have no
  ``__cuda_array_interface__``. ``SimulatorFFT`` stands in: its arrays are the simulator's own
  device arrays, and its FFT runs ``numpy.fft`` on the host memory those arrays wrap (written in
  place, no new array). It is a stand-in for cuFFT, honest about being one (``name``).
"""
from __future__ import annotations

import pickle

import numpy as np


def unpickles(blob: bytes) -> None:
    """``pickle.loads(blob)``, dropping the result: run on a dask worker (``client.run(unpickles,
    blob)``), it raises the worker's own error when the worker cannot rebuild what ``blob`` holds.
    (A task whose function a worker cannot unpickle never finishes; this call fails at once.)"""
    pickle.loads(blob)


class CupyFFT:
    name = "CuPy (cupy.fft: cuFFT)"

    def __init__(self):
        import cupy

        self.cupy = cupy
        self.asarray = cupy.asarray
        self.asnumpy = cupy.asnumpy
        self.fft2 = cupy.fft.fft2
        self.ifft2 = cupy.fft.ifft2


class SimulatorFFT:
    name = "numpy.fft on the CUDA simulator's device arrays (standing in for cuFFT)"

    def __init__(self):
        from numba import cuda

        self.cuda = cuda

    def _is_device(self, a) -> bool:
        return hasattr(a, "copy_to_host")

    def asarray(self, a):
        """Host array -> device array (a device array is returned as it is, as CuPy does)."""
        if self._is_device(a):
            return a
        return self.cuda.to_device(np.ascontiguousarray(a))

    def asnumpy(self, a):
        return a.copy_to_host() if self._is_device(a) else np.asarray(a)

    def _transform(self, a, fn):
        if not self._is_device(a):
            raise TypeError(f"expected a device array (from asarray), got {type(a).__name__}")
        src = np.asarray(a)  # the simulator's device array wraps host memory: a zero-copy view
        dtype = np.complex128 if src.dtype in (np.float64, np.complex128) else np.complex64
        out = self.cuda.device_array(src.shape, dtype)
        np.asarray(out)[...] = fn(src)
        return out

    def fft2(self, a):
        return self._transform(a, np.fft.fft2)

    def ifft2(self, a):
        return self._transform(a, np.fft.ifft2)


def fft_library():
    """CuPy where numba.cuda runs on a GPU, the simulator's stand-in where it runs on the simulator."""
    from numba import config

    if config.ENABLE_CUDASIM:
        return SimulatorFFT()
    try:
        return CupyFFT()
    except ImportError:
        from ..errors import TargetUnavailable

        raise TargetUnavailable(
            "lesson 1 runs cuFFT through CuPy on a GPU, and CuPy is not installed: "
            "pip install 'numbabench[gpu]' (pyculib, the article's library, is dead)"
        ) from None
