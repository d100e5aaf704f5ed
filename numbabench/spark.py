"""The Spark Python API, the article's other distributed system: remote's functions in a local session.

The ``remote`` technique ships its functions to dask workers; here the same functions go to a
local Spark session (``local[1]``: one executor thread, one Python worker) inside the two ways
PySpark runs pandas code, ``pandas_udf`` (a Series in, a Series out, per Arrow batch) and
``DataFrame.mapInPandas`` (an iterator of DataFrames). PySpark pickles the wrapper with its own
cloudpickle, the Numba function inside it travels as it does to dask (by value or by reference),
and the Python worker unpickles and compiles it.

Per function and API: the first call (the worker unpickles and compiles, and, for the first one a
session sees, the Python worker starts) and the median of warm calls, each a whole collect of the
column back to the driver; whether the result equals NumPy's; and, where a function does not
travel, the reason. The case the article warns about ("but not ufuncs") is a ``target='parallel'``
ufunc defined in the driver script: a parallel ufunc pickles by name, a driver's ``__main__`` goes
by ``__mp_main__`` once multiprocessing is imported, and Spark's worker has no such module. It
gets status ``limitation``. The same ufunc from an importable module (``remote.cos_parallel``)
travels.

The session is local and bound to loopback, uses this interpreter for its workers, starts once per
process (about 10 s) and stops at exit, or at the end of ``session()``'s block whatever happens in
it. Every Spark job carries a tag that a timer cancels after ``JOB_TIMEOUT`` seconds.
"""
from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import sys
import threading
import time
import types as pytypes
import uuid
import warnings
from dataclasses import dataclass

import numpy as np

from . import timing
from .fmt import first_line

#: ``NUMBABENCH_SPARK=0`` leaves the Spark rows out (one skipped row says so): the test suite sets
#: it for every test but tests/test_spark.py, which would otherwise start a session per process
SWITCH = "NUMBABENCH_SPARK"
SPARK_MISSING = "pyspark is not installed: pip install 'numbabench[spark]'"
JAVA_MISSING = ("Spark needs Java 17 or 21 and there is none (no java on PATH, no JAVA_HOME): "
                "apt-get install -y default-jre-headless")
#: the largest input the Spark rows are measured at unless NUMBABENCH_SPARK=all: a Spark job costs
#: seconds, whatever the size, so the quick sweep's smallest size tells the whole story
MAX_SIZE = 10_000
#: seconds one Spark job (one collect) may run before it is cancelled; the first one compiles
JOB_TIMEOUT = 120.0
#: warm calls are timed until this many seconds have passed, at most ``WARM_SAMPLES`` of them
WARM_MIN_TIME, WARM_SAMPLES = 0.5, 10
APIS = (("udf", "pandas_udf"), ("map", "mapInPandas"))
PHASES = tuple(f"spark_{short}{when}" for short, _ in APIS for when in ("_first", ""))
LIMITATION = ("the article's 'but not ufuncs': a target='parallel' ufunc pickles by name, and the one "
              "defined in the driver script names the driver's __main__ (as __mp_main__), which Spark's "
              "Python worker does not have; ship an @njit function, or import the ufunc from a module")
_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.shuffle.partitions": "1",
    "spark.python.worker.reuse": "true",
}


def java_home_ok() -> bool:
    """Whether Spark will find a Java runtime (``JAVA_HOME`` or ``java`` on PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return True
    return shutil.which("java") is not None


def spark_unavailable() -> str | None:
    """Why no Spark session can run in this process, or None when one can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return SPARK_MISSING
    if not java_home_ok():
        return JAVA_MISSING
    try:
        from distributed import get_worker

        get_worker()
        return ("this cell runs inside a dask worker (a --cluster sweep): the Spark rows are measured by "
                "a plain `numbabench run`, which starts its own local session")
    except (ImportError, ValueError):  # no dask, or not in a dask worker
        return None


# -- the session --------------------------------------------------------------------------------
_session = None  # this process's SparkSession


@dataclass(frozen=True)
class Started:
    """A session and what starting it cost (0 when it was already running)."""

    spark: object
    seconds: float
    fresh: bool


#: what PySpark 4.3 warns about on every call with pandas 3 (the results are checked against NumPy,
#: docs/systems.md), and its repeat of a worker's error that a row already gives in one line
_NOISE = ("PySpark does not yet fully support pandas", "The copy keyword is deprecated",
          "toPandas attempted Arrow optimization")


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        for text in _NOISE:
            warnings.filterwarnings("ignore", message=text)
        yield


def start() -> Started:
    """This process's local session, started on first use and reused after (stopped at exit)."""
    global _session
    if _session is not None and _session.sparkContext._jsc is not None:
        return Started(_session, 0.0, False)
    # Workers must run this interpreter (its numba, numbabench); the JVM and its workers bind to
    # loopback, never to the machine's outward address.
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    t0 = time.perf_counter()
    builder = SparkSession.builder.master("local[1]").appName("numbabench")
    for key, value in _CONF.items():
        builder = builder.config(key, value)
    with _quiet():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    seconds = time.perf_counter() - t0
    _session = spark
    atexit.register(stop)
    return Started(spark, seconds, True)


