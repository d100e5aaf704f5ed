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


class SimulatorEvent:
    """A CUDA event for the simulator that reads the host clock when it is recorded.

    The simulator's own events record nothing (``elapsed_time`` returns -1, ``cuda.event(timing=True)``
    is a TypeError and there is no ``cuda.event_elapsed_time``), so a benchmark written the events way
    could not run there. The simulator runs every launch to the end before it returns, so the host
    clock at ``record()`` is when the work queued before the event was done: these events measure
    what the simulator did, which, like every simulator figure, says nothing about a GPU.
    """

    def __init__(self, timing: bool = True, blocking: bool = False, interprocess: bool = False):
        self.stamp = None

    def record(self, stream=0):
        import time

        self.stamp = time.perf_counter()

    def wait(self, stream=0):
        pass

    def synchronize(self):
        pass

    def query(self) -> bool:
        return self.stamp is not None

    def elapsed_time(self, end: "SimulatorEvent") -> float:
        """Milliseconds from this event to ``end``, as CUDA gives them."""
        if self.stamp is None or getattr(end, "stamp", None) is None:
            raise RuntimeError("elapsed_time between events that were never recorded: call .record() on both")
        return (end.stamp - self.stamp) * 1e3


def give_simulator_events_a_clock() -> None:
    """Put ``SimulatorEvent`` in the simulator's ``numba.cuda`` (``event``, ``event_elapsed_time``)."""
    from numba import cuda, config

    if not config.ENABLE_CUDASIM or getattr(cuda, "event", None) is SimulatorEvent:
        return
    cuda.event = SimulatorEvent
    cuda.event_elapsed_time = lambda start, end: start.elapsed_time(end)
