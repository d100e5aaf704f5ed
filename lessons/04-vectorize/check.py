"""Grades lesson 4: the gaussian ufunc with @vectorize — its formula, its loops, broadcasting, and
the cpu, parallel (and, on a GPU, cuda) targets.

Reference: the ``gaussian`` technique (its NumPy formula and its per-dtype tolerance). The
simulator cannot build a ``target='cuda'`` ufunc (numba-cuda 0.30), so there the cuda side is
graded by compiling the learner's scalar function for a real GPU, as the element function of a
kernel (the PTX phase); on a GPU the learner's ``gaussian_cuda()`` is built, run, and timed against
the technique's own cuda variant.
"""
import math

import numpy as np

from numbabench import get_technique

# What the lesson teaches, each graded below (tests/test_lessons.py plants a wrong answer for each).
PROPERTIES = {
    "formula": "gaussian is the normal density, normalised (and with the powers where they belong)",
    "math-not-numpy": "gaussian uses math.exp, which compiles for the GPU; np.exp does not",
    "float32-loop": "a float32 loop beside the float64 one, so float32 data stays float32",
    "parallel-target": "gaussian_parallel is built with target='parallel'",
    "cuda-on-first-use": "the target='cuda' ufunc is built inside gaussian_cuda(), on first use",
}

ADVICE = [
    (r"FakeOverload|CudaSupportError",
     "A target='cuda' ufunc cannot be built on the simulator (numba-cuda 0.30), nor where there is no "
     "GPU driver: build it inside gaussian_cuda(), on first use, as the exercise does."),
]
SQRT_2PI = math.sqrt(2 * math.pi)
POINTS = [(0.0, 0.0, 1.0), (1.0, 0.25, 1.5), (-2.0, 0.0, 0.5), (3.0, 1.0, 2.0)]


def density(x, x0, sigma):
    return math.exp(-0.5 * ((x - x0) / sigma) ** 2) / (SQRT_2PI * sigma)


def expect_reference(g, tech, got, inputs, what):
    want = tech.reference(inputs)
    if got is None or np.shape(got) != want.shape:
        g.expect_array(got, want, what)  # says what is wrong with the shape
    ok, err = tech.compare(np.asarray(got), want)
    if not ok:
        rtol = 1e-5 if want.dtype == np.float32 else 1e-12
        g.expect_array(got, want, what, rtol=rtol, atol=1e-30)
        g.fail(f"{what}: off by up to {err:.3g} from the reference")


