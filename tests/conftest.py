"""Rules for every test: this process is never the simulator; ``@pytest.mark.gpu`` needs a GPU.

``@pytest.mark.gpu`` marks a test that needs a real CUDA GPU, ``@pytest.mark.gpu("cupy")`` one that
also needs a working CuPy. Where they are missing the test is skipped with the probe's reason. The
GPU probe runs once per session, in a subprocess (``numbabench.targets.probe_gpu``), and only when
a GPU test is about to run, so this process never creates a CUDA context to find out.
"""
import os

# The tests' own process compiles PTX and runs the cpu targets: it must not be the simulator.
# (Simulator tests run in subprocesses, see helpers.in_simulator.)
os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
# The remote technique's Spark rows start a JVM per process (~10 s and more): off for every test
# (and every subprocess they start) but tests/test_spark.py, which turns them on.
os.environ.setdefault("NUMBABENCH_SPARK", "0")

import pytest  # noqa: E402

from helpers import gpu_probe as probe, gpu_skip_reason  # noqa: E402


def pytest_runtest_setup(item):
    marks = list(item.iter_markers("gpu"))  # on the function, its class or one parameter
    if marks:
        reason = gpu_skip_reason({arg for m in marks for arg in m.args})
        if reason:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def gpu_probe():
    """The GPU probe, for a test that checks what happens where there is *no* GPU."""
    return probe()
