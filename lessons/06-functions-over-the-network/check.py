"""Grades lesson 6: a function's trip through cloudpickle, a dask submit, and the ufunc that does
not travel by value.

Reference: the ``remote`` technique (``make_inputs``, ``reference`` = ``np.cos``, its tolerance,
and ``pickled_by`` to tell a pickle that carries code from one that carries a module and a name).
The learner's file runs as ``__main__`` with no ``__file__``, as in Jupyter: a dask worker (spawned,
not forked) then has none of the notebook's names, which is what makes a by-reference ufunc fail
there. The check uses the learner's own running ``client`` when the file made one (it saves
starting a second cluster), else starts a one-worker ``LocalCluster``; it watches the cluster's task
stream to make sure the work ran on a worker.
"""
import logging
import re

import numpy as np

from numbabench import get_technique
from numbabench.fmt import first_line

# What the lesson teaches, each graded below (tests/test_lessons.py plants a wrong answer for each).
PROPERTIES = {
    "round-trip": "ship(f) is f after the trip through bytes: cloudpickle.dumps, then cloudpickle.loads",
    "on-a-worker": "remote_cos submits do_cos to the cluster, and a worker computes it",
    "by-value": "what remote_cos_ufunc ships can be rebuilt on a worker (by value, not a __main__ name)",
    "numba-shipped": "remote_cos_ufunc ships a Numba ufunc or function, not NumPy's own",
}


def _client(ex):
    from distributed import Client, LocalCluster

    mine = getattr(ex, "client", None)
    if isinstance(mine, Client) and mine.status == "running":
        return mine
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)
    return Client(cluster)


def check(ex, g):
    from distributed import get_task_stream

    tech = get_technique("remote")
    inputs = tech.make_inputs(1000, seed=6, dtype="float32")
    x, want = inputs["x"], tech.reference(inputs)
    tol = {"rtol": tech.rtol, "atol": tech.atol}

    with g.part("ship(f) returns a working copy of f made from bytes"):
        ship = g.need(ex, "ship")
        do_cos = g.need(ex, "do_cos")
        copy = ship(do_cos)
        if copy is do_cos:
            g.fail("ship(do_cos) returned do_cos itself: a cluster sends bytes, so ship must "
                   "cloudpickle.dumps the function and cloudpickle.loads it back")
        if not callable(copy):
            g.fail(f"ship(do_cos) returned a {type(copy).__name__}, not a function")
        g.expect_array(copy(x), want, "ship(do_cos)(x) on 1000 float32", **tol)
        kernel = g.need(ex, "gpu_cos", "kernel")
        k2 = ship(kernel)
        from numba import cuda

        d_out = cuda.device_array_like(x)
        k2[4, 32](cuda.to_device(x), d_out)
        g.expect_array(d_out.copy_to_host(), want, "ship(gpu_cos)[4, 32](x, out)", **tol)

    client = None
    with g.part("remote_cos(client, x) computes do_cos(x) on a dask worker"):
        remote_cos = g.need(ex, "remote_cos")
        client = _client(ex)
        with get_task_stream(client) as ts:
            got = remote_cos(client, x)
        g.expect_array(got, want, "remote_cos(client, x) on 1000 float32", **tol)
        if not ts.data:
            g.fail("remote_cos gave the right answer, but no task ran on the cluster: it computed "
                   "do_cos here. Submit it: client.submit(do_cos, x).result()")

    with g.part("remote_cos_ufunc(client, x) runs its cosine on a dask worker"):
        fn = g.need(ex, "remote_cos_ufunc")
        if client is None:
            client = _client(ex)
        submitted = []
        with get_task_stream(client) as ts:
            got = _call_checked(fn, client, x, submitted)
        g.expect_array(got, want, "remote_cos_ufunc(client, x) on 1000 float32", **tol)
        if not ts.data:
            g.fail("remote_cos_ufunc gave the right answer, but no task ran on the cluster: it "
                   "computed the cosine here. Submit the work with client.submit.")
        if submitted and not any(_is_numba(f) for f in submitted):
            names = ", ".join(f"`{_name(f)}`" for f in submitted)
            g.fail(f"remote_cos_ufunc shipped {names}, which holds no Numba code: right, but the lesson "
                   "is about shipping a Numba ufunc or function. Submit cos_ufunc built with "
                   "target='cpu' (a DUFunc), or an @njit function.")
    if g.simulator:
        g.speed("remote_cos", None, None)


