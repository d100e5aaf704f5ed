"""What machine and software a result came from: CPU, cores, GPU, versions, commit."""
from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> dict:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"logical": os.cpu_count(), "usable": usable}


def memory_bytes() -> int | None:
    """Physical memory of this machine (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def machine_name() -> str:
    """A file-name-safe name for this machine (the host name)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", socket.gethostname()) or "machine"


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions() -> dict:
    return {
        "python": platform.python_version(),
        "numpy": package_version("numpy"),
        "numba": package_version("numba"),
        "numba-cuda": package_version("numba-cuda"),
        "pandas": package_version("pandas"),
        "cupy": package_version("cupy-cuda13x") or package_version("cupy-cuda12x") or package_version("cupy"),
        "numbabench": package_version("numbabench"),
    }


def threading_layer() -> str:
    """The threading layer Numba picks for parallel=True here (runs a tiny prange to find out)."""
    import numba

    @numba.njit(parallel=True)
    def touch(a):
        for i in numba.prange(a.shape[0]):
            a[i] += 1

    import numpy as np

    touch(np.zeros(4))
    return f"{numba.threading_layer()} ({numba.config.NUMBA_NUM_THREADS} threads)"


def commit() -> str | None:
    """The git commit of the numbabench checkout that ran (with +dirty if it has changes)."""
    here = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(probe=None) -> dict:
    """This machine, and the GPU of ``probe`` (a ``targets.Probe`` or its dict)."""
    gpu = (probe["gpu"] if probe is not None else None) or {}
    try:  # parallel figures depend on it (omp, tbb or workqueue)
        layer = threading_layer()
    except Exception as exc:
        layer = f"unknown ({type(exc).__name__})"
    return {
        "threading_layer": layer,
        "name": machine_name(),
        "cpu": cpu_model(),
        "cores": cores(),
        "os": f"{platform.system()} {platform.release()}",
        "gpu": gpu.get("name"),
        "compute_capability": gpu.get("compute_capability"),
        "gpu_memory_gib": gpu.get("memory_gib"),
        "driver": gpu.get("driver"),
        "nvrtc": gpu.get("nvrtc"),  # the CUDA compiler's version, which numba.cuda.runtime reports
    }
