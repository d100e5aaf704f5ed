"""Grades lesson 2: a benchmark that waits for the GPU and keeps compilation apart.

The simulator cannot show either mistake (its launches finish before they return, its
``synchronize`` does nothing, its events record no time), so the learner's ``benchmark`` is graded
by its structure (it calls ``cuda.synchronize``) and by its behaviour on a *stand-in* GPU with known
costs: each call of the stand-in's ``fn`` queues WORK_S seconds of work and returns at once; the
check's ``cuda.synchronize`` (patched in for the run) sleeps until the queued work is done; the
first call also "compiles", blocking the host for COMPILE_S seconds as Numba's compiler does. A
right benchmark finds steady ~= WORK_S and compile ~= COMPILE_S; a missing synchronize finds
microseconds; compilation left in a mean inflates the steady figure.

On a real GPU the check also runs ``benchmark`` on a freshly jitted kernel (the clamp technique's,
over 10 million float32) and compares its steady figure with ``numbabench.timing.steady``.
"""
import ast
import threading
import time

from numbabench.lessons.grading import Failed

WORK_S = 0.02
COMPILE_S = 0.4
clock = time.perf_counter


class StandIn:
    """A GPU with known costs: asynchronous launches, a blocking synchronize, a first-call compile."""

    def __init__(self):
        self.lock = threading.Lock()
        self.busy_until = clock()
        self.calls = 0

    def fn(self):
        if self.calls == 0:
            time.sleep(COMPILE_S)  # the compiler runs on the host, before the launch returns
        with self.lock:
            self.calls += 1
            self.busy_until = max(clock(), self.busy_until) + WORK_S  # queued behind earlier work

    def synchronize(self):
        with self.lock:
            wait = self.busy_until - clock()
        if wait > 0:
            time.sleep(wait)


def _calls_synchronize(node) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if (isinstance(f, ast.Attribute) and f.attr == "synchronize") or (
                    isinstance(f, ast.Name) and f.id == "synchronize"):
                return True
    return False


def _ms(s):
    return f"{s * 1e3:.3g} ms"


def run_on_stand_in(ex, g):
    from numba import cuda

    benchmark = g.need(ex, "benchmark")
    gpu = StandIn()
    real = cuda.synchronize
    aliases = [k for k, v in vars(ex).items() if v is real]  # `from numba.cuda import synchronize`
    cuda.synchronize = gpu.synchronize
    for k in aliases:
        setattr(ex, k, gpu.synchronize)
    try:
        out = benchmark(gpu.fn)
    finally:
        cuda.synchronize = real
        for k in aliases:
            setattr(ex, k, real)
    try:
        compile_s, steady_s = (float(v) for v in out)
    except (TypeError, ValueError):
        raise Failed(f"benchmark returned {out!r}; it should return two numbers, (compile_s, steady_s)") from None
    if gpu.calls < 3:
        raise Failed(f"benchmark called fn {gpu.calls} time(s): one call to compile, then several to time")
    return compile_s, steady_s, gpu.calls


def check(ex, g):
    with g.part("benchmark waits for the GPU with cuda.synchronize()"):
        g.need(ex, "benchmark")
        if not _calls_synchronize(g.function_def("benchmark")):
            g.fail("benchmark never calls cuda.synchronize(): a launch returns as soon as the work is "
                   "queued, so without it the clock is read before the GPU has done anything")

    measured = None
    with g.part("benchmark runs on a stand-in GPU (each call: 20 ms of work; the first also compiles for 400 ms)"):
        measured = run_on_stand_in(ex, g)
    if measured is None:
        return
    compile_s, steady_s, calls = measured

    with g.part("steady_s is the time of the work, not of the launch",
                f"steady_s = {_ms(steady_s)} for 20 ms of work"):
        if steady_s < 0.3 * WORK_S:
            g.fail(f"benchmark says a steady call takes {_ms(steady_s)}, but each call's work takes "
                   f"{_ms(WORK_S)}: that is the time to queue the launch. The clock was read before the "
                   "GPU finished: call cuda.synchronize() after fn() and before reading the clock.")
        if steady_s > 1.8 * WORK_S:
            # a mean over all calls, the compiling one included, with or without waiting for the work
            means = (COMPILE_S / calls, (COMPILE_S + calls * WORK_S) / calls)
            why = (" — about what a mean over all calls gives when it includes the first one, which "
                   "compiled" if any(abs(steady_s - m) < 0.25 * m for m in means) else "")
            g.fail(f"benchmark says a steady call takes {_ms(steady_s)}, but each call's work takes "
                   f"{_ms(WORK_S)}{why}. Time the first call on its own, and take the median of the "
                   "calls after it.")

    with g.part("compile_s is how much longer the first call took",
                f"compile_s = {_ms(compile_s)} for a 400 ms compile"):
        if compile_s < 0.5 * COMPILE_S:
            g.fail(f"compile_s is {_ms(compile_s)}, but the first call took about {_ms(COMPILE_S)} longer "
                   "than the others (it compiled the kernel): compile_s = the first call's time minus "
                   "a steady call's")
        if compile_s > 1.6 * COMPILE_S:
            g.fail(f"compile_s is {_ms(compile_s)}, but the first call took only about {_ms(COMPILE_S)} "
                   "longer than the others: compile_s = the first call's time minus a steady call's")

    if g.simulator:
        g.speed("benchmark on a real kernel", None, None)
        return
    from numba import cuda

    from numbabench import get_technique, timing
    from numbabench.devices import launch_config

    with g.part("on the GPU, benchmark agrees with numbabench.timing on a real kernel"):
        tech = get_technique("clamp")
        n = 10_000_000
        args = tech.prepare("cuda", tech.make_inputs(n, dtype="float32"))
        k = cuda.jit(tech.kernels()[0].pyfunc)  # a fresh dispatcher: its first call compiles
        blocks, threads = launch_config(n)

        def fn():
            k[blocks, threads](args["x"], args["xmin"], args["xmax"], args["out"])

        c, s = ex.benchmark(fn)
        ref = timing.steady(fn, cuda.synchronize, min_time=0.3)
        ratio = s / ref.median_s
        g.speeds.append({"label": "benchmark", "ok": 0.5 <= ratio <= 2.0,
                         "text": f"speed: your benchmark says {_ms(s)} per call, numbabench.timing "
                                 f"{_ms(ref.median_s)} ({ratio:.2f}x); compile {_ms(c)}"})
        if not 0.5 <= ratio <= 2.0:
            g.fail(f"benchmark says {_ms(s)} per call of a 10-million-element kernel; numbabench.timing, "
                   f"synchronized, says {_ms(ref.median_s)}")
        if c < 0.005:
            g.fail(f"compile_s is {_ms(c)} for a kernel that had never been compiled")
