"""gaussian — article item 4: ``@vectorize`` turns one scalar function into a ufunc, for every target.

``gaussian(x, x0, sigma)``, the normal density, is plain Python; ``numba.vectorize`` makes it a
broadcasting ufunc with a float32 and a float64 loop, constants typed as ``x`` so float32 stays
float32. ``x`` is 1-D or 2-D; ``x0`` and ``sigma`` are scalars or arrays that broadcast against it.

Targets: ``numpy`` (the expression, the reference), ``cpu`` / ``parallel`` (the ``@vectorize``
ufuncs), ``cuda`` (the ``target='cuda'`` ufunc on device arrays, built on first use), ``cudasim``
(``gaussian_fallback``: the same function in a grid-stride kernel, since the cuda ufunc cannot be
built under the simulator), ``cupy`` (an ElementwiseKernel).

Roofline: read ``x``, write the output; 8 flops per element (``exp`` counted as one). Findings
(precision, the cuda ufunc's host path, threading layers, why the CPU misses its roof):
docs/techniques/gaussian.md.
"""
from __future__ import annotations

import copy
import math
from functools import lru_cache

import numba
import numpy as np
from numba import cuda, prange
from numba.core import types

from .. import vecmath
from ..devices import launch_config, memory, sm_sized_config
from ..registry import ARTICLE, TUNED, Kernel, Technique, register

SQRT_2PI = math.sqrt(2.0 * math.pi)

#: the ufunc loops, as @vectorize signatures
SIGNATURES = ["float32(float32, float32, float32)", "float64(float64, float64, float64)"]

#: (rtol, atol) by dtype. atol only matters where the curve underflows to subnormals.
TOLERANCE = {"float32": (1e-5, 1e-30), "float64": (1e-12, 1e-300)}

#: x is (size // WIDTH, WIDTH) when size is a multiple of WIDTH, else 1-D
WIDTH = 1000


def gaussian(x, x0, sigma):
    """Normal density at ``x`` with mean ``x0`` and standard deviation ``sigma`` (plain Python).

    ``t(...)`` makes each constant a number of ``x``'s own type, so a float32 loop stays float32
    (a bare ``2`` would be a 64-bit integer in Numba and pull the arithmetic into float64).
    """
    t = type(x)
    return math.exp(-((x - x0) / sigma) ** 2 / t(2)) / t(SQRT_2PI) / sigma


# The same function compiled for scalar calls: from CPU code, and from a CUDA kernel, which compiles
# a device version of it on the fly (no signature here, or the kernel could not). The numpy error
# model gives IEEE results (sigma = 0 -> NaN), as a ufunc does, instead of raising
# ZeroDivisionError; it matters under the simulator, where the kernel calls this CPU-compiled code.
gaussian_scalar = numba.njit(error_model="numpy")(gaussian)


@lru_cache(maxsize=None)
def cpu_ufunc():
    """``gaussian`` as a ufunc, one thread (a Numba DUFunc around a NumPy ufunc; built on first use)."""
    return numba.vectorize(SIGNATURES, target="cpu")(gaussian)


@lru_cache(maxsize=None)
def parallel_ufunc():
    """``gaussian`` as a NumPy ufunc that splits its loop over Numba's threads."""
    return numba.vectorize(SIGNATURES, target="parallel")(gaussian)


@lru_cache(maxsize=None)
def cuda_ufunc():
    """``gaussian`` as a CUDA ufunc. Lazy: building it needs a driver (and fails in the simulator)."""
    return numba.vectorize(SIGNATURES, target="cuda")(gaussian)


def numpy_gaussian(x, x0, sigma, out=None):
    """The NumPy way (the reference): one full-size temporary per operation."""
    c = x.dtype.type(SQRT_2PI)
    return np.divide(np.exp(-((x - x0) / sigma) ** 2 / 2) / c, sigma, out=out)


# -- tuned: what an expert writes for each host target ------------------------------------------

#: elements per block of the tuned loops: a block of x, its argument and its result stay in L1
BLOCK = 2048


def numpy_gaussian_inplace(x, x0, sigma, out):
    """The NumPy way as an expert writes it: one in-place chain in ``out``, no temporary."""
    c = x.dtype.type(SQRT_2PI)
    np.subtract(x, x0, out=out)
    np.divide(out, sigma, out=out)
    np.square(out, out=out)
    np.multiply(out, x.dtype.type(-0.5), out=out)
    np.exp(out, out=out)
    np.divide(out, c, out=out)
    return np.divide(out, sigma, out=out)


