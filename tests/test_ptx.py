"""PTX layer: every CUDA kernel in the registry compiles for real GPUs (cc 8.0, 9.0), no GPU needed."""
import numpy as np
import pytest
from numba import cuda
from numba.core import types

import numbabench
from numbabench import ptx
from numbabench.registry import Kernel

KERNELS = [(name, k) for name in numbabench.techniques() for k in numbabench.get_technique(name).kernels()]


def test_every_technique_with_a_gpu_target_declares_kernels():
    for name in numbabench.techniques():
        t = numbabench.get_technique(name)
        if {"cuda", "cudasim"} & set(t.targets):
            assert t.kernels(), f"{name} runs on cuda but declares no kernel for the PTX layer"


@pytest.mark.parametrize("name, kernel", KERNELS, ids=[f"{n}.{k.name}" for n, k in KERNELS])
def test_kernel_compiles_to_ptx_for_sm80_and_sm90(name, kernel):
    results = ptx.compile_kernel(kernel, technique=name)
    assert results and all(r.ok for r in results), "\n".join(map(str, results))
    assert {r.cc for r in results} == {(8, 0), (9, 0)}


def _allocates_in_kernel(x, out):
    i = cuda.grid(1)
    scratch = np.empty(3)  # fine under the simulator, refused by the GPU compiler
    if i < x.shape[0]:
        scratch[0] = x[i]
        out[i] = scratch[0]


def test_planted_np_empty_kernel_fails_the_ptx_check():
    sig = (types.float32[::1], types.float32[::1])
    results = ptx.compile_kernel(Kernel("allocates", _allocates_in_kernel, (sig,)))
    assert results and not any(r.ok for r in results)
    assert all("empty" in r.error for r in results), [r.error for r in results]


def test_planted_np_empty_kernel_runs_under_the_simulator():
    # ... which is exactly why the PTX layer exists.
    from helpers import in_simulator

    ok = in_simulator("""
        import json, numpy as np
        from numba import cuda
        from test_ptx import _allocates_in_kernel
        x = np.arange(8, dtype=np.float32); out = np.zeros_like(x)
        cuda.jit(_allocates_in_kernel)[1, 8](x, out)
        print(json.dumps(bool((out == x).all())))
    """)
    assert ok is True
