"""The machine's memory-bandwidth peak, measured in the same run as the techniques.

Every compute row's ``roofline_fraction`` is its achieved GB/s over the peak of the memory it ran
from. Bytes are counted the STREAM way (what the code reads and writes, no write-allocate
traffic), the same convention as every technique's ``bytes_moved``.

* CPU: a STREAM triad ``a = b + s * c`` over arrays far larger than any cache, with
  ``parallel=True`` so it uses every core Numba may use.
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


def cpu_triad_gbps(n: int = 1 << 24, min_time: float = 0.5) -> float:
    """Best-of-samples triad bandwidth (GB/s); the default moves 3 x 128 MiB per call."""
    b = np.full(n, 1.0)
    c = np.full(n, 2.0)
    a = np.empty(n)
    _triad(a, b, c, 3.0)  # compile, and fault the pages of ``a`` in
    t = timing.steady(lambda: _triad(a, b, c, 3.0), min_time=min_time, min_samples=5)
    return 3 * n * 8 / t.min_s / 1e9


def gpu_copy_gbps(nbytes: int = 1 << 28, min_time: float = 0.5) -> float:
    """Device-to-device copy bandwidth on the current GPU (GB/s, read + write counted)."""
    from numba import cuda

    n = nbytes // 8
    src = cuda.to_device(np.ones(n))
    dst = cuda.device_array(n)
    dst.copy_to_device(src)
    t = timing.steady(lambda: dst.copy_to_device(src), cuda.synchronize, min_time=min_time, min_samples=5)
    return 2 * n * 8 / t.min_s / 1e9
