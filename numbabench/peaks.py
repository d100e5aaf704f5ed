"""The machine's memory-bandwidth peak, measured in the same run as the techniques.

Every compute row's ``roofline_fraction`` is its achieved GB/s over the peak of the memory it ran
from. Bytes are counted the STREAM way (what the code reads and writes, no write-allocate
traffic), the same convention as every technique's ``bytes_moved``.

* CPU: the better of STREAM's copy ``a = b`` and triad ``a = b + s * c`` over arrays far larger
  than any cache, with ``parallel=True`` so they use every core Numba may use. Copy has the access
  pattern of most element-wise kernels (one stream in, one out); triad has three streams.
* GPU: a device-to-device copy (read + write), the bandwidth a streaming kernel can hope for.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from . import timing


@numba.njit(parallel=True)
def _triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


@numba.njit(parallel=True)
def _copy(a, b):
    for i in prange(a.shape[0]):
        a[i] = b[i]


def cpu_stream_gbps(n: int = 1 << 24, min_time: float = 0.3) -> dict:
    """Best-of-samples STREAM copy and triad bandwidth (GB/s) over 128 MiB arrays, and their max."""
    b = np.full(n, 1.0)
    c = np.full(n, 2.0)
    a = np.empty(n)
    _copy(a, b)  # compile, and fault the pages of ``a`` in
    _triad(a, b, c, 3.0)
    copy = timing.steady(lambda: _copy(a, b), min_time=min_time, min_samples=5)
    triad = timing.steady(lambda: _triad(a, b, c, 3.0), min_time=min_time, min_samples=5)
    res = {"cpu_copy_gbps": 2 * n * 8 / copy.min_s / 1e9, "cpu_triad_gbps": 3 * n * 8 / triad.min_s / 1e9}
    res["cpu_gbps"] = max(res.values())
    return res


def gpu_copy_gbps(nbytes: int = 1 << 28, min_time: float = 0.5) -> float:
    """Device-to-device copy bandwidth on the current GPU (GB/s, read + write counted)."""
    from numba import cuda

    n = nbytes // 8
    src = cuda.to_device(np.ones(n))
    dst = cuda.device_array(n)
    dst.copy_to_device(src)
    t = timing.steady(lambda: dst.copy_to_device(src), cuda.synchronize, min_time=min_time, min_samples=5)
    return 2 * n * 8 / t.min_s / 1e9
