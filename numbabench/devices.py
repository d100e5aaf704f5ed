"""Where a target's data lives, and how it gets there and back.

A ``Memory`` moves arrays to the target (``to_device``), allocates output buffers there
(``empty``), brings results home (``to_host``) and waits for queued GPU work (``synchronize``).
Kernel launches are asynchronous: every GPU time in numbabench is read after ``synchronize()``.
All GPU modules are imported on first use, so building a ``Memory`` for a CPU target never touches
numba.cuda or CuPy.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .targets import get_target, require_in_process


class HostMemory:
    """numpy / cpu / parallel: the data stays where it is."""

    name = "host"

    def to_device(self, a):
        return a

    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def to_host(self, a):
        return np.asarray(a)

    def synchronize(self):
        pass


class NumbaMemory:
    """cuda / cudasim: numba.cuda device arrays (the simulator's are host arrays in disguise)."""

    name = "numba.cuda"

    def __init__(self):
        from numba import cuda

        self.cuda = cuda

    def to_device(self, a):
        return self.cuda.to_device(np.ascontiguousarray(a))

    def empty(self, shape, dtype):
        return self.cuda.device_array(shape, dtype)

    def to_host(self, a):
        return a.copy_to_host()

    def synchronize(self):
        self.cuda.synchronize()


class CupyMemory:
    """cupy: CuPy arrays on the current device, on its current stream."""

    name = "cupy"

    def __init__(self):
        import cupy

        self.cp = cupy

    def to_device(self, a):
        return self.cp.asarray(a)

    def empty(self, shape, dtype):
        return self.cp.empty(shape, dtype)

    def to_host(self, a):
        return self.cp.asnumpy(a)

    def synchronize(self):
        self.cp.cuda.get_current_stream().synchronize()


@lru_cache(maxsize=None)
def memory(target: str):
    """The Memory of ``target``; raises TargetUnavailable if this process cannot run it."""
    t = get_target(target)
    if not t.on_device:
        return HostMemory()
    require_in_process(target)
    return CupyMemory() if target == "cupy" else NumbaMemory()


def launch_config(n: int, threads: int = 256) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride kernel over ``n`` elements in this process.

    Under the simulator every CUDA thread is a Python thread, so the grid stays tiny (4 x 32):
    the grid-stride loop covers any ``n``. On a GPU, enough blocks to fill every SM a few times
    over, and never zero (a grid-stride kernel is correct for ``n == 0`` too).
    """
    from .targets import simulator_active

    if simulator_active():
        return 4, 32
    from numba import cuda

    sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    blocks = max(1, min(math.ceil(n / threads), sms * 32))
    return blocks, threads
