"""NVTX ranges: the one function that opens them, its names, and that it is a no-op without nvtx."""
import sys

import pytest

from numbabench import profiling


@pytest.fixture
def fresh():
    profiling._nvtx.cache_clear()  # the import is looked up once per process: again per test
    yield
    profiling._nvtx.cache_clear()


class _Recorder:
    """Stands in for the nvtx module: records the ranges opened and closed, in order."""

    def __init__(self):
        self.events = []

    def annotate(self, message=None, color=None, **_):
        rec = self

        class _Range:
            def __enter__(self):
                rec.events.append(("push", message, color))

            def __exit__(self, *exc):
                rec.events.append(("pop", message, color))
                return False

        return _Range()


def test_names():
    assert profiling.range_name("fftmask", "cuda", "compute") == "numbabench/fftmask/cuda/compute"
    assert profiling.range_name("fftmask", "cuda", "compute", "article") == "numbabench/fftmask/cuda/compute"
    assert profiling.range_name("fftmask", "cuda", "compute", "fused") == "numbabench/fftmask/cuda:fused/compute"
    assert profiling.range_name("remote", "cpu", "spark_udf") == "numbabench/remote/cpu/spark_udf"


def test_phase_range_calls_nvtx_with_the_name_around_the_block(fresh, monkeypatch):
    rec = _Recorder()
    monkeypatch.setitem(sys.modules, "nvtx", rec)
    with profiling.phase_range("clamp", "parallel", "compute"):
        rec.events.append(("body",))
    with profiling.phase_range("fftmask", "cuda", "h2d", variant="fused"):
        pass
    assert rec.events == [("push", "numbabench/clamp/parallel/compute", "green"), ("body",),
                          ("pop", "numbabench/clamp/parallel/compute", "green"),
                          ("push", "numbabench/fftmask/cuda:fused/h2d", "blue"),
                          ("pop", "numbabench/fftmask/cuda:fused/h2d", "blue")]


def test_the_range_closes_when_the_phase_raises(fresh, monkeypatch):
    rec = _Recorder()
    monkeypatch.setitem(sys.modules, "nvtx", rec)
    with pytest.raises(ZeroDivisionError):
        with profiling.phase_range("gaussian", "cpu", "compile"):
            1 / 0
    assert [e[0] for e in rec.events] == ["push", "pop"]


def test_without_nvtx_nothing_changes(fresh, monkeypatch):
    monkeypatch.setitem(sys.modules, "nvtx", None)  # import nvtx -> ImportError
    assert profiling._nvtx() is None
    with profiling.phase_range("clamp", "cpu", "compute") as got:
        value = 41 + 1
    assert got is None and value == 42


def test_the_real_nvtx_package(fresh):
    nvtx = pytest.importorskip("nvtx", reason="nvtx (the gpu and test extras) is not installed")
    cm = profiling.phase_range("clamp", "cpu", "compute")
    assert isinstance(cm, nvtx.annotate)
    assert cm.init_args[0] == "numbabench/clamp/cpu/compute"
    with cm:  # no profiler attached: it must still work, and cost nothing visible
        pass
