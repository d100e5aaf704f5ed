"""Finding a user's code: ``FILE.py:NAME`` or ``module:NAME`` to a plain Python function, its
positional parameters and whether it returns a value; ``UserCodeError`` for anything unusable."""
from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import textwrap
from pathlib import Path
from typing import Callable

from ..errors import NumbabenchError


class UserCodeError(NumbabenchError):
    """A user's function, file, signature or input description that numbabench cannot use."""



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
    from ..fmt import first_line

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
