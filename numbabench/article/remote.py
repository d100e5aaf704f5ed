"""remote — article item 6: Numba functions pickle, so dask.distributed can run them on workers.

Per target it ships one function (or two: by value and by reference) with cloudpickle and, beside
the local ``compute``, records its pickle's size and kind (``pickle_bytes``, ``pickled_by``), the
``dumps``/``loads``/``loads_call`` times, and ``submit_first``/``submit`` round trips on a lazily
started one-worker ``LocalCluster`` (submit rows ``skipped`` without the ``dist`` extra).

Targets: ``numpy`` (``np.cos``), ``cpu`` (an ``@njit`` loop; a ``@vectorize`` DUFunc, raw and behind
a module wrapper), ``parallel`` (a ``target='parallel'`` ufunc: pickles by reference), ``cuda`` and
``cudasim`` (the article's ``do_cos`` around a ``@cuda.jit`` kernel, raw and behind a module wrapper).
The same functions also go to a local Spark session inside ``pandas_udf`` and ``mapInPandas``
(``spark_*`` rows, numbabench/spark.py): the parallel ufunc defined in the driver script does not
travel there (status ``limitation``).

Roofline (``compute`` rows only): read ``x``, write the result; one flop per element (cosine as
one). What pickles how and what each unpickle costs: docs/techniques/remote.md.
"""
from __future__ import annotations

import atexit
import logging
import math
import multiprocessing
import pickle
import time
import types as pytypes
from functools import lru_cache

import cloudpickle
import numba
import numpy as np
from numba import cuda, prange, vectorize
from numba.core import types

from .. import timing, vecmath
from ..devices import launch_config
from ..registry import ARTICLE, TUNED, Kernel, Technique, register

DIST_MISSING = "dask.distributed is not installed: pip install 'numbabench[dist]'"
#: seconds a single dask round trip may take before it counts as failed (the first one compiles)
SUBMIT_TIMEOUT = 300.0
_PARALLEL_SIGNATURES = ["float32(float32)", "float64(float64)"]
SUBMIT_PHASES = ("submit_first", "submit")


