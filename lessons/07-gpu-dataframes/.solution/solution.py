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
# # Lesson 7 · Kernels on the columns of a DataFrame: a solution
#
# `column_math` is a grid-stride loop over the rows. `group_sum` adds with `cuda.atomic.add`, so
# threads that hit the same key at once do not lose each other's additions. (The `dataframe` technique
# goes further: each block first sums into shared memory and adds once per key into the global
# sums, far fewer global atomics; see numbabench/article/dataframe.py.)

# %%
from numbabench.lessons import gpu_or_simulator

MODE = gpu_or_simulator()

import math

import numpy as np
import pandas as pd
from numba import cuda


# %%
@cuda.jit
def column_math(a, b, c):
    """c[i] = a[i] * b[i] + sin(a[i]) for every row, in a grid-stride loop."""
    for i in range(cuda.grid(1), c.shape[0], cuda.gridsize(1)):
        c[i] = a[i] * b[i] + math.sin(a[i])


@cuda.jit
def group_sum(k, c, threshold, sums, counts):
    """For every row whose c passes the threshold: add c to sums[k], and 1 to counts[k]."""
    for i in range(cuda.grid(1), c.shape[0], cuda.gridsize(1)):
        if c[i] > threshold:
            cuda.atomic.add(sums, k[i], c[i])
            cuda.atomic.add(counts, k[i], 1)


BLOCKS, THREADS = (4, 32) if MODE == "simulator" else (256, 256)


def frame_query(df, threshold, n_keys):
    """Run the query on df's columns a, b, k; return c, mask, sums and counts as NumPy arrays."""
    a, b, k = (cuda.to_device(df[name].to_numpy()) for name in ("a", "b", "k"))
    c = cuda.to_device(np.zeros(len(df), dtype=df["a"].dtype))
    sums = cuda.to_device(np.zeros(n_keys, dtype=np.float64))
    counts = cuda.to_device(np.zeros(n_keys, dtype=np.int64))
    column_math[BLOCKS, THREADS](a, b, c)
    group_sum[BLOCKS, THREADS](k, c, threshold, sums, counts)
    c = c.copy_to_host()
    return {"c": c, "mask": c > threshold, "sums": sums.copy_to_host(), "counts": counts.copy_to_host()}


# %%
rng = np.random.default_rng(0)
n = 1000
df = pd.DataFrame({"a": rng.standard_normal(n).astype(np.float32),
                   "b": rng.standard_normal(n).astype(np.float32),
                   "k": rng.integers(0, 4, n).astype(np.int32)})
threshold = np.float32(0.5)
result = frame_query(df, threshold, 4)
df["c"] = result["c"]  # the new column joins the frame

# the same query the pandas way
c = df["a"] * df["b"] + np.sin(df["a"])
kept = c[c > threshold]
print(pd.DataFrame({"kernels: sum": result["sums"], "kernels: count": result["counts"]}))
print(kept.astype("float64").groupby(df["k"][c > threshold]).agg(["sum", "size"]))
