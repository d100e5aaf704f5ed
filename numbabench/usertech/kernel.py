"""``UserKernel``: a user's ``@cuda.jit``-style kernel (last argument: the output) on cuda and cudasim,
launched by a rule numbabench applies, its fresh output poisoned so an unwritten element shows."""
from __future__ import annotations

import math
from typing import Callable, ClassVar

import numpy as np

from ..registry import ARTICLE
from .base import OUT, _UserTechnique
from .inputs import _c_array, _c_array_of, parse_signature
from .loading import parameters

LAUNCHES = ("grid-stride", "one-per-element")
THREADS = 256


class KernelOutOfBounds(RuntimeError):
    """A kernel indexed past the end of an array (caught by the CUDA simulator's bounds checks)."""


class UserKernel(_UserTechnique):
    """A user's ``@cuda.jit``-style kernel (last argument: the output array) on cuda and cudasim."""

    #: the kernel as plain Python; its last parameter is the output array, which it must fill
    kernel: ClassVar[Callable]
    #: "grid-stride": a grid sized to the GPU (4 x 32 under the simulator) and the kernel loops;
    #: "one-per-element": ceil(n / threads) blocks of ``threads``, the kernel checks ``i < n``
    launch: ClassVar[str] = "grid-stride"
    threads: ClassVar[int] = THREADS
    targets = ("numpy", "cuda", "cudasim")
    simulator_sizes = {"quick": (1_000,), "full": (1_000, 10_000)}
    simulator_max_size = 10_000  # a one-per-element launch is one Python thread per element there
    _callables = ("kernel", "reference_function", "inputs_function")

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "title" not in cls.__dict__ and "kernel" in cls.__dict__:
            cls.title = f"{cls.kernel.__name__}: a user's CUDA kernel, {cls.launch} launch"

    def user_function(self):
        return self.kernel

    def input_names(self):
        return parameters(self.kernel)[:-1]

    @classmethod
    def _result_type(cls):
        return parse_signature(cls.signature)[0][-1].dtype

    def arg_types(self, dtype):
        from numba.core import types

        if self.signature is not None:
            return tuple(_c_array(t) for t in parse_signature(self.signature)[0][:-1])
        scalar = getattr(types, np.dtype(dtype).name)
        return tuple(_c_array_of(scalar) if s.is_array else scalar for s in self.input_specs())

    def _result_type_for(self, dtype):
        from numba.core import types

        return self._result_type() if self.signature is not None else getattr(types, np.dtype(dtype).name)

    def _sample_mask(self):
        from numba.core import types

        if self.signature is not None:
            return tuple(isinstance(t, types.Array) for t in self.arg_types(self.default_dtype()))
        return super()._sample_mask()

    def gpu_kernel(self, dtype):
        return self.kernel, self.arg_types(dtype) + (_c_array_of(self._result_type_for(dtype)),)

    def prepare(self, target, inputs):
        args = super().prepare(target, inputs)
        if target in ("cuda", "cudasim"):
            poison(args[OUT])
        return args

    def launch_config(self, n: int) -> tuple[int, int]:
        from ..devices import launch_config

        if self.launch == "grid-stride":
            return launch_config(n)
        return max(1, math.ceil(n / self.threads)), self.threads

    def implementation(self, target, variant=ARTICLE):
        if target == "numpy":
            return lambda a: self.reference_function(*self._args(a))
        if target in ("cuda", "cudasim"):
            return self._run
        raise KeyError(target)

    def _run(self, a):
        from numba import cuda

        from ..targets import simulator_active

        jitted = self._cache.get("jit") or self._cache.setdefault("jit", cuda.jit(self.kernel))
        out = a[OUT]
        blocks, threads = self.launch_config(out.shape[0])
        try:
            jitted[blocks, threads](*self._args(a), out)
        except IndexError as exc:
            if not simulator_active():
                raise
            fix = ("a thread past the end needs a bounds check such as `if i < out.shape[0]:`"
                   if self.launch == "one-per-element" else "the grid-stride loop must stop at the array's length")
            raise KernelOutOfBounds(
                f"the kernel indexes out of bounds (the simulator caught {exc}); {blocks} x {threads} = "
                f"{blocks * threads:,} threads for {out.shape[0]:,} elements: {fix}. "
                "On a GPU this write would go unnoticed") from None
        return out


def poison(arr) -> None:
    """Fill a fresh output with all-ones bytes (NaN for floats, -1 for integers).

    Fresh device memory may still hold an earlier run's answer (the simulator's did, in the tests):
    a kernel that leaves elements unwritten must come out wrong, not right by luck. On a GPU this is
    one byte memset on the device, inside the h2d and end-to-end figures like the allocation.
    """
    if isinstance(arr, np.ndarray):
        arr.view(np.uint8).fill(0xFF)
    elif hasattr(arr, "_ary"):  # the simulator's device array: a NumPy array inside
        arr._ary.view(np.uint8).fill(0xFF)
    else:
        try:
            from numba.cuda.cudadrv.driver import device_memset

            device_memset(arr, 0xFF, arr.nbytes)
        except Exception:  # any other device array: a host fill copied over
            host = np.empty(arr.shape, arr.dtype)
            host.view(np.uint8).fill(0xFF)
            arr.copy_to_device(host)
