"""Grades lesson 2: a benchmark that waits for the GPU and keeps compilation apart.

The simulator cannot show either mistake (its launches finish before they return, its
``synchronize`` does nothing), so the learner's ``benchmark`` is graded by its structure (it waits
for the GPU) and by its behaviour on a *stand-in* GPU with known costs, patched in for the run:

* each call of the stand-in's ``fn`` queues WORK_S seconds of work and returns at once; the first
  call also "compiles", blocking the host for COMPILE_S seconds before it queues, as Numba does;
* when ``benchmark`` is called, EARLIER_S seconds of someone else's work are still queued, so a
  first measurement that does not synchronize before it starts the clock counts them;
* ``cuda.synchronize()`` sleeps until the queued work is done;
* ``cuda.event()`` gives stand-in events: ``record()`` stamps the moment the work queued before it
  is done, ``synchronize()`` waits for that moment, and the time between two events is refused
  (CUDA_ERROR_NOT_READY, as the driver does) until the end event has completed.

So the host-clock way and the CUDA-events way are graded on the same figures: steady ~= WORK_S and
compile ~= COMPILE_S. On a real GPU the check also runs ``benchmark`` on a freshly jitted kernel
(the clamp technique's, over 10 million float32) and compares its steady figure with a per-call
measurement of the same kind: the host clock synchronized around one call (``timing.first_call``)
for a host-clock benchmark, CUDA events around one call for an events benchmark. Never with the
pipelined ``timing.steady``: a per-call figure includes a launch and a synchronize that pipelined
calls overlap.
"""
import ast
import statistics
import threading
import time

from numbabench.fmt import seconds
from numbabench.lessons.grading import Failed

# What the lesson teaches, each graded below (tests/test_lessons.py plants a wrong answer for each).
PROPERTIES = {
    "waits": "benchmark waits for the GPU (cuda.synchronize() or an event's synchronize())",
    "sync-after": "the clock is read after the work is done, not after the launch returned",
    "sync-before": "earlier queued work stays out: cuda.synchronize() before the clock starts",
    "compile-apart": "the first (compiling) call is left out of the steady figure",
    "events-complete": "the events way reads the time only once the end event has completed",
}

WORK_S = 0.02
COMPILE_S = 0.4
EARLIER_S = 0.8
clock = time.perf_counter

ADVICE = [
    (r"Event\(\) takes no arguments|has no attribute 'event_elapsed_time'",
     "(The simulator's own events keep no time; numbabench.lessons.gpu_or_simulator() gives them a "
     "clock: call it before numba is imported, as the exercise's first cell does.)"),
]


class StandInCudaError(RuntimeError):
    """What the driver raises for a misused event, on the stand-in GPU."""


class StandIn:
    """A GPU with known costs: asynchronous launches, a blocking synchronize, a first-call compile,
    work queued before the benchmark starts, and CUDA events on its one stream."""

    def __init__(self):
        self.lock = threading.Lock()
        self.busy_until = clock() + EARLIER_S  # someone else's work, still queued
        self.calls = 0
        self.events = 0

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

    def event(self, timing=True, blocking=False, interprocess=False):
        self.events += 1
        return StandInEvent(self)

    @staticmethod
    def event_elapsed_time(start, end):
        return start.elapsed_time(end)


class StandInEvent:
    def __init__(self, gpu):
        self.gpu, self.stamp = gpu, None

    def record(self, stream=0):
        with self.gpu.lock:  # the stream reaches the event once the work queued before it is done
            self.stamp = max(clock(), self.gpu.busy_until)

    def wait(self, stream=0):
        pass

    def query(self):
        return self.stamp is not None and clock() >= self.stamp

    def synchronize(self):
        if self.stamp is not None and self.stamp > clock():
            time.sleep(self.stamp - clock())

    def elapsed_time(self, end):
        if self.stamp is None or getattr(end, "stamp", None) is None:
            raise StandInCudaError("CUDA_ERROR_INVALID_HANDLE: the time between two events was read, but "
                                   "one of them was never recorded: call .record() on both")
        if clock() < max(self.stamp, end.stamp):
            raise StandInCudaError("CUDA_ERROR_NOT_READY: the time between two events was read before the "
                                   "end event completed: call end.synchronize() (or cuda.synchronize()) "
                                   "before event_elapsed_time")
        return (end.stamp - self.stamp) * 1e3


