"""``Elementwise``: a user's scalar function as a technique with every elementwise variant numbabench
knows (numpy, @vectorize, a tuned njit/prange loop, a grid-stride CUDA kernel, cupy.vectorize)."""
from __future__ import annotations

from typing import Callable, ClassVar

import numpy as np

from ..registry import ARTICLE, TUNED
from .base import OUT, _UserTechnique
from .inputs import _c_array_of, _np_dtype, parse_signature
from .loading import parameters

#: the numpy variant of a function with no NumPy code of its own: np.vectorize, a Python loop
VECTORIZE = "vectorize"


_LOOP = """
def {name}({params}, out):
    for i in {range}(out.shape[0]):
        out[i] = f({call})
"""
_GRID_STRIDE = """
def {name}({params}, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        out[i] = f({call})
"""


def elementwise_source(template: str, name: str, mask: tuple[bool, ...], range_name: str = "range") -> str:
    """A loop or kernel over ``out`` calling ``f`` with ``a<k>[i]`` for an array, ``a<k>`` for a scalar."""
    params = ", ".join(f"a{k}" for k in range(len(mask)))
    call = ", ".join(f"a{k}[i]" if arr else f"a{k}" for k, arr in enumerate(mask))
    return template.format(name=name, params=params, call=call, range=range_name)


def _build(template: str, name: str, mask, namespace: dict, range_name: str = "range"):
    src = elementwise_source(template, name, mask, range_name)
    code = compile(src, f"<numbabench {name}>", "exec")
    ns = dict(namespace)
    exec(code, ns)  # a loop of the function's arity; Numba's own @vectorize builds its loops this way
    return ns[name]


class Elementwise(_UserTechnique):
    """A user's scalar function as a technique with every elementwise variant numbabench knows."""

    #: the scalar function (plain Python, ``math`` functions, scalars in, one scalar out)
    function: ClassVar[Callable]
    #: how the numpy row computes: "reference" (reference_function), "arrays" (the function called
    #: on whole arrays, as NumPy code) or "vectorize" (np.vectorize: a Python loop, the slow floor)
    numpy_way: ClassVar[str] = VECTORIZE  # the numpy variant is then named "vectorize", else "article"
    targets = ("numpy", "cpu", "parallel", "cuda", "cudasim", "cupy")
    variants = {"numpy": (VECTORIZE,), "cpu": (ARTICLE, TUNED), "parallel": (ARTICLE, TUNED)}
    _callables = ("function", "reference_function", "inputs_function")

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "title" not in cls.__dict__ and "function" in cls.__dict__:
            cls.title = f"{cls.function.__name__}: a user's elementwise function, every variant"
        # np.vectorize is a Python loop, not NumPy code: its rows say so in their variant name
        numpy_variants = (VECTORIZE,) if cls.numpy_way == VECTORIZE else (ARTICLE,)
        cls.variants = {**cls.variants, "numpy": numpy_variants}

    def user_function(self):
        return self.function

    def input_names(self):
        return parameters(self.function)

    @classmethod
    def _result_type(cls):
        return parse_signature(cls.signature)[1]

    def arg_types(self, dtype):
        from numba.core import types

        if self.signature is not None:
            return parse_signature(self.signature)[0]
        return (getattr(types, np.dtype(dtype).name),) * len(self.input_names())

    def _result_type_for(self, dtype):
        from numba.core import types

        return self._result_type() if self.signature is not None else getattr(types, np.dtype(dtype).name)

    def _numba_signature(self, dtype):
        return self._result_type_for(dtype)(*self.arg_types(dtype))

    # -- the compiled pieces, built on first use ----------------------------------------------
    def _cached(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def scalar(self):
        """The function as a lazy ``@njit`` (no signature, so a CUDA kernel can call it too)."""
        import numba

        return self._cached("scalar", lambda: numba.njit(error_model="numpy")(self.function))

    def ufunc(self, target: str, dtype: str):
        import numba

        return self._cached(("ufunc", target, dtype), lambda: numba.vectorize(
            [self._numba_signature(dtype)], target=target)(self.function))

    def loop(self, parallel: bool, mask):
        import numba

        def build():
            fn = _build(_LOOP, "prange_loop" if parallel else "loop", mask,
                        {"f": self.scalar(), "prange": numba.prange}, "prange" if parallel else "range")
            return numba.njit(parallel=parallel, error_model="numpy")(fn)

        return self._cached(("loop", parallel, mask), build)

    def kernel_function(self, mask):
        """The grid-stride kernel as plain Python (what cuda.jit and the PTX check take)."""
        from numba import cuda

        return self._cached(("kernel_py", mask), lambda: _build(
            _GRID_STRIDE, "grid_stride_kernel", mask, {"f": self.scalar(), "cuda": cuda}))

    def kernel(self, mask):
        from numba import cuda

        return self._cached(("kernel", mask), lambda: cuda.jit(self.kernel_function(mask)))

    def gpu_kernel(self, dtype):
        mask = self._sample_mask()
        args = tuple(_c_array_of(t) if arr else t for t, arr in zip(self.arg_types(dtype), mask))
        return self.kernel_function(mask), args + (_c_array_of(self._result_type_for(dtype)),)

    # -- variants -------------------------------------------------------------------------------
    def reference(self, inputs):
        if self.reference_function is not None:
            return super().reference(inputs)
        return self.vectorized(self._dtype_of(inputs))(*self._args(inputs))

    def vectorized(self, dtype: str):
        """``np.vectorize`` of the function: Python's own answer, one element at a time."""
        return np.vectorize(self.function, otypes=[_np_dtype(self._result_type_for(dtype))])

    def _numpy(self, a):
        if self.numpy_way == "reference" and self.reference_function is not None:
            return self.reference_function(*self._args(a))
        if self.numpy_way == "arrays":
            return self.function(*self._args(a))
        return np.vectorize(self.function, otypes=[a[OUT].dtype])(*self._args(a))

    def implementation(self, target, variant=ARTICLE):
        if target == "numpy":
            return self._numpy
        if target in ("cpu", "parallel") and variant == ARTICLE:
            return lambda a: self.ufunc(target, self._dtype_of_args(a))(*self._args(a), out=a[OUT])
        if target in ("cpu", "parallel"):
            return lambda a: self._run_loop(target == "parallel", a)
        if target in ("cuda", "cudasim"):
            return self._run_kernel
        if target == "cupy":
            return self._run_cupy
        raise KeyError(target)

    def _dtype_of_args(self, a) -> str:
        return self.dtypes[0] if len(self.dtypes) == 1 else a[OUT].dtype.name

    def _run_loop(self, parallel: bool, a):
        self.loop(parallel, self._array_mask(a))(*self._args(a), a[OUT])
        return a[OUT]

    def _run_kernel(self, a):
        from ..devices import launch_config

        out = a[OUT]
        blocks, threads = launch_config(out.shape[0])
        self.kernel(self._array_mask(a))[blocks, threads](*self._args(a), out)
        return out

    def _run_cupy(self, a):
        def build():
            import cupy

            return cupy.vectorize(self.function)

        return self._cached("cupy", build)(*self._args(a))