class _WontTravel(Exception):
    pass


FIX = ("Ship something that travels by value: a target='cpu' ufunc (a Numba DUFunc) or an @njit "
       "function; or define the ufunc in a module the workers can import.")


def _why_not(func, blob: bytes, exc: BaseException, pickled_by) -> str:
    """Why a worker cannot rebuild ``func``, naming what it looked for and could not find."""
    name = _name(func)
    head = f"a worker cannot unpickle `{name}` ({first_line(exc)})"
    m = re.search(r"Can't get attribute '([^']+)' on <module '([^']+)'", str(exc))
    missing, module = (m.group(1), m.group(2)) if m else (name, "__main__")
    ufunc = ("A target='parallel' ufunc is a NumPy ufunc, and NumPy pickles ufuncs by reference: a "
             "module and a name.")
    if missing == name:
        return (f"{head}: it pickles by {pickled_by(blob)}, in {len(blob)} bytes. {ufunc} The worker "
                f"looks `{name}` up in its own `{module}`, which does not have it. {FIX}")
    return (f"{head}: `{name}` itself pickles by value ({len(blob)} bytes), but it uses `{missing}`, "
            f"which went by reference. {ufunc} The worker looks `{missing}` up in its own `{module}`, "
            f"which does not have it: wrapping the ufunc in another function does not change how the "
            f"ufunc travels. {FIX}")


def _name(f) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _is_numba(f, depth: int = 0) -> bool:
    """Whether ``f`` is Numba-compiled code, or a plain function that calls some by name."""
    from numba.core.dispatcher import Dispatcher
    from numba.np.ufunc.dufunc import DUFunc

    if isinstance(f, (Dispatcher, DUFunc)):
        return True
    if isinstance(f, np.ufunc):  # a target='parallel' ufunc is one too, but not one of NumPy's own
        return getattr(np, f.__name__, None) is not f
    code = getattr(f, "__code__", None)
    if code is None or depth > 1:
        return False
    around = dict(getattr(f, "__globals__", {}))
    for name, cell in zip(code.co_freevars, getattr(f, "__closure__", None) or ()):
        try:
            around[name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    return any(_is_numba(around[n], depth + 1) for n in code.co_names + code.co_freevars if n in around)


def _call_checked(fn, client, x, submitted, limit=60.0):
    """fn(client, x), where every client.submit first has the worker unpickle the function.

    A dask task whose function a worker cannot unpickle never finishes: the error happens in the
    worker's comm handler, and the future waits forever. ``client.run(pickle.loads, blob)`` makes
    the worker do that one step as an ordinary call, which fails at once, with the worker's error.
    """
    import threading

    import cloudpickle

    from numbabench.article.remote import pickled_by
    from numbabench.lessons import unpickles
    from numbabench.lessons.grading import Failed

    real_submit = client.submit

    def submit(func, *args, **kw):
        submitted.append(func)
        blob = cloudpickle.dumps(func)
        try:
            client.run(unpickles, blob)
        except Exception as exc:  # noqa: BLE001
            raise _WontTravel(_why_not(func, blob, exc, pickled_by)) from None
        return real_submit(func, *args, **kw)

    client.submit = submit
    box = {}

    def target():
        try:
            box["out"] = fn(client, x)
        except BaseException as exc:  # noqa: BLE001
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    try:
        t.start()
        t.join(limit)
    finally:
        del client.submit  # back to the class's own method
    if t.is_alive():
        raise Failed(f"remote_cos_ufunc(client, x) did not return within {limit:g} s: is it waiting "
                     "for a task that never finishes?")
    if isinstance(box.get("exc"), _WontTravel):
        raise Failed(str(box["exc"]))
    if "exc" in box:
        raise box["exc"]
    return box["out"]
