"""launch — what it costs to start a kernel: an empty one, and ones with 1, 4 and 8 array arguments.

Every small-size crossover in the report comes down to this figure (numba-cuda issue #477): below
some size, a GPU call costs its launch, not its work. This technique launches kernels that do next
to nothing, so that the time *is* the launch, and compares Numba with CuPy's ``RawKernel`` (the same
kernels in CUDA C++, launched from Cython) at each number of arguments. Here ``size`` is the number
of array arguments (0 is the empty kernel), not a number of elements.

Each kernel is launched as one block of 32 threads; thread 0 of a kernel with ``k`` arguments writes
``k`` into element 0 of its first argument (so the launch is checked to have happened) and the other
arguments are only passed: Numba types each argument and packs its shape, strides and pointer on
every call, which is the cost being measured.

Variants of target ``cuda`` (``cudasim`` runs the same code, functional only):

* ``article`` — ``kernel[blocks, threads](*args)``, as every Numba example writes it: each call
  builds a launch configuration and then dispatches on the argument types.
* ``tuned`` — the configured launcher ``kernel[blocks, threads]`` made once and called: the
  dispatch is the same, the configuration object is not rebuilt per call.

``cupy`` — ``cupy.RawKernel`` of the same kernels. Figures: phase ``compute`` is pipelined
(many launches, one synchronize: the launch *rate*), ``latency`` is one launch and a synchronize
(what a lone small call costs); both come from ``numbabench.timing``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import cuda
from numba.core import types

from ..registry import ARTICLE, TUNED, Kernel, Technique, register

#: the numbers of array arguments measured (0: the empty kernel)
ARITIES = (0, 1, 4, 8)
#: elements of each argument array (small: only the launch should cost anything)
ELEMS = 32
BLOCKS, THREADS = 1, 32


def empty_kernel():
    pass


def kernel_1(a0):
    if cuda.grid(1) == 0:
        a0[0] = 1.0


def kernel_4(a0, a1, a2, a3):
    if cuda.grid(1) == 0:
        a0[0] = 4.0


def kernel_8(a0, a1, a2, a3, a4, a5, a6, a7):
    if cuda.grid(1) == 0:
        a0[0] = 8.0


PYFUNCS = {0: empty_kernel, 1: kernel_1, 4: kernel_4, 8: kernel_8}


@lru_cache(maxsize=None)
def numba_kernel(arity: int):
    """The jitted kernel with ``arity`` array arguments (built on first use: GPU or simulator)."""
    return cuda.jit(PYFUNCS[arity])


def cupy_source(arity: int) -> str:
    """CUDA C++ of the kernel with ``arity`` float arguments, the twin of ``PYFUNCS[arity]``."""
    params = ", ".join(f"float* a{i}" for i in range(arity))
    body = f"if (blockIdx.x * blockDim.x + threadIdx.x == 0) a0[0] = {arity}.0f;" if arity else ""
    return f'extern "C" __global__ void numbabench_launch_{arity}({params}) {{ {body} }}'


@lru_cache(maxsize=None)
def cupy_kernel(arity: int):
    import cupy

    return cupy.RawKernel(cupy_source(arity), f"numbabench_launch_{arity}")


def _arrays(a):
    return a["arrays"]


def _run_article(a):
    arrays = _arrays(a)
    numba_kernel(len(arrays))[BLOCKS, THREADS](*arrays)
    return arrays


def _run_tuned(a):
    launcher = a.get("_launcher")
    if launcher is None:  # made on the first (compiling) call, reused by every timed one
        launcher = a["_launcher"] = numba_kernel(len(_arrays(a)))[BLOCKS, THREADS]
    arrays = _arrays(a)
    launcher(*arrays)
    return arrays


def _run_cupy(a):
    arrays = _arrays(a)
    cupy_kernel(len(arrays))((BLOCKS,), (THREADS,), tuple(arrays))
    return arrays


@register
class Launch(Technique):
    name = "launch"
    title = "kernel launch overhead: an empty kernel and 1, 4, 8 array arguments, Numba vs CuPy RawKernel"
    targets = ("cuda", "cudasim", "cupy")
    dtypes = ("float32",)
    sizes = {"quick": ARITIES, "full": ARITIES, "gpu": ARITIES}
    simulator_sizes = sizes
    variants = {"cuda": (ARTICLE, TUNED), "cudasim": (ARTICLE, TUNED)}

    def make_inputs(self, size, seed=0, dtype=None):
        if size not in ARITIES:
            raise self.input_error(f"size is the number of array arguments, one of {ARITIES}; not {size}")
        dtype = np.dtype(dtype or self.default_dtype())
        return {"arrays": [np.zeros(ELEMS, dtype) for _ in range(size)]}

    def check_inputs(self, inputs):
        arrays = inputs.get("arrays") if isinstance(inputs, dict) else None
        if not isinstance(arrays, list) or len(arrays) not in ARITIES:
            raise self.input_error(f"inputs must be {{'arrays': a list of {ARITIES} float32 arrays}}")
        if any(not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 1 or not x.size
               for x in arrays):
            raise self.input_error("every argument must be a non-empty 1-D float32 NumPy array")
        return inputs

    def prepare(self, target, inputs):
        from ..devices import memory

        mem = memory(target)
        return {"arrays": [mem.to_device(x) for x in inputs["arrays"]]}

    def fetch(self, target, out):
        from ..devices import memory

        return np.array([memory(target).to_host(x)[0] for x in out], dtype=np.float32)

    def reference(self, inputs):
        k = len(inputs["arrays"])
        return np.array([float(k)] + [0.0] * (k - 1), dtype=np.float32)[:k]

    def implementation(self, target, variant=ARTICLE):
        if target == "cupy":
            return _run_cupy
        return _run_tuned if variant == TUNED else _run_article

    def bytes_moved(self, size, dtype=None):
        return 0  # nothing worth a roofline: the figure is the launch

    def flops(self, size, dtype=None):
        return 0

    def kernels(self):
        arr = types.Array(types.float32, 1, "C")
        return [Kernel(f.__name__, f, ((arr,) * k,)) for k, f in PYFUNCS.items()]
