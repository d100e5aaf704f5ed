"""The machine's memory-bandwidth peak, measured in the same run as the techniques.

Every compute row's ``roofline_fraction`` is its achieved GB/s over the peak of the memory it ran
from. Bytes are counted the STREAM way (what the code reads and writes, no write-allocate
traffic), the same convention as every technique's ``bytes_moved``.

* CPU: the better of STREAM's copy ``a = b`` and triad ``a = b + s * c`` over arrays far larger
  than any cache, with ``parallel=True`` so they use every core Numba may use. Copy has the access
  pattern of most element-wise kernels (one stream in, one out); triad has three streams.
* GPU: a device-to-device copy (read + write), the bandwidth a streaming kernel can hope for.

A working set that fits in a cache runs from that cache, not from DRAM, and held against the DRAM
peak its fraction exceeds 1. So each cache level gets a peak of its own, measured the same way for
every level: the read bandwidth of a sum over a working set that fits in it, repeated inside one
call (a call too short to time would measure the thread pool's wake-up). ``cache_levels`` reads the
sizes (Linux ``/sys``: L2 per core times the threads Numba uses, L3 per distinct slice; the GPU's
L2 from its attributes), ``level_for(nbytes, peaks, device)`` says which level a working set of
``nbytes`` lives in and which peak to hold it against.
"""
from __future__ import annotations

import math
from pathlib import Path

import numba
import numpy as np
from numba import cuda, prange

from . import timing
from .results import Level, level_for, levels  # noqa: F401  (the levels a peak belongs to)


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


# -- cache levels -----------------------------------------------------------------------------------

def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def cpu_cache_bytes(threads: int | None = None, root: Path = Path("/sys/devices/system/cpu")) -> dict:
    """{"L2": bytes, "L3": bytes} the ``threads`` first usable CPUs can hold (a level the system does
    not describe is left out). Private caches add up per CPU; a shared one counts once per slice."""
    import os

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    cpus = cpus[: threads or numba.get_num_threads()]
    seen: dict[int, dict[str, int]] = {2: {}, 3: {}}
    for cpu in cpus:
        for index in sorted((root / f"cpu{cpu}" / "cache").glob("index*")):
            try:
                level = int((index / "level").read_text())
                kind = (index / "type").read_text().strip()
                if level not in seen or kind == "Instruction":
                    continue
                seen[level][(index / "shared_cpu_list").read_text().strip()] = _size((index / "size").read_text())
            except (OSError, ValueError):
                continue
    return {f"L{lv}": sum(slices.values()) for lv, slices in seen.items() if slices}


@numba.njit(fastmath=True)
def _sum_passes(seg, reps):
    # fastmath lets the sum vectorize, so the adds never bound the reads
    acc = 0.0
    for _ in range(reps):
        for i in range(seg.shape[0]):
            acc += seg[i]
    return acc


@numba.njit(parallel=True)
def _sum_reps(x, reps, chunks):
    # Each chunk is summed ``reps`` times by one thread: after the first pass it is in that
    # thread's cache.
    n = x.shape[0]
    part = np.zeros(chunks)
    for c in prange(chunks):
        part[c] = _sum_passes(x[c * n // chunks:(c + 1) * n // chunks], reps)
    return part.sum()


def read_gbps(nbytes: int, min_time: float = 0.2, per_call: int = 64 << 20) -> float:
    """Best read bandwidth (GB/s) of a parallel sum over a working set of ``nbytes`` (float64)."""
    n = max(1024, nbytes // 8)
    x = np.full(n, 1.0)
    reps = max(1, math.ceil(per_call / (n * 8)))
    chunks = numba.get_num_threads()
    _sum_reps(x, reps, chunks)  # compile and warm the caches
    t = timing.steady(lambda: _sum_reps(x, reps, chunks), min_time=min_time, min_samples=5)
    return reps * n * 8 / t.min_s / 1e9


def cpu_cache_gbps(min_time: float = 0.2) -> dict:
    """Read peaks of the CPU's L2 and L3 (half of each level's capacity), with the capacities.

    Keys: ``cpu_l2_gbps``, ``cpu_l2_bytes``, ``cpu_l3_gbps``, ``cpu_l3_bytes`` (a level the system
    does not describe, or an L3 no larger than the L2s together, is left out).
    """
    sizes = cpu_cache_bytes()
    out: dict = {}
    below = 0
    for name in ("L2", "L3"):
        cap = sizes.get(name)
        if not cap or cap <= 2 * below:  # too close to the level inside it to be told apart
            continue
        key = name.lower()
        out[f"cpu_{key}_bytes"] = cap
        out[f"cpu_{key}_gbps"] = read_gbps(cap // 2, min_time=min_time)
        below = cap
    return out


def gpu_l2_gbps(min_time: float = 0.3) -> dict:
    """Read peak of the GPU's L2 (a working set of half of it, summed many times per launch, timed
    by CUDA events) with its capacity: ``gpu_l2_gbps``, ``gpu_l2_bytes``. Real GPU only."""
    dev = cuda.get_current_device()
    cap = int(dev.L2_CACHE_SIZE)
    n = cap // 2 // 4
    threads = 256
    blocks = dev.MULTIPROCESSOR_COUNT * max(1, dev.MAX_THREADS_PER_MULTIPROCESSOR // threads)
    x = cuda.to_device(np.ones(n, np.float32))
    out = cuda.device_array(blocks * threads, np.float32)
    reps = max(1, math.ceil((2 << 30) / (n * 4)))  # ~2 GB read per launch: milliseconds
    kernel = cuda.jit(gpu_l2_kernel)
    kernel[blocks, threads](x, reps, out)
    cuda.synchronize()
    t = timing.kernel_time(lambda: kernel[blocks, threads](x, reps, out), cuda.synchronize,
                           min_time=min_time)
    return {"gpu_l2_bytes": cap, "gpu_l2_gbps": reps * n * 4 / t.min_s / 1e9}


def gpu_l2_kernel(x, reps, out):
    """Each thread sums its grid-stride share of ``x`` ``reps`` times (the sum keeps the reads)."""
    start, stride = cuda.grid(1), cuda.gridsize(1)
    acc = numba.float32(0.0)
    for _ in range(reps):
        for i in range(start, x.shape[0], stride):
            acc += x[i]
    out[start] = acc