@numba.njit(error_model="numpy")
def _gaussian_block(x, x0, sigma, neg_half, inv_c, out):
    # Three vectorized passes over one L1-resident block: argument, libmvec exp in place, scale.
    for i in range(x.shape[0]):
        t = (x[i] - x0) / sigma
        out[i] = t * t * neg_half
    vecmath.exp_into(out, out)
    for i in range(out.shape[0]):
        out[i] = out[i] * inv_c / sigma


def _gaussian_blocks(x, x0, sigma, neg_half, inv_c, out):
    # Blocks of a 1-D C-contiguous x; each block's loops start at 0 over slices (a range from a
    # runtime start keeps LLVM from vectorizing). prange when compiled parallel, range otherwise.
    n = x.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(lo + BLOCK, n)
        _gaussian_block(x[lo:hi], x0, sigma, neg_half, inv_c, out[lo:hi])
    return out


gaussian_blocks = numba.njit(error_model="numpy")(_gaussian_blocks)
gaussian_blocks_prange = numba.njit(error_model="numpy", parallel=True)(_gaussian_blocks)


def tuned_host(kernel, ufunc):
    """A tuned host variant: ``kernel`` on flat views when x and out are C-contiguous and x0 is a
    scalar, else (a strided x, an array x0) the article's ufunc, which takes any layout."""
    def run(a):
        x, x0, sigma, out = a["x"], a["x0"], a["sigma"], a["out"]
        if _shape(x0) or not (x.flags.c_contiguous and out.flags.c_contiguous) or x.dtype != out.dtype:
            return ufunc()(x, x0, sigma, out=out)
        t = x.dtype.type
        kernel(x.reshape(-1), t(x0), t(sigma), t(-0.5), t(1.0 / SQRT_2PI), out.reshape(-1))
        return out
    return run


# -- the simulator's stand-in for a cuda ufunc ------------------------------------------------------

def gaussian_kernel(x, x0, sigma, out):
    """Grid-stride kernel over flat arrays; an input shorter than ``out`` repeats (``i % size``).

    That one rule covers a scalar (1 element), an array of ``out``'s full size, and an array that
    broadcasts over leading dimensions only (a row of ``x0`` against rows of ``x``), without
    expanding any of them. ``broadcast_launch`` prepares the inputs so that this holds.
    """
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    nx, n0, ns = x.size, x0.size, sigma.size
    for i in range(start, out.size, stride):
        out[i] = gaussian_scalar(x[i % nx], x0[i % n0], sigma[i % ns])


@lru_cache(maxsize=None)
def _cuda_gaussian_kernel():
    # cuda.jit only on first use: GPU or simulator is the worker process's choice, not import's.
    return cuda.jit(gaussian_kernel)


def _is_device(a) -> bool:
    return hasattr(a, "copy_to_host")  # numba.cuda device arrays, the simulator's included


def _shape(a) -> tuple:
    return tuple(a.shape) if hasattr(a, "shape") else ()


def _c_contiguous(a) -> bool:
    return a.is_c_contiguous() if hasattr(a, "is_c_contiguous") else a.flags.c_contiguous


def _flat_input(a, shape, dtype):
    """``a`` as a flat device array that ``kernel[i % a.size]`` reads correctly for ``shape``."""
    if not _shape(a):  # a scalar (or 0-d array): one element, repeated
        return cuda.to_device(np.full(1, a, dtype))
    core = _shape(a)
    while core and core[0] == 1:
        core = core[1:]
    repeats_cleanly = core == shape[len(shape) - len(core):]  # broadcast over leading dims only
    if repeats_cleanly and a.dtype == dtype and _c_contiguous(a):
        return a.reshape(a.size) if _is_device(a) else cuda.to_device(np.ascontiguousarray(a).reshape(-1))
    # Anything else (a column against rows, non-contiguous, another dtype) is expanded to full
    # size on the host, as numba-cuda's own ufuncs do for a 2-D call.
    host = a.copy_to_host() if _is_device(a) else np.asarray(a)
    full = np.ascontiguousarray(np.broadcast_to(host.astype(dtype, copy=False), shape))
    return cuda.to_device(full.reshape(-1))


