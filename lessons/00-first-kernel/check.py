"""Grades lesson 0: a first kernel (saxpy), its bounds check, and its launch configuration.

No technique of the registry computes saxpy; the reference is NumPy's ``a * x + y`` in float32.
Three parts, each isolating one idea: the kernel launched by the check on a grid that fits the data
exactly (is each thread on its own element?), on a grid with more threads than elements (do the
extra threads keep out?), and the learner's own ``run_saxpy`` on awkward sizes (enough blocks?).
The bounds check is tested on views of larger arrays: past the view's end lie sentinel values, so a
stray write shows on a GPU too, where nothing raises; on the simulator it raises IndexError.
"""
import numpy as np

from numbabench.lessons.grading import kernel

# What the lesson teaches, each graded below (tests/test_lessons.py plants a wrong answer for each).
PROPERTIES = {
    "own-index": "each thread works on the element at its own index in the whole grid (cuda.grid(1))",
    "bounds-check": "threads past the end of the arrays do nothing",
    "blocks-rounded-up": "run_saxpy launches ceil(n / threads) blocks, enough for any n",
    "gpu-compiles": "the kernel compiles for a real GPU, not only on the simulator",
}

ADVICE = [
    (r"IndexError: tid=",
     "A thread past the end of the arrays indexed them: the grid is made of whole blocks, so it has "
     "more threads than elements, and threads past the end must skip the work: put it under "
     "`if i < out.shape[0]:`"),
    (r"\bstr\(|unicode_type|\bformat\(",
     "A kernel cannot build strings (an f-string, str(i), .format): print constant strings and "
     "numbers as separate arguments, print('thread', i), which a GPU can do."),
]

A = np.float32(2.5)


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)


def check(ex, g):
    from numba import cuda

    with g.part("saxpy: each thread computes the element at its own index in the grid"):
        saxpy = g.need(ex, "saxpy", "kernel")
        n, blocks, threads = 128, 4, 32
        x, y = data(n)
        d_out = cuda.to_device(np.zeros(n, np.float32))
        saxpy[blocks, threads](A, cuda.to_device(x), cuda.to_device(y), d_out)
        got, want = d_out.copy_to_host(), A * x + y
        bad = np.flatnonzero(~np.isclose(got, want, rtol=1e-6))
        if bad.size == n - 1 and bad[0] == 1:
            g.fail(f"saxpy[{blocks}, {threads}] over {n} elements: only element 0 is right, all "
                   "the others were never written: every thread worked on element 0. Each thread "
                   "must take its own index in the grid.")
        if bad.size and bad[0] == threads and bad.size == n - threads:
            g.fail(f"saxpy[{blocks}, {threads}] over {n} elements: the first {threads} are right and all "
                   f"the others wrong, as if every block did the same first {threads} elements. "
                   "cuda.threadIdx.x is the index within the block; the index in the whole grid "
                   "adds the block's offset.")
        g.expect_array(got, want, f"saxpy[{blocks}, {threads}](2.5, x, y, out) over {n} elements")

    with g.part("saxpy: threads past the end of the arrays do nothing (the bounds check)"):
        saxpy = g.need(ex, "saxpy", "kernel")
        n, blocks, threads, pad = 50, 2, 32, 32
        x, y = data(n, seed=1)
        sentinel = np.float32(-7777.0)
        bufs = [np.full(n + pad, sentinel, np.float32) for _ in range(3)]
        bufs[0][:n], bufs[1][:n] = x, y
        d_x, d_y, d_out = (cuda.to_device(b) for b in bufs)
        what = f"saxpy[{blocks}, {threads}] over {n} elements ({blocks * threads} threads)"
        try:
            saxpy[blocks, threads](A, d_x[:n], d_y[:n], d_out[:n])
        except IndexError as exc:
            g.fail(f"{what}: a thread past the end touched the arrays: {exc}. The grid has "
                   f"{blocks * threads} threads for {n} elements: threads past the end must skip the "
                   f"work (here threads {n} to {blocks * threads - 1}): put it under `if i < out.shape[0]:`")
        out = d_out.copy_to_host()
        if np.all(out[1:n] == sentinel) and np.isclose(out[0], A * x[0] + y[0]):
            g.fail(f"{what}: only element 0 was written, by every thread: `i` is still the placeholder "
                   "0, so no thread reaches past the end and the bounds check cannot be judged yet. "
                   "Give each thread its own index first: i = cuda.grid(1)")
        if not np.all(out[n:] == sentinel):
            first = n + int(np.flatnonzero(out[n:] != sentinel)[0])
            g.fail(f"{what}: element {first} of the memory past the end of `out` was overwritten. "
                   f"Threads {n} to {blocks * threads - 1} must skip the work: put it under "
                   "`if i < out.shape[0]:`")
        g.expect_array(out[:n], A * x + y, what)

    with g.part("run_saxpy launches enough blocks for any n"):
        run = g.need(ex, "run_saxpy")
        tpb = getattr(ex, "THREADS_PER_BLOCK", 32)
        for n in (1, 31, 32, 100, 257):
            x, y = data(n, seed=n)
            got = run(A, x, y)
            want = A * x + y
            if got is not None and np.shape(got) == want.shape:
                got = np.asarray(got)
                bad = np.flatnonzero(~np.isclose(got, want, rtol=1e-6))
                if n > 1 and bad.size == n - 1 and bad[0] == 1 and np.all(got[1:] == 0):
                    g.fail(f"run_saxpy with n = {n}: only element 0 was computed, the others are still "
                           "0: every thread works on element 0 (`i` in saxpy is still the placeholder 0)")
                tail = bad.size and bad.size == n - bad[0] and bad[0] % tpb == 0 and np.all(got[bad] == 0)
                if tail:
                    k = int(bad[0])
                    done = f"the first {k} elements are right, the last {bad.size}" if k else f"all {n} elements"
                    g.fail(f"run_saxpy with n = {n}: {done} were never computed (still 0): "
                           f"{k // tpb} block{'s' if k // tpb != 1 else ''} of {tpb} threads "
                           f"cover{'s' if k // tpb == 1 else ''} only {k}. "
                           f"Round up: ceil({n} / {tpb}) = {-(-n // tpb)}.")
            g.expect_array(got, want, f"run_saxpy(2.5, x, y) with n = {n}", dtype=np.float32)


def ptx_kernels(ex, types):
    f32 = types.float32
    arr = types.Array(f32, 1, "C")
    return [kernel(ex, "saxpy", [(f32, arr, arr, arr)])]
