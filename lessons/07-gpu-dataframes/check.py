"""Grades lesson 7: a column kernel and a group-by with atomics over a DataFrame's columns.

Reference: the ``dataframe`` technique (``make_inputs`` gives a DataFrame with columns a, b, k and a
threshold no row sits close to; ``reference`` is the pandas query; ``compare`` its tolerance rules).
Each kernel is graded on its own (``group_sum`` gets the reference's ``c``), then the learner's
``frame_query`` as a whole. The race in the group-by is graded on the compiled code: the PTX of
``group_sum`` must add atomically in float64 (the sums) and in 64-bit integers (the counts); the
simulator runs one block at a time and gives right sums even without atomics.
"""
import ast

import numpy as np

from numbabench import get_technique
from numbabench.lessons.grading import kernel

# the registry's name of the DataFrame technique this lesson grades against
TECHNIQUE = "dataframe"

# What the lesson teaches, each graded below (tests/test_lessons.py plants a wrong answer for each).
PROPERTIES = {
    "column-loop": "column_math: every row, whatever the launch (a grid-stride loop)",
    "filter": "group_sum: only the rows with c > threshold count",
    "count-one": "group_sum: each kept row adds c to its key's sum and exactly 1 to its count",
    "atomic-sums": "group_sum: the sums are added atomically (float64), which the simulator cannot show",
    "atomic-counts": "group_sum: the counts are added atomically (64-bit integers)",
}

RACE = ("threads that hit the same key at the same moment lose each other's additions on a GPU "
        "(the simulator runs one block at a time, so it gave the right answer here)")
ATOMIC_SUM = (r"\b(atom|red)(\.global)?\.add\.f64\b",
              "`group_sum` has no atomic float64 add in its compiled code: `sums[k] += c` is a read, "
              f"an add and a write, and {RACE}. Use cuda.atomic.add(sums, k[i], c[i]).")
ATOMIC_COUNT = (r"\b(atom|red)(\.global)?\.add\.[us]64\b",
                "`group_sum` has no atomic integer add for the counts in its compiled code: "
                f"{RACE}. Use cuda.atomic.add(counts, k[i], 1).")


def check(ex, g):
    from numba import cuda

    tech = get_technique(TECHNIQUE)
    inputs = tech.check_inputs(tech.make_inputs(1000, seed=2, dtype="float32"))
    want = tech.reference(inputs)
    df, threshold, n_keys = inputs["frame"], inputs["threshold"], inputs["n_keys"]
    a, b, k = (df[name].to_numpy() for name in ("a", "b", "k"))

    with g.part("column_math: c = a * b + sin(a) for every row"):
        fn = g.need(ex, "column_math", "kernel")
        for blocks, threads in ((4, 32), (1, 1)):
            d_c = cuda.to_device(np.full(len(df), np.nan, np.float32))
            fn[blocks, threads](cuda.to_device(a), cuda.to_device(b), d_c)
            got = d_c.copy_to_host()
            unwritten = int(np.isnan(got).sum())
            if unwritten:
                g.fail(f"column_math[{blocks}, {threads}] over {len(df)} rows left {unwritten} rows unwritten "
                       "(still the NaN the check put there): loop over every row with a grid-stride loop")
            g.expect_array(got, want["c"], f"column_math[{blocks}, {threads}] over {len(df)} float32 rows",
                           rtol=1e-5, atol=1e-5)

    with g.part("group_sum: per key, the sum and the number of rows with c > threshold"):
        fn = g.need(ex, "group_sum", "kernel")
        sums = cuda.to_device(np.zeros(n_keys, np.float64))
        counts = cuda.to_device(np.zeros(n_keys, np.int64))
        fn[4, 32](cuda.to_device(k), cuda.to_device(want["c"]), threshold, sums, counts)
        got_counts, got_sums = counts.copy_to_host(), sums.copy_to_host()
        everything = np.bincount(k, minlength=n_keys)
        if np.array_equal(got_counts, everything) and not np.array_equal(everything, want["counts"]):
            g.fail(f"group_sum counted all {len(df)} rows ({got_counts.sum()} in all, where "
                   f"{int(want['counts'].sum())} have c > threshold): the filter is missing. Only the "
                   "rows with c[i] > threshold add to the sums and the counts.")
        atomic = _atomic_targets(g, "group_sum")
        if not np.array_equal(got_counts, want["counts"]) and "counts" in atomic:
            value = atomic["counts"]
            what = f" Your atomic add to the counts adds `{value}`, not 1." if value != "1" else ""
            g.fail(f"group_sum's counts are wrong (key 0: {got_counts[0]}, expected {want['counts'][0]}), "
                   f"though their update is atomic, so no thread lost another's.{what} Each kept row "
                   "adds exactly 1 to counts[k[i]]: cuda.atomic.add(counts, k[i], 1)")
        if got_counts.sum() < want["counts"].sum() and np.all(got_counts <= want["counts"]):
            g.fail(f"group_sum lost {int(want['counts'].sum() - got_counts.sum())} counts: threads raced "
                   "on the same keys (use cuda.atomic.add(counts, k[i], 1)), or rows were never "
                   "visited (the grid-stride loop visits them all)")
        g.expect_array(got_counts, want["counts"], f"group_sum's counts ({len(df)} rows, {n_keys} keys)")
        g.expect_array(got_sums, want["sums"], f"group_sum's sums ({len(df)} rows, {n_keys} keys)",
                       rtol=1e-5, atol=1e-5)

    with g.part("frame_query(df, threshold, n_keys) returns the query's c, mask, sums and counts"):
        fn = g.need(ex, "frame_query")
        got = fn(df, threshold, n_keys)
        if not isinstance(got, dict) or any(f not in got for f in ("c", "mask", "sums", "counts")):
            g.fail(f"frame_query returned {type(got).__name__}; it should return a dict with c, mask, sums, counts")
        ok, _ = tech.compare(got, want)
        if not ok:
            for f, tol in (("c", 1e-5), ("counts", 0), ("sums", 1e-5)):
                g.expect_array(got[f], want[f], f"frame_query's {f!r}", rtol=tol, atol=tol)
            g.fail("frame_query's result does not match the pandas query (its mask?)")

    if g.simulator:
        g.speed("frame_query", None, None)
        return
    big = tech.make_inputs(1_000_000, seed=0, dtype="float32")
    fn = getattr(ex, "frame_query", None)
    if fn is not None:
        g.speed("frame_query over 1,000,000 rows, host to host",
                lambda: fn(big["frame"], big["threshold"], big["n_keys"]),
                lambda: tech.run("cuda", big), max_ratio=3.0)


def _atomic_targets(g, name) -> dict:
    """{array name: the value added, as written} for every cuda.atomic.add in ``name`` (its AST)."""
    try:
        fn = g.function_def(name)
    except Exception:  # noqa: BLE001 - no such def: nothing to say about it
        return {}
    found = {}
    for n in ast.walk(fn):
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add"
                and isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "atomic"
                and len(n.args) == 3 and isinstance(n.args[0], ast.Name)):
            found[n.args[0].id] = ast.unparse(n.args[2])
    return found


def ptx_kernels(ex, types):
    f32 = types.float32
    col = types.Array(f32, 1, "C")
    group_sig = (types.Array(types.int32, 1, "C"), col, f32, types.Array(types.float64, 1, "C"),
                 types.Array(types.int64, 1, "C"))
    return [kernel(ex, "column_math", [(col, col, col)]),
            kernel(ex, "group_sum", [group_sig], must_contain=[ATOMIC_SUM, ATOMIC_COUNT])]