def broadcast_launch(kernel, args, out=None, dtypes=("float32", "float64"), config=launch_config):
    """Call a flat grid-stride ``kernel(*inputs, out)`` the way a ufunc is called.

    The reusable half of the simulator workaround. ``args`` are scalars, NumPy arrays or numba.cuda
    device arrays; they broadcast by NumPy's rules (``np.broadcast_shapes``; ValueError when they do
    not), their common dtype (``np.result_type`` of the arrays, or of the scalars when there are
    none) must be in ``dtypes`` (TypeError otherwise, as a cuda ufunc has no loop for it), and
    everything is cast to it. Each input reaches the kernel flat: scalars as a 1-element array,
    contiguous arrays that broadcast over leading dimensions as a view, the rest expanded on the
    host. The kernel must read input ``a`` at ``a[i % a.size]`` (see ``gaussian_kernel``).

    ``out``: a device array or a C-contiguous NumPy array of the broadcast shape and dtype, or None
    for a new one. Returns ``out`` filled; a new output stays on the device when any input was a
    device array and is copied to the host otherwise (what a cuda ufunc does).
    """
    args = [cuda.as_cuda_array(a) if hasattr(a, "__cuda_array_interface__") and not _is_device(a) else a
            for a in args]
    shape = np.broadcast_shapes(*(_shape(a) for a in args))
    arrays = [a for a in args if _shape(a)]
    dtype = np.result_type(*(a.dtype for a in arrays)) if arrays else np.result_type(*args)
    if dtype.name not in dtypes:
        raise TypeError(f"no loop for {dtype}: this kernel has {', '.join(dtypes)}")
    flats = [_flat_input(a, shape, dtype) for a in args]
    size = math.prod(shape)
    any_device = any(_is_device(a) for a in args)
    if out is None:
        dev_out = cuda.device_array(shape, dtype)
    else:
        if _shape(out) != shape or out.dtype != dtype or not _c_contiguous(out):
            raise ValueError(f"out must be a C-contiguous {dtype} array of shape {shape}, got "
                             f"{out.dtype} {_shape(out)}")
        dev_out = out if _is_device(out) else cuda.device_array(shape, dtype)
    blocks, threads = config(size)
    kernel[blocks, threads](*flats, dev_out.reshape(size))
    if out is not None and not _is_device(out):
        dev_out.copy_to_host(out)
        return out
    if out is None and not any_device:
        return dev_out.copy_to_host()
    return dev_out


def gaussian_scalars_kernel(x, x0, sigma, out):
    """Grid-stride over flat ``x`` and ``out``; ``x0`` and ``sigma`` are 1-element arrays read once
    per thread. No ``i % size`` per element: a 64-bit integer division costs a GPU dozens of
    instructions, more than this memory-bound loop has to spare."""
    m = x0[0]
    s = sigma[0]
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = gaussian_scalar(x[i], m, s)


@lru_cache(maxsize=None)
def _cuda_gaussian_scalars_kernel():
    return cuda.jit(gaussian_scalars_kernel)


def gaussian_fallback(x, x0, sigma, out=None):
    """``gaussian`` called like its cuda ufunc, built from a kernel: works under the simulator."""
    return broadcast_launch(_cuda_gaussian_kernel(), (x, x0, sigma), out=out)


# -- variants ---------------------------------------------------------------------------------------

def _one_element(v) -> bool:
    return not _shape(v) or math.prod(_shape(v)) == 1


def _run_cuda(a):
    x, x0, sigma, out = a["x"], a["x0"], a["sigma"], a["out"]
    uf = cuda_ufunc()
    if x.size == 0:  # nothing to launch (and numba-cuda's host path has nothing to copy)
        return out
    if all(_one_element(v) or _shape(v) == _shape(x) for v in (x0, sigma)):
        # 1-D call: numba-cuda broadcasts the 1-element arguments on the device (stride 0).
        def flat(v):
            return v if not _shape(v) else v.reshape(v.size)

        uf(flat(x), flat(x0), flat(sigma), out=flat(out))
    else:  # a real broadcast: numba-cuda expands it on the host (docs/techniques/gaussian.md)
        uf(x, x0, sigma, out=out)
    return out


def _run_cudasim(a):
    return gaussian_fallback(a["x"], a["x0"], a["sigma"], out=a["out"])


