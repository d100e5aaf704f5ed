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
# # Lesson 7 · Kernels on the columns of a DataFrame
#
# *Article item 7: Numba developers are working on a GPU DataFrame.*
#
# That DataFrame was PyGDF; it grew into **cuDF** (RAPIDS), a pandas-like column store in GPU
# memory built on Apache Arrow's column format. Its columns are device arrays that carry
# `__cuda_array_interface__` (and DLPack's `__dlpack__`), so a Numba kernel reads and writes them directly (`df["a"].values`
# is a CuPy view of the column: no copy). Two cuDF facts of today: its old `apply_rows` and
# `apply_chunks` are gone — plain `@cuda.jit` kernels on the columns replace them — and cuDF pins
# its own Numba and pandas versions, so it lives in an environment of its own.
#
# Here the columns come from a pandas DataFrame: `df["a"].to_numpy()` is a view of the column's
# memory, and `cuda.to_device` puts it on the GPU (or the simulator). The query, per row:
#
# 1. **column math**: a new column `c = a * b + sin(a)`;
# 2. **a filter**: keep the rows with `c > threshold`;
# 3. **a group-by**: for each key `k`, the sum of the kept `c` and how many rows were kept.
#
# The group-by is where the GPU differs from a CPU loop: thousands of threads add into the same
# few sums at once. `sums[k[i]] += c[i]` is a read, an add and a write, and threads that hit the
# same key at the same moment lose each other's additions. `cuda.atomic.add(sums, key, value)`
# makes it one indivisible step. (The simulator runs one block at a time and would not show you the
# race: the check reads the compiled code for atomics.)
#
# Every spot to fill in says `# TODO`.
# Grade your copy with `.venv/bin/numbabench lessons check 7` (typed in the clone's folder; plain
# `numbabench` once the venv is active).

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
    pass  # TODO: the grid-stride loop over the rows (math.sin, not numpy's)


@cuda.jit
def group_sum(k, c, threshold, sums, counts):
    """For every row whose c passes the threshold: add c to sums[k], and 1 to counts[k]."""
    for i in range(cuda.grid(1), c.shape[0], cuda.gridsize(1)):
        if c[i] > threshold:
            sums[k[i]] += c[i]  # TODO: threads race on the same keys: make both updates atomic
            counts[k[i]] += 1


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
