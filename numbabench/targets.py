"""The targets a technique can run on, and how to tell which ones this machine has.

The CUDA simulator is chosen when ``numba.cuda`` is first imported (``NUMBA_ENABLE_CUDASIM``), so
one process is either ``cuda`` or ``cudasim``, never both. The runner therefore starts one worker
process per target, with the environment that target needs (``worker_env``). Nothing here creates
a CUDA context in the calling process: GPU detection runs in a probe subprocess.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass

from .errors import TargetUnavailable, UnknownName


@dataclass(frozen=True)
class Target:
    name: str
    summary: str
    on_device: bool  # data lives in GPU memory: h2d / d2h / end_to_end phases apply
    simulated: bool = False  # functional only: its times say nothing about a GPU

    @property
    def uses_gpu(self) -> bool:
        return self.on_device and not self.simulated

    @property
    def on_host(self) -> bool:
        """Runs on the CPU in any process (real or simulator mode): numpy, cpu, parallel."""
        return not self.on_device


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("numpy", "plain NumPy: the reference and the speed baseline", False),
        Target("cpu", "@numba.njit / @vectorize(target='cpu'), one thread", False),
        Target("parallel", "parallel=True + prange / @vectorize(target='parallel')", False),
        Target("cuda", "numba.cuda kernels on a real NVIDIA GPU", True),
        Target("cudasim", "the same CUDA kernels under the CUDA simulator (slow, functional)", True, True),
        Target("cupy", "CuPy's own way on the GPU: the peer to beat", True),
    )
}


#: the targets every process can run, whichever mode numba.cuda is in
HOST_TARGETS: tuple[str, ...] = tuple(n for n, t in TARGETS.items() if t.on_host)


@dataclass
class Probe:
    """What a real-mode process found: a usable CUDA GPU (and CuPy), or why not."""

    cuda: bool = False
    reason: str | None = None  # why there is no GPU
    gpu: dict | None = None  # name, compute_capability, multiprocessors, memory_gib, driver, ...
    cupy: bool = False
    cupy_reason: str | None = "no CUDA GPU"

    @classmethod
    def none(cls, why: str) -> "Probe":
        """No GPU, and why (the probe failed, did not answer, or was not asked)."""
        return cls(reason=why, cupy_reason=why if why.startswith("not ") or "cluster" in why else "no GPU")

    @classmethod
    def from_dict(cls, d: dict) -> "Probe":
        return cls(**{k: d.get(k) for k in ("cuda", "reason", "gpu", "cupy", "cupy_reason")})

    def to_dict(self) -> dict:
        return asdict(self)

    def __getitem__(self, key):  # older callers read a probe as a dict
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise UnknownName(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}") from None


def worker_env(target: str, base: dict | None = None) -> dict:
    """The environment a worker process for ``target`` must start with."""
    env = dict(os.environ if base is None else base)
    env["NUMBA_ENABLE_CUDASIM"] = "1" if target == "cudasim" else "0"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def simulator_active() -> bool:
    """Whether numba.cuda in *this* process is (or will be, once imported) the simulator."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def require_in_process(target: str) -> None:
    """Raise TargetUnavailable if ``target`` cannot run in this process as it was started."""
    t = get_target(target)
    if not t.on_device:
        return
    sim = simulator_active()
    if target == "cudasim" and not sim:
        raise TargetUnavailable(
            "target 'cudasim' needs NUMBA_ENABLE_CUDASIM=1 set before numba is imported; "
            "`numbabench run --targets cudasim` does that for you in a worker process"
        )
    if target in ("cuda", "cupy"):
        if sim:
            raise TargetUnavailable(
                f"target {target!r} needs a real GPU, but this process runs the CUDA simulator "
                "(NUMBA_ENABLE_CUDASIM=1); use target 'cudasim' here"
            )
        from numba import cuda

        if not cuda.is_available():
            raise TargetUnavailable(
                f"target {target!r} needs an NVIDIA GPU and driver, and this machine has none; "
                "run the same kernels on the CUDA simulator with target 'cudasim'"
            )
        if target == "cupy" and importlib.util.find_spec("cupy") is None:
            raise TargetUnavailable("target 'cupy' needs CuPy: pip install 'numbabench[gpu]'")


def probe_gpu(timeout: float = 120.0) -> Probe:
    """Ask a fresh real-mode (non-simulator) process what GPU and CuPy this machine has.

    Runs in a subprocess so that the caller never holds a CUDA context and never fixes its own
    simulator mode.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "numbabench.worker", "--probe"],
            env=worker_env("cuda"), capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Probe.none(f"GPU probe did not answer within {timeout:.0f} s")
    try:
        return Probe.from_dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Probe.none(f"GPU probe failed: {last}")


def availability(probe: Probe | dict | None = None) -> dict[str, tuple[bool, str | None]]:
    """Every target -> (available, why not). ``probe`` is a ``probe_gpu()`` answer (made if None)."""
    probe = probe_gpu() if probe is None else probe
    have_cuda_pkg = importlib.util.find_spec("numba.cuda") is not None
    out: dict[str, tuple[bool, str | None]] = {t: (True, None) for t in HOST_TARGETS}
    if probe["cuda"]:
        out["cuda"] = (True, None)
    else:
        out["cuda"] = (False, f"{probe['reason']}; the same kernels run here on target 'cudasim'")
    out["cudasim"] = (True, None) if have_cuda_pkg else (False, "numba-cuda is not installed")
    out["cupy"] = (True, None) if probe["cupy"] else (False, probe["cupy_reason"])
    return out
