"""The PTX layer: compile every CUDA kernel for real GPUs, on a machine that has none.

The simulator runs kernels as Python, so it accepts things no GPU compiler does (``np.empty`` in a
kernel, Python objects, unsupported NumPy calls). ``numba.cuda.compile_ptx`` runs the real
compiler (NVVM, from the ``numba-cuda[cu13]`` extra) without a driver. One snag: when a kernel calls
a device function, numba-cuda asks the *current device* for its compute capability, and without a
driver there is none; ``fake_current_device`` stands one in for the duration of the compile.
Must run in a process where numba.cuda is not the simulator.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from unittest import mock

from .errors import TargetUnavailable
from .registry import Kernel, get_technique, techniques

DEFAULT_CCS = ((8, 0), (9, 0))


@dataclass
class PTXResult:
    technique: str
    kernel: str
    signature: str
    cc: tuple[int, int]
    ok: bool
    error: str | None = None

    def __str__(self):
        cc = f"sm_{self.cc[0]}{self.cc[1]}"
        what = f"{self.technique}.{self.kernel}({self.signature}) for {cc}"
        return f"{what}: ok" if self.ok else f"{what}: FAILS: {self.error}"


class _FakeDevice:
    def __init__(self, cc):
        self.compute_capability = cc


@contextlib.contextmanager
def fake_current_device(cc):
    """Stand in a device of compute capability ``cc`` for numba-cuda's current-device query."""
    import numba.cuda.dispatcher as dispatcher

    with mock.patch.object(dispatcher, "get_current_device", lambda: _FakeDevice(cc)):
        yield


def compile_kernel(kernel: Kernel, ccs=DEFAULT_CCS, technique: str = "-") -> list[PTXResult]:
    from .targets import simulator_active

    if simulator_active():
        raise TargetUnavailable("the PTX check needs the real CUDA compiler; unset NUMBA_ENABLE_CUDASIM")
    from numba import cuda

    out = []
    for sig in kernel.signatures:
        sig_text = ", ".join(str(t) for t in sig)
        for cc in ccs:
            try:
                with fake_current_device(cc):
                    ptx, _ = cuda.compile_ptx(kernel.pyfunc, sig, cc=cc)
                ok = f".target sm_{cc[0]}{cc[1]}" in ptx
                out.append(PTXResult(technique, kernel.name, sig_text, cc, ok, None if ok else "no .target line"))
            except Exception as exc:
                first = next((ln for ln in str(exc).splitlines() if ln.strip()), "")
                out.append(PTXResult(technique, kernel.name, sig_text, cc, False, f"{type(exc).__name__}: {first}"))
    return out


def check(names=None, ccs=DEFAULT_CCS) -> list[PTXResult]:
    """Compile every kernel of the named techniques (default: all) for every ``ccs``."""
    results = []
    for name in names or techniques():
        for k in get_technique(name).kernels():
            results.extend(compile_kernel(k, ccs, technique=name))
    return results
