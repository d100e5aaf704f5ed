"""Techniques built from a user's own code: the registry side of ``numbabench try``.

Two base classes turn one function of yours into a registry ``Technique`` with every variant
numbabench knows, so the runner, the report and the PTX layer treat it like the article's own:

* ``Elementwise`` — a scalar function (scalars in, one scalar out, as ``@vectorize`` takes it).
  Variants: ``numpy`` (your ``reference_function``, or the function on whole arrays, or
  ``np.vectorize``: see ``numpy_way``), ``cpu``/``parallel`` ``article`` (``@vectorize``) and
  ``tuned`` (an ``@njit`` / ``prange`` loop over contiguous arrays calling the function), ``cuda``
  and ``cudasim`` (a grid-stride ``@cuda.jit`` kernel calling it as a device function) and ``cupy``
  (``cupy.vectorize``, which compiles the same Python function; GPU only).
* ``UserKernel`` — a ``@cuda.jit``-style kernel whose last argument is the output array, launched
  by a rule numbabench applies (``grid-stride`` or ``one-per-element``) on ``cuda`` and ``cudasim``,
  against the NumPy ``reference_function`` you name. Under the simulator an index past the end of an
  array raises (numba's simulator checks bounds); the row says so.

A technique module (``numbabench try --emit-technique`` writes one) subclasses one of them, sets
the class attributes and registers it; ``NUMBABENCH_TECHNIQUES`` loads it in every process.
``python -m numbabench.usertech ptx NAME [DTYPE]`` compiles its CUDA kernel for sm_80 and sm_90
with no GPU and prints one JSON line per compute capability (``gpu_check``).
"""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import re
import sys
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from .errors import NumbabenchError
from .registry import ARTICLE, TUNED, Technique

#: the key of the output buffer in a technique's args (not a Python identifier: no clash with yours)
OUT = "<out>"
#: rtol by result dtype; the absolute tolerance is rtol times the largest |reference| value (see compare)
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}
LAUNCHES = ("grid-stride", "one-per-element")
#: the numpy variant of a function with no NumPy code of its own: np.vectorize, a Python loop
VECTORIZE = "vectorize"
THREADS = 256


class UserCodeError(NumbabenchError):
    """A user's function, file, signature or input description that numbabench cannot use."""


class KernelOutOfBounds(RuntimeError):
    """A kernel indexed past the end of an array (caught by the CUDA simulator's bounds checks)."""


# -- finding the user's code -------------------------------------------------------------------------

_loaded_files: dict[Path, object] = {}


def split_spec(spec: str, what: str = "function") -> tuple[str, str]:
    """``FILE.py:NAME`` or ``module:NAME`` -> (where, name); UserCodeError when it is neither."""
    where, sep, name = str(spec).rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise UserCodeError(f"{spec!r} does not name a {what}: write FILE.py:NAME (or module:NAME)")
    return where, name


def load_module(where) -> object:
    """A user's module: a ``.py`` file (imported once per path) or an importable module name."""
    text = str(where)
    if text.endswith(".py") or "/" in text or Path(text).suffix:
        path = Path(text).expanduser().resolve()
        if not path.is_file():
            raise UserCodeError(f"no file {text}: give the path of a Python file (FILE.py:NAME)")
        if path in _loaded_files:
            return _loaded_files[path]
        tag = hashlib.sha1(str(path).encode()).hexdigest()[:8]
        modname = f"_numbabench_user_{_identifier(path.stem)}_{tag}"
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        if str(path.parent) not in sys.path:  # its own imports of files beside it work
            sys.path.append(str(path.parent))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[modname]
            raise UserCodeError(f"{text} cannot be imported: {_located(exc, path)}") from None
        _loaded_files[path] = module
        return module
    try:
        return importlib.import_module(text)
    except ModuleNotFoundError as exc:
        if exc.name and text.startswith(exc.name):
            raise UserCodeError(f"no module {text!r} (and no file of that name): "
                                "give FILE.py:NAME or an importable module:NAME") from None
        raise UserCodeError(f"module {text!r} cannot be imported: {_first_line(exc)}") from None
    except Exception as exc:
        raise UserCodeError(f"module {text!r} cannot be imported: {_first_line(exc)}") from None


def load_function(where, name: str) -> Callable:
    """The plain Python function ``name`` of a file or module (a Numba decorator is looked through)."""
    module = load_module(where)
    try:
        obj = getattr(module, name)
    except AttributeError:
        have = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                      and getattr(v, "__module__", None) == module.__name__)
        hint = f"; it has {', '.join(have)}" if have else ""
        raise UserCodeError(f"{where} has no {name!r}{hint}") from None
    fn = python_function(obj)
    if fn is None:
        raise UserCodeError(f"{where}:{name} is a {type(obj).__name__}, not a function")
    return fn


def python_function(obj) -> Callable | None:
    """The Python function behind ``obj``: itself, or what @njit/@vectorize/@cuda.jit wrapped."""
    for get in (lambda o: o.py_func, lambda o: o._dispatcher.py_func, inspect.unwrap):
        try:
            fn = get(obj)
        except AttributeError:
            continue
        if inspect.isfunction(fn):
            return fn
    return None


