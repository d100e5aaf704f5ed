"""Grades lesson 5: an out-of-bounds write, a sign bug, and a race the simulator hides.

No technique computes these kernels; the references are NumPy one-liners. The race is not graded by
its outcome alone: the simulator runs one block at a time and its threads take turns, so a racy
``bins[k] += 1`` usually gives the right counts there. The PTX phase compiles ``histogram`` for a
real GPU and requires an atomic add in it (``atom.global.add`` or ``red.global.add``), which is
what ``cuda.atomic.add`` compiles to and what no plain ``+=`` does.
"""
import ast
import re

import numpy as np

from numbabench.lessons.grading import kernel

# What the lesson teaches, each graded below (tests/test_lessons.py plants a wrong answer for each).
PROPERTIES = {
    "both-axes": "scale_rows: a thread writes only when it is inside the array on both axes",
    "row-scale": "scale_rows: row i is scaled by s[i] (the thread's own indices, on the right arrays)",
    "slope-sign": "centered_diff: right minus left",
    "atomic": "histogram: the update is atomic (cuda.atomic.add), which the simulator cannot show",
    "every-value": "histogram: every value is counted, whatever the launch (a grid-stride loop)",
    "gpu-compiles": "all three kernels compile for a real GPU (no pdb, nothing only the simulator runs)",
}

ADVICE = [
    (r"BdbQuit|IMPORT_NAME|pdb",
     "pdb.set_trace() in a kernel runs only under the simulator, in a session you type into (Jupyter, "
     "or python in a terminal); the check has no one at the keyboard, and no GPU can run it: remove it "
     "once it has shown you the bug."),
]

SENTINEL = -7777.0
ATOMIC = (r"\b(atom|red)(\.global)?\.add\b",
          "`histogram` has no atomic add in its compiled code: `bins[k] += 1` is a read, an add and a "
          "write, and on a GPU two threads that hit the same bin at once both write the old count "
          "plus one, so counts are lost. The simulator runs one block at a time, so it gave the right "
          "counts here; a GPU would run it silently wrong. Use cuda.atomic.add(bins, k, 1).")


