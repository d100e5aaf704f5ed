"""fftmask — article item 1: a library FFT and your own Numba kernel on the same device memory.

Pipeline on every target: ``spec = fft2(frame)``; ``spec[i, j] *= mask[i, j]`` (``apply_mask``, a
2-D grid-stride kernel on the GPU); ``ifft2(spec)``. ``size`` is a pixel count (``shape_for``).

Targets: ``numpy`` (``scipy.fft`` and ``spec *= mask``), ``cpu`` / ``parallel`` (``scipy.fft`` with
1 / all Numba threads, ``mask_loop`` / ``mask_prange``), ``cuda`` (cuFFT through CuPy, the kernel on
CuPy's memory and stream: needs CuPy), ``cudasim`` (the kernel in the simulator, host FFT in place),
``cupy``. Extra rows time ``fft``, ``mask`` and ``ifft`` apart. GPU variants: ``article`` runs the
article's ``cuda.grid(2)`` kernel (``apply_mask_article``, bounds-checked), ``tuned`` the coalesced
``apply_mask``; on ``cuda``, ``fused`` runs the mask inside cuFFT, as a store epilog nvmath-python
compiles from Python (fftmask_fused.py).

Roofline: ``5 N log2 N`` flops per transform, two of them, plus 2 per pixel for the mask; bytes: each
step reads and writes the frame once plus one mask read (a lower bound). Details, the findings behind
the choices (why SciPy's FFT, streams, the tolerance): docs/techniques/fftmask.md.

This module is longer than most (about 550 lines): the article's pipeline and its tuned and GPU
forms (three mask kernels, scipy/CuPy FFTs, the fused call) are kept side by side so they can be
read against each other.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache

import numba
import numpy as np
import scipy.fft
from numba import cuda, prange
from numba.core import types

from .. import timing
from ..devices import memory
from ..errors import InputError, TargetUnavailable
from ..registry import ARTICLE, TUNED, Kernel, Technique, register
from ..targets import require_in_process, simulator_active


#: a result is correct when max|got - ref| <= ATOL_REL * max|ref|
ATOL_REL = 1e-4
#: the mask keeps spatial frequencies up to this fraction of the Nyquist frequency
CUTOFF = 0.25


def fft2(x, workers=1):
    """The CPU library FFT (pocketfft via SciPy); keeps complex64."""
    return scipy.fft.fft2(x, workers=workers)


def ifft2(x, workers=1, overwrite=False):
    return scipy.fft.ifft2(x, workers=workers, overwrite_x=overwrite)


def shape_for(size: int) -> tuple[int, int]:
    """(rows, cols) of the frame with exactly ``size`` pixels whose aspect is closest to 16:9."""
    size = int(size)
    if size < 1:
        raise InputError(f"fftmask: a frame needs at least one pixel, not size {size}")
    target = math.sqrt(size * 9 / 16)
    best = None
    for d in range(1, math.isqrt(size) + 1):
        if size % d:
            continue
        for rows in (d, size // d):
            key = (abs(math.log(rows / target)), rows)  # ties: fewer rows (a wide frame)
            if best is None or key < best[0]:
                best = (key, rows)
    rows = best[1]
    return rows, size // rows


def lowpass_mask(shape) -> np.ndarray:
    """A circular low-pass mask (float32, 1 inside, 0 outside) in unshifted FFT layout (DC at 0,0).

    A pixel keeps its frequency when ``hypot(fy, fx) <= CUTOFF * 0.5`` cycles per pixel, with
    ``fy, fx`` from ``np.fft.fftfreq``. Deterministic: it depends on the shape alone.
    """
    rows, cols = shape
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols), np.float32)
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.fftfreq(cols)[None, :]
    return (np.hypot(fy, fx) <= CUTOFF * 0.5).astype(np.float32)


# -- the mask step, once per target ------------------------------------------------------------


def mask_rows(frame, mask):
    """In place: ``frame[i, j] *= mask[i, j]`` (complex64 times float32), row by row."""
    rows, cols = frame.shape
    for i in prange(rows):  # a plain range unless compiled with parallel=True
        for j in range(cols):
            frame[i, j] *= mask[i, j]
    return frame


#: one thread (cpu target)
mask_loop = numba.njit(mask_rows)
#: the rows shared among Numba's threads (parallel target)
mask_prange = numba.njit(parallel=True)(mask_rows)


def apply_mask(frame, mask):
    """CUDA kernel, in place: ``frame[i, j] *= mask[i, j]`` over a 2-D grid-stride loop.

    x (the fastest-varying thread index) walks columns, y walks rows; the loops stop at the frame's
    edges, so any grid covers any frame (including an empty one) without an out-of-bounds access.
    """
    col0, row0 = cuda.grid(2)
    col_step, row_step = cuda.gridsize(2)
    rows, cols = frame.shape
    for i in range(row0, rows, row_step):
        for j in range(col0, cols, col_step):
            frame[i, j] *= mask[i, j]


@lru_cache(maxsize=None)
def cuda_apply_mask():
    """The jitted ``apply_mask``, built on first use (simulator or GPU: the worker's choice)."""
    return cuda.jit(apply_mask)


def mask_launch(shape) -> tuple[tuple[int, int], tuple[int, int]]:
    """(blocks, threads) for ``apply_mask`` over a frame of ``shape`` in this process."""
    if simulator_active():
        return (2, 2), (8, 4)  # 128 Python threads; the grid-stride loop does the rest
    rows, cols = shape
    tx, ty = 32, 8
    bx = max(1, min(math.ceil(cols / tx), 65535))
    by = max(1, min(math.ceil(rows / ty), 65535))
    return (bx, by), (tx, ty)


def launch_mask(frame, mask, stream=0):
    """Launch ``apply_mask`` on device arrays ``frame`` (in place) and ``mask``."""
    blocks, threads = mask_launch(frame.shape)
    cuda_apply_mask()[blocks, threads, stream](frame, mask)
    return frame


def apply_mask_article(frame, mask):
    """The article's kernel: ``i, j = cuda.grid(2)``, one thread per pixel, x (the fastest-varying
    thread index) walking rows, so a warp's 32 threads touch addresses a whole row apart.

    The article leaves out the bounds check (its launch tiles its frame exactly); it is added here,
    as any frame size needs it. Variant ``article`` of target cuda; ``apply_mask`` is ``tuned``.
    """
    i, j = cuda.grid(2)
    if i < frame.shape[0] and j < frame.shape[1]:
        frame[i, j] *= mask[i, j]


@lru_cache(maxsize=None)
def cuda_apply_mask_article():
    return cuda.jit(apply_mask_article)


#: the article's launch: 16x16 threads, enough blocks to give every pixel its own thread
ARTICLE_THREADS = (16, 16)


def launch_mask_article(frame, mask, stream=0):
    """Launch ``apply_mask_article`` over ``frame`` (in place): blocks tile rows (x) and columns (y)."""
    rows, cols = frame.shape
    tx, ty = ARTICLE_THREADS
    blocks = (max(1, math.ceil(rows / tx)), max(1, math.ceil(cols / ty)))
    cuda_apply_mask_article()[blocks, ARTICLE_THREADS, stream](frame, mask)
    return frame


#: variant -> how its mask step is launched (in place on the same memory); the fused variant's own
#: mask runs inside cuFFT, so its separate mask row times the coalesced kernel
MASK_LAUNCH = {ARTICLE: launch_mask_article, TUNED: launch_mask, "fused": launch_mask}


# -- cudasim: the host FFT writes into the simulator's device memory ----------------------------


def sim_buffer(dev) -> np.ndarray:
    """The host memory behind a simulator device array, as a zero-copy NumPy view.

    Simulator only: there a device array wraps a NumPy array, and ``np.asarray`` reaches it through
    the array interface the wrapper forwards. (A real device array has no host memory to view.)
    """
    return np.asarray(dev)


def sim_fft_into(frame_dev, out_dev) -> None:
    """FFT of ``frame_dev`` written into ``out_dev``'s memory (cuFFT's role, played by the host)."""
    sim_buffer(out_dev)[...] = fft2(sim_buffer(frame_dev))


def sim_ifft_inplace(out_dev) -> None:
    buf = sim_buffer(out_dev)
    buf[...] = ifft2(buf, overwrite=True)


def _sim_pipeline(launch):
    def run(a):
        sim_fft_into(a["frame"], a["out"])
        launch(a["out"], a["mask"])  # device arrays: the simulator copies nothing
        sim_ifft_inplace(a["out"])
        return a["out"]

    return run


_run_sim = _sim_pipeline(launch_mask_article)
_run_sim_tuned = _sim_pipeline(launch_mask)


# -- cuda: cuFFT through CuPy, apply_mask on the same memory, one stream ------------------------


def _cupy():
    """CuPy, or TargetUnavailable saying why the cuda target cannot run."""
    try:
        import cupy

        return cupy
    except ImportError:
        raise TargetUnavailable(
            "fftmask: the cuda target runs cuFFT through CuPy (cupy.fft; pyculib, the article's "
            "library, is dead), and CuPy is not installed: pip install 'numbabench[gpu]'"
        ) from None


def _cupy_fft():
    _cupy()
    import cupyx.scipy.fft as cfft

    return cfft


def cuda_mask_step(spec, mask_nb, launch=launch_mask_article):
    """The mask kernel (``launch``: the article's by default) on a CuPy array, zero copy, queued on
    CuPy's current stream.

    ``sync=False``: Numba does not wait for CuPy's stream when it wraps ``spec`` — the kernel goes
    onto that very stream, behind the FFT that produced ``spec``, so the order is already right.
    """
    cupy = _cupy()
    stream = cuda.external_stream(cupy.cuda.get_current_stream().ptr)
    launch(cuda.as_cuda_array(spec, sync=False), mask_nb, stream)
    return spec


def _cuda_pipeline(launch):
    def run(a):
        cfft = _cupy_fft()
        spec = cfft.fft2(a["frame"])  # cuFFT; a new device array from CuPy's memory pool
        cuda_mask_step(spec, a["mask_nb"], launch)  # Numba kernel, in place on the same memory
        return cfft.ifft2(spec, overwrite_x=True)  # cuFFT again, in place

    return run


_run_cuda = _cuda_pipeline(launch_mask_article)
_run_cuda_tuned = _cuda_pipeline(launch_mask)


def _run_cupy(a):
    cfft = _cupy_fft()
    spec = cfft.fft2(a["frame"])
    spec *= a["mask"]
    return cfft.ifft2(spec, overwrite_x=True)


# -- CPU targets -------------------------------------------------------------------------------


def _run_numpy(a):
    spec = fft2(a["frame"])
    spec *= a["mask"]
    return ifft2(spec, overwrite=True)


def _run_cpu(a):
    spec = fft2(a["frame"], workers=1)
    mask_loop(spec, a["mask"])
    return ifft2(spec, workers=1, overwrite=True)


def _run_parallel(a):
    w = numba.get_num_threads()
    spec = fft2(a["frame"], workers=w)
    mask_prange(spec, a["mask"])
    return ifft2(spec, workers=w, overwrite=True)


# -- tuned host variants ------------------------------------------------------------------------


def host_cores() -> int:
    """The cores this process may run on: the threads to give scipy.fft in the tuned variants."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: frames smaller than this (pixels) get one FFT thread in the tuned variants: below it, handing
#: the transform to a second thread cost more than it saved (180x320: 0.4-0.7x with workers=2,
#: measured on a shared 2-core machine, docs/techniques-cpu.md)
FFT_THREADS_MIN = 1 << 18


def fft_workers(size: int, cores: int) -> int:
    """The scipy.fft ``workers`` of a tuned variant for a frame of ``size`` pixels."""
    return cores if size >= FFT_THREADS_MIN else 1


@numba.njit
def mask_flat(spec, mask):
    """In place over flat C-contiguous views, one loop from 0: LLVM vectorizes it."""
    for i in range(mask.shape[0]):
        spec[i] *= mask[i]
    return spec


def _run_numpy_tuned(a):
    w = fft_workers(a["frame"].size, host_cores())
    spec = fft2(a["frame"], workers=w)
    np.multiply(spec, a["mask"], out=spec)
    return ifft2(spec, workers=w, overwrite=True)


def _run_parallel_tuned(a):
    # All cores go to the FFT; the mask (a few % of the pipeline) runs on this thread, so no
    # Numba thread pool spins beside pocketfft's workers for the cores.
    w = fft_workers(a["frame"].size, numba.get_num_threads())
    spec = fft2(a["frame"], workers=w)
    mask_flat(spec.reshape(-1), a["mask"].reshape(-1))
    return ifft2(spec, workers=w, overwrite=True)


#: the threading settings of this technique's host workers (docs/threading.md)
# (a priority, not NUMBA_THREADING_LAYER=omp: where OpenMP is missing Numba falls back, not fails)
OMP_PASSIVE = {"NUMBA_THREADING_LAYER_PRIORITY": "omp tbb workqueue", "OMP_WAIT_POLICY": "passive"}


@register
class FFTMask(Technique):
    name = "fftmask"
    title = "FFT from a library, a custom mask kernel, inverse FFT, one device memory"
    article_item = 1
    targets = ("numpy", "cpu", "parallel", "cuda", "cudasim", "cupy")
    needs = {"cuda": "cupy"}  # its cuda variant runs cuFFT through CuPy
    #: ``fused``: the mask as a cuFFT store callback compiled by nvmath-python (fftmask_fused.py)
    variants = {"numpy": (ARTICLE, TUNED), "parallel": (ARTICLE, TUNED), "cuda": (ARTICLE, TUNED, "fused"),
                "cudasim": (ARTICLE, TUNED)}
    # OpenMP with passive waiting: spinning OpenMP threads fight scipy.fft's workers for the cores
    # (docs/threading.md). One environment for every host pair keeps them in one worker, interleaved.
    variant_env = {("numpy", ARTICLE): OMP_PASSIVE, ("numpy", TUNED): OMP_PASSIVE, ("cpu", ARTICLE): OMP_PASSIVE,
                   ("parallel", ARTICLE): OMP_PASSIVE, ("parallel", TUNED): OMP_PASSIVE}
    dtypes = ("complex64",)
    sizes = {
        "quick": (57_600, 921_600),  # 180x320, 720x1280
        # 90x160, 180x320, 360x640, 720x1280, 1080x1920, 1440x2560
        "full": (14_400, 57_600, 230_400, 921_600, 2_073_600, 3_686_400),
        "gpu": (57_600, 921_600, 3_686_400),  # make gpu-check: up to the largest frame, 1440x2560
    }
    simulator_sizes = {"quick": (128, 2_048), "full": (128, 2_048, 8_192, 32_768),  # 8x16 .. 128x256
                       "gpu": (2_048,)}
    simulator_max_size = 32_768
    rtol = 0.0
    atol = 0.0  # relative to the reference's magnitude: see compare()

    def make_inputs(self, size, seed=0, dtype=None):
        dtype = np.dtype(dtype or self.default_dtype())
        if dtype != np.complex64:
            raise self.input_error(f"the frame is complex64, not {dtype}")
        rows, cols = shape_for(size)
        rng = np.random.default_rng(seed)
        y = np.arange(rows)[:, None] / rows
        x = np.arange(cols)[None, :] / cols
        scene = np.cos(2 * np.pi * 3 * y) * np.cos(2 * np.pi * 5 * x)  # survives the low-pass
        noise = rng.standard_normal((rows, cols)) + 1j * rng.standard_normal((rows, cols))
        frame = (scene + 0.5 * noise).astype(np.complex64)
        return {"frame": frame, "mask": lowpass_mask((rows, cols))}

    def check_inputs(self, inputs):
        try:
            frame, mask = inputs["frame"], inputs["mask"]
        except KeyError as exc:
            raise self.input_error(f"missing input {exc}; expected frame, mask") from None
        for name, a, want in (("frame", frame, np.complex64), ("mask", mask, np.float32)):
            if not isinstance(a, np.ndarray) or a.ndim != 2:
                raise self.input_error(f"{name} must be a 2-D NumPy array, got {_describe(a)}")
            if a.dtype != want:
                raise self.input_error(
                    f"{name} must be {np.dtype(want).name}, got {a.dtype}; "
                    f"convert with {name}.astype(np.{np.dtype(want).name})"
                )
            if not a.flags.c_contiguous:
                raise self.input_error(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")
        if frame.shape != mask.shape:
            raise self.input_error(f"mask shape {mask.shape} does not match frame shape {frame.shape}")
        if frame.size == 0:
            raise self.input_error(f"an FFT needs at least one pixel; frame shape is {frame.shape}")
        return {"frame": frame, "mask": mask}

    def reference(self, inputs):
        spec = np.fft.fft2(inputs["frame"].astype(np.complex128))
        return np.fft.ifft2(spec * inputs["mask"]).astype(np.complex64)

    def compare(self, got, want):
        """Correct when max|got - want| <= ATOL_REL * max|want| (NaNs must sit in the same places)."""
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            return False, float("inf")
        if got.size == 0:
            return True, 0.0
        nan_got, nan_want = np.isnan(got), np.isnan(want)
        if not np.array_equal(nan_got, nan_want):
            return False, float("inf")
        ok = ~nan_want
        if not ok.any():
            return True, 0.0
        w = want[ok].astype(np.complex128)
        err = float(np.abs(got[ok].astype(np.complex128) - w).max())
        return bool(err <= ATOL_REL * float(np.abs(w).max())), err

    def implementation(self, target, variant=ARTICLE):
        if variant == TUNED and target in ("cuda", "cudasim"):
            if target == "cuda":
                require_in_process(target)
                _cupy()
            return {"cuda": _run_cuda_tuned, "cudasim": _run_sim_tuned}[target]
        if variant == TUNED:
            return {"numpy": _run_numpy_tuned, "parallel": _run_parallel_tuned}[target]
        if target == "cuda":
            require_in_process(target)  # no GPU here, or this is the simulator: say so first
            _cupy()  # then: a GPU, but no CuPy
            if variant == "fused":
                from . import fftmask_fused

                fftmask_fused.require_nvmath()  # and last: no nvmath-python
                return fftmask_fused.run_fused
        return {
            "numpy": _run_numpy,
            "cpu": _run_cpu,
            "parallel": _run_parallel,
            "cuda": _run_cuda,
            "cudasim": _run_sim,
            "cupy": _run_cupy,
        }[target]

    def prepare(self, target, inputs):
        if target == "cuda":
            # CuPy owns the device memory; Numba gets a view of the mask (zero copy, no sync).
            require_in_process(target)
            cupy = _cupy()
            frame, mask = cupy.asarray(inputs["frame"]), cupy.asarray(inputs["mask"])
            return {"frame": frame, "mask": mask, "mask_nb": cuda.as_cuda_array(mask, sync=False)}
        args = super().prepare(target, inputs)
        if target == "cudasim":
            args["out"] = memory(target).empty(inputs["frame"].shape, np.complex64)
        return args

    def fetch(self, target, out):
        if target == "cuda":
            return _cupy().asnumpy(out)
        return super().fetch(target, out)

    def bytes_moved(self, size, dtype=None):
        return 3 * 2 * size * 8 + size * 4

    def flops(self, size, dtype=None):
        return 2 * fft_flops(size) + 2 * size

    # -- library vs custom kernel: fft, mask and ifft on their own -----------------------------
    def steps(self, target, args, variant=ARTICLE) -> dict:
        """phase -> (callable, bytes, flops): the pipeline's three steps of ``variant``, each
        repeatable alone.

        The mask step runs in place on a spectrum made once (the 0/1 mask makes it idempotent);
        the inverse FFT reads that spectrum and leaves it as it is.
        """
        size = int(np.prod(args["frame"].shape))
        f, m = args["frame"], args["mask"]
        if target in ("numpy", "cpu", "parallel"):
            if variant == TUNED:
                w = fft_workers(size, numba.get_num_threads() if target == "parallel" else host_cores())
            else:
                w = numba.get_num_threads() if target == "parallel" else 1
            spec = fft2(f, workers=w)
            if target == "parallel" and variant == TUNED:
                flat, mflat = spec.reshape(-1), m.reshape(-1)
                mask_fn = lambda: mask_flat(flat, mflat)
            else:
                mask_fn = {"numpy": lambda: np.multiply(spec, m, out=spec),
                           "cpu": lambda: mask_loop(spec, m),
                           "parallel": lambda: mask_prange(spec, m)}[target]
            fft_fn, ifft_fn = (lambda: fft2(f, workers=w)), (lambda: ifft2(spec, workers=w))
        elif target == "cudasim":
            spec = memory(target).empty(f.shape, np.complex64)
            sim_fft_into(f, spec)
            fft_fn = lambda: sim_fft_into(f, args["out"])
            mask_fn = lambda: MASK_LAUNCH[variant](spec, m)
            ifft_fn = lambda: ifft2(sim_buffer(spec))
        elif target in ("cuda", "cupy"):
            cfft = _cupy_fft()
            spec = cfft.fft2(f)
            fft_fn, ifft_fn = (lambda: cfft.fft2(f)), (lambda: cfft.ifft2(spec))
            if target == "cuda":
                mask_fn = lambda: cuda_mask_step(spec, args["mask_nb"], MASK_LAUNCH[variant])
            else:
                cupy = _cupy()
                mask_fn = lambda: cupy.multiply(spec, m, out=spec)
        else:
            raise TargetUnavailable(f"fftmask: no steps for target {target!r}")
        frame_rw = 2 * size * 8
        return {"fft": (fft_fn, frame_rw, fft_flops(size)),
                "mask": (mask_fn, frame_rw + size * 4, 2 * size),
                "ifft": (ifft_fn, frame_rw, fft_flops(size))}

    def extra_rows(self, target, inputs, opts):
        """fft, mask and ifft rows for each variant of the cell on ``target`` (``opts['variants']``)."""
        args = self.prepare(target, inputs)
        sync = memory(target).synchronize
        t_opts = {k: opts[k] for k in ("min_time", "repeat") if k in opts}
        rows = []
        for variant in opts.get("variants") or (ARTICLE,):
            for phase, (fn, nbytes, nflops) in self.steps(target, args, variant).items():
                fn()  # warm up: compile, cuFFT plan, memory pool
                sync()
                tm = timing.steady(fn, sync, **t_opts)
                rows.append(dict(
                    phase=phase, variant=variant, **tm.as_row(), bytes=nbytes, flops=nflops,
                    gbps=nbytes / tm.median_s / 1e9 if tm.median_s > 0 else None,
                    gflops=nflops / tm.median_s / 1e9 if nflops and tm.median_s > 0 else None,
                ))
        return rows

    def kernels(self):
        sig = (types.Array(types.complex64, 2, "C"), types.Array(types.float32, 2, "C"))
        return [Kernel("apply_mask", apply_mask, (sig,))]

    def ptx_paths(self):
        """The article variant's kernel (``kernels()`` lists the tuned one, ``apply_mask``)."""
        sig = (types.Array(types.complex64, 2, "C"), types.Array(types.float32, 2, "C"))
        return [Kernel("apply_mask_article", apply_mask_article, (sig,))]


def fft_flops(size: int) -> int:
    """The standard estimate for one complex FFT of ``size`` points: 5 N log2 N."""
    return int(5 * size * math.log2(size)) if size > 1 else 0


def _describe(v) -> str:
    if isinstance(v, np.ndarray):
        return f"a {v.ndim}-D {v.dtype} array"
    return type(v).__name__