def parameters(fn: Callable) -> tuple[str, ...]:
    """The names of ``fn``'s positional parameters; UserCodeError for *args, **kwargs or keyword-only."""
    params = inspect.signature(fn).parameters.values()
    odd = [p.name for p in params if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if odd:
        raise UserCodeError(f"{fn.__name__} takes {', '.join(odd)}: numbabench passes plain positional "
                            "arguments only (no *args, **kwargs or keyword-only ones)")
    return tuple(p.name for p in params)


def returns_value(fn: Callable) -> int | None:
    """The line of the first ``return <value>`` in ``fn``'s own body (nested functions aside), or None."""
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    tree = ast.parse(textwrap.dedent("".join(lines)))
    body = tree.body[0]

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Return) and child.value is not None and not (
                    isinstance(child.value, ast.Constant) and child.value.value is None):
                return child.lineno
            found = walk(child)
            if found:
                return found
        return None

    line = walk(body)
    return None if line is None else line + first - 1


def _identifier(text: str) -> str:
    out = re.sub(r"\W", "_", text)
    return out if out and not out[0].isdigit() else f"m_{out}"


def _first_line(exc: BaseException) -> str:
    from .fmt import first_line

    return first_line(exc)


def _located(exc: BaseException, path: Path) -> str:
    """``first_line(exc)`` plus the line of ``path`` it came from, when the traceback knows it."""
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return _first_line(exc) + (f" (line {line})" if line else "")


# -- inputs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InputSpec:
    """How one argument is generated: a distribution (an array of the cell's size) or a constant."""

    kind: str  # normal, uniform, integers, constant
    a: float = 0.0
    b: float = 1.0

    DISTRIBUTIONS: ClassVar[dict[str, tuple[float, float]]] = {
        "normal": (0.0, 1.0), "uniform": (0.0, 1.0), "integers": (0.0, 100.0)}

    @property
    def is_array(self) -> bool:
        return self.kind != "constant"

    def make(self, rng: np.random.Generator, size: int, dtype) -> Any:
        dtype = np.dtype(dtype)
        if self.kind == "constant":
            return dtype.type(self.a)
        if self.kind == "normal":
            values = rng.normal(self.a, self.b, size)
        elif self.kind == "uniform":
            values = rng.uniform(self.a, self.b, size)
        else:
            values = rng.integers(int(self.a), int(self.b), size)
        return values.astype(dtype)

    def __str__(self):
        if self.kind == "constant":
            return repr(self.a)
        return f"{self.kind}({self.a!r}, {self.b!r})"


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_input(text: str) -> InputSpec:
    """``normal``, ``normal(loc, scale)``, ``uniform(low, high)``, ``integers(low, high)`` or a number."""
    text = text.strip()
    how = ("use normal, normal(loc, scale), uniform(low, high), integers(low, high) or a number, "
           "one per argument")
    try:
        return InputSpec("constant", float(text))
    except ValueError:
        pass
    m = re.fullmatch(r"([a-z]+)\s*(?:\((.*)\))?", text)
    if not m or m.group(1) not in InputSpec.DISTRIBUTIONS:
        raise UserCodeError(f"--inputs: {text!r} is not an input; {how}")
    kind, inner = m.group(1), m.group(2)
    a, b = InputSpec.DISTRIBUTIONS[kind]
    if inner is not None:
        try:
            a, b = (float(v) for v in inner.split(","))
        except ValueError:
            raise UserCodeError(f"--inputs: {text!r} needs two numbers in its parentheses; {how}") from None
    if kind in ("uniform", "integers") and not a < b:
        raise UserCodeError(f"--inputs: {text!r} needs low < high")
    if kind == "normal" and not b > 0:
        raise UserCodeError(f"--inputs: {text!r} needs a positive scale")
    return InputSpec(kind, a, b)


def parse_inputs(text) -> tuple[InputSpec, ...]:
    """A comma list (or sequence) of input descriptions, one per argument."""
    items = split_top_level(text) if isinstance(text, str) else [str(t) for t in text]
    if any(not it for it in items):
        raise UserCodeError(f"--inputs: {text!r} has an empty item; give one input per argument")
    return tuple(parse_input(it) for it in items)


# -- signatures --------------------------------------------------------------------------------------

def parse_signature(text: str):
    """``float32(float32, float32)`` -> (argument types, return type), as Numba reads it."""
    from numba.core import sigutils

    try:
        args, ret = sigutils.normalize_signature(text)
    except Exception as exc:
        raise UserCodeError(f"--signature {text!r} does not parse ({_first_line(exc)}); write it as "
                            "Numba does, e.g. 'float32(float32, float32)' or "
                            "'void(float32[:], float32, float32[:])'") from None
    return tuple(args), ret


def _scalar(t) -> bool:
    from numba.core import types

    return isinstance(t, (types.Number, types.Boolean))