def _run_cuda_tuned(a):
    """The tuned GPU way: our own grid-stride kernel, one wave of resident blocks, scalars read once.

    The technique's call (scalar ``x0`` and ``sigma``, prepared as 1-element device arrays, and
    contiguous ``x`` and ``out``) goes to ``gaussian_scalars_kernel`` on flat views; any other
    broadcast to ``broadcast_launch`` with the same launch size. Runs on the simulator too.
    """
    x, x0, sigma, out = a["x"], a["x0"], a["sigma"], a["out"]
    if x.size == 0:
        return out
    flat_ok = all(_is_device(v) and _one_element(v) for v in (x0, sigma)) and \
        _is_device(x) and _c_contiguous(x) and _is_device(out) and _c_contiguous(out)
    if not flat_ok:
        return broadcast_launch(_cuda_gaussian_kernel(), (x, x0, sigma), out=out, config=sm_sized_config)
    blocks, threads = sm_sized_config(x.size)
    _cuda_gaussian_scalars_kernel()[blocks, threads](
        x.reshape(x.size), x0.reshape(1), sigma.reshape(1), out.reshape(out.size))
    return out


#: GPU variants: the article's ufunc (on cudasim its stand-in) and the tuned kernel
GPU_VARIANTS = {"cuda": (ARTICLE, TUNED), "cudasim": (ARTICLE, TUNED)}


@lru_cache(maxsize=None)
def _cupy_kernel():
    import cupy

    return cupy.ElementwiseKernel(
        "T x, T x0, T sigma", "T out",
        f"T z = (x - x0) / sigma; out = exp(-z * z / (T)2) / (T){SQRT_2PI!r} / sigma;",
        "numbabench_gaussian",
    )


def _run_cupy(a):
    return _cupy_kernel()(a["x"], a["x0"], a["sigma"], a["out"])


#: the threading settings of this technique's host workers (docs/threading.md)
WORKQUEUE = {"NUMBA_THREADING_LAYER": "workqueue"}