# -- the functions that travel --------------------------------------------------------------------
@numba.njit
def cos_njit(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = math.cos(x[i])
    return out


@vectorize
def cos_dufunc(x):
    return math.cos(x)


def cos_dufunc_call(x):
    """Ship this rather than ``cos_dufunc``: it pickles by reference, the DUFunc stays on the worker."""
    return cos_dufunc(x)


def _cos_parallel(x):
    return math.cos(x)


def parallel_ufunc():
    """The ``target='parallel'`` ufunc, built (and compiled) on first use, not at import.

    It is published as the module attribute ``cos_parallel`` — its own ``__name__`` — because that
    is all its pickle holds: unpickling runs ``from numbabench.article.remote import
    cos_parallel``, which reaches this builder through the module's ``__getattr__``.
    """
    fn = globals().get("cos_parallel")
    if fn is None:
        pyfunc = pytypes.FunctionType(_cos_parallel.__code__, globals(), "cos_parallel")
        pyfunc.__qualname__ = "cos_parallel"
        fn = vectorize(_PARALLEL_SIGNATURES, target="parallel")(pyfunc)
        assert fn.__name__ == "cos_parallel"
        globals()["cos_parallel"] = fn
    return fn


def __getattr__(name):  # PEP 562: `cos_parallel` exists once asked for, so it unpickles anywhere
    if name == "cos_parallel":
        return parallel_ufunc()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- tuned host variants: libmvec's vector cos into a preallocated output ------------------------
#: elements per prange block (a multiple of every vector width)
BLOCK = 4096


@numba.njit
def cos_tuned(x, out):
    vecmath.cos_into(x, out)
    return out


@numba.njit(parallel=True)
def cos_tuned_prange(x, out):
    n = x.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(lo + BLOCK, n)
        vecmath.cos_into(x[lo:hi], out[lo:hi])  # slices from 0: contiguous blocks, vector calls
    return out


def gpu_cos(x, out):
    """The article's kernel: a grid-stride loop, so any launch covers any length."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = math.cos(x[i])


@lru_cache(maxsize=None)
def _cuda_gpu_cos():
    # Built on first use: whether numba.cuda is the GPU or the simulator is the worker's business.
    return cuda.jit(gpu_cos)


def do_cos(x):
    """The article's wrapper, as an importable function: it pickles by reference (module + name).

    A worker imports this module once, and the kernel compiles once per worker process.
    """
    d_x = cuda.to_device(x)
    out = cuda.device_array_like(d_x)
    blocks, threads = launch_config(x.shape[0])
    _cuda_gpu_cos()[blocks, threads](d_x, out)
    return out.copy_to_host()


def _make_do_cos(kernel):
    # A closure is what a notebook gives cloudpickle: nothing it can import, so it ships the code.
    # Everything it needs is inside it (no numbabench helper), as the article's do_cos is.
    def do_cos(x):
        n = x.shape[0]
        if numba.config.ENABLE_CUDASIM:
            blocks, threads = 4, 32  # one Python thread per CUDA thread: keep the grid tiny
        else:
            threads = 256
            blocks = max(1, min((n + threads - 1) // threads, 1024))
        d_x = cuda.to_device(x)
        out = cuda.device_array_like(d_x)
        kernel[blocks, threads](d_x, out)
        return out.copy_to_host()

    return do_cos


@lru_cache(maxsize=None)
def shipped_do_cos():
    """``do_cos`` as the article writes it in a notebook: the wrapper and its kernel go by value.

    The kernel's Python function is a twin of ``gpu_cos`` that cloudpickle cannot find by name,
    so numba-cuda ships its code, as it would a function defined in ``__main__``.
    """
    twin = pytypes.FunctionType(gpu_cos.__code__, gpu_cos.__globals__, "gpu_cos")
    twin.__qualname__ = "shipped_do_cos.<locals>.gpu_cos"
    return _make_do_cos(cuda.jit(twin))


def _run_device(a):
    out = a.get("out")
    if out is None:
        # No allocation inside a timed call: the output is made once per prepared inputs (by the
        # first, compiling call, unless ``prepare`` already made it) and reused by every call after.
        out = a["out"] = cuda.device_array_like(a["x"])
    blocks, threads = launch_config(a["x"].shape[0])
    _cuda_gpu_cos()[blocks, threads](a["x"], out)
    return out


def shipped(target: str) -> list[tuple[str, str, object]]:
    """(phase prefix, description, function) of each function this target ships."""
    if target == "numpy":
        return [("", "np.cos", np.cos)]
    if target == "cpu":
        return [("", "@njit cos_njit", cos_njit),
                ("dufunc_", "@vectorize cos_dufunc (target='cpu' DUFunc)", cos_dufunc),
                ("dufunc_byref_", "cos_dufunc_call, a module function calling cos_dufunc", cos_dufunc_call)]
    if target == "parallel":
        return [("", "@vectorize(target='parallel') cos_parallel", parallel_ufunc())]
    if target in ("cuda", "cudasim"):
        return [("", "do_cos + @cuda.jit gpu_cos, notebook style (closure)", shipped_do_cos()),
                ("byref_", "do_cos + @cuda.jit gpu_cos from numbabench.article.remote", do_cos)]
    raise KeyError(target)


# -- pickling ---------------------------------------------------------------------------------
def pickled_by(payload: bytes) -> str:
    """'value' if a pickle carries Python code (a code object), else 'reference'.

    cloudpickle (and Numba's copy of it) rebuilds a function shipped by value from a
    ``types.CodeType``; a function, ufunc or module attribute shipped by reference is just a
    module and a name.
    """
    return "value" if b"CodeType" in payload else "reference"


# -- the cluster ------------------------------------------------------------------------------
_cluster = None  # (LocalCluster, Client) of this process


def dask_unavailable() -> str | None:
    """Why dask.distributed cannot be used here, or None when it can."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return DIST_MISSING
    try:
        from distributed import get_worker

        get_worker()
        return ("this cell runs inside a dask worker (a --cluster sweep): the submit round trip is "
                "measured by a plain `numbabench run`, which starts its own LocalCluster")
    except ValueError:  # not in a dask worker
        pass
    if multiprocessing.current_process().daemon:
        # e.g. this cell itself runs inside a dask worker: daemonic processes may not have children
        return ("this process is daemonic (a dask worker?) and cannot start the worker processes of a "
                "LocalCluster(processes=True); run this technique from `numbabench run`")
    return None


def client():
    """The Client of this process's LocalCluster, started on first use and reused after.

    One worker process with one thread (so every submit meets the same warm worker), no dashboard
    (no port to clash with), quiet logs. Closed at process exit.
    """
    global _cluster
    if _cluster is not None and _cluster[1].status == "running":
        return _cluster[1]
    close_cluster()
    from distributed import Client, LocalCluster

    # dashboard_address=None turns the dashboard off, but the scheduler still serves its HTTP
    # routes, on port 8787 unless told otherwise: a random local port clashes with nobody.
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                           silence_logs=logging.ERROR)
    try:
        cl = Client(cluster)
        cl.wait_for_workers(1, timeout=120)
    except BaseException:
        cluster.close()
        raise
    _cluster = (cluster, cl)
    atexit.register(close_cluster)
    return cl


def close_cluster() -> None:
    """Close this process's LocalCluster (and its worker processes), if one was started."""
    global _cluster
    if _cluster is None:
        return
    cluster, cl = _cluster
    _cluster = None
    for thing in (cl, cluster):
        try:
            thing.close()
        except Exception:
            pass


#: the threading settings of this technique's host workers (docs/threading.md)
WORKQUEUE = {"NUMBA_THREADING_LAYER": "workqueue"}


@register
class Remote(Technique):
    name = "remote"
    title = "functions shipped by cloudpickle and run on dask.distributed workers"
    article_item = 6
    targets = ("numpy", "cpu", "parallel", "cuda", "cudasim")
    sizes = {"quick": (1_000, 100_000), "full": (1_000, 10_000, 100_000, 1_000_000),
             "gpu": (1_000, 1_000_000)}  # make gpu-check
    simulator_sizes = {"quick": (1_000, 10_000), "full": (1_000, 10_000), "gpu": (1_000,)}
    simulator_max_size = 100_000
    rtol = 1e-5
    atol = 1e-6
    variants = {"numpy": (ARTICLE, TUNED), "cpu": (ARTICLE, TUNED), "parallel": (ARTICLE, TUNED)}
    # the parallel ufunc's inner loop gets one element per call under OpenMP: it runs under
    # workqueue in a worker of its own; the tuned prange is fastest under OpenMP (docs/threading.md)
    variant_env = {("parallel", ARTICLE): WORKQUEUE}

    def make_inputs(self, size, seed=0, dtype=None):
        dtype = np.dtype(dtype or self.default_dtype())
        rng = np.random.default_rng(seed)
        return {"x": rng.uniform(-10, 10, size).astype(dtype)}

    def check_inputs(self, inputs):
        try:
            x = inputs["x"]
        except (KeyError, TypeError):
            raise self.input_error("missing input 'x'; expected {'x': a 1-D float array}") from None
        if not isinstance(x, np.ndarray) or x.ndim != 1:
            what = f"a {x.ndim}-D {x.dtype} array" if isinstance(x, np.ndarray) else type(x).__name__
            raise self.input_error(f"x must be a 1-D NumPy array, got {what}")
        if x.dtype.name not in self.dtypes:
            raise self.input_error(f"x must be float32 or float64, got {x.dtype}")
        if not x.flags.c_contiguous:
            raise self.input_error("x must be contiguous; pass np.ascontiguousarray(x)")
        return {"x": x}

    def reference(self, inputs):
        return np.cos(inputs["x"])

    def outputs(self, inputs):
        return {"out": (inputs["x"].shape, inputs["x"].dtype)}  # the tuned variants write here

    def implementation(self, target, variant=ARTICLE):
        if variant == TUNED:
            return {
                "numpy": lambda a: np.cos(a["x"], out=a["out"]),
                "cpu": lambda a: cos_tuned(a["x"], a["out"]),
                "parallel": lambda a: cos_tuned_prange(a["x"], a["out"]),
            }[target]
        return {
            "numpy": lambda a: np.cos(a["x"]),
            "cpu": lambda a: cos_njit(a["x"]),
            "parallel": lambda a: parallel_ufunc()(a["x"]),
            "cuda": _run_device,
            "cudasim": _run_device,
        }[target]

    def bytes_moved(self, size, dtype=None):
        return 2 * size * np.dtype(dtype or self.default_dtype()).itemsize  # read x, write out

    def flops(self, size, dtype=None):
        return size  # one cosine per element, counted as one operation

    def kernels(self):
        sigs = tuple((types.Array(t, 1, "C"), types.Array(t, 1, "C")) for t in (types.float32, types.float64))
        return [Kernel("gpu_cos", gpu_cos, sigs)]

    # -- the transport rows -------------------------------------------------------------------
    def extra_rows(self, target, inputs, opts):
        """The dask rows, then the same functions in a local Spark session (numbabench/spark.py)."""
        from .. import spark

        return self._dask_rows(target, inputs, opts) + spark.rows(target, inputs["x"], self.reference(inputs),
                                                                  self.compare)

    def _dask_rows(self, target, inputs, opts):
        """Pickling rows for each shipped function, then its dask round trips; never raises.

        A failure becomes a row with status ``failed`` (or ``skipped`` without dask) and the reason,
        so the cell's compute rows are kept whatever happens here.
        """
        x = inputs["x"]
        want = self.reference(inputs)
        t_opts = {"min_time": opts.get("min_time", 0.2), "repeat": opts.get("repeat")}
        try:
            functions = shipped(target)
        except Exception as exc:
            return [_row("pickle_bytes", target, status="failed", error=f"cannot build the function: {_one_line(exc)}")]
        rows = []
        for prefix, what, fn in functions:
            rows.extend(self._pickle_rows(prefix, what, fn, x, want, t_opts))

        def submit_failed(status, error):
            return [_row(prefix + phase, what, status=status, error=error)
                    for prefix, what, _ in functions for phase in SUBMIT_PHASES]

        why = dask_unavailable()
        if why is not None:
            return rows + submit_failed("skipped", why)
        started = _cluster is None
        t0 = time.perf_counter()
        try:
            cl = client()
            cluster_s = time.perf_counter() - t0
            x_remote = cl.scatter(x, hash=False)  # the data lives on the worker; functions go there
        except Exception as exc:
            return rows + submit_failed("failed", f"could not start a dask LocalCluster: {_one_line(exc)}")
        if started:
            rows.append(_row("cluster_start", "LocalCluster(processes=True, n_workers=1)", median_s=cluster_s,
                             spread_s=0.0, min_s=cluster_s, repeats=1, number=1))
        try:
            for prefix, what, fn in functions:
                rows.extend(self._submit_rows(cl, prefix, what, fn, x, x_remote, want, t_opts))
        finally:
            x_remote.release()
        return rows

    def _pickle_rows(self, prefix, what, fn, x, want, t_opts):
        stage = "it fails when called here"
        try:
            fn(x)  # "check that it works locally first", as the article does: ship a used function
            stage = "cloudpickle cannot pickle it"
            payload = cloudpickle.dumps(fn)
            by = pickled_by(payload)
            rows = [_row(prefix + "pickle_bytes", what, pickled_by=by, value=len(payload), unit="bytes",
                         median_s=None)]
            for phase, call in (("dumps", lambda: cloudpickle.dumps(fn)), ("loads", lambda: pickle.loads(payload))):
                stage = f"{phase} failed"
                rows.append(_row(prefix + phase, what, pickled_by=by, **timing.steady(call, **t_opts).as_row()))
            stage = "the unpickled copy fails when called"
            correct, err = self.compare(pickle.loads(payload)(x), want)
            tm = timing.steady(lambda: pickle.loads(payload)(x), **t_opts)
        except Exception as exc:
            return [_row(prefix + "pickle_bytes", what, status="failed", error=f"{stage}: {_one_line(exc)}")]
        rows.append(_row(prefix + "loads_call", what, pickled_by=by, **_checked(correct, err), **tm.as_row()))
        return rows

    def _submit_rows(self, cl, prefix, what, fn, x, x_remote, want, t_opts):
        def round_trip():
            return cl.submit(fn, x_remote, pure=False).result(timeout=SUBMIT_TIMEOUT)

        try:
            fn(x)  # compiled here already: the local call is timed warm
            local = timing.steady(lambda: fn(x), **t_opts).median_s
            t0 = time.perf_counter()
            got = round_trip()  # the worker unpickles it (and compiles it) for the first time
            first = time.perf_counter() - t0
            correct, err = self.compare(got, want)
            # one round trip per sample: each takes milliseconds; the median of those is the figure
            steady = timing.steady(round_trip, resolution=0.0, max_samples=50, **t_opts)
        except Exception as exc:
            error = f"dask round trip failed: {_one_line(exc)}"
            return [_row(prefix + phase, what, status="failed", error=error) for phase in SUBMIT_PHASES]
        check = _checked(correct, err)
        return [
            _row(prefix + "submit_first", what, median_s=first, spread_s=0.0, min_s=first, repeats=1, number=1,
                 local_s=local, **check),
            _row(prefix + "submit", what, local_s=local, overhead_s=steady.median_s - local, **check,
                 **steady.as_row()),
        ]


def _one_line(exc: BaseException) -> str:
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _checked(correct: bool, err: float) -> dict:
    return {"correct": correct, "max_abs_err": err, "status": "ok" if correct else "wrong",
            "error": None if correct else f"result differs from the NumPy reference (max abs error {err:.3g})"}


def _row(phase: str, what: str, status: str = "ok", error: str | None = None, **fields) -> dict:
    row = {"phase": phase, "function": what, "status": status, "error": error, "correct": None,
           "max_abs_err": None}
    row.update(fields)
    return row
