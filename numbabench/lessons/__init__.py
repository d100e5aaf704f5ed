"""Self-paced lessons on the article's techniques, graded by the same core (``numbabench lessons``).

The runner lives in ``catalog`` (the index), ``workspace`` (the learner's copies and progress),
``checker`` and ``harness`` (a check in subprocesses), ``grading`` (what a lesson's check.py uses)
and ``command`` (the CLI). This module itself stays light: the notebooks import
``gpu_or_simulator`` from it before numba is imported.
"""
from __future__ import annotations

import os
import sys


def gpu_or_simulator(verbose: bool = True) -> str:
    """Pick the GPU if this machine has one, else the CUDA simulator; return "gpu" or "simulator".

    Call it before ``numba`` is imported: the simulator is chosen by ``NUMBA_ENABLE_CUDASIM`` when
    ``numba.cuda`` is first imported. A choice already made (the variable set, or numba.cuda already
    imported) is respected, so the same notebook runs under ``numbabench lessons check`` unchanged.
    On the simulator, CUDA events get a clock (``kit.SimulatorEvent``), so that a benchmark written
    with events runs there as it would on a GPU.
    """
    if "numba.cuda" in sys.modules:
        from numba import config

        mode = "simulator" if config.ENABLE_CUDASIM else "gpu"
        why = "numba.cuda was already imported"
    elif os.environ.get("NUMBA_ENABLE_CUDASIM", "").strip():
        mode = "gpu" if os.environ["NUMBA_ENABLE_CUDASIM"].strip() == "0" else "simulator"
        why = f"NUMBA_ENABLE_CUDASIM={os.environ['NUMBA_ENABLE_CUDASIM'].strip()}"
    else:
        from ..targets import probe_gpu

        probe = probe_gpu()
        mode = "gpu" if probe["cuda"] else "simulator"
        why = "found " + probe["gpu"]["name"] if probe["cuda"] else probe["reason"]
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1" if mode == "simulator" else "0"
        if "numba" in sys.modules:  # numba read its config already: make it read it again
            from numba.core import config

            config.reload_config()
    if mode == "simulator":
        from .kit import give_simulator_events_a_clock

        give_simulator_events_a_clock()
    if verbose:
        if mode == "gpu":
            print(f"kernels run on the GPU ({why})")
        else:
            print(f"kernels run on the CUDA simulator [{why}]: every CUDA thread is a Python thread, "
                  "so keep sizes small; times measured here say nothing about a GPU")
    return mode


def fft_library():
    """A GPU FFT library with CuPy's names: CuPy on a GPU, a stand-in on the simulator (lesson 1)."""
    from .kit import fft_library as make

    return make()


def unpickles(blob: bytes) -> None:
    """``pickle.loads(blob)``, dropping the result; ``client.run(unpickles, blob)`` asks a dask
    worker whether it can rebuild what ``blob`` holds (lesson 6)."""
    from .kit import unpickles as check

    check(blob)


__all__ = ["fft_library", "gpu_or_simulator", "unpickles"]