def _c_array(t):
    from numba.core import types

    return types.Array(t.dtype, t.ndim, "C") if isinstance(t, types.Array) else t


def _np_dtype(t) -> np.dtype:
    from numba.np.numpy_support import as_dtype

    return np.dtype(as_dtype(t.dtype if hasattr(t, "dtype") and not _scalar(t) else t))


# -- the GPU compiler check --------------------------------------------------------------------------

@dataclass
class GPUCheck:
    """One compile of a technique's CUDA kernel for one compute capability, with no GPU."""

    cc: tuple[int, int]
    ok: bool
    error: str | None = None  # Type: first line
    line: int | None = None  # the line of the user's file the compiler refused
    source: str | None = None  # that line's text
    file: str | None = None

    @property
    def sm(self) -> str:
        return f"sm_{self.cc[0]}{self.cc[1]}"

    def refusal(self) -> str:
        """The row's text: which line the GPU compiler refuses and why."""
        where = f" at line {self.line}: `{self.source}`" if self.line else ""
        return f"the GPU compiler refuses this{where} ({self.sm}: {self.error}); the CPU rows stand"


def gpu_check(tech: "Technique", dtype: str | None = None, ccs=((8, 0), (9, 0))) -> list[GPUCheck]:
    """Compile ``tech``'s CUDA kernel to PTX for each of ``ccs`` (real compiler, fake current device)."""
    from numba import cuda

    from .ptx import fake_current_device
    from .targets import simulator_active

    if simulator_active():
        raise NumbabenchError("the GPU compiler check needs NUMBA_ENABLE_CUDASIM unset")
    dtype = dtype or tech.default_dtype()
    pyfunc, argtypes = tech.gpu_kernel(dtype)
    user_file = Path(inspect.getsourcefile(tech.user_function()) or "")
    out = []
    for cc in ccs:
        try:
            with fake_current_device(cc):
                ptx, _ = cuda.compile_ptx(pyfunc, argtypes, cc=cc)
            ok = f".target sm_{cc[0]}{cc[1]}" in ptx
            out.append(GPUCheck(cc, ok, None if ok else "the PTX has no .target line for it"))
        except Exception as exc:
            line = refused_line(exc, user_file)
            src = None
            if line:
                try:
                    src = user_file.read_text().splitlines()[line - 1].strip()
                except (OSError, IndexError):
                    pass
            out.append(GPUCheck(cc, False, compiler_message(exc), line, src, str(user_file)))
    return out


def refused_line(exc: BaseException, user_file: Path) -> int | None:
    """The line of ``user_file`` a Numba compile error points at: from its message, else the IR
    locations the type inference frames were working on (numba-cuda's message often lacks it)."""
    for name, line in re.findall(r'File "([^"]+)", line (\d+)', str(exc)):
        if Path(name).name == user_file.name:
            return int(line)
    found, tb = None, exc.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            loc = getattr(value, "loc", None)
            if getattr(loc, "filename", None) and getattr(loc, "line", None) and \
                    Path(loc.filename).resolve() == user_file.resolve():
                found = loc.line
        tb = tb.tb_next
    return found


def compiler_message(exc: BaseException) -> str:
    """``Type: the first line``, with Numba's ``>>> call(types)`` line folded in when it follows."""
    lines = [ln.strip() for ln in str(exc).splitlines()
             if ln.strip() and not re.match(r"Failed in \w+ mode pipeline", ln.strip())]
    if not lines:
        return type(exc).__name__
    head = lines[0]
    if head.endswith(":") and len(lines) > 1 and lines[1].startswith(">>>"):
        head = f"{head[:-1]} {lines[1][3:].strip()}"
    return f"{type(exc).__name__}: {head[:300]}"


# -- the common base ---------------------------------------------------------------------------------

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
        from .registry import Kernel

        built = [self.gpu_kernel(d) for d in self.dtypes]  # one kernel function, a signature per dtype
        fn = built[0][0]
        return [Kernel(fn.__name__, fn, tuple(argtypes for _, argtypes in built))]


# -- elementwise -------------------------------------------------------------------------------------

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
        from .devices import launch_config

        out = a[OUT]
        blocks, threads = launch_config(out.shape[0])
        self.kernel(self._array_mask(a))[blocks, threads](*self._args(a), out)
        return out

    def _run_cupy(self, a):
        def build():
            import cupy

            return cupy.vectorize(self.function)

        return self._cached("cupy", build)(*self._args(a))


def _c_array_of(t):
    from numba.core import types

    return types.Array(t, 1, "C")


# -- a user's kernel ---------------------------------------------------------------------------------

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
        from .devices import launch_config

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

        from .targets import simulator_active

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


# -- the PTX check as a process of its own (the parent may be the simulator, or must not import CUDA) --

def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3) or argv[0] != "ptx":
        print("usage: python -m numbabench.usertech ptx TECHNIQUE [DTYPE]", file=sys.stderr)
        return 2
    from .registry import get_technique

    tech = get_technique(argv[1])
    for check in gpu_check(tech, argv[2] if len(argv) == 3 else None):
        print(json.dumps(asdict(check)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
