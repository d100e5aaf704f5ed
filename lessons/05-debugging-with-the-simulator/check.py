"""Grades lesson 5: an out-of-bounds write, a sign bug, and a race the simulator hides.

No technique computes these kernels; the references are NumPy one-liners. The race is not graded by
its outcome alone: the simulator runs one block at a time and its threads take turns, so a racy
``bins[k] += 1`` usually gives the right counts there. The PTX phase compiles ``histogram`` for a
real GPU and requires an atomic add in it (``atom.global.add`` or ``red.global.add``), which is
what ``cuda.atomic.add`` compiles to and what no plain ``+=`` does.
"""
import numpy as np

from numbabench.lessons.grading import kernel

SENTINEL = -7777.0
ATOMIC = (r"\b(atom|red)(\.global)?\.add\b",
          "`histogram` has no atomic add in its compiled code: `bins[k] += 1` is a read, an add and a "
          "write, and on a GPU two threads that hit the same bin at once both write the old count "
          "plus one, so counts are lost. The simulator runs one block at a time, so it gave the right "
          "counts here; a GPU would run it silently wrong. Use cuda.atomic.add(bins, k, 1).")


def check(ex, g):
    from numba import cuda

    with g.part("scale_rows: only threads inside the array (on both axes) write"):
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
            g.expect_array(out[:rows, :cols], a * s[:, None], what)

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
            g.fail(f"histogram of 1000 values: {want.sum() - got.sum()} counts were lost "
                   f"(got {got.tolist()}, expected {want.tolist()}): threads raced on the same bins. "
                   "Use cuda.atomic.add(bins, k, 1).")
        g.expect_array(got, want, "histogram of 1000 values in 8 bins")


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
