"""What both kinds of user technique share: the user's functions held as class attributes, the
inputs, the tolerance (scaled to the result), the sizes and the output buffer's key ``OUT``."""
from __future__ import annotations

from typing import Callable, ClassVar

import numpy as np

from ..registry import Technique
from .inputs import InputSpec, _np_dtype, parse_inputs, split_top_level
from .loading import UserCodeError

#: the key of the output buffer in a technique's args (not a Python identifier: no clash with yours)
OUT = "<out>"
#: rtol by result dtype; the absolute tolerance is rtol times the largest |reference| value (see compare)
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


class _UserTechnique(Technique):
    """What both kinds share: functions held as class attributes, inputs, tolerance, sizes."""

    targets: ClassVar[tuple[str, ...]] = ()
    article_item = None
    #: without a signature: Python's own precision first (``--dtype float32`` for the other)
    dtypes = ("float64", "float32")
    #: one input description per input argument ("normal", "uniform(-1, 1)", "0.5"); () means all normal
    inputs: ClassVar[tuple[str, ...]] = ()
    #: NumPy code that gives the right answer: reference_function(*args) -> array
    reference_function: ClassVar[Callable | None] = None
    #: your own input maker: inputs_function(size, seed) -> tuple of arguments (or dict by name)
    inputs_function: ClassVar[Callable | None] = None
    #: None: every argument (and the result) in the cell's dtype; else a Numba signature string
    signature: ClassVar[str | None] = None
    #: relative tolerance by result dtype (the absolute one scales with the result: see compare)
    tolerances: ClassVar[dict[str, float]] = TOLERANCE
    sizes = {"quick": (10_000, 1_000_000),
             "full": (1_000, 10_000, 100_000, 1_000_000, 10_000_000)}
    simulator_sizes = {"quick": (1_000,), "full": (1_000, 10_000, 100_000)}
    simulator_max_size = 100_000
    _callables: ClassVar[tuple[str, ...]] = ("reference_function", "inputs_function")

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        for k in cls._callables:  # a function as a class attribute must not become a method
            v = cls.__dict__.get(k)
            if v is not None and not isinstance(v, staticmethod):
                setattr(cls, k, staticmethod(v))
        if isinstance(cls.__dict__.get("inputs"), str):
            cls.inputs = tuple(split_top_level(cls.inputs))
        if cls.signature is not None:
            cls.dtypes = (str(_np_dtype(cls._result_type())),)

    def __init__(self):
        self._cache: dict = {}

    # -- what a subclass says -----------------------------------------------------------------
    def user_function(self) -> Callable:
        raise NotImplementedError

    def input_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    @classmethod
    def _result_type(cls):
        raise NotImplementedError

    def arg_types(self, dtype: str) -> tuple:
        """Numba types of the input arguments for a cell of ``dtype`` (arrays as 1-D C arrays)."""
        raise NotImplementedError

    # -- inputs --------------------------------------------------------------------------------
    def input_specs(self) -> tuple[InputSpec, ...]:
        names = self.input_names()
        specs = parse_inputs(self.inputs) if self.inputs else tuple(InputSpec("normal") for _ in names)
        if len(specs) != len(names):
            raise UserCodeError(f"--inputs gives {len(specs)} input{'s' * (len(specs) != 1)}; "
                                f"{self.user_function().__name__} takes {len(names)} ({', '.join(names)})")
        return specs

    def make_inputs(self, size, seed=0, dtype=None):
        dtype = dtype or self.default_dtype()
        names = self.input_names()
        if self.inputs_function is not None:
            got = self.inputs_function(size, seed)
            if isinstance(got, dict):
                missing = [n for n in names if n not in got]
                if missing:
                    raise self.input_error(f"make_inputs gave no {', '.join(missing)}")
                return {n: got[n] for n in names}
            got = tuple(got) if isinstance(got, (tuple, list)) else (got,)
            if len(got) != len(names):
                raise self.input_error(f"make_inputs gave {len(got)} values; the function takes "
                                       f"{len(names)} ({', '.join(names)})")
            return dict(zip(names, got))
        rng = np.random.default_rng(seed)
        return {n: spec.make(rng, size, _np_dtype(t))
                for n, spec, t in zip(names, self.input_specs(), self.arg_types(dtype))}

    def check_inputs(self, inputs):
        """Arrays 1-D of one length, cast to the signature's dtypes; scalars of the right type."""
        names = self.input_names()
        if set(inputs) != set(names):
            raise self.input_error(f"inputs {sorted(inputs)}; expected {', '.join(names)}")
        lengths = {np.shape(v) for v in inputs.values() if np.ndim(v) > 0}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise self.input_error("the array inputs must be 1-D and of one length, and at least one "
                                   f"input must be an array (got shapes {sorted(lengths) or 'none'})")
        dtype = self._dtype_of(inputs)
        out = {}
        for n, t in zip(names, self.arg_types(dtype)):
            v, want = inputs[n], _np_dtype(t)
            out[n] = np.ascontiguousarray(v, dtype=want) if np.ndim(v) > 0 else want.type(v)
        return out

    def _dtype_of(self, inputs) -> str:
        if len(self.dtypes) == 1:
            return self.dtypes[0]
        first = next(v for v in inputs.values() if np.ndim(v) > 0)
        return first.dtype.name if first.dtype.name in self.dtypes else self.default_dtype()

    def _length(self, inputs) -> int:
        return next(np.shape(v)[0] for v in inputs.values() if np.ndim(v) > 0)

    def _array_mask(self, inputs) -> tuple[bool, ...]:
        return tuple(np.ndim(inputs[n]) > 0 or hasattr(inputs[n], "copy_to_host") for n in self.input_names())

    def _sample_mask(self) -> tuple[bool, ...]:
        if self.inputs_function is None:
            return tuple(s.is_array for s in self.input_specs())
        return self._array_mask(self.make_inputs(8, 0, self.default_dtype()))

    def outputs(self, inputs):
        return {OUT: ((self._length(inputs),), _np_dtype(self._result_type_for(self._dtype_of(inputs))))}

    def _result_type_for(self, dtype):
        raise NotImplementedError

    # -- checking -------------------------------------------------------------------------------
    def reference(self, inputs):
        if self.reference_function is None:
            raise self.input_error("no reference_function: name the NumPy code to compare with")
        return np.asarray(self.reference_function(*self._args(inputs)))

    def tolerance(self, dtype):
        rtol = self.tolerances.get(np.dtype(dtype).name, TOLERANCE["float64"])
        return rtol, rtol

    def compare(self, got, want):
        """``np.allclose`` with rtol by dtype and atol = rtol x max |reference|: a result near zero
        by cancellation is judged on the scale of the whole result, not on its own."""
        want = np.asarray(want)
        rtol, _ = self.tolerance(want.dtype if np.issubdtype(want.dtype, np.inexact) else "float64")
        finite = np.abs(want[np.isfinite(want)]) if want.size else want
        scale = float(finite.max()) if finite.size else 1.0
        judge = Technique.__new__(Technique)  # the base comparison with these two tolerances
        judge.rtol, judge.atol = rtol, rtol * max(scale, np.finfo(np.float64).tiny)
        return Technique.compare(judge, got, want)

    def _args(self, a) -> list:
        return [a[n] for n in self.input_names()]

    def bytes_moved(self, size, dtype=None):
        dtype = dtype or self.default_dtype()
        arrays = [_np_dtype(t).itemsize for t, arr in zip(self.arg_types(dtype), self._sample_mask()) if arr]
        return size * (sum(arrays) + _np_dtype(self._result_type_for(dtype)).itemsize)

    def flops(self, size, dtype=None):
        return 0  # unknown for a user's function: no GFLOP/s figure, the roofline is by bytes

    def gpu_kernel(self, dtype: str) -> tuple[Callable, tuple]:
        """(Python kernel, Numba argument types) that ``cuda`` runs for cells of ``dtype``."""
        raise NotImplementedError

    def kernels(self):
        from ..registry import Kernel

        built = [self.gpu_kernel(d) for d in self.dtypes]  # one kernel function, a signature per dtype
        fn = built[0][0]
        return [Kernel(fn.__name__, fn, tuple(argtypes for _, argtypes in built))]