@register
class Gaussian(Technique):
    name = "gaussian"
    title = "@vectorize: one scalar function becomes a broadcasting ufunc on cpu, parallel and cuda"
    article_item = 4
    targets = ("numpy", "cpu", "parallel", "cuda", "cudasim", "cupy")
    sizes = {
        "quick": (10_000, 1_000_000),
        "full": (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 30_000_000),
        "gpu": (10_000, 1_000_000, 30_000_000),  # make gpu-check
    }
    simulator_sizes = {"quick": (1_000,), "full": (1_000, 10_000, 100_000), "gpu": (1_000,)}
    simulator_max_size = 100_000
    rtol, atol = TOLERANCE["float64"]  # the float64 figures; compare() picks by dtype
    variants = {"numpy": (ARTICLE, TUNED), "cpu": (ARTICLE, TUNED), "parallel": (ARTICLE, TUNED),
                **GPU_VARIANTS}
    # Under OpenMP the article's parallel ufunc gets one element per inner-loop call: it runs in a
    # workqueue worker of its own. The tuned prange loop is 2-3x faster under OpenMP on a quiet
    # machine, so it stays with numpy and cpu in the default worker, timed interleaved
    # (docs/threading.md).
    variant_env = {("parallel", ARTICLE): WORKQUEUE}

    def make_inputs(self, size, seed=0, dtype=None):
        dtype = np.dtype(dtype or self.default_dtype())
        rng = np.random.default_rng(seed)
        shape = (size // WIDTH, WIDTH) if size % WIDTH == 0 else (size,)
        x = (2.0 * rng.standard_normal(shape)).astype(dtype)
        return {"x": x, "x0": dtype.type(0.25), "sigma": dtype.type(1.5)}

    def check_inputs(self, inputs):
        try:
            x, x0, sigma = inputs["x"], inputs["x0"], inputs["sigma"]
        except KeyError as exc:
            raise self.input_error(f"missing input {exc}; expected x, x0, sigma") from None
        if not isinstance(x, np.ndarray) or x.ndim == 0:
            raise self.input_error(f"x must be a NumPy array with at least one dimension, got {_describe(x)}")
        if x.dtype.name not in self.dtypes:
            raise self.input_error(f"x must be float32 or float64, got {x.dtype}")
        t = x.dtype.type
        if isinstance(x0, np.ndarray) and x0.ndim > 0:
            if x0.dtype != x.dtype:
                raise self.input_error(f"x0 must have x's dtype {x.dtype}, got {x0.dtype}")
            try:
                shape = np.broadcast_shapes(x.shape, x0.shape)
            except ValueError:
                shape = None
            if shape != x.shape:
                raise self.input_error(
                    f"x0 of shape {x0.shape} must broadcast to x's shape {x.shape} "
                    "(a scalar, a row of x's last dimension, or x's shape)")
        elif _is_real(x0):
            x0 = t(x0)
        else:
            raise self.input_error(f"x0 must be a real number or a float array, not {x0!r}")
        if not _is_real(sigma) or not (np.isfinite(sigma) and sigma > 0):
            raise self.input_error(f"sigma must be a positive finite number, not {sigma!r}")
        return {"x": x, "x0": x0, "sigma": t(sigma)}

    def outputs(self, inputs):
        return {"out": (inputs["x"].shape, inputs["x"].dtype)}

    def prepare(self, target, inputs):
        args = super().prepare(target, inputs)
        if target in ("cuda", "cudasim"):
            # Scalars as 1-element device arrays: numba-cuda's ufunc broadcasts those on the device;
            # a Python scalar would cost it a host-to-device copy on every call.
            mem, dtype = memory(target), inputs["x"].dtype
            for k in ("x0", "sigma"):
                if not _shape(args[k]):
                    args[k] = mem.to_device(np.full(1, args[k], dtype))
        return args

    def reference(self, inputs):
        return numpy_gaussian(inputs["x"], inputs["x0"], inputs["sigma"])

    def implementation(self, target, variant=ARTICLE):
        if variant == TUNED and target in GPU_VARIANTS:
            return _run_cuda_tuned
        if variant == TUNED:
            return {
                "numpy": lambda a: numpy_gaussian_inplace(a["x"], a["x0"], a["sigma"], a["out"]),
                "cpu": tuned_host(gaussian_blocks, cpu_ufunc),
                "parallel": tuned_host(gaussian_blocks_prange, parallel_ufunc),
            }[target]
        return {
            "numpy": lambda a: numpy_gaussian(a["x"], a["x0"], a["sigma"], out=a["out"]),
            "cpu": lambda a: cpu_ufunc()(a["x"], a["x0"], a["sigma"], out=a["out"]),
            "parallel": lambda a: parallel_ufunc()(a["x"], a["x0"], a["sigma"], out=a["out"]),
            "cuda": _run_cuda,
            "cudasim": _run_cudasim,
            "cupy": _run_cupy,
        }[target]

    def compare(self, got, want):
        """The base comparison with the tolerance of ``want``'s dtype (see ``TOLERANCE``)."""
        judge = copy.copy(self)
        judge.rtol, judge.atol = TOLERANCE.get(np.asarray(want).dtype.name, TOLERANCE["float64"])
        return Technique.compare(judge, got, want)

    def bytes_moved(self, size, dtype=None):
        return 2 * size * np.dtype(dtype or self.default_dtype()).itemsize  # read x, write out

    def flops(self, size, dtype=None):
        return 8 * size  # sub, div, square, negate, halve, exp (as one), two divisions

    def kernels(self):
        sigs = tuple((types.Array(t, 1, "C"),) * 4 for t in (types.float32, types.float64))
        return [Kernel("gaussian_kernel", gaussian_kernel, sigs)]

    def ptx_paths(self):
        """The cuda target's own code, for the PTX layer: the kernels numba-cuda writes for the
        ``@vectorize(target='cuda')`` ufunc, one per loop, typed as a real call types them.

        ``_run_cuda`` hands the ufunc flat contiguous ``x`` and ``out`` ('C') and 1-element scalars
        that numba-cuda broadcasts with stride 0 ('A'); a call with a genuine broadcast is expanded
        on the host and sees 'C' everywhere. Built with a fresh ``numba.vectorize`` (needs a current
        device: the PTX layer stands one in).
        """
        uf = numba.vectorize(SIGNATURES, target="cuda")(gaussian)
        paths = []
        for dtypes, (_, dispatcher) in uf.functions.items():
            t = numba.from_dtype(dtypes[0])
            c, a = types.Array(t, 1, "C"), types.Array(t, 1, "A")
            paths.append(Kernel(f"cuda_ufunc[{t}]", dispatcher.py_func, ((c, a, a, c), (c, c, c, c))))
        sigs = tuple((types.Array(t, 1, "C"),) * 4 for t in (types.float32, types.float64))
        paths.append(Kernel("gaussian_scalars_kernel", gaussian_scalars_kernel, sigs))
        return paths


def _is_real(v) -> bool:
    if isinstance(v, (bool, np.bool_)) or not (np.isscalar(v) or (isinstance(v, np.ndarray) and v.ndim == 0)):
        return False
    return bool(np.isreal(v)) and np.issubdtype(np.asarray(v).dtype, np.number)


def _describe(v) -> str:
    if isinstance(v, np.ndarray):
        return f"a {v.ndim}-D {v.dtype} array"
    return type(v).__name__
