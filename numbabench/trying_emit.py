"""The technique module ``numbabench try`` writes: ``module_source`` (its text, the same for the
temporary module every worker imports and for the one ``--emit-technique`` gives you to keep) and
``emit`` (writing that file, refusing a bad or taken path)."""
from __future__ import annotations

from pathlib import Path

from . import usertech as ut
from .trying_spec import TrySpec
from .usertech import UserCodeError


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
