"""dataframe — article item 7: Numba kernels on the columns of a DataFrame, on the CPU and the GPU.

One query on a pandas DataFrame with columns ``a``, ``b`` (float) and ``k`` (int keys in
``[0, n_keys)``): ``c = a * b + sin(a)``, ``mask = c > threshold``, and per key the float64 sum and
the count of the kept ``c``. Every target returns host arrays ``c``, ``mask``, ``sums``, ``counts``.

Targets: ``numpy`` (pandas, the reference), ``cpu`` (one fused ``@njit`` pass over the frame's own
column memory), ``parallel`` (``prange`` chunks, a partial-sums table per chunk), ``cuda`` (columns in
cuDF, CuPy or numba.cuda, handed over without a copy, CuPy's by DLPack; shared-memory atomics),
``cudasim``. Tolerances, edge rows and the cuDF/Arrow findings: docs/techniques/dataframe.md.

Roofline (per row): read ``a``, ``b`` (itemsize each) and ``k`` (4 bytes), write ``c`` (itemsize) and
``mask`` (1 byte), plus 16 bytes per key; 5 flops (sine counted as one).

This module is longer than most (about 600 lines) because one query has seven ways here — pandas,
plain NumPy, the article's fused loop, the tuned blocked loop, its prange form, and the CUDA
kernels with their three column stores — and they are kept side by side so they can be read
against each other.
"""
from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from functools import lru_cache

import numba
import numpy as np
from numba import cuda, prange
from numba.core import types

from .. import vecmath
from ..devices import launch_config, memory
from ..errors import InputError
from ..registry import ARTICLE, TUNED, Kernel, Technique, register
from ..targets import get_target

#: the most keys whose partial sums the CUDA kernel keeps in shared memory (16 bytes each per block)
SHARED_KEYS = 256
#: the most keys accepted at all (the parallel target keeps a chunks x keys table of partials)
MAX_KEYS = 1 << 20
#: rows per chunk below which the parallel target does not split further
MIN_CHUNK_ROWS = 16_384
VALUE_DTYPES = ("float32", "float64")
KEY_DTYPES = ("int32", "int64")
#: (rtol, atol) by value dtype, for ``c`` and the group sums (docs/techniques/dataframe.md)
TOLERANCE = {"float32": (1e-5, 1e-5), "float64": (1e-10, 1e-10)}
FIELDS = ("c", "mask", "sums", "counts")


# -- the column math, written once ------------------------------------------------------------
@numba.jit(nopython=True)
def colmath(a, b):
    """The new column's value for one row. Shared by the CPU loops and the CUDA kernels."""
    return a * b + math.sin(a)


def colmath_columns(a, b):
    """The same column math on whole columns (pandas Series or NumPy arrays)."""
    return a * b + np.sin(a)


# -- numpy: the pandas way (also the reference) -----------------------------------------------
def frame_pandas(frame, threshold, n_keys: int) -> dict:
    a, b, k = frame["a"], frame["b"], frame["k"]
    c = colmath_columns(a, b)
    mask = c > threshold
    kept = c[mask].astype("float64")  # float64 accumulation, as on every other target
    groups = kept.groupby(k[mask]).agg(["sum", "size"]).reindex(range(n_keys), fill_value=0)
    return {
        "c": c.to_numpy(),
        "mask": mask.to_numpy(),
        "sums": groups["sum"].to_numpy(np.float64),
        "counts": groups["size"].to_numpy(np.int64),
    }


# -- cpu and parallel: njit kernels over the frame's own column memory ------------------------
@numba.njit
def frame_loop(a, b, k, threshold, c, mask, sums, counts):
    sums[:] = 0.0
    counts[:] = 0
    for i in range(a.shape[0]):
        x = colmath(a[i], b[i])
        c[i] = x
        m = x > threshold
        mask[i] = m
        j = k[i]
        # branch-free: about half of the rows pass, in random order, so a branch would mispredict
        sums[j] += x if m else 0.0
        counts[j] += m