def stop() -> None:
    """Stop this process's session, if one runs."""
    global _session
    spark, _session = _session, None
    if spark is not None:
        with contextlib.suppress(Exception):
            spark.stop()


@contextlib.contextmanager
def session():
    """A local session for the block; it is stopped when the block ends, by an error or not."""
    try:
        yield start().spark
    finally:
        stop()


def bounded(spark, action, timeout: float = JOB_TIMEOUT):
    """Run ``action()`` (one or more Spark jobs) and cancel its jobs if it takes over ``timeout`` s."""
    sc = spark.sparkContext
    tag = f"numbabench-{uuid.uuid4().hex[:8]}"
    sc.addJobTag(tag)  # this thread's jobs carry the tag until it is removed
    fired = threading.Event()

    def cancel():
        fired.set()
        sc.cancelJobsWithTag(tag)

    timer = threading.Timer(timeout, cancel)
    timer.daemon = True
    timer.start()
    try:
        return action()
    except Exception as exc:
        if fired.is_set():  # say so, rather than Spark's "job cancelled"
            raise TimeoutError(f"the Spark job ran past {timeout:g} s and was cancelled") from exc
        raise
    finally:
        timer.cancel()
        sc.removeJobTag(tag)


# -- what runs in the worker --------------------------------------------------------------------
def series_udf(fn, spark_type: str):
    """``fn`` (an array function) as a pandas_udf: each Arrow batch's Series through ``fn``."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def apply(s):
        return pd.Series(fn(s.to_numpy()), index=s.index)

    # PySpark reads the kind of UDF from the type hints; real types, as this module's annotations
    # are strings (``from __future__ import annotations``) naming a local import
    apply.__annotations__ = {"s": pd.Series, "return": pd.Series}
    with _quiet():
        return pandas_udf(apply, returnType=spark_type)


def frames_mapper(fn, column: str = "x", out: str = "y"):
    """``fn`` as a mapInPandas function: each DataFrame's ``column`` through ``fn``, as ``out``."""
    import pandas as pd

    def apply(frames):
        for frame in frames:
            yield pd.DataFrame({out: fn(frame[column].to_numpy())})

    return apply


def spark_type(dtype) -> str:
    """The Spark SQL type of a float column of ``dtype``."""
    return {"float32": "float", "float64": "double"}[np.dtype(dtype).name]


def calls(spark, df, fn, dtype) -> dict:
    """api -> a callable that runs ``fn`` over ``df``'s column ``x`` with that API and returns the result."""
    st = spark_type(dtype)
    udf = series_udf(fn, st)
    mapper = frames_mapper(fn)

    def via_udf():
        with _quiet():
            return df.select(udf("x").alias("y")).toPandas()["y"].to_numpy()

    def via_map():
        with _quiet():
            return df.mapInPandas(mapper, schema=f"y {st}").toPandas()["y"].to_numpy()

    return {"udf": via_udf, "map": via_map}


def frame(spark, x: np.ndarray):
    """A one-column DataFrame ``x`` holding ``x``, typed from its dtype (no inference, no DECIMAL)."""
    import pandas as pd

    with _quiet():
        return spark.createDataFrame(pd.DataFrame({"x": x}), schema=f"x {spark_type(x.dtype)}")


# -- the functions ----------------------------------------------------------------------------
_DRIVER_NAME = "cos_parallel_driver"


def driver_parallel_ufunc():
    """A ``target='parallel'`` ufunc as a driver script defines it: a global of ``__main__``.

    Its Python function says ``__module__ = '__main__'`` and the ufunc is published on the running
    ``__main__`` under its own name, exactly what a top-level ``@vectorize`` in a script does.
    """
    from numba import vectorize

    main = sys.modules["__main__"]
    fn = getattr(main, _DRIVER_NAME, None)
    if fn is None:
        def body(x):
            return math.cos(x)

        pyfunc = pytypes.FunctionType(body.__code__, {"math": math}, _DRIVER_NAME)
        pyfunc.__module__ = "__main__"
        pyfunc.__qualname__ = _DRIVER_NAME
        fn = vectorize(["float32(float32)", "float64(float64)"], target="parallel")(pyfunc)
        setattr(main, _DRIVER_NAME, fn)
    return fn


def shipped(target: str) -> list[tuple[str, str, object]]:
    """(phase prefix, description, function) per function sent to Spark: remote's, and on
    ``parallel`` also the driver-script ufunc."""
    from .article import remote

    out = list(remote.shipped(target))
    if target == "parallel":
        out.append(("driver_", "@vectorize(target='parallel') defined in the driver script (__main__)",
                    driver_parallel_ufunc()))
    return out


