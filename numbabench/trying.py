"""``numbabench try FILE.py:NAME``: your own function through the same variants, checks and report.

The command builds a technique from your code (``numbabench.usertech``: an ``Elementwise`` one for
a scalar function, a ``UserKernel`` one with ``--kernel``), writes it as a technique module — the
very text ``--emit-technique`` gives you to keep — into a temporary folder that every worker
process imports through ``NUMBABENCH_TECHNIQUES``, and runs the ordinary sweep: one results file,
the usual table, ``numbabench report`` draws it. Before anything runs, it checks what it can
without running: the file and the name exist, the function is elementwise (scalars in, one scalar
out), the signature parses and fits, Numba compiles it in nopython mode, a kernel returns nothing.
Each mistake is one line and exit status 2, with nothing written. Then the CUDA kernel is
compiled to PTX for sm_80 and sm_90 (no GPU needed); a refusal becomes the ``cuda`` row
"the GPU compiler refuses this at line N" while the CPU rows stand.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import usertech as ut
from .errors import InputError, NumbabenchError
from .usertech import UserCodeError

#: the size of the sample every check runs the user's code on
SAMPLE = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Put your own function through numbabench: a scalar function becomes a NumPy "
                     "reference, @vectorize on cpu and parallel, a tuned njit/prange loop, a grid-stride "
                     "CUDA kernel (cuda, cudasim) and cupy.vectorize; --kernel takes a @cuda.jit-style "
                     "kernel instead. Every variant is checked against the reference and compiled for a "
                     "real GPU; the results file is an ordinary one (numbabench report draws it).")
    p.add_argument("function", metavar="FILE.py:NAME", help="your function (or module:NAME)")
    p.add_argument("--kernel", action="store_true",
                   help="NAME is a CUDA kernel whose last argument is the output array (needs --reference)")
    p.add_argument("--launch", choices=ut.LAUNCHES, default=None,
                   help="with --kernel: grid-stride (default; the kernel loops) or one-per-element "
                        "(one thread per element; the kernel must check its bounds)")
    p.add_argument("--signature", default=None,
                   help="Numba signature, e.g. 'float32(float32, float32)' or, for a kernel, "
                        "'void(float32[:], float32, float32[:])' (default: every argument in --dtype)")
    p.add_argument("--dtype", default=None, choices=("float64", "float32"),
                   help="without --signature: the dtype of every argument and the result (default float64)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--inputs", default=None, metavar="SPECS",
                     help="one per input argument: normal, normal(loc, scale), uniform(low, high), "
                          "integers(low, high) or a number (a scalar), e.g. 'normal, 0.0, 1.0' (default: all normal)")
    src.add_argument("--make-inputs", default=None, metavar="FILE.py:FN",
                     help="your make_inputs(size, seed) -> tuple of arguments (or a dict by name)")
    p.add_argument("--reference", default=None, metavar="FILE.py:FN",
                   help="NumPy code giving the right answer from the same arguments (default for a "
                        "function: the function itself through np.vectorize)")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance against the reference (default 1e-5 for float32, 1e-12 for float64)")
    p.add_argument("--emit-technique", action="store_true",
                   help="write a technique module to keep and load through NUMBABENCH_TECHNIQUES, and stop")
    p.add_argument("--emit-to", type=Path, default=None, metavar="PATH.py",
                   help="where --emit-technique writes (default ./<file>_<name>_technique.py)")
    p.add_argument("--sizes", default="quick", help="quick, full, or a comma list such as 1e3,1e6")
    p.add_argument("--targets", default=None,
                   help="comma list (default: every target available here that the function has)")
    from .cli import _positive_float, _positive_int

    p.add_argument("--repeat", type=_positive_int, default=None, help="exact number of timing samples")
    p.add_argument("--min-time", type=_positive_float, default=0.2,
                   help="seconds of samples per phase (default 0.2)")
    p.add_argument("--timeout", type=_positive_float, default=900.0,
                   help="seconds per cell before a worker is killed (default 900)")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    p.add_argument("--out", type=Path, default=None, help="results file (default results/<machine>-<timestamp>.json)")
    p.add_argument("--no-peak", dest="measure_peak", action="store_false",
                   help="skip the CPU bandwidth peak (no roofline fractions for CPU rows)")


# -- what the user asked for, checked ----------------------------------------------------------------

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


# -- the technique module --------------------------------------------------------------------------

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


MODULE = '''"""numbabench technique {technique!r}: {name} from {where_name}, {what}.

