# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 6 · Sending functions over the network
#
# *Article item 6: you can send Numba functions over the network.*
#
# A distributed framework such as **dask.distributed** brings the code to the data: the client
# turns a function into bytes with **cloudpickle**, a worker process turns the bytes back into a
# function and runs it there. Numba's compiled functions are built to survive the trip:
#
# * an `@njit` function and a `@cuda.jit` kernel defined in a notebook travel **by value**: their
#   Python code is in the bytes, and the worker compiles them again. (The article says the PTX
#   travels along; with numba-cuda 0.30 it does not, so every unpickled copy of a kernel compiles
#   on its first launch.)
# * "but not ufuncs", says the article. To be exact: a `target="parallel"` ufunc is a genuine
#   NumPy ufunc, and NumPy pickles ufuncs **by reference** — a module and a name, a few dozen
#   bytes. A worker then looks the name up in *its own* copy of that module; for a ufunc defined in a
#   notebook the module is `__main__`, and the worker's `__main__` has no such thing. It works only
#   where the module can be imported on the worker. A `target="cpu"` ufunc (a Numba DUFunc) and an
#   `@njit` function travel by value.
#
# The article's example: `gpu_cos`, a grid-stride kernel, and `do_cos`, the plain Python wrapper
# that allocates the output, launches and copies back — what gets submitted to the cluster.
# Here the cluster is a `LocalCluster`: worker *processes* on this machine, which inherit its
# environment (on the simulator, the workers run the simulator too).
#
# Every spot to fill in says `# TODO`.
# Grade your copy with `.venv/bin/numbabench lessons check 6` (typed in the clone's folder; plain
# `numbabench` once the venv is active).

# %%
from numbabench.lessons import gpu_or_simulator, unpickles

MODE = gpu_or_simulator()

import logging
import math

import cloudpickle
import numpy as np
from numba import cuda, vectorize

BLOCKS, THREADS = (4, 32) if MODE == "simulator" else (64, 64)


# %%
@cuda.jit
def gpu_cos(x, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = math.cos(x[i])


def do_cos(x):
    out = cuda.device_array_like(x)
    gpu_cos[BLOCKS, THREADS](x, out)
    return out.copy_to_host()


x = np.random.default_rng(0).uniform(-10, 10, 1000).astype(np.float32)
print("locally:", do_cos(x)[:4], np.cos(x[:4]))


# %% [markdown]
# ## 1. The trip a function takes
# `ship(f)` should do to `f` what a cluster does: `cloudpickle.dumps` it to bytes, and
# `cloudpickle.loads` the bytes back into a function (a new object, not `f` itself).

# %%
def ship(f):
    """f after the trip: pickled with cloudpickle, and unpickled again."""
    return f  # TODO: the round trip through bytes


shipped = ship(do_cos)
print("a new object:", shipped is not do_cos, "| works:", np.allclose(shipped(x), np.cos(x), atol=1e-6))
print("pickle of do_cos (its kernel comes along):", len(cloudpickle.dumps(do_cos)), "bytes")

# %% [markdown]
# ## 2. On a dask worker
# `client.submit(f, *args)` sends `f` and its arguments to a worker and returns a *future*;
# `future.result()` waits for the worker's answer and brings it back.

#
# (The `if __name__ == "__main__":` guards matter only when this file runs as a script: a worker
# process starts by re-running the script, and must not start a cluster of its own. In Jupyter
# they are always true.)

# %%
from dask.distributed import Client, LocalCluster


def remote_cos(client, x):
    """do_cos(x), computed on a dask worker."""
    return do_cos(x)  # TODO: this runs here, not on the worker: submit it to the client


if __name__ == "__main__":
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    client = Client(cluster)
    print("on a worker:", np.allclose(remote_cos(client, x), np.cos(x), atol=1e-6))


# %% [markdown]
# ## 3. The ufunc that does not travel
# `cos_ufunc` below is a `target="parallel"` ufunc. Run the cell: a worker cannot unpickle it.
# Make `remote_cos_ufunc` work, with a function that travels by value.

# %%
# TODO: a target="parallel" ufunc pickles by reference (a module and a name), and a worker cannot
#       find this one: build cos_ufunc so that it travels by value (or ship an @njit function)
@vectorize(["float32(float32)", "float64(float64)"], target="parallel")
def cos_ufunc(v):
    return math.cos(v)


print("pickle of cos_ufunc:", len(cloudpickle.dumps(cos_ufunc)), "bytes:", cloudpickle.dumps(cos_ufunc)[:60])


def remote_cos_ufunc(client, x):
    """cos of every element of x, computed on a dask worker by a Numba ufunc (or function)."""
    return client.submit(cos_ufunc, x).result()


if __name__ == "__main__":
    # A worker unpickles a task's function before it runs it, and a task whose function cannot be
    # unpickled never finishes (its future waits forever). So try that step first, on the worker.
    try:
        client.run(unpickles, cloudpickle.dumps(cos_ufunc))  # pickle.loads on the worker
    except Exception as exc:
        print("a worker cannot unpickle cos_ufunc:", type(exc).__name__, exc)
    else:
        print("ufunc on a worker:", np.allclose(remote_cos_ufunc(client, x), np.cos(x), atol=1e-6))


# %% [markdown]
# ## Optional: the same rule on Spark
# The Spark Python API ships functions with cloudpickle too: a Numba function runs on a Spark
# DataFrame's columns inside `pandas_udf` or `mapInPandas`, and the rule of this lesson holds there
# (a `target="parallel"` ufunc defined in the driver script does not reach the workers). The
# lesson's README says how, and what trips people up; nothing in the check needs Spark.