def is_limitation(fn, exc: BaseException) -> bool:
    """Whether ``exc`` is Spark's worker failing to unpickle the ufunc ``fn`` by its name.

    Seen both ways (pyspark 4.3): ``No module named '__mp_main__'`` where the worker has not
    imported multiprocessing, and ``Can't get attribute ... on <module 'pyspark.daemon'>`` where
    it has (then ``__mp_main__`` is the daemon's own ``__main__``).
    """
    text = str(exc)
    return isinstance(fn, np.ufunc) and ("No module named" in text or "Can't get attribute" in text)


# -- rows ---------------------------------------------------------------------------------------
def _row(phase, what, api, status="ok", error=None, **fields) -> dict:
    row = {"phase": phase, "function": what, "api": api, "status": status, "error": error,
           "correct": None, "max_abs_err": None}
    row.update(fields)
    return row


def failed_rows(prefix: str, what: str, status: str, error: str) -> list[dict]:
    return [_row(f"{prefix}spark_{short}{when}", what, api, status=status, error=error)
            for short, api in APIS for when in ("_first", "")]


def function_rows(spark, df, prefix, what, fn, x, want, compare, timeout=JOB_TIMEOUT) -> list[dict]:
    """The four rows of one function: first and warm call through pandas_udf and mapInPandas."""
    try:
        fn(x)  # it must work here first, as the article says; then the local call is warm
        local = timing.steady(lambda: fn(x), min_time=0.05).median_s
    except Exception as exc:
        return failed_rows(prefix, what, "failed", f"it fails when called here: {first_line(exc)}")
    rows = []
    for (short, api), run in zip(APIS, calls(spark, df, fn, x.dtype).values()):
        names = (f"{prefix}spark_{short}_first", f"{prefix}spark_{short}")
        try:
            t0 = time.perf_counter()
            got = bounded(spark, run, timeout)  # the worker unpickles and compiles it
            first = time.perf_counter() - t0
            correct, err = compare(got, want)
            warm = timing.steady(lambda: bounded(spark, run, timeout), resolution=0.0, min_samples=3,
                                 max_samples=WARM_SAMPLES, min_time=WARM_MIN_TIME)
        except Exception as exc:
            if is_limitation(fn, exc):
                status, error = "limitation", f"{LIMITATION} ({_worker_error(exc)})"
            else:
                status, error = "failed", f"{api} failed: {_worker_error(exc)}"
            rows += [_row(n, what, api, status=status, error=error) for n in names]
            continue
        check = {"correct": correct, "max_abs_err": err, "status": "ok" if correct else "wrong",
                 "error": None if correct else f"result differs from the NumPy reference (max abs error {err:.3g})"}
        rows.append(_row(names[0], what, api, median_s=first, spread_s=0.0, min_s=first, repeats=1, number=1,
                         local_s=local, **check))
        rows.append(_row(names[1], what, api, local_s=local, overhead_s=warm.median_s - local, **check,
                         **warm.as_row()))
    return rows


def _worker_error(exc: BaseException) -> str:
    """The Python error a Spark worker raised (the last line of its traceback), else the first line."""
    text = str(exc)
    tail = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(" ")]
    for line in reversed(tail):
        if "Error" in line.split(":")[0] or "Exception" in line.split(":")[0]:
            return line
    return first_line(exc)


def rows(target: str, x: np.ndarray, want, compare, timeout: float = JOB_TIMEOUT) -> list[dict]:
    """All Spark rows of ``target`` on input ``x``; never raises (a failure is a row with its reason)."""
    try:
        functions = shipped(target)
    except Exception as exc:
        return [_row("spark_start", "-", "-", status="failed", error=f"cannot build the functions: {first_line(exc)}")]
    if os.environ.get(SWITCH, "1") == "0":
        return [_row("spark_start", "-", "-", status="skipped", error=f"the Spark rows are off here ({SWITCH}=0)")]
    if x.size > MAX_SIZE and os.environ.get(SWITCH) != "all":
        return [_row("spark_start", "-", "-", status="skipped", error=(
            f"Spark rows are measured at sizes up to {MAX_SIZE:,} (they show the transport, not the kernel); "
            f"{SWITCH}=all measures them at every size"))]
    why = spark_unavailable()
    if why is not None:
        return [r for p, what, _ in functions for r in failed_rows(p, what, "skipped", why)]
    try:
        started = start()
        df = frame(started.spark, x)
    except Exception as exc:
        error = f"could not start a local Spark session: {first_line(exc)}"
        return [r for p, what, _ in functions for r in failed_rows(p, what, "failed", error)]
    out = []
    if started.fresh:
        out.append(_row("spark_start", "SparkSession local[1], loopback", "-", median_s=started.seconds,
                        spread_s=0.0, min_s=started.seconds, repeats=1, number=1))
    for prefix, what, fn in functions:
        out += function_rows(started.spark, df, prefix, what, fn, x, want, compare, timeout)
    return out
