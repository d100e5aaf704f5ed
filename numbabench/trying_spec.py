"""What ``numbabench try`` was asked, checked before anything runs: ``TrySpec`` (everything a
technique module says), ``build_spec`` (the file and name exist, the function is elementwise or a
kernel returning nothing, the signature parses and fits, Numba compiles it in nopython mode, the
inputs and the reference work on a sample) and ``technique_class`` (the technique the spec means)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import usertech as ut
from .errors import InputError, NumbabenchError
from .usertech import UserCodeError

#: the size of the sample every check runs the user's code on
SAMPLE = 64


@dataclass
class TrySpec:
    """The user's function and how to run it: everything a technique module says."""

    kind: str  # "elementwise" or "kernel"
    where: str  # the file (or module) as given
    name: str
    technique: str  # the registry name
    signature: str | None = None
    inputs: tuple[str, ...] = ()
    reference: tuple[str, str] | None = None  # (where, name)
    make_inputs: tuple[str, str] | None = None
    numpy_way: str = "vectorize"
    launch: str = "grid-stride"
    rtol: float | None = None
    dtype: str | None = None  # the dtype asked for (--dtype), when no signature fixes it

    @property
    def base(self) -> str:
        return "Elementwise" if self.kind == "elementwise" else "UserKernel"

    @property
    def stem(self) -> str:
        return ut._identifier(Path(self.where).stem if self.where.endswith(".py") else self.where.split(".")[-1])


def build_spec(args) -> TrySpec:
    """Check everything that can be checked without running a sweep; UserCodeError otherwise."""
    where, name = ut.split_spec(args.function)
    fn = ut.load_function(where, name)
    kind = "kernel" if args.kernel else "elementwise"
    if args.launch and not args.kernel:
        raise UserCodeError("--launch is for --kernel: an elementwise function gets numbabench's own launch")
    if args.signature and args.dtype:
        raise UserCodeError("give --signature or --dtype, not both: the signature says the dtypes")
    if args.rtol is not None and not 0 < args.rtol < 1:
        raise UserCodeError(f"--rtol {args.rtol} must be between 0 and 1")
    spec = TrySpec(kind, where, name, f"{_stem(where)}.{name}", signature=args.signature,
                   launch=args.launch or "grid-stride", rtol=args.rtol, dtype=args.dtype)
    if args.inputs is not None:
        spec.inputs = tuple(str(s) for s in ut.parse_inputs(args.inputs))
    if args.make_inputs:
        spec.make_inputs = ut.split_spec(args.make_inputs, "make_inputs function")
        ut.load_function(*spec.make_inputs)
    if args.reference:
        spec.reference = ut.split_spec(args.reference, "reference function")
        ut.load_function(*spec.reference)
    params = ut.parameters(fn)
    if kind == "kernel":
        _check_kernel(fn, params, spec)
    else:
        _check_signature_elementwise(fn, params, spec)
    tech = technique_class(spec)()
    dtype = tech.default_dtype()
    try:
        tech.input_specs()
        sample = _user_call(lambda: tech.check_inputs(tech.make_inputs(SAMPLE, 0, dtype)),
                            f"making the inputs ({SAMPLE} elements)", spec)
    except InputError as exc:
        raise UserCodeError(str(exc)) from None
    if kind == "kernel":
        _check_kernel_inputs(tech, spec, dtype)
    else:
        _check_compiles(fn, tech, dtype)
    want = _user_call(lambda: tech.reference(sample), "the reference", spec)
    if want.shape != (SAMPLE,):
        raise UserCodeError(f"the reference returned shape {want.shape} for {SAMPLE} elements; "
                            "it must give one value per element")
    if kind == "elementwise":
        spec.numpy_way = "reference" if spec.reference else _numpy_way(fn, tech, sample, want)
    return spec


def _stem(where: str) -> str:
    return ut._identifier(Path(where).stem if where.endswith(".py") else where.split(".")[-1])


def _user_call(call, what: str, spec: TrySpec):
    try:
        with np.errstate(all="ignore"):
            return call()
    except NumbabenchError:
        raise
    except Exception as exc:
        raise UserCodeError(f"{what} raised {ut._first_line(exc)}") from None


def _check_signature_elementwise(fn, params, spec: TrySpec) -> None:
    if not params:
        raise UserCodeError(f"{spec.name} takes no arguments: an elementwise function takes one or more scalars")
    if spec.signature is None:
        return
    args, ret = ut.parse_signature(spec.signature)
    if len(args) != len(params):
        raise UserCodeError(f"--signature {spec.signature!r} has {len(args)} argument(s); {spec.name} takes "
                            f"{len(params)} ({', '.join(params)})")
    if ret is None:
        raise UserCodeError(f"--signature {spec.signature!r} has no return type; write it as "
                            f"'float32({', '.join(['float32'] * len(params))})'")
    if not all(ut._scalar(t) for t in (*args, ret)):
        raise UserCodeError(f"--signature {spec.signature!r} is not elementwise: scalars in, one scalar out "
                            "(for a function over arrays use --kernel)")


