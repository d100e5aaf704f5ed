"""clamp — article item 3: one ``@numba.jit`` function called from CPU loops and from a CUDA kernel.

``clamp(x, xmin, xmax)`` has ``np.clip``'s semantics (NaN stays NaN; ``xmin > xmax`` gives
``xmax``) and no signature, so every Numba target compiles the same object for itself.

Targets: ``numpy`` (``np.clip``, the reference), ``cpu`` (an ``@njit`` loop), ``parallel`` (the
loop over ``prange``), ``cuda`` and ``cudasim`` (a grid-stride ``@cuda.jit`` kernel), ``cupy``
(``cupy.clip``).

Roofline: read ``x``, write the output (``2 * itemsize`` bytes per element); two comparisons per
element. Why the helper has no signature, and the article's C++ bug: docs/techniques/clamp.md.
"""
from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
from numba import cuda, prange
from numba.core import types

from ..devices import launch_config, sm_sized_config
from ..registry import ARTICLE, TUNED, Kernel, Technique, register


@numba.jit(nopython=True)
def clamp(x, xmin, xmax):
    # Two tests in sequence, not the article's if/elif: identical for xmin <= xmax, and for
    # xmin > xmax it gives xmax everywhere, exactly as np.clip does.
    if x < xmin:
        x = xmin
    if x > xmax:
        x = xmax
    return x


@numba.njit
def clamp_loop(x, xmin, xmax, out):
    for i in range(x.shape[0]):
        out[i] = clamp(x[i], xmin, xmax)
    return out


@numba.njit(parallel=True)
def clamp_prange(x, xmin, xmax, out):
    for i in prange(x.shape[0]):
        out[i] = clamp(x[i], xmin, xmax)
    return out


# -- tuned: the same helper over contiguous blocks, each looped from 0 ---------------------------
#: elements per prange block (the blocks' loops vectorize; prange's own [lo, hi) range does not)
BLOCK = 16_384


@numba.njit
def _clamp_block(x, xmin, xmax, out):
    for i in range(x.shape[0]):
        out[i] = clamp(x[i], xmin, xmax)


@numba.njit(parallel=True)
def clamp_blocks_prange(x, xmin, xmax, out):
    n = x.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(lo + BLOCK, n)
        _clamp_block(x[lo:hi], xmin, xmax, out[lo:hi])
    return out


def clamp_kernel(x, xmin, xmax, out):
    """Grid-stride loop: any grid covers any length, so the launch size is a tuning knob only."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = clamp(x[i], xmin, xmax)


@lru_cache(maxsize=None)
def _cuda_clamp():
    # Built on first use: the jit wrapper is cheap, but the choice of real GPU or simulator is made
    # when numba.cuda is imported, and that must be the worker's business, not import time's.
    return cuda.jit(clamp_kernel)


def _run_cuda(a):
    blocks, threads = launch_config(a["x"].shape[0])
    _cuda_clamp()[blocks, threads](a["x"], a["xmin"], a["xmax"], a["out"])
    return a["out"]


def _run_cuda_tuned(a):
    # The same kernel, launched as exactly one wave of resident blocks (SMs x blocks per SM): each
    # thread walks its share of the array, and no block is scheduled only to find nothing to do.
    blocks, threads = sm_sized_config(a["x"].shape[0])
    _cuda_clamp()[blocks, threads](a["x"], a["xmin"], a["xmax"], a["out"])
    return a["out"]


#: GPU variants beside the article's launch (cudasim runs the same code, functional only)
GPU_VARIANTS = {"cuda": (ARTICLE, TUNED), "cudasim": (ARTICLE, TUNED)}


def _run_cupy(a):
    import cupy

    return cupy.clip(a["x"], a["xmin"], a["xmax"], out=a["out"])


@register
class Clamp(Technique):
    name = "clamp"
    title = "one @numba.jit function called from CPU loops and a CUDA kernel"
    article_item = 3
    targets = ("numpy", "cpu", "parallel", "cuda", "cudasim", "cupy")
    sizes = {
        "quick": (10_000, 1_000_000),
        "full": (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000),
        "gpu": (10_000, 1_000_000, 100_000_000),  # make gpu-check: small, middle, the largest
    }
    simulator_sizes = {"quick": (1_000,), "full": (1_000, 10_000, 100_000), "gpu": (1_000,)}
    simulator_max_size = 100_000
    # numpy's np.clip(out=) and the cpu loop (LLVM vectorizes it) are already the tuned forms
    variants = {"parallel": (ARTICLE, TUNED), **GPU_VARIANTS}
    # no environment of its own: both prange loops are fastest under OpenMP, Numba's default here,
    # on a quiet machine (workqueue wins only when other processes share the cores; docs/threading.md)
    variant_env: dict = {}

    def make_inputs(self, size, seed=0, dtype=None):
        dtype = np.dtype(dtype or self.default_dtype())
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(size).astype(dtype)
        return {"x": x, "xmin": dtype.type(-0.5), "xmax": dtype.type(0.5)}

    def check_inputs(self, inputs):
        try:
            x, xmin, xmax = inputs["x"], inputs["xmin"], inputs["xmax"]
        except KeyError as exc:
            raise self.input_error(f"missing input {exc}; expected x, xmin, xmax") from None
        if not isinstance(x, np.ndarray) or x.ndim != 1:
            raise self.input_error(f"x must be a 1-D NumPy array, got {_describe(x)}")
        if x.dtype.name not in self.dtypes:
            raise self.input_error(f"x must be float32 or float64, got {x.dtype}")
        if not x.flags.c_contiguous:
            raise self.input_error("x must be contiguous; pass np.ascontiguousarray(x)")
        for name, v in (("xmin", xmin), ("xmax", xmax)):
            if not np.isscalar(v) or not np.isreal(v) or np.isnan(v):
                raise self.input_error(f"{name} must be a real number, not {v!r}")
        return {"x": x, "xmin": x.dtype.type(xmin), "xmax": x.dtype.type(xmax)}

    def outputs(self, inputs):
        return {"out": (inputs["x"].shape, inputs["x"].dtype)}

    def reference(self, inputs):
        return np.clip(inputs["x"], inputs["xmin"], inputs["xmax"])

    def implementation(self, target, variant=ARTICLE):
        if variant == TUNED and target in GPU_VARIANTS:
            return _run_cuda_tuned
        if variant == TUNED:
            return {"parallel": lambda a: clamp_blocks_prange(a["x"], a["xmin"], a["xmax"], a["out"])}[target]
        return {
            "numpy": lambda a: np.clip(a["x"], a["xmin"], a["xmax"], out=a["out"]),
            "cpu": lambda a: clamp_loop(a["x"], a["xmin"], a["xmax"], a["out"]),
            "parallel": lambda a: clamp_prange(a["x"], a["xmin"], a["xmax"], a["out"]),
            "cuda": _run_cuda,
            "cudasim": _run_cuda,
            "cupy": _run_cupy,
        }[target]

    def bytes_moved(self, size, dtype=None):
        return 2 * size * np.dtype(dtype or self.default_dtype()).itemsize  # read x, write out

    def flops(self, size, dtype=None):
        return 2 * size  # two comparisons per element

    def kernels(self):
        sigs = tuple(
            (types.Array(t, 1, "C"), t, t, types.Array(t, 1, "C")) for t in (types.float32, types.float64)
        )
        return [Kernel("clamp_kernel", clamp_kernel, sigs)]


def _describe(v) -> str:
    if isinstance(v, np.ndarray):
        return f"a {v.ndim}-D {v.dtype} array"
    return type(v).__name__