def check(ex, g):
    tech = get_technique("gaussian")

    with g.part("gaussian(x, x0, sigma) is the normal density"):
        fn = g.need(ex, "gaussian")
        for x, x0, s in POINTS:
            got, want = fn(x, x0, s), density(x, x0, s)
            if not math.isclose(got, want, rel_tol=1e-9):
                why = ""
                if want and math.isclose(got / want, SQRT_2PI * s, rel_tol=1e-6):
                    why = ": that is the curve without its normalisation, / sqrt(2 pi) / sigma"
                g.fail(f"gaussian({x}, {x0}, {s}) returned {got:.7g}, expected {want:.7g}{why}")

    with g.part("gaussian_cpu has a float32 and a float64 loop (float32 in, float32 out)"):
        u = g.need(ex, "gaussian_cpu", "ufunc")
        x = np.linspace(-2, 2, 5)
        for dt in (np.float32, np.float64):
            out = u(x.astype(dt), dt(0.25), dt(1.5))
            if np.asarray(out).dtype != dt:
                g.fail(f"gaussian_cpu on {np.dtype(dt).name} inputs returned {np.asarray(out).dtype}: it has "
                       f"no {np.dtype(dt).name} loop, so the data were converted. Add the signature "
                       f"\"{np.dtype(dt).name}({', '.join([np.dtype(dt).name] * 3)})\" to SIGNATURES.")

    with g.part("gaussian_cpu matches the reference, on 1-D and 2-D x, with scalars and with one x0 per column"):
        u = g.need(ex, "gaussian_cpu", "ufunc")
        for dtype in ("float32", "float64"):
            for size in (1001, 3000):  # 1-D, then (3, 1000)
                inputs = tech.make_inputs(size, seed=size, dtype=dtype)
                x = inputs["x"]
                expect_reference(g, tech, u(x, inputs["x0"], inputs["sigma"]), inputs,
                                 f"gaussian_cpu(x, {inputs['x0']}, {inputs['sigma']}) on {dtype} x of shape {x.shape}")
            inputs = dict(inputs, x0=np.linspace(-1, 1, x.shape[-1]).astype(dtype))
            expect_reference(g, tech, u(x, inputs["x0"], inputs["sigma"]), inputs,
                             f"gaussian_cpu(x, x0, 1.5) on {dtype} x of shape {x.shape}, x0 one per column")

    with g.part("gaussian_parallel is a target='parallel' ufunc that matches the reference"):
        p = g.need(ex, "gaussian_parallel", "ufunc")
        if type(p).__name__ == "DUFunc":
            g.fail("gaussian_parallel is a target='cpu' ufunc (a Numba DUFunc): build it with "
                   "target='parallel' to split its loop over the CPU's cores")
        inputs = tech.make_inputs(3000, seed=9, dtype="float32")
        expect_reference(g, tech, p(inputs["x"], inputs["x0"], inputs["sigma"]), inputs,
                         "gaussian_parallel(x, 0.25, 1.5) on float32 x of shape (3, 1000)")

    _note_float64_math(ex, g)

    if g.simulator:
        g.note("gaussian_cuda() is not run on the simulator, which cannot build a target='cuda' ufunc "
               "(numba-cuda 0.30); your gaussian is compiled for a real GPU instead (the PTX line)")
        g.speed("gaussian_cuda", None, None)
        return
    from numba import cuda

    with g.part("gaussian_cuda() builds a GPU ufunc that matches the reference"):
        make = g.need(ex, "gaussian_cuda")
        gu = make()
        inputs = tech.make_inputs(100_000, seed=2, dtype="float32")
        x = inputs["x"].ravel()
        inputs = dict(inputs, x=x)
        expect_reference(g, tech, gu(x, inputs["x0"], inputs["sigma"]), inputs,
                         "gaussian_cuda()(x, 0.25, 1.5) on 100,000 float32")
        n = 10_000_000
        big = tech.make_inputs(n + 1, seed=0, dtype="float32")  # 1-D
        args = tech.prepare("cuda", big)
        d_out = cuda.device_array_like(args["x"])
        x0, sigma = big["x0"], big["sigma"]
        ref = tech.variant("cuda")
        g.speed(f"gaussian_cuda() over {n + 1:,} float32 on the device",
                lambda: gu(args["x"], x0, sigma, out=d_out), lambda: ref(args), max_ratio=3.0)


def _note_float64_math(ex, g):
    """A float32 loop that converts to double is right but slower: say so, do not fail it."""
    u = getattr(ex, "gaussian_cpu", None)
    try:
        for sig, cres in u._dispatcher.overloads.items():
            if str(sig.return_type) == "float32" and "fpext float" in cres.library.get_llvm_str():
                g.note("your float32 loop computes in float64 (a literal such as 2 is a 64-bit number "
                       "to Numba) and rounds back: correct, but slower. type(x)(2) is a 2 of x's own type.")
                return
    except Exception:  # not a DUFunc, or a Numba without these internals: nothing to say
        return


def ptx_kernels(ex, types):
    fn = getattr(ex, "gaussian", None)
    if fn is None:
        return []
    from numba import cuda

    element = cuda.jit(device=True)(fn)

    def gaussian_elementwise(x, x0, sigma, out):  # what a target='cuda' ufunc runs for each element
        i = cuda.grid(1)
        if i < x.shape[0]:
            out[i] = element(x[i], x0, sigma)

    sigs = [(types.Array(t, 1, "C"), t, t, types.Array(t, 1, "C")) for t in (types.float32, types.float64)]
    return [{"name": "gaussian (as a GPU ufunc's element function)", "pyfunc": gaussian_elementwise,
             "signatures": sigs, "must_contain": []}]