@numba.njit(parallel=True)
def frame_prange(a, b, k, threshold, c, mask, sums, counts):
    n = a.shape[0]
    n_keys = sums.shape[0]
    chunks = max(1, min(numba.get_num_threads(), n // MIN_CHUNK_ROWS))
    width = n_keys + 8  # padding: neighbouring chunks' partials do not share a cache line
    part_sums = np.zeros((chunks, width), np.float64)
    part_counts = np.zeros((chunks, width), np.int64)
    for ch in prange(chunks):
        lo = ch * n // chunks
        hi = (ch + 1) * n // chunks
        for i in range(lo, hi):
            x = colmath(a[i], b[i])
            c[i] = x
            m = x > threshold
            mask[i] = m
            j = k[i]
            part_sums[ch, j] += x if m else 0.0  # this chunk's own row: no other thread writes it
            part_counts[ch, j] += m
    for j in range(n_keys):
        s = 0.0
        t = 0
        for ch in range(chunks):
            s += part_sums[ch, j]
            t += part_counts[ch, j]
        sums[j] = s
        counts[j] = t


def _host_columns(frame):
    # Zero-copy views of the frame's column memory (pandas returns read-only views under CoW).
    return frame["a"].to_numpy(), frame["b"].to_numpy(), frame["k"].to_numpy()


def _run_host(kernel):
    def run(args):
        a, b, k = _host_columns(args["frame"])
        out = {f: args[f] for f in FIELDS}
        kernel(a, b, k, args["threshold"], out["c"], out["mask"], out["sums"], out["counts"])
        return out

    return run


# -- tuned host variants ----------------------------------------------------------------------
#: rows per block of the tuned loops: a block of every column stays in L1/L2
BLOCK = 4096


def _tuned_buffers(target, inputs) -> dict:
    """Scratch space of the tuned host variants, allocated once by ``prepare``, outside the timing."""
    n, n_keys = len(inputs["frame"]), inputs["n_keys"]
    if target == "numpy":
        return {"scratch": np.empty(n, inputs["a"].dtype), "keys": np.empty(n, np.intp)}
    width = n_keys + 8  # padded rows: two threads' partials never share a cache line
    threads = numba.get_num_threads()
    return {"part_sums": np.empty((threads, width), np.float64),
            "part_counts": np.empty((threads, width), np.int64)}


def frame_numpy(a, b, k, threshold, n_keys, c, mask, scratch, keys):
    """Plain NumPy as an expert writes it: ufuncs into preallocated columns, np.bincount to group.

    The group-by is one pass with no selection (a boolean ``c[mask]`` over a random half of the
    rows costs more than everything else here): the key of a kept row is ``k + n_keys``, of a
    dropped one ``k``, and the upper half of ``np.bincount`` holds the kept rows' sums and counts.
    ``np.bincount`` casts the weights to float64 internally (NumPy's own allocation).
    """
    np.sin(a, out=c)
    np.multiply(a, b, out=scratch)
    np.add(scratch, c, out=c)  # a * b + sin(a), rounded as the pandas reference rounds it
    np.greater(c, threshold, out=mask)
    np.multiply(mask, n_keys, out=keys)
    np.add(keys, k, out=keys)
    sums = np.bincount(keys, weights=c, minlength=2 * n_keys)[n_keys:]
    counts = np.bincount(keys, minlength=2 * n_keys)[n_keys:]
    return {"c": c, "mask": mask, "sums": sums, "counts": counts.astype(np.int64, copy=False)}


@numba.njit
def _frame_block(a, b, k, threshold, c, mask, sums, counts):
    vecmath.sin_into(a, c)  # libmvec's vector sin on a contiguous block (scalar on a strided one)
    for i in range(a.shape[0]):  # vectorizes: no scatter in this loop
        x = a[i] * b[i] + c[i]
        c[i] = x
        mask[i] = x > threshold
    for i in range(a.shape[0]):  # the group-by: a scatter, branch-free
        x = c[i]
        m = mask[i]
        j = k[i]
        sums[j] += x if m else 0.0
        counts[j] += m


def _frame_chunks(a, b, k, threshold, c, mask, sums, counts, part_sums, part_counts, chunks):
    # ``chunks`` contiguous ranges (one per thread), each walked in L1-sized blocks that loop from
    # 0; every chunk adds into its own row of partials (prange when compiled parallel).
    n = a.shape[0]
    n_keys = sums.shape[0]
    for ch in prange(chunks):
        lo = ch * n // chunks
        hi = (ch + 1) * n // chunks
        ps = part_sums[ch]
        pc = part_counts[ch]
        ps[:] = 0.0
        pc[:] = 0
        for blo in range(lo, hi, BLOCK):
            bhi = min(blo + BLOCK, hi)
            _frame_block(a[blo:bhi], b[blo:bhi], k[blo:bhi], threshold, c[blo:bhi], mask[blo:bhi], ps, pc)
    for j in range(n_keys):
        s = 0.0
        t = 0
        for ch in range(chunks):
            s += part_sums[ch, j]
            t += part_counts[ch, j]
        sums[j] = s
        counts[j] = t


frame_chunks = numba.njit(_frame_chunks)
frame_chunks_prange = numba.njit(parallel=True)(_frame_chunks)


def _run_numpy_tuned(args):
    a, b, k = _host_columns(args["frame"])
    return frame_numpy(a, b, k, args["threshold"], args["n_keys"], args["c"], args["mask"], args["scratch"],
                       args["keys"])


def _run_tuned(kernel, parallel):
    def run(args):
        a, b, k = _host_columns(args["frame"])
        out = {f: args[f] for f in FIELDS}
        ps, pc = args["part_sums"], args["part_counts"]
        chunks = max(1, min(ps.shape[0], a.shape[0] // MIN_CHUNK_ROWS)) if parallel else 1
        kernel(a, b, k, args["threshold"], out["c"], out["mask"], out["sums"], out["counts"], ps, pc, chunks)
        return out

    return run


# -- cuda and cudasim ---------------------------------------------------------------------------
def zero_kernel(sums, counts):
    for j in range(cuda.grid(1), sums.shape[0], cuda.gridsize(1)):
        sums[j] = 0.0
        counts[j] = 0


def frame_kernel(a, b, k, threshold, c, mask, sums, counts):
    """Grid-stride over the rows; the group-by adds with ``cuda.atomic.add``.

    Up to SHARED_KEYS keys, each block first sums into its own shared-memory copy of the groups and
    then adds that once per key into the global sums (few global atomics, no contention between
    blocks); with more keys every kept row adds straight into global memory.
    """
    block_sums = cuda.shared.array(SHARED_KEYS, numba.float64)
    block_counts = cuda.shared.array(SHARED_KEYS, numba.int64)
    n_keys = sums.shape[0]
    in_shared = n_keys <= SHARED_KEYS  # the same for every thread: no divergence
    if in_shared:
        for j in range(cuda.threadIdx.x, n_keys, cuda.blockDim.x):
            block_sums[j] = 0.0
            block_counts[j] = 0
    cuda.syncthreads()
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        x = colmath(a[i], b[i])
        c[i] = x
        m = x > threshold
        mask[i] = m
        if m:
            if in_shared:
                cuda.atomic.add(block_sums, k[i], x)
                cuda.atomic.add(block_counts, k[i], 1)
            else:
                cuda.atomic.add(sums, k[i], x)
                cuda.atomic.add(counts, k[i], 1)
    cuda.syncthreads()
    if in_shared:
        for j in range(cuda.threadIdx.x, n_keys, cuda.blockDim.x):
            if block_counts[j] != 0:
                cuda.atomic.add(sums, j, block_sums[j])
                cuda.atomic.add(counts, j, block_counts[j])


@lru_cache(maxsize=None)
def _cuda_kernels():
    # Built on first use: whether numba.cuda is a GPU or the simulator is the worker's choice.
    return cuda.jit(zero_kernel), cuda.jit(frame_kernel)


def _run_cuda(args):
    zero, kernel = _cuda_kernels()
    a, b, k = args["a"], args["b"], args["k"]
    out = {f: args[f] for f in FIELDS}
    n_keys = out["sums"].shape[0]
    zero[launch_config(n_keys)](out["sums"], out["counts"])
    kernel[launch_config(a.shape[0])](a, b, k, args["threshold"], out["c"], out["mask"],
                                      out["sums"], out["counts"])
    return out


def column_store(target: str) -> str:
    """Where the ``cuda`` target keeps the columns: 'cudf', 'cupy' or 'numba'.

    CuPy (and cuDF, which is built on it) only where the GPU probe found CuPy *working* here, not
    merely importable: an installed CuPy built for another CUDA falls back to numba.cuda arrays.
    """
    if target == "cuda" and _gpu_probe()["cupy"]:
        return "cudf" if importlib.util.find_spec("cudf") is not None else "cupy"
    return "numba"


@lru_cache(maxsize=None)
def _gpu_probe():
    # The project's probe (a targets.Probe), run in this (cuda worker) process, once: it also tries a
    # CuPy operation.
    from ..worker import probe

    return probe()


def _device_columns(target, inputs):
    store = column_store(target)
    if store == "cudf":
        import cudf

        gdf = cudf.from_pandas(inputs["frame"][["a", "b", "k"]], nan_as_null=False)
        cols = {name: gdf[name].values for name in ("a", "b", "k")}  # CuPy views of the columns
        empty = _cupy_empty
    elif store == "cupy":
        import cupy

        cols = {name: cupy.asarray(np.ascontiguousarray(inputs[name])) for name in ("a", "b", "k")}
        empty = _cupy_empty
    else:
        mem = memory(target)
        cols = {name: mem.to_device(inputs[name]) for name in ("a", "b", "k")}
        empty = mem.empty
    return cols, empty


def _cupy_empty(shape, dtype):
    import cupy

    return cupy.empty(shape, dtype)


def _to_host(x):
    if hasattr(x, "copy_to_host"):  # numba.cuda device array (also the simulator's)
        return x.copy_to_host()
    if hasattr(x, "get"):  # CuPy
        return x.get()
    return np.asarray(x)


# -- Arrow: zero-copy hand-off of a column on the host ------------------------------------------
def to_arrow(frame, name: str):
    """The column ``name`` as a ``pyarrow.Array`` over the very same memory (no copy).

    Raises InputError when that is not possible (a strided column, or one with a dtype Arrow cannot
    wrap as it is): Arrow arrays are contiguous buffers.
    """
    import pyarrow as pa

    values = frame[name].to_numpy()
    arr = pa.array(values)
    if arr.null_count or not np.shares_memory(arr.to_numpy(zero_copy_only=True), values):
        raise InputError(f"dataframe: column {name!r} cannot go to Arrow without a copy "
                                f"(a {values.dtype} column, contiguous: {values.flags.c_contiguous})")
    return arr


def from_arrow(arr) -> np.ndarray:
    """A NumPy view of a null-free primitive ``pyarrow.Array`` (raises if that needs a copy)."""
    return arr.to_numpy(zero_copy_only=True)


class Reference(dict):
    """The reference output (a dict of the four arrays) plus what ``compare`` needs to know."""

    threshold = None  # the threshold, in the value dtype
    scale = None  # per key, the sum of |c| over kept rows: the size a rounding error is relative to


#: the threading settings of this technique's host workers (docs/threading.md); a priority, not
#: NUMBA_THREADING_LAYER=omp, so that a Numba without OpenMP falls back instead of failing
OMP_PASSIVE = {"NUMBA_THREADING_LAYER_PRIORITY": "omp tbb workqueue", "OMP_WAIT_POLICY": "passive"}

@register
class DataFrameQuery(Technique):
    name = "dataframe"
    title = "column math, a filter and a group-by with Numba kernels on DataFrame columns"
    article_item = 7
    targets = ("numpy", "cpu", "parallel", "cuda", "cudasim")
    dtypes = VALUE_DTYPES
    sizes = {
        "quick": (10_000, 1_000_000),
        "full": (1_000, 10_000, 100_000, 1_000_000, 10_000_000),
        "gpu": (10_000, 1_000_000, 10_000_000),  # make gpu-check
    }
    simulator_sizes = {"quick": (1_000,), "full": (1_000, 10_000), "gpu": (1_000,)}
    simulator_max_size = 10_000
    rtol, atol = TOLERANCE["float32"]
    n_keys = 16
    keep = 0.5  # make_inputs: about this fraction of rows passes the filter
    variants = {"numpy": (ARTICLE, TUNED), "cpu": (ARTICLE, TUNED), "parallel": (ARTICLE, TUNED)}
    # OpenMP with passive waiting held up best for both prange loops (docs/threading.md); one
    # environment for every host pair keeps them in one worker, timed interleaved.
    variant_env = {(t, v): OMP_PASSIVE for t in ("numpy", "cpu", "parallel") for v in (ARTICLE, TUNED)}

    def make_inputs(self, size, seed=0, dtype=None):
        import pandas as pd

        dtype = np.dtype(dtype or self.default_dtype())
        rng = np.random.default_rng(seed)
        a = rng.standard_normal(size).astype(dtype)
        b = rng.standard_normal(size).astype(dtype)
        k = rng.integers(0, self.n_keys, size).astype(np.int32)
        frame = pd.DataFrame({"a": a, "b": b, "k": k}, copy=False)
        return {"frame": frame, "threshold": gap_threshold(colmath_columns(a, b), self.keep),
                "n_keys": self.n_keys}

    def check_inputs(self, inputs):
        import pandas as pd

        if not isinstance(inputs, Mapping):
            raise self.input_error("inputs must be a dict with frame, threshold, n_keys; "
                                   f"got {type(inputs).__name__}")
        missing = [key for key in ("frame", "threshold", "n_keys") if key not in inputs]
        if missing:
            raise self.input_error(f"missing input {', '.join(map(repr, missing))}; "
                                   "expected frame, threshold, n_keys")
        frame, threshold, n_keys = inputs["frame"], inputs["threshold"], inputs["n_keys"]
        if not isinstance(frame, pd.DataFrame):
            raise self.input_error(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        absent = [col for col in ("a", "b", "k") if col not in frame.columns]
        if absent:
            raise self.input_error(f"frame lacks column(s) {', '.join(map(repr, absent))}; "
                                   f"expected float columns 'a', 'b' and an integer key column 'k'")
        twice = [col for col in ("a", "b", "k") if isinstance(frame[col], pd.DataFrame)]
        if twice:
            raise self.input_error(f"column(s) {', '.join(map(repr, twice))} appear more than once in frame")
        dtypes = {col: frame[col].dtype for col in ("a", "b", "k")}
        for col in ("a", "b"):
            if not isinstance(dtypes[col], np.dtype) or dtypes[col].name not in VALUE_DTYPES:
                raise self.input_error(
                    f"column {col!r} must be float32 or float64 (NumPy-backed, no nullable dtype: "
                    f"use .astype('float32') or .to_numpy(dtype, na_value=np.nan)), got {dtypes[col]}")
        if dtypes["a"] != dtypes["b"]:
            raise self.input_error("columns 'a' and 'b' must have the same dtype, "
                                   f"got {dtypes['a']} and {dtypes['b']}")
        if not isinstance(dtypes["k"], np.dtype) or dtypes["k"].name not in KEY_DTYPES:
            raise self.input_error(f"key column 'k' must be int32 or int64 (NumPy-backed), "
                                   f"got {dtypes['k']}; keys are group numbers in [0, n_keys)")
        if (isinstance(n_keys, (bool, np.bool_)) or not isinstance(n_keys, (int, np.integer))
                or not 1 <= n_keys <= MAX_KEYS):
            raise self.input_error(f"n_keys must be an integer in [1, {MAX_KEYS}], not {n_keys!r}")
        if (not np.isscalar(threshold) or isinstance(threshold, (bool, np.bool_, str))
                or not np.isreal(threshold) or np.isnan(threshold)):
            raise self.input_error(f"threshold must be a real number, not {threshold!r}")
        a, b, k = _host_columns(frame)
        if k.size and (k.min() < 0 or k.max() >= n_keys):
            raise self.input_error(f"keys must be in [0, n_keys) = [0, {n_keys}); "
                                   f"column 'k' holds {k.min()} .. {k.max()}")
        # The column views ride along (zero copy) so that the worker counts the bytes a GPU gets.
        return {"frame": frame, "a": a, "b": b, "k": k,
                "threshold": a.dtype.type(threshold), "n_keys": int(n_keys)}

    def outputs(self, inputs):
        n = len(inputs["frame"])
        return {"c": ((n,), inputs["a"].dtype), "mask": ((n,), np.dtype(np.bool_)),
                "sums": ((inputs["n_keys"],), np.dtype(np.float64)),
                "counts": ((inputs["n_keys"],), np.dtype(np.int64))}

    def prepare(self, target, inputs):
        t = get_target(target)
        args = {"threshold": inputs["threshold"], "n_keys": inputs["n_keys"]}
        if not t.on_device:
            args["frame"] = inputs["frame"]  # the frame itself: the variants read its columns in place
            empty = memory(target).empty  # the pandas way ignores the buffers; the tuned ones fill them
            args.update(_tuned_buffers(target, inputs))
        else:
            cols, empty = _device_columns(target, inputs)
            args.update(cols)
        if empty is not None:
            for name, (shape, dtype) in self.outputs(inputs).items():
                args[name] = empty(shape, dtype)
        return args

    def fetch(self, target, out):
        return {f: _to_host(out[f]) for f in FIELDS}

    def reference(self, inputs):
        want = Reference(frame_pandas(inputs["frame"], inputs["threshold"], inputs["n_keys"]))
        want.threshold = inputs["threshold"]
        kept = want["mask"]
        want.scale = np.bincount(inputs["k"][kept], weights=np.abs(want["c"][kept].astype(np.float64)),
                                 minlength=inputs["n_keys"])
        return want

    def implementation(self, target, variant=ARTICLE):
        if variant == TUNED:
            return {"numpy": _run_numpy_tuned,
                    "cpu": _run_tuned(frame_chunks, parallel=False),
                    "parallel": _run_tuned(frame_chunks_prange, parallel=True)}[target]
        return {
            "numpy": lambda a: frame_pandas(a["frame"], a["threshold"], a["n_keys"]),
            "cpu": _run_host(frame_loop),
            "parallel": _run_host(frame_prange),
            "cuda": _run_cuda,
            "cudasim": _run_cuda,
        }[target]

    def compare(self, got, want):
        return compare_results(got, want)

    def bytes_moved(self, size, dtype=None):
        item = np.dtype(dtype or self.default_dtype()).itemsize
        return size * (3 * item + 4 + 1) + 16 * self.n_keys

    def flops(self, size, dtype=None):
        return 5 * size

    def kernels(self):
        sigs = []
        for v in (types.float32, types.float64):
            for key in (types.int32, types.int64):
                sigs.append((types.Array(v, 1, "C"), types.Array(v, 1, "C"), types.Array(key, 1, "C"), v,
                             types.Array(v, 1, "C"), types.Array(types.boolean, 1, "C"),
                             types.Array(types.float64, 1, "C"), types.Array(types.int64, 1, "C")))
        zero_sig = ((types.Array(types.float64, 1, "C"), types.Array(types.int64, 1, "C")),)
        return [Kernel("zero_kernel", zero_kernel, zero_sig),
                Kernel("frame_kernel", frame_kernel, tuple(sigs))]


def gap_threshold(c: np.ndarray, keep: float = 0.5, window: int = 512):
    """A threshold near the ``1 - keep`` quantile of ``c`` that no value of ``c`` is close to.

    It is the midpoint of the widest gap between neighbouring values among the ``window`` values
    around that quantile, so an ulp of difference in ``c`` between targets cannot move a row across it.
    """
    finite = c[np.isfinite(c)]
    if finite.size < 2:
        return c.dtype.type(0.0)
    mid = min(max(int((1.0 - keep) * finite.size), 0), finite.size - 1)
    lo, hi = max(mid - window // 2, 0), min(mid + window // 2, finite.size - 1)
    part = np.partition(finite, (lo, hi))
    near = np.sort(part[lo:hi + 1]).astype(np.float64)
    gaps = np.diff(near)
    j = int(np.argmax(gaps))
    return c.dtype.type((near[j] + near[j + 1]) / 2)


def compare_results(got, want) -> tuple[bool, float]:
    """(correct, max_abs_err) of a frame result against the reference; docs/techniques/dataframe.md says how."""
    inf = float("inf")
    if not isinstance(got, Mapping) or not all(f in got for f in FIELDS):
        return False, inf
    g = {f: np.asarray(got[f]) for f in FIELDS}
    w = {f: np.asarray(want[f]) for f in FIELDS}
    if any(g[f].shape != w[f].shape for f in FIELDS) or g["c"].dtype != w["c"].dtype:
        return False, inf
    if g["mask"].dtype != np.bool_ or not np.issubdtype(g["counts"].dtype, np.integer):
        return False, inf
    rtol, atol = TOLERANCE[w["c"].dtype.name]
    threshold = getattr(want, "threshold", None)

    # c: NaN where the reference has NaN, close elsewhere
    gc, wc = g["c"].astype(np.float64), w["c"].astype(np.float64)
    if not np.array_equal(np.isnan(gc), np.isnan(wc)):
        return False, inf
    same = (gc == wc) | np.isnan(wc)
    diff = np.where(same, 0.0, np.abs(gc - wc))
    err = float(diff.max()) if diff.size else 0.0
    if not np.all(same | (diff <= atol + rtol * np.abs(wc))):
        return False, err

    # mask: follows the result's own c; differs from the reference only on the edge rows
    flips = g["mask"] != w["mask"]
    if threshold is not None:
        if not np.array_equal(g["mask"], g["c"] > threshold):
            return False, err
        edge = np.abs(wc - float(threshold)) <= atol + rtol * abs(float(threshold))
        if np.any(flips & ~edge):
            return False, err
    elif flips.any():
        return False, err
    n_flips = int(flips.sum())
    net = int(g["mask"][flips].sum()) - int(w["mask"][flips].sum())
    flip_mass = float(np.abs(wc[flips]).sum()) * (1 + rtol)

    # counts: exact, up to the edge rows
    dcount = np.abs(g["counts"].astype(np.int64) - w["counts"].astype(np.int64))
    err = max(err, float(dcount.max()) if dcount.size else 0.0)
    if int(dcount.sum()) > n_flips or int(g["counts"].sum()) - int(w["counts"].sum()) != net:
        return False, err

    # sums: within rtol of the group's absolute mass (+ atol a row), up to the edge rows' mass
    gs, ws = g["sums"].astype(np.float64), w["sums"].astype(np.float64)
    scale = getattr(want, "scale", None)
    scale = np.abs(ws) if scale is None else np.asarray(scale, np.float64)
    if not np.array_equal(np.isnan(gs), np.isnan(ws)):
        return False, inf
    same = (gs == ws) | np.isnan(ws)
    if np.any(~same & ~(np.isfinite(gs) & np.isfinite(ws))):
        return False, inf
    dsum = np.where(same, 0.0, np.abs(gs - ws))
    err = max(err, float(dsum.max()) if dsum.size else 0.0)
    excess = np.maximum(dsum - (rtol * scale + atol * w["counts"]), 0.0).sum()
    if excess > flip_mass:
        return False, err
    return True, err
