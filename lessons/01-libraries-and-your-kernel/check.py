"""Grades lesson 1: a library's FFT and the learner's apply_mask kernel on the same device memory.

Reference: the ``fftmask`` technique (``make_inputs``, ``reference`` — the pipeline in complex128 —
and ``compare``, which judges relative to the frame's magnitude). ``fft_filter`` is called with a
counting proxy of the FFT library, and ``cuda.to_device`` and the device arrays' ``copy_to_host``
are counted while it runs, so the check knows every transfer between host and device: three are
needed (the frame and the mask in, the result out); a round trip of the spectrum between the
library and the kernel shows as extra ones. On a GPU the library is CuPy and the check also times
``fft_filter`` against the technique's own cuda variant, host to host.
"""
import numpy as np

from numbabench import get_technique
from numbabench.lessons.grading import kernel

# What the lesson teaches, each graded below (tests/test_lessons.py plants a wrong answer for each).
PROPERTIES = {
    "both-axes": "apply_mask touches the frame only where (i, j) is inside it on both axes",
    "mask-applied": "fft_filter multiplies the spectrum by the mask, between the two FFTs",
    "no-round-trip": "the spectrum stays on the device between the library's FFT and the kernel",
    "result-to-host": "fft_filter returns its result as a NumPy array (one transfer back)",
    "gpu-compiles": "apply_mask compiles for a real GPU, not only on the simulator",
}

SENTINEL = np.complex64(-7777 - 7777j)


def _shape(a):
    return "x".join(str(s) for s in np.shape(a)) or "scalar"


class Counting:
    """The FFT library, with every host<->device transfer through it written down."""

    def __init__(self, lib, log):
        self.lib, self.log, self.inside = lib, log, 0
        self.name = lib.name

    def _call(self, fn, *args):
        self.inside += 1
        try:
            return fn(*args)
        finally:
            self.inside -= 1

    def asarray(self, a):
        if not (hasattr(a, "copy_to_host") or hasattr(a, "__cuda_array_interface__")):
            self.log.append(("h2d", f"lib.asarray of a {_shape(a)} host array"))
        return self._call(self.lib.asarray, a)

    def asnumpy(self, a):
        self.log.append(("d2h", f"lib.asnumpy of a {_shape(a)} array"))
        return self._call(self.lib.asnumpy, a)

    def fft2(self, a):
        return self._call(self.lib.fft2, a)

    def ifft2(self, a):
        return self._call(self.lib.ifft2, a)


def run_counted(ex, g, frame, mask):
    from numba import cuda

    from numbabench.lessons import fft_library

    fft_filter = g.need(ex, "fft_filter")
    log = []
    lib = Counting(fft_library(), log)
    real_to_device = cuda.to_device
    dev_cls = type(real_to_device(np.zeros(1)))
    real_copy = dev_cls.copy_to_host

    def to_device(a, *args, **kw):
        if not lib.inside:
            log.append(("h2d", f"cuda.to_device of a {_shape(a)} array"))
        return real_to_device(a, *args, **kw)

    def copy_to_host(self, *args, **kw):
        if not lib.inside:
            log.append(("d2h", f"copy_to_host of a {_shape(self)} device array"))
        return real_copy(self, *args, **kw)

    cuda.to_device = to_device
    dev_cls.copy_to_host = copy_to_host
    try:
        out = fft_filter(frame, mask, lib=lib)
    finally:
        cuda.to_device = real_to_device
        dev_cls.copy_to_host = real_copy
    return out, log


def check(ex, g):
    from numba import cuda

    tech = get_technique("fftmask")

    with g.part("apply_mask multiplies in place, and only inside the frame"):
        k = g.need(ex, "apply_mask", "kernel")
        inputs = tech.make_inputs(720, seed=1)  # a 20x36 frame: 8x8 blocks overhang it
        frame, mask = inputs["frame"], inputs["mask"]
        rows, cols = frame.shape
        blocks, threads = (3, 5), (8, 8)
        buf = np.full((24, 40), SENTINEL, np.complex64)
        buf[:rows, :cols] = frame
        mbuf = np.zeros((24, 40), np.float32)
        mbuf[:rows, :cols] = mask
        d_buf, d_mbuf = cuda.to_device(buf), cuda.to_device(mbuf)
        what = f"apply_mask[{blocks}, {threads}] on a {rows}x{cols} frame (a 24x40 grid of threads)"
        try:
            k[blocks, threads](d_buf[:rows, :cols], d_mbuf[:rows, :cols])
        except IndexError as exc:
            g.fail(f"{what}: a thread past the frame's edge indexed it: {exc}. The article's kernel "
                   "relies on a launch that tiles the frame exactly; yours must check that its (i, j) "
                   "is inside the frame on both axes before it touches it.")
        got = d_buf.copy_to_host()
        spill = got.copy()
        spill[:rows, :cols] = SENTINEL
        if np.any(spill != SENTINEL):
            g.fail(f"{what}: memory past the frame's edge was overwritten: check that (i, j) is inside "
                   "the frame on both axes")
        g.expect_array(got[:rows, :cols], frame * mask, what, rtol=1e-6)

    with g.part("fft_filter returns the filtered frame (FFT, mask, inverse FFT)"):
        inputs = tech.make_inputs(2048, seed=3)  # 32x64
        out, log = run_counted(ex, g, inputs["frame"], inputs["mask"])
        want = tech.reference(inputs)
        if out is None or np.shape(out) != want.shape:
            g.expect_array(out, want, "fft_filter(frame, mask) on a 32x64 frame")
        ok, err = tech.compare(np.asarray(out), want)
        if not ok:
            scale = float(np.abs(want).max())
            g.fail(f"fft_filter(frame, mask) on a 32x64 frame is off by up to {err:.3g} "
                   f"(the frame's values reach {scale:.3g}): is the mask applied to the spectrum, "
                   "in place, between the two transforms?")

    with g.part("the spectrum stays on the device between the library's FFT and your kernel"):
        inputs = tech.make_inputs(2048, seed=4)
        _, log = run_counted(ex, g, inputs["frame"], inputs["mask"])
        h2d = [w for d, w in log if d == "h2d"]
        d2h = [w for d, w in log if d == "d2h"]
        if len(d2h) > 1 or len(h2d) > 2:
            steps = "; ".join(w for _, w in log)
            g.fail(f"fft_filter made {len(log)} transfers between host and device ({steps}), where "
                   "three are enough: the frame and the mask in, the result out. A round trip between the "
                   "FFT and the kernel copies the whole spectrum twice for nothing: launch apply_mask "
                   "on the library's array itself (on a GPU, Numba takes a CuPy array as it is, by DLPack or its "
                   "__cuda_array_interface__).")
        if not d2h:
            g.fail("fft_filter never brought its result back to the host (lib.asnumpy): it should "
                   "return a NumPy array")

    if g.simulator:
        g.speed("fft_filter", None, None)
        return
    inputs = tech.make_inputs(921_600, seed=0)  # the article's 720x1280 frame
    frame, mask = inputs["frame"], inputs["mask"]
    fft_filter = getattr(ex, "fft_filter", None)
    if fft_filter is not None:
        g.speed("fft_filter on the article's 720x1280 frame, host to host",
                lambda: fft_filter(frame, mask), lambda: tech.run("cuda", inputs), max_ratio=3.0,
                sync=cuda.synchronize)


def ptx_kernels(ex, types):
    sig = (types.Array(types.complex64, 2, "C"), types.Array(types.float32, 2, "C"))
    return [kernel(ex, "apply_mask", [sig])]
