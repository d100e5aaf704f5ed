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


def sm_sized_config(n: int, threads: int = 256) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride kernel: exactly one wave of resident blocks on this GPU.

    Blocks = SMs x the blocks of ``threads`` one SM holds at once (its thread limit), never more
    blocks than there are ``threads``-sized chunks of work, never zero. Every thread loops over its
    share, so no block waits for a free SM and none is launched only to exit. Simulator: 4 x 32.
    """
    from .targets import simulator_active

    if simulator_active():
        return 4, 32
    from numba import cuda

    dev = cuda.get_current_device()
    per_sm = max(1, dev.MAX_THREADS_PER_MULTIPROCESSOR // threads)
    blocks = max(1, min(math.ceil(n / threads), dev.MULTIPROCESSOR_COUNT * per_sm))
    return blocks, threads


#: CUDA's compute modes (CUcomputemode): who may hold a context on the GPU
COMPUTE_MODES = {0: "default (any process, many contexts)", 1: "exclusive thread",
                 2: "prohibited (no process may use it)", 3: "exclusive process (one process at a time)"}


def cuda_stack() -> dict:
    """What numba.cuda is in this process, and the CUDA pieces it uses; no GPU needed.

    ``implementation``: 'numba-cuda' (NVIDIA's package, which takes over ``numba.cuda`` through a
    ``.pth`` redirect) or 'built-in' (numba's own deprecated target: the redirect did not apply).
    ``nvrtc``: the NVRTC version (what numba-cuda 0.30 reports as its 'runtime' version: it no
    longer binds the CUDA runtime). ``compute_mode``: only when a GPU is usable here.
    """
    import numba.cuda as nc

    impl = getattr(nc, "implementation", None)
    out = {"implementation": {"NVIDIA": "numba-cuda", "Built-in": "built-in"}.get(impl, str(impl)),
           "module": getattr(nc, "__file__", None), "nvrtc": None, "compute_mode": None}
    try:
        out["nvrtc"] = ".".join(map(str, nc.runtime.get_version()))
    except Exception as exc:
        out["nvrtc_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    try:
        if nc.is_available():
            mode = nc.get_current_device().COMPUTE_MODE
            out["compute_mode"] = COMPUTE_MODES.get(mode, f"mode {mode}")
    except Exception as exc:
        out["compute_mode_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return out


if __name__ == "__main__":  # python -m numbabench.devices: the cuda_stack of a fresh process, as JSON
    import json

    print(json.dumps(cuda_stack()))