def check(ex, g):
    from numba import cuda

    with g.part("scale_rows: out[i, j] = a[i, j] * s[i], written only by threads inside the array on both axes"):
        k = g.need(ex, "scale_rows", "kernel")
        for rows, cols in ((5, 7), (7, 5)):
            blocks, threads = (2, 2), (4, 4)
            rng = np.random.default_rng(rows)
            a = rng.standard_normal((rows, cols))
            s = rng.standard_normal(rows)
            buf_a = np.full((8, 8), SENTINEL)
            buf_a[:rows, :cols] = a
            buf_s = np.full(8, SENTINEL)
            buf_s[:rows] = s
            d_a, d_s, d_out = cuda.to_device(buf_a), cuda.to_device(buf_s), cuda.to_device(np.full((8, 8), SENTINEL))
            what = f"scale_rows[{blocks}, {threads}] on a {rows}x{cols} array (an 8x8 grid of threads)"
            try:
                k[blocks, threads](d_a[:rows, :cols], d_s[:rows], d_out[:rows, :cols])
            except IndexError as exc:
                ij = _thread_index(str(exc), threads)
                if ij is not None and ij[0] < rows and ij[1] < cols:
                    g.fail(f"{what}: thread (i, j) = {ij}, inside the {rows}x{cols} array, indexed past "
                           f"the end of an array: {exc}. Its bounds test let it in rightly; an index it "
                           f"uses is wrong: out[i, j] = a[i, j] * s[i] (s has one value per row, {rows} "
                           "of them, so it takes the row's index i).")
                g.fail(f"{what}: a thread outside the array got past the test and indexed it: {exc}. "
                       "Look at the thread it names: inside on one axis, outside on the other. A "
                       "thread may write only when it is inside on both axes.")
            out = d_out.copy_to_host()
            spill = out.copy()
            spill[:rows, :cols] = SENTINEL
            if np.any(spill != SENTINEL):
                r, c = (int(v) for v in np.argwhere(spill != SENTINEL)[0])
                g.fail(f"{what}: memory past the end of `out` was overwritten (at row {r}, column {c} "
                       "of the buffer around it). A thread may write only when it is inside on both axes.")
            got = out[:rows, :cols]
            if rows > cols and np.allclose(got, a * s[None, :cols]):
                g.fail(f"{what}: every row was scaled by s[j], the column's value: row i is scaled by "
                       "s[i]: out[i, j] = a[i, j] * s[i]")
            g.expect_array(got, a * s[:, None], what)

    with g.part("centered_diff: the slope (x[i + 1] - x[i - 1]) / 2, and 0 at both ends"):
        k = g.need(ex, "centered_diff", "kernel")
        for n, x, label in ((10, np.arange(10.0) ** 2, "x = i**2"),
                            (37, np.random.default_rng(5).standard_normal(37), "37 random values")):
            want = np.zeros(n)
            want[1:-1] = (x[2:] - x[:-2]) / 2
            d_out = cuda.to_device(np.full(n, SENTINEL))
            k[3, 16](cuda.to_device(x), d_out)
            got = d_out.copy_to_host()
            inner = slice(1, n - 1)
            if np.allclose(got[inner], -want[inner]) and not np.allclose(want[inner], 0):
                g.fail(f"centered_diff of {label}: every inside value has the right size and the wrong "
                       f"sign (element 1 is {got[1]:g}, expected {want[1]:g}): which side is subtracted "
                       "from which?")
            g.expect_array(got, want, f"centered_diff of {label}", rtol=1e-12, atol=1e-12)

    with g.part("histogram: bins[k] counts the values equal to k"):
        k = g.need(ex, "histogram", "kernel")
        x = np.random.default_rng(7).integers(0, 8, 1000).astype(np.int32)
        bins = cuda.to_device(np.zeros(8, np.int32))
        k[4, 32](cuda.to_device(x), bins)
        got = bins.copy_to_host()
        want = np.bincount(x, minlength=8).astype(np.int32)
        if got.sum() < want.sum() and np.all(got <= want):
            lost = f"histogram[4, 32] of 1000 values: {want.sum() - got.sum()} counts were lost " \
                   f"(got {got.tolist()}, expected {want.tolist()})"
            atomic = _calls_atomic_add(g, "histogram")
            if atomic and got.sum() == 4 * 32:
                g.fail(f"{lost}: exactly {4 * 32} values were counted, one per thread of the launch. "
                       "Your update is atomic; the values past the first 128 were never visited: loop "
                       "over x with a grid-stride loop (start at cuda.grid(1), step by cuda.gridsize(1)).")
            if atomic:
                g.fail(f"{lost}. Your update is atomic, so threads did not race: some values were never "
                       "visited. Does the loop start at cuda.grid(1) and step by cuda.gridsize(1)?")
            g.fail(f"{lost}: either threads raced on the same bins (use cuda.atomic.add(bins, k, 1)) or "
                   "some values were never visited (a grid-stride loop visits them all), or both.")
        g.expect_array(got, want, "histogram of 1000 values in 8 bins")


def _thread_index(message: str, threads):
    """The (i, j) of the thread a simulator IndexError names (``tid=[x, y, z] ctaid=[x, y, z]``)."""
    m = re.search(r"tid=\[(\d+), (\d+), \d+\] ctaid=\[(\d+), (\d+), \d+\]", message)
    if not m:
        return None
    tx, ty, bx, by = (int(v) for v in m.groups())
    return bx * threads[0] + tx, by * threads[1] + ty


def _calls_atomic_add(g, name) -> bool:
    try:
        fn = g.function_def(name)
    except Exception:  # noqa: BLE001 - no such def: nothing to say about it
        return False
    return any(isinstance(n, ast.Attribute) and n.attr == "add" and isinstance(n.value, ast.Attribute)
               and n.value.attr == "atomic" for n in ast.walk(fn))


def ptx_kernels(ex, types):
    f64, i32 = types.float64, types.int32
    a2 = types.Array(f64, 2, "A")
    a1 = types.Array(f64, 1, "C")
    i1 = types.Array(i32, 1, "C")
    return [
        kernel(ex, "scale_rows", [(a2, types.Array(f64, 1, "A"), a2)]),
        kernel(ex, "centered_diff", [(a1, a1)]),
        kernel(ex, "histogram", [(i1, i1)], must_contain=[ATOMIC]),
    ]
