"""Timing rules: synchronize before every clock read, calibrated repeats, compile kept apart."""
import time

from numbabench import timing


class Clocked:
    """Records the order of calls, syncs and clock reads."""

    def __init__(self, monkeypatch):
        self.log = []
        self.t = 0.0
        monkeypatch.setattr(timing, "clock", self.clock)

    def clock(self):
        self.log.append("clock")
        self.t += 0.001
        return self.t

    def fn(self):
        self.log.append("call")

    def sync(self):
        self.log.append("sync")


def test_sync_comes_before_every_clock_read_after_work(monkeypatch):
    c = Clocked(monkeypatch)
    timing.steady(c.fn, c.sync, repeat=4)
    # every clock read that ends a sample directly follows a sync
    for i, ev in enumerate(c.log):
        if ev == "clock" and i > 0 and c.log[i - 1] == "call":
            raise AssertionError(f"clock read right after a call, no sync: {c.log[max(0, i - 4):i + 1]}")
    assert c.log.count("sync") >= 8


def test_repeat_gives_exactly_that_many_samples():
    t = timing.steady(lambda: None, repeat=7)
    assert t.repeats == 7 and t.number >= 1


def test_min_time_calibrates_number_and_samples():
    t = timing.steady(lambda: sum(range(50)), min_time=0.05, min_samples=3)
    assert t.repeats >= 3
    assert t.number > 1  # a sub-microsecond call is batched to beat the clock's resolution
    assert t.min_s <= t.median_s


def test_median_spread_and_min_are_those_of_the_samples(monkeypatch):
    # each call advances a fake clock by the next of these: the samples are exactly these times
    durations = iter([0.030, 0.050, 0.010, 0.040, 0.020])
    now = [0.0]
    monkeypatch.setattr(timing, "clock", lambda: now[0])

    def call():
        now[0] += next(durations)

    t = timing.steady(call, repeat=5)
    assert (t.repeats, t.number) == (5, 1)
    assert abs(t.median_s - 0.030) < 1e-12 and abs(t.min_s - 0.010) < 1e-12
    assert abs(t.spread_s - (0.040 - 0.020)) < 1e-12  # the interquartile range


def test_first_call_is_timed_with_sync(monkeypatch):
    c = Clocked(monkeypatch)
    secs, _ = timing.first_call(c.fn, c.sync)
    assert c.log == ["sync", "clock", "call", "sync", "clock"] and secs > 0


def test_slow_calls_are_not_batched():
    t = timing.steady(lambda: time.sleep(0.005), min_time=0.01)
    assert t.number == 1 and t.median_s >= 0.004


# -- latency, throughput and kernel time on a stand-in GPU with known costs -------------------------

class FakeGPU:
    """One stream with known costs: a launch costs the host ``host_s`` and the device ``kernel_s``,
    a synchronize costs the host ``sync_s`` after the queue drains. Events are stamped when the device
    reaches them. It is also an ``EventClock`` for ``timing.kernel_time``."""

    def __init__(self, monkeypatch, host_s, kernel_s, sync_s=3e-6):
        self.host_s, self.kernel_s, self.sync_s = host_s, kernel_s, sync_s
        self.now = 0.0  # the host's clock
        self.free = 0.0  # when the device will have finished everything queued so far
        self.launches = 0
        monkeypatch.setattr(timing, "clock", lambda: self.now)

    def _queue(self, device_s, host_s):
        self.now += host_s
        self.free = max(self.now, self.free) + device_s  # starts once queued and the device is free

    def launch(self):
        self.launches += 1
        self._queue(self.kernel_s, self.host_s)

    def sync(self):
        self.now = max(self.now, self.free) + self.sync_s

    # EventClock
    def record(self):
        self._queue(0.0, 1e-7)
        return FakeEvent(self, self.free)

    def busy(self, seconds):
        self._queue(seconds, self.host_s)

    def wait(self, event):
        self.now = max(self.now, event.t)


class FakeEvent:
    def __init__(self, gpu, t):
        self.gpu, self.t = gpu, t

    def done(self):
        return self.gpu.now >= self.t

    def seconds_since(self, start):
        return self.t - start.t


