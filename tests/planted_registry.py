"""Techniques planted for tests/test_registry.py: a module nobody wrote a test for.

Loaded only when NUMBABENCH_TECHNIQUES=planted_registry (tests/ on PYTHONPATH). ``planted_right``
computes ``2 * x + 1`` right on every target: two variants on cpu, and on parallel a ``tuned`` one
that runs only with its ``variant_env`` (it refuses to run without it). ``planted_wrong`` is the
same except that its tuned cpu variant forgot the ``+ 1``.
"""
import os
from functools import lru_cache

import numba
import numpy as np
from numba import cuda, prange

from numbabench import Technique, register
from numbabench.devices import launch_config

LAYER = {"NUMBA_THREADING_LAYER": "workqueue"}


@numba.njit
def _loop(x, out):
    for i in range(x.shape[0]):
        out[i] = 2 * x[i] + 1
    return out


@numba.njit
def _added(x, out):
    for i in range(x.shape[0]):
        out[i] = x[i] + x[i] + 1
    return out


@numba.njit
def _forgot_one(x, out):
    for i in range(x.shape[0]):
        out[i] = x[i] + x[i]
    return out


@numba.njit(parallel=True)
def _prange(x, out):
    for i in prange(x.shape[0]):
        out[i] = 2 * x[i] + 1
    return out


def _kernel(x, out):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        out[i] = 2 * x[i] + 1


@lru_cache(maxsize=None)
def _cuda_kernel():
    return cuda.jit(_kernel)


def _run_cuda(a):
    blocks, threads = launch_config(a["x"].shape[0])
    _cuda_kernel()[blocks, threads](a["x"], a["out"])
    return a["out"]


def _run_tuned_parallel(a):
    if os.environ.get("NUMBA_THREADING_LAYER") != LAYER["NUMBA_THREADING_LAYER"]:
        raise RuntimeError("the tuned parallel variant was run without its variant_env")
    return _prange(a["x"], a["out"])


@register
class PlantedRight(Technique):
    name, title = "planted_right", "2 x + 1, right everywhere"
    targets = ("numpy", "cpu", "parallel", "cudasim")
    variants = {"cpu": ("article", "tuned"), "parallel": ("article", "tuned")}
    variant_env = {("parallel", "tuned"): LAYER}
    sizes = {"quick": (100, 1001), "full": (1001,)}
    simulator_sizes = {"quick": (65,), "full": (65,)}

    def make_inputs(self, size, seed=0, dtype=None):
        rng = np.random.default_rng(seed)
        return {"x": rng.standard_normal(size).astype(dtype or self.default_dtype())}

    def outputs(self, inputs):
        return {"out": (inputs["x"].shape, inputs["x"].dtype)}

    def reference(self, inputs):
        return 2 * inputs["x"] + 1

    def bytes_moved(self, size, dtype=None):
        return 2 * size * np.dtype(dtype or self.default_dtype()).itemsize

    def flops(self, size, dtype=None):
        return 2 * size

    def implementation(self, target, variant="article"):
        return {
            ("numpy", "article"): lambda a: np.add(np.multiply(a["x"], 2, out=a["out"]), 1, out=a["out"]),
            ("cpu", "article"): lambda a: _loop(a["x"], a["out"]),
            ("cpu", "tuned"): lambda a: self.tuned_cpu(a["x"], a["out"]),
            ("parallel", "article"): lambda a: _prange(a["x"], a["out"]),
            ("parallel", "tuned"): _run_tuned_parallel,
            ("cudasim", "article"): _run_cuda,
        }[(target, variant)]

    def tuned_cpu(self, x, out):
        return _added(x, out)


@register
class PlantedWrong(PlantedRight):
    name, title = "planted_wrong", "2 x + 1, but the tuned cpu variant forgot the + 1"

    def tuned_cpu(self, x, out):
        return _forgot_one(x, out)