def _check_kernel(fn, params, spec: TrySpec) -> None:
    line = ut.returns_value(fn)
    if line:
        raise UserCodeError(f"{spec.name} returns a value (line {line}): a CUDA kernel returns nothing and "
                            "writes its result into its last argument; drop the return (or try it "
                            "without --kernel if it is a scalar function)")
    if len(params) < 2:
        raise UserCodeError(f"{spec.name} takes {len(params)} argument(s): a kernel takes its inputs and, "
                            "last, the output array")
    if spec.reference is None:
        raise UserCodeError("--kernel needs --reference FILE.py:FN, the NumPy code whose answer the kernel "
                            "must match (it takes the kernel's arguments but the output, and returns it)")
    if spec.signature is None:
        return
    from numba.core import types

    args, ret = ut.parse_signature(spec.signature)
    if ret not in (None, types.none):
        raise UserCodeError(f"--signature {spec.signature!r} returns {ret}: a kernel returns void, "
                            f"e.g. 'void({', '.join(['float32[:]'] * len(params))})'")
    if len(args) != len(params):
        raise UserCodeError(f"--signature {spec.signature!r} has {len(args)} argument(s); {spec.name} takes "
                            f"{len(params)} ({', '.join(params)})")
    if not isinstance(args[-1], types.Array) or args[-1].ndim != 1:
        raise UserCodeError(f"--signature {spec.signature!r}: the last argument (the output) must be a "
                            "1-D array, e.g. float32[:]")
    bad = [f"{p}: {t}" for p, t in zip(params, args) if not (ut._scalar(t) or
                                                             (isinstance(t, types.Array) and t.ndim == 1))]
    if bad:
        raise UserCodeError(f"--signature {spec.signature!r}: numbabench passes scalars and 1-D arrays, "
                            f"not {', '.join(bad)}")


def _check_kernel_inputs(tech, spec: TrySpec, dtype: str) -> None:
    if spec.signature is None or spec.make_inputs:
        return
    from numba.core import types

    for name, s, t in zip(tech.input_names(), tech.input_specs(), tech.arg_types(dtype)):
        if s.is_array != isinstance(t, types.Array):
            want = "a distribution (an array)" if isinstance(t, types.Array) else "a number (a scalar)"
            raise UserCodeError(f"--inputs gives {s} for {name}, which the signature types as {t}: give {want}")


def _check_compiles(fn, tech, dtype: str) -> None:
    """Numba compiles ``fn`` in nopython mode for scalars, and it returns one scalar."""
    import numba
    from numba.core import types

    argtypes = tech.arg_types(dtype)
    src = Path(_source_file(fn))
    disp = numba.njit(error_model="numpy")(fn)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            disp.compile(argtypes)
    except Exception as exc:
        where = _at_line(exc, src)
        if _types_with_arrays(fn, argtypes):
            raise UserCodeError(f"{fn.__name__} takes an array where a scalar is expected{where}: try wants an "
                                "elementwise function (scalars in, one scalar out, as @vectorize takes it); "
                                "a kernel over arrays goes through --kernel") from None
        raise UserCodeError(f"Numba cannot compile {fn.__name__} in nopython mode{where}: "
                            f"{ut.compiler_message(exc)}{_helper_hint(fn, exc)}") from None
    ret = disp.nopython_signatures[-1].return_type
    if not ut._scalar(ret):
        what = ("nothing" if ret == types.none else
                f"an array ({ret})" if isinstance(ret, types.Array) else f"{ret}")
        raise UserCodeError(f"{fn.__name__} returns {what}, not one scalar: try wants an elementwise function "
                            "(scalars in, one scalar out); write the array version as a kernel with --kernel")


def _helper_hint(fn, exc) -> str:
    """A plain Python helper called from the function: say how to make it callable there."""
    import inspect
    import re

    m = re.search(r"Untyped global name '(\w+)'", str(exc))
    helper = fn.__globals__.get(m.group(1)) if m else None
    if helper is None or not inspect.isfunction(helper):
        return ""
    return (f"; {m.group(1)} is a plain Python function: decorate it with @numba.njit (no signature, "
            "so that CPU code and CUDA kernels can both call it)")


def _types_with_arrays(fn, argtypes) -> bool:
    import numba
    from numba.core import types

    arrays = tuple(types.Array(t, 1, "C") for t in argtypes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            numba.njit(fn).compile(arrays)
        return True
    except Exception:
        return False


def _at_line(exc, src: Path) -> str:
    line = ut.refused_line(exc, src)
    if not line:
        return ""
    try:
        text = src.read_text().splitlines()[line - 1].strip()
    except (OSError, IndexError):
        return f" (line {line})"
    return f" (line {line}: `{text}`)"


def _source_file(fn) -> str:
    import inspect

    return inspect.getsourcefile(fn) or ""


def _numpy_way(fn, tech, sample, want) -> str:
    """"arrays" when the function, called on whole arrays, is NumPy code giving the same answer."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = fn(*tech._args(sample))
    except Exception:
        return "vectorize"
    if not isinstance(got, np.ndarray) or got.shape != want.shape:
        return "vectorize"
    return "arrays" if tech.compare(got, want)[0] else "vectorize"


def technique_class(spec: TrySpec) -> type:
    """The technique class a module written by ``module_source`` defines (not registered)."""
    attrs = {"name": spec.technique, "signature": spec.signature, "inputs": spec.inputs,
             "__module__": __name__}
    fn = ut.load_function(spec.where, spec.name)
    attrs["function" if spec.kind == "elementwise" else "kernel"] = fn
    if spec.reference:
        attrs["reference_function"] = ut.load_function(*spec.reference)
    if spec.make_inputs:
        attrs["inputs_function"] = ut.load_function(*spec.make_inputs)
    if spec.kind == "elementwise":
        attrs["numpy_way"] = spec.numpy_way
    else:
        attrs["launch"] = spec.launch
    if spec.rtol is not None:
        attrs["tolerances"] = {"float32": spec.rtol, "float64": spec.rtol}
    if spec.dtype and not spec.signature:
        attrs["dtypes"] = (spec.dtype,)
    return type(f"Try_{spec.name}", (getattr(ut, spec.base),), attrs)
