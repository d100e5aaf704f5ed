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