Written by `numbabench try --emit-technique {command}`. It is yours to keep and edit (the
inputs, the sizes, the tolerance, the reference). Any numbabench command loads it from
NUMBABENCH_TECHNIQUES when this folder is importable:

    NUMBABENCH_TECHNIQUES={module} PYTHONPATH={folder} numbabench run --techniques {technique}
"""
from pathlib import Path

from numbabench.registry import register
from numbabench.usertech import {base}, load_function

HERE = Path(__file__).resolve().parent


@register
class {cls}({base}):
    name = {technique!r}
    {role} = load_function({where_expr}, {name!r})
{body}'''


def module_source(spec: TrySpec, module_path: Path | None) -> str:
    """The technique module's text. ``module_path``: where it will live (paths to your files are
    written relative to it); None writes absolute paths (the temporary module of ``try``)."""
    def where_expr(where: str) -> str:
        if not (where.endswith(".py") or "/" in where):
            return repr(where)  # a module name: imported as such
        path = Path(where).expanduser().resolve()
        if module_path is None:
            return repr(str(path))
        try:  # beside the module or below it: a relative path, so the folder can move as one
            return f"HERE / {path.relative_to(module_path.resolve().parent).as_posix()!r}"
        except ValueError:
            return repr(str(path))

    lines = []
    if spec.signature:
        lines.append(f"signature = {spec.signature!r}")
    if spec.dtype and not spec.signature:
        lines.append(f"dtypes = ({spec.dtype!r},)")
    if spec.inputs:
        lines.append(f"inputs = {spec.inputs!r}  # one per input argument: normal(loc, scale), "
                     "uniform(low, high), integers(low, high) or a number")
    if spec.make_inputs:
        lines.append(f"inputs_function = load_function({where_expr(spec.make_inputs[0])}, {spec.make_inputs[1]!r})")
    if spec.reference:
        lines.append(f"reference_function = load_function({where_expr(spec.reference[0])}, {spec.reference[1]!r})")
    if spec.kind == "elementwise":
        lines.append(f"numpy_way = {spec.numpy_way!r}  # the numpy row: reference, arrays (the function "
                     "on whole arrays) or vectorize (np.vectorize)")
    else:
        lines.append(f"launch = {spec.launch!r}  # or 'one-per-element' (then the kernel checks i < n)")
    if spec.rtol is not None:
        lines.append(f"tolerances = {{'float32': {spec.rtol!r}, 'float64': {spec.rtol!r}}}")
    base_cls = getattr(ut, spec.base)
    lines.append(f"sizes = {dict(base_cls.sizes)!r}")
    lines.append(f"simulator_sizes = {dict(base_cls.simulator_sizes)!r}")
    where_name = Path(spec.where).name
    what = "an elementwise function" if spec.kind == "elementwise" else f"a CUDA kernel ({spec.launch} launch)"
    command = f"{spec.where}:{spec.name}" + (" --kernel" if spec.kind == "kernel" else "")
    mod = module_path.stem if module_path else "MODULE"
    folder = (module_path.parent.as_posix() or ".") if module_path else "FOLDER"
    return MODULE.format(
        technique=spec.technique, name=spec.name, where_name=where_name, what=what, command=command,
        module=mod, folder=folder, base=spec.base, cls=f"Try{ut._identifier(spec.name).title().replace('_', '')}",
        role="function" if spec.kind == "elementwise" else "kernel", where_expr=where_expr(spec.where),
        body="".join(f"    {ln}\n" for ln in lines))


def emit(spec: TrySpec, to: Path | None) -> Path:
    path = to or Path(f"{spec.stem}_{ut._identifier(spec.name)}_technique.py")
    if path.suffix != ".py" or not path.stem.isidentifier():
        raise UserCodeError(f"--emit-to {path}: a technique module's name must be a Python module name "
                            "ending in .py, e.g. my_technique.py")
    if path.exists():
        raise UserCodeError(f"{path} exists: remove it, or give --emit-to another path")
    if not path.resolve().parent.is_dir():
        raise UserCodeError(f"--emit-to {path}: no folder {path.parent}")
    path.write_text(module_source(spec, path))
    return path


# -- running it ------------------------------------------------------------------------------------

def run(args) -> int:
    from .cli import err

    spec = build_spec(args)
    if args.emit_technique:
        path = emit(spec, args.emit_to)
        folder = path.resolve().parent
        print(f"wrote {path}: technique {spec.technique!r}. Run it with\n"
              f"  NUMBABENCH_TECHNIQUES={path.stem} PYTHONPATH={folder} numbabench run --techniques {spec.technique}")
        return 0
    from . import runner

    sizes = runner.parse_sizes(args.sizes)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets else None
    tmp = Path(tempfile.mkdtemp(prefix="numbabench-try-"))
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "NUMBABENCH_TECHNIQUES")}
    try:
        modname = f"numbabench_try_{spec.stem}_{ut._identifier(spec.name)}"
        (tmp / f"{modname}.py").write_text(module_source(spec, None))
        _put_on_path(tmp, modname)
        importlib.import_module(modname)  # registers it here; each worker imports it again
        tech = _registered(spec.technique)
        dtype = tech.default_dtype()
        with err.status("compiling for sm_80 and sm_90, probing the GPU..."):
            from concurrent.futures import ThreadPoolExecutor

            from .targets import Probe, availability, get_target, probe_gpu

            gpu_asked = targets is None or any(get_target(t).uses_gpu for t in targets)
            with ThreadPoolExecutor(1) as pool:  # two subprocesses at once: the compiler and the probe
                compiled = pool.submit(gpu_compiles, spec.technique, dtype)
                probe = probe_gpu() if gpu_asked else Probe.none("not probed: no GPU target was asked for")
                checks, why = compiled.result()
        avail = availability(probe)
        targets = _targets(targets, tech, avail)
        refused = [c for c in checks if not c.ok]
        if refused and "cuda" in targets:
            targets.remove("cuda")
            if not targets:
                raise UserCodeError(f"cuda: {refused[0].refusal()}")
        opts = runner.Options(techniques=[spec.technique], targets=targets, sizes=sizes, dtype=None,
                              repeat=args.repeat, min_time=args.min_time, timeout=args.timeout,
                              seed=args.seed, out=args.out, measure_peak=args.measure_peak)
        rows = gpu_rows(tech, dtype, sizes, checks, why, gpu_asked, "cuda" in targets)
        meta = {"function": f"{spec.where}:{spec.name}", "kind": spec.kind, "technique": spec.technique,
                "numpy_way": spec.numpy_way if spec.kind == "elementwise" else "reference",
                "gpu_compile": [{"cc": list(c.cc), "ok": c.ok, "error": c.error, "line": c.line} for c in checks],
                "module": module_source(spec, None)}
        for line in _notes(spec, checks, why):
            err.print(line, markup=False, soft_wrap=True)
        return sweep(opts, probe, rows, meta)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if str(tmp) in sys.path:
            sys.path.remove(str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


def sweep(opts, probe, extra_rows: list[dict], meta: dict) -> int:
    """The ordinary sweep with ``extra_rows`` (the GPU compiler's verdict) and ``meta`` in the file.

    The one place this command touches the runner: prepare, then the CLI's own run and table
    (progress, CPU peak, exit status 0/1)."""
    from . import cli, runner

    prepared = runner.prepare(opts, probe)
    try:
        prepared.plan.skipped.extend(extra_rows)
        prepared.doc["try"] = meta
        return cli._run_and_report(opts, prepared)
    finally:
        prepared.executor.close()


def _put_on_path(folder: Path, modname: str) -> None:
    sys.path.insert(0, str(folder))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    mods = [m for m in os.environ.get("NUMBABENCH_TECHNIQUES", "").split(",") if m.strip()]
    os.environ["NUMBABENCH_TECHNIQUES"] = ",".join([*mods, modname])


def _registered(name: str):
    from .registry import get_technique

    return get_technique(name)


def _targets(asked: list[str] | None, tech, avail: dict) -> list[str]:
    from .targets import get_target

    if asked is None:
        return [t for t in tech.targets if avail[t][0]]
    for t in asked:
        get_target(t)
        if t not in tech.targets:
            raise UserCodeError(f"target {t!r}: this {'kernel' if 'cpu' not in tech.targets else 'function'} "
                                f"runs on {', '.join(tech.targets)}")
    return list(dict.fromkeys(asked))


def gpu_compiles(name: str, dtype: str) -> tuple[list[ut.GPUCheck], str | None]:
    """The PTX check in a real-mode process of its own: (checks, why it could not run)."""
    from .targets import worker_env

    try:
        proc = subprocess.run([sys.executable, "-m", "numbabench.usertech", "ptx", name, dtype],
                              env=worker_env("cuda"), capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return [], "the GPU compiler check did not finish in 300 s"
    checks = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            checks.append(ut.GPUCheck(tuple(d["cc"]), d["ok"], d["error"], d["line"], d["source"], d["file"]))
    if proc.returncode != 0 or not checks:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return [], f"the GPU compiler check could not run: {tail[:300]}"
    unavailable = [c for c in checks if c.error and ("DynamicLibNotFound" in c.error or "libnvrtc" in c.error)]
    if unavailable:
        return [], f"the GPU compiler is not installed here ({unavailable[0].error}): pip install 'numba-cuda[cu13]'"
    return checks, None


def gpu_rows(tech, dtype, sizes, checks, why, gpu_asked: bool, cuda_runs: bool) -> list[dict]:
    """Rows for the ``cuda`` target the sweep will not time: the compiler's refusal, or why not."""
    from .results import Row

    refused = [c for c in checks if not c.ok]
    if cuda_runs and not refused:
        return []
    not_run = "no GPU here" if gpu_asked else "not asked for (--targets)"
    if refused:
        text, status = refused[0].refusal(), "failed"
    elif why:
        text, status = f"{not_run}, and {why}", "skipped"
    else:
        ccs = " and ".join(c.sm for c in checks)
        text, status = f"{not_run}; the kernel compiles for {ccs} (PTX checked), so it will build on a GPU", "skipped"
    if isinstance(sizes, str):  # a preset this technique lacks (e.g. gpu) runs its quick sizes
        cuda_sizes = tech.sizes.get(sizes) or tech.sizes["quick"]
    else:
        cuda_sizes = sizes
    return [Row.failed({"technique": tech.name, "size": s, "dtype": dtype}, "cuda", text, status).to_dict()
            for s in cuda_sizes]


def _notes(spec: TrySpec, checks, why) -> list[str]:
    out = []
    if spec.kind == "elementwise":
        out.append({
            "reference": "numpy row: your --reference",
            "arrays": f"numpy row: {spec.name} called on whole arrays (it is NumPy code as it stands)",
            "vectorize": (f"numpy row: np.vectorize({spec.name}), a Python loop: speedups against it are "
                          "against Python, not NumPy; give --reference FILE.py:FN for a NumPy baseline"),
        }[spec.numpy_way])
    refused = [c for c in checks if not c.ok]
    if refused:
        out.append(f"cuda: {refused[0].refusal()}")
    elif checks:
        out.append(f"cuda: compiles for {' and '.join(c.sm for c in checks)} (PTX)")
    elif why:
        out.append(f"cuda: {why}")
    return out
