"""PTX and link layer: every CUDA code path compiles for real GPUs (cc 8.0, 9.0) and links to a cubin
with nvJitLink (registers, spills), no GPU needed. Planted kernels show each way a kernel fails."""
import numpy as np
import pytest
from numba import cuda
from numba.core import types

import numbabench
from numbabench import ptx
from numbabench.registry import Kernel

from numbabench.targets import simulator_active

# (the simulator test below imports this module in a simulator process: no PTX paths there)
PATHS = [] if simulator_active() else (
    [(name, k) for name in numbabench.techniques() for k in ptx.code_paths(name)]
    + [("numbabench", k) for k in ptx.own_paths()])


def test_every_technique_with_a_gpu_target_declares_kernels():
    for name in numbabench.techniques():
        t = numbabench.get_technique(name)
        if {"cuda", "cudasim"} & set(t.targets):
            assert t.kernels(), f"{name} runs on cuda but declares no kernel for the PTX layer"


def test_the_gaussian_cuda_ufunc_is_a_code_path():
    names = [k.name for k in ptx.code_paths("gaussian")]
    assert "cuda_ufunc[float32]" in names and "cuda_ufunc[float64]" in names
    (k32,) = [k for k in ptx.code_paths("gaussian") if k.name == "cuda_ufunc[float32]"]
    layouts = {tuple(a.layout for a in sig) for sig in k32.signatures}
    assert ("C", "A", "A", "C") in layouts  # scalars broadcast with stride 0, as a real call does


@pytest.mark.parametrize("name, kernel", PATHS, ids=[f"{n}.{k.name}" for n, k in PATHS])
def test_code_path_compiles_and_links_for_sm80_and_sm90_without_spills(name, kernel):
    results = ptx.compile_kernel(kernel, technique=name)
    assert results and all(r.ok for r in results), "\n".join(map(str, results))
    assert {r.cc for r in results} == {(8, 0), (9, 0)}
    for r in results:
        assert r.registers and 0 < r.registers <= 255 and r.spill_bytes == 0 and r.cubin_bytes > 0


# -- planted kernels: each way to fail, each with its reason ----------------------------------------

def _allocates_in_kernel(x, out):
    i = cuda.grid(1)
    scratch = np.empty(3)  # fine under the simulator, refused by the GPU compiler
    if i < x.shape[0]:
        scratch[0] = x[i]
        out[i] = scratch[0]


def _many_live_values(x, out):
    # 24 values live at once: fine with the default register budget, spills when capped at 16
    i = cuda.grid(1)
    n = x.shape[0]
    if i < n:
        a0, a1, a2, a3, a4, a5 = x[i], x[(i + 1) % n], x[(i + 2) % n], x[(i + 3) % n], x[(i + 4) % n], x[(i + 5) % n]
        b0, b1, b2, b3, b4, b5 = a0 * a1, a1 * a2, a2 * a3, a3 * a4, a4 * a5, a5 * a0
        c0, c1, c2, c3, c4, c5 = b0 + a2, b1 + a3, b2 + a4, b3 + a5, b4 + a0, b5 + a1
        d0, d1, d2, d3, d4, d5 = c0 * b3, c1 * b4, c2 * b5, c3 * b0, c4 * b1, c5 * b2
        out[i] = (a0 * b0 * c0 * d0 + a1 * b1 * c1 * d1 + a2 * b2 * c2 * d2 + a3 * b3 * c3 * d3
                  + a4 * b4 * c4 * d4 + a5 * b5 * c5 * d5)


_missing = cuda.declare_device("numbabench_no_such_function", "float32(float32)")


def _calls_a_function_nobody_defines(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = _missing(x[i])


SIG32 = (types.float32[::1], types.float32[::1])


def test_planted_np_empty_kernel_fails_at_ptx_with_the_reason():
    results = ptx.compile_kernel(Kernel("allocates", _allocates_in_kernel, (SIG32,)))
    assert results and not any(r.ok for r in results)
    assert all(r.stage == "ptx" and "empty" in r.error for r in results), [r.error for r in results]


def test_planted_spilling_kernel_fails_with_its_spill_bytes():
    k = Kernel("spills", _many_live_values, (SIG32,))
    roomy = ptx.compile_kernel(k)
    assert all(r.ok and r.spill_bytes == 0 for r in roomy), [str(r) for r in roomy]
    tight = ptx.compile_kernel(k, max_registers=16)
    assert tight and not any(r.ok for r in tight)
    for r in tight:
        assert r.spill_bytes > 0 and "spills" in r.error and f"{r.spill_bytes} bytes" in r.error, str(r)


def test_planted_unlinkable_kernel_fails_at_link_with_the_reason():
    results = ptx.compile_kernel(Kernel("unlinkable", _calls_a_function_nobody_defines, (SIG32,)))
    assert results and not any(r.ok for r in results)
    for r in results:
        assert r.stage == "link" and "numbabench_no_such_function" in r.error, str(r)


def test_parse_resources_reads_ptxas_lines():
    log = ("ptxas info    : Compiling entry function '_Z1k' for 'sm_90'\n"
           "ptxas info    : Function properties for _Z1k\n"
           "ptxas         .     24 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads\n"
           "ptxas info    : Used 40 registers, used 0 barriers\n")
    assert ptx.parse_resources(log) == (40, 20, 24)


def test_summary_is_json_for_the_report():
    import json

    results = ptx.compile_kernel(numbabench.get_technique("clamp").kernels()[0], technique="clamp")
    bad = ptx.compile_kernel(Kernel("allocates", _allocates_in_kernel, (SIG32,)))
    s = json.loads(json.dumps(ptx.summary(results + bad)))
    assert s["ccs"] == ["sm_80", "sm_90"] and s["checked"] == 6 and s["ok"] is False
    assert len(s["failures"]) == 2 and all("empty" in f for f in s["failures"])
    row = s["kernels"][0]
    assert row["cc"] == "sm_80" and row["registers"] > 0 and row["spill_bytes"] == 0
    assert s["nvjitlink"] and s["nvjitlink"][0].isdigit()


def test_ptx_summary_runs_in_its_own_process_even_from_the_simulator():
    from helpers import in_simulator

    s = in_simulator("""
        import json
        from numbabench.ptx import ptx_summary
        print(json.dumps(ptx_summary(["clamp"])))
    """)
    assert s["ok"] is True and s["checked"] == 4, s


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