def naive_event_time(gpu):
    """What an event pair around one call on an idle stream measures (the old asv way)."""
    gpu.sync()
    start = gpu.record()
    gpu.launch()
    end = gpu.record()
    gpu.wait(end)
    return end.seconds_since(start)


def test_launch_bound_kernel_three_figures(monkeypatch):
    # a 2 µs kernel behind a 5 µs launch: what each figure must say
    gpu = FakeGPU(monkeypatch, host_s=5e-6, kernel_s=2e-6)
    thr = timing.steady(gpu.launch, gpu.sync, min_time=0.05)
    lat = timing.latency(gpu.launch, gpu.sync, min_time=0.05)
    ker = timing.kernel_time(gpu.launch, gpu.sync, min_time=0.05, events=gpu)
    assert abs(thr.median_s - 5e-6) / 5e-6 < 0.01  # pipelined: the host's launch rate
    assert abs(lat.median_s - (5e-6 + 2e-6 + 3e-6)) < 1e-9  # launch + kernel + sync, every call
    assert abs(ker.median_s - 2e-6) < 1e-12  # the kernel alone
    assert naive_event_time(gpu) > 2 * 2e-6  # an idle-stream event pair counts the launch too
    assert (thr.method, lat.method, ker.method) == ("throughput", "latency", "events")
    assert lat.number == 1 and ker.number > 1


def test_work_bound_kernel_latency_adds_launch_and_sync(monkeypatch):
    gpu = FakeGPU(monkeypatch, host_s=5e-6, kernel_s=50e-6)
    thr = timing.steady(gpu.launch, gpu.sync, min_time=0.05)
    lat = timing.latency(gpu.launch, gpu.sync, min_time=0.05)
    ker = timing.kernel_time(gpu.launch, gpu.sync, min_time=0.05, events=gpu)
    assert abs(thr.median_s - 50e-6) / 50e-6 < 0.01
    assert abs(lat.median_s - 58e-6) < 1e-9
    assert abs(ker.median_s - 50e-6) < 1e-12


def test_kernel_time_lengthens_a_spin_that_let_the_device_wait(monkeypatch):
    # host launches (20 µs) far slower than the kernel (1 µs): the first spin (100 µs) cannot cover
    # the ~100 launches a sample needs, so the device would wait for the host between them
    gpu = FakeGPU(monkeypatch, host_s=20e-6, kernel_s=1e-6)
    spins = []
    real_busy = gpu.busy
    monkeypatch.setattr(gpu, "busy", lambda s: spins.append(s) or real_busy(s))
    ker = timing.kernel_time(gpu.launch, gpu.sync, repeat=5, events=gpu)
    assert abs(ker.median_s - 1e-6) < 1e-12, ker
    assert max(spins) > spins[0]  # it had to grow


def test_samples_are_kept_raw(monkeypatch):
    gpu = FakeGPU(monkeypatch, host_s=5e-6, kernel_s=2e-6)
    for fn in (timing.steady, timing.latency):
        t = fn(gpu.launch, gpu.sync, repeat=9)
        assert len(t.samples) == t.repeats == 9
        assert t.median_s == sorted(t.samples)[4] and t.min_s == min(t.samples)


def test_latency_syncs_after_every_call(monkeypatch):
    c = Clocked(monkeypatch)
    timing.latency(c.fn, c.sync, repeat=5)
    calls = [i for i, ev in enumerate(c.log) if ev == "call"]
    assert len(calls) == 5 and all(c.log[i + 1] == "sync" for i in calls)


def test_kernel_time_needs_a_real_gpu():
    # here (no GPU) it refuses with the reason; on a GPU machine the spin kernel and events run
    from helpers import run_python

    out = run_python("""
        import json
        from numba import cuda
        from numbabench import timing
        try:
            t = timing.kernel_time(lambda: None, repeat=3)
            print(json.dumps([cuda.is_available(), "ran", t.median_s]))
        except Exception as exc:
            print(json.dumps([cuda.is_available(), type(exc).__name__ + ": " + str(exc), None]))
    """)
    gpu, what, median = out
    if gpu:
        assert what == "ran" and median >= 0, out
    else:
        assert what.startswith("TargetUnavailable") and "real GPU" in what, out