def _calls(node, *names) -> bool:
    """Whether ``node`` calls a function or method of one of these names."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if (isinstance(f, ast.Attribute) and f.attr in names) or (isinstance(f, ast.Name) and f.id in names):
                return True
    return False


def uses_events(g) -> bool:
    return _calls(g.function_def("benchmark"), "event_elapsed_time", "elapsed_time")


def run_on_stand_in(ex, g):
    from numba import cuda

    benchmark = g.need(ex, "benchmark")
    gpu = StandIn()
    swaps = {"synchronize": gpu.synchronize, "event": gpu.event, "event_elapsed_time": gpu.event_elapsed_time}
    real = {name: getattr(cuda, name, None) for name in swaps}
    # `from numba.cuda import synchronize` and the like: the learner's own names for them
    aliases = [(k, name) for k, v in vars(ex).items() for name in swaps
               if real[name] is not None and v is real[name]]
    for name, fake in swaps.items():
        setattr(cuda, name, fake)
    for k, name in aliases:
        setattr(ex, k, swaps[name])
    try:
        out = benchmark(gpu.fn)
    finally:
        for name, r in real.items():
            if r is None:
                delattr(cuda, name)
            else:
                setattr(cuda, name, r)
        for k, name in aliases:
            setattr(ex, k, real[name])
    try:
        compile_s, steady_s = (float(v) for v in out)
    except (TypeError, ValueError):
        raise Failed(f"benchmark returned {out!r}; it should return two numbers, (compile_s, steady_s)") from None
    if gpu.calls < 3:
        raise Failed(f"benchmark called fn {gpu.calls} time(s): one call to compile, then several to time")
    return compile_s, steady_s, gpu.calls


def check(ex, g):
    events = False
    with g.part("benchmark waits for the GPU before it reads the clock"):
        g.need(ex, "benchmark")
        events = uses_events(g)
        if not _calls(g.function_def("benchmark"), "synchronize"):
            g.fail("benchmark never waits for the GPU: neither cuda.synchronize() nor an event's "
                   ".synchronize(). A launch returns as soon as the work is queued, so the clock is "
                   "read before the GPU has done anything")
    if events:
        g.note("your benchmark times with CUDA events: on the simulator they are graded on the stand-in "
               "GPU, whose events stamp the moment the work queued before them is done; on a GPU the "
               "check compares your figure with CUDA events around one call")

    measured = None
    with g.part("benchmark runs on a stand-in GPU (each call: 20 ms of work; the first also compiles "
                "for 400 ms; 800 ms of earlier work still queued when benchmark starts)"):
        measured = run_on_stand_in(ex, g)
    if measured is None:
        return
    compile_s, steady_s, calls = measured

    with g.part("steady_s is the time of the work, not of the launch",
                f"steady_s = {seconds(steady_s)} for 20 ms of work"):
        if steady_s < 0.3 * WORK_S:
            g.fail(f"benchmark says a steady call takes {seconds(steady_s)}, but each call's work takes "
                   f"{seconds(WORK_S)}: that is the time to queue the launch. The clock was read before the "
                   "GPU finished: call cuda.synchronize() after fn() and before reading the clock.")
        if steady_s > 1.8 * WORK_S:
            # a mean over all calls, the first (compiling) one included, with or without earlier work
            firsts = (COMPILE_S, COMPILE_S + WORK_S, COMPILE_S + EARLIER_S + WORK_S)
            means = [(f + (calls - 1) * WORK_S) / calls for f in firsts] + [f / calls for f in firsts]
            why = (" — about what a mean over all calls gives when it includes the first one, which "
                   "compiled" if any(abs(steady_s - m) < 0.25 * m for m in means) else "")
            g.fail(f"benchmark says a steady call takes {seconds(steady_s)}, but each call's work takes "
                   f"{seconds(WORK_S)}{why}. Time the first call on its own, and take the median of the "
                   "calls after it.")

    with g.part("compile_s is how much longer the first call took, and nothing else",
                f"compile_s = {seconds(compile_s)} for a 400 ms compile"):
        # without a synchronize first, the first call waits for the earlier work, while the compile
        # runs on the host meanwhile: it measures the earlier work (the longer of the two)
        if abs(compile_s - max(EARLIER_S, COMPILE_S)) < 0.2 * max(EARLIER_S, COMPILE_S):
            g.fail(f"compile_s is {seconds(compile_s)}, but the first call compiled for only "
                   f"{seconds(COMPILE_S)}: your first measurement waited for the {seconds(EARLIER_S)} of "
                   "work that was already queued on the GPU when benchmark started (the compile ran on "
                   "the host meanwhile). Call cuda.synchronize() before you start the clock, so that "
                   "earlier work is not counted.")
        if compile_s < 0.5 * COMPILE_S:
            if events:
                g.fail(f"compile_s is {seconds(compile_s)}, but the first call took about "
                       f"{seconds(COMPILE_S)} longer than the others (it compiled). Events time the GPU's "
                       "stream, and the stream was still busy with work queued before benchmark started "
                       "while the first call compiled on the host, so the compile hid behind that work. "
                       "Call cuda.synchronize() before the first call (or time the first call with the "
                       "host clock).")
            g.fail(f"compile_s is {seconds(compile_s)}, but the first call took about {seconds(COMPILE_S)} "
                   "longer than the others (it compiled the kernel): compile_s = the first call's time "
                   "minus a steady call's")
        if compile_s > 1.6 * COMPILE_S:
            g.fail(f"compile_s is {seconds(compile_s)}, but the first call took only about "
                   f"{seconds(COMPILE_S)} longer than the others: compile_s = the first call's time minus "
                   "a steady call's (and cuda.synchronize() before the clock starts)")

    if g.simulator:
        g.speed("benchmark on a real kernel", None, None)
        return
    _on_a_gpu(ex, g, events)


def _event_seconds(fn):
    """One call of ``fn`` between two CUDA events, the stream idle before (seconds)."""
    from numba import cuda

    start, end = cuda.event(timing=True), cuda.event(timing=True)
    cuda.synchronize()
    start.record()
    fn()
    end.record()
    end.synchronize()
    return cuda.event_elapsed_time(start, end) / 1e3


def _on_a_gpu(ex, g, events):
    from numba import cuda

    from numbabench import get_technique, timing
    from numbabench.devices import launch_config

    kind = ("CUDA events around one call" if events
            else "the host clock, synchronized before and after one call")
    with g.part(f"on the GPU, benchmark agrees with {kind} on a real kernel"):
        tech = get_technique("clamp")
        n = 10_000_000
        args = tech.prepare("cuda", tech.make_inputs(n, dtype="float32"))
        k = cuda.jit(tech.kernels()[0].pyfunc)  # a fresh dispatcher: its first call compiles
        blocks, threads = launch_config(n)

        def fn():
            k[blocks, threads](args["x"], args["xmin"], args["xmax"], args["out"])

        c, s = ex.benchmark(fn)
        # like with like: per call, measured the way the learner measured (never pipelined calls)
        per_call = [(_event_seconds(fn) if events else timing.first_call(fn, cuda.synchronize)[0])
                    for _ in range(30)]
        ref = statistics.median(per_call)
        ratio = s / ref
        g.speeds.append({"label": "benchmark", "ok": 0.5 <= ratio <= 2.0,
                         "text": f"speed: your benchmark says {seconds(s)} per call, {kind} "
                                 f"{seconds(ref)} (median of 30; {ratio:.2f}x); compile {seconds(c)}"})
        if not 0.5 <= ratio <= 2.0:
            g.fail(f"benchmark says {seconds(s)} per call of a 10-million-element kernel; {kind} says "
                   f"{seconds(ref)} (median of 30 calls)")
        if c < 0.005:
            g.fail(f"compile_s is {seconds(c)} for a kernel that had never been compiled")
