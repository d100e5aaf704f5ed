"""The child side of a check: ``python -m numbabench.lessons.harness run|ptx SPEC.json``.

Every check runs the learner's file in a fresh process, because the CUDA simulator is chosen when
numba is imported (``NUMBA_ENABLE_CUDASIM`` must be set before that), and because the learner's code
may hang, crash or loop forever. Two phases, started side by side by ``checker.check``:

``run``  executes the learner's file as ``__main__`` (as Jupyter or ``python file.py`` would: no
         ``__file__``, so a dask or multiprocessing child never re-runs it), then the lesson's
         ``check(ex, g)``; on the simulator where there is no GPU, on the GPU where there is one.
         ``faulthandler`` dumps every thread's stack and ends the process when the time is up, so
         the parent can say *where* the learner's code was stuck.
``ptx``  in real (non-simulator) mode, with no GPU needed: runs only the imports, definitions and
         assignments of the learner's file (no launches), then compiles the kernels that the
         lesson's ``ptx_kernels(ex, types)`` names with ``numba.cuda.compile_ptx`` for a real GPU,
         and checks what the PTX must contain (an atomic instruction, say).

The result goes to the JSON file named in the spec, never to stdout, which is the learner's.
"""
from __future__ import annotations

import ast
import builtins
import faulthandler
import importlib.util
import json
import os
import re
import sys
import types
from pathlib import Path

PTX_CC = (8, 0)


def _load_check(path: str):
    spec = importlib.util.spec_from_file_location("numbabench_lesson_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fresh_main(path: Path) -> types.ModuleType:
    mod = types.ModuleType("__main__")
    mod.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = mod
    sys.argv = [str(path)]
    sys.path.insert(0, str(path.parent))
    return mod


def exec_learner(path: Path) -> types.ModuleType:
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    mod = _fresh_main(path)
    exec(code, mod.__dict__)
    return mod


# -- run -------------------------------------------------------------------------------------------
def run_phase(spec: dict) -> dict:
    from .grading import Failed, Grader, advise, explain

    learner = Path(spec["file"]).resolve()
    faulthandler.dump_traceback_later(spec["timeout"], exit=True)
    from numba import config

    sim = bool(config.ENABLE_CUDASIM)
    out = {"phase": "run", "simulator": sim, "crash": None, "parts": [], "notes": [], "speeds": []}
    check = _load_check(spec["check"])
    advice = getattr(check, "ADVICE", ())
    try:
        ex = exec_learner(learner)
    except SystemExit as exc:
        out["crash"] = f"your file called exit({exc.code!r}) before the check could run"
        return out
    except BaseException as exc:  # noqa: BLE001 - any error of the learner's file is a verdict
        out["crash"] = advise(explain(exc, learner), advice)
        return out
    g = Grader(learner, simulator=sim, advice=advice)
    try:
        check.check(ex, g)
    except Failed as f:
        g.parts.append({"title": "", "ok": False, "message": str(f)})
    except Exception as exc:  # noqa: BLE001
        g.parts.append({"title": "", "ok": False, "message": advise(explain(exc, learner), advice)})
    if not g.parts:
        g.parts.append({"title": "", "ok": False, "message": "the check graded nothing (a bug in the lesson)"})
    out.update(parts=g.parts, notes=g.notes, speeds=g.speeds)
    return out


# -- ptx -------------------------------------------------------------------------------------------
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
         ast.AnnAssign)


def _does_work(node: ast.AST, own: set) -> bool:
    """Whether an assignment calls one of the learner's own functions or launches a kernel: that is
    the notebook doing its work, which the PTX phase has no need of (on a GPU it would run there)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            if isinstance(n.func, ast.Subscript):  # kernel[blocks, threads](...)
                return True
            if isinstance(n.func, ast.Name) and n.func.id in own:
                return True
    return False


def exec_definitions(path: Path) -> types.ModuleType:
    """Run the imports, definitions and assignments of the learner's file, one statement at a time,
    skipping the assignments that do the notebook's work and the statements that fail (a transfer
    needs a GPU this process may not have)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mod = _fresh_main(path)
    own = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in tree.body:
        if not isinstance(node, _KEEP):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _does_work(node, own):
            continue
        code = compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec")
        try:
            exec(code, mod.__dict__)
        except Exception:  # noqa: BLE001
            pass
    return mod


def _lazy_cuda_jit():
    """Make ``cuda.jit("sig")`` lazy: an eager signature compiles at once, which needs a driver.
    The PTX phase compiles for the signatures the lesson names anyway."""
    from numba import cuda

    real = cuda.jit

    def jit(func_or_sig=None, *args, **kw):
        if callable(func_or_sig) and not isinstance(func_or_sig, str):
            return real(func_or_sig, *args, **kw)
        return real(*args, **kw)  # no signature, or one (string, list, tuple, Signature) dropped

    cuda.jit = jit


_ALLOC = re.compile(r"numpy\.(empty|zeros|ones|full|array|arange|empty_like|zeros_like)|built-in function "
                    r"(empty|zeros|ones|full|array|arange)\b")


def _culprit_line(text: str, pyfunc, learner: Path) -> int | None:
    """The line of the learner's file a compile error is about: numba's own location when it gives
    one, else the first line of the kernel that calls the function the error names."""
    found = [int(n) for f, n in re.findall(r'File "([^"]+)", line (\d+)', text) if Path(f).name == learner.name]
    if found:
        return found[-1]
    m = re.search(r"Function\(<(?:built-in )?function (\w+)", text)
    if not m:
        return None
    import inspect

    try:
        lines, first = inspect.getsourcelines(pyfunc)
    except (OSError, TypeError):
        return None
    for i, src in enumerate(lines):
        if re.search(rf"\b{m.group(1)}\s*\(", src):
            return first + i
    return None


def ptx_phase(spec: dict) -> dict:
    from numba import cuda
    from numba.core import types as nbtypes

    from ..fmt import first_line
    from ..ptx import fake_current_device
    from .grading import advise

    learner = Path(spec["file"]).resolve()
    faulthandler.dump_traceback_later(spec["timeout"], exit=True)
    _lazy_cuda_jit()
    try:
        ex = exec_definitions(learner)
    except SyntaxError:  # the run phase reports it
        return {"phase": "ptx", "kernels": [], "cc": f"sm_{PTX_CC[0]}{PTX_CC[1]}"}
    check = _load_check(spec["check"])
    advice = getattr(check, "ADVICE", ())
    results = []
    for k in check.ptx_kernels(ex, nbtypes) or []:
        if k is None:  # the learner's file lacks it: the run phase says so
            continue
        res = {"name": k["name"], "ok": True, "message": ""}
        cc = PTX_CC
        for sig in k["signatures"]:
            try:
                with fake_current_device(cc):
                    ptx, _ = cuda.compile_ptx(k["pyfunc"], sig, cc=cc)
            except Exception as exc:  # noqa: BLE001
                text = str(exc)
                line = _culprit_line(text, k["pyfunc"], learner)
                where = f" (line {line} of your file)" if line else ""
                msg = (f"`{k['name']}` runs on the simulator, but the GPU compiler rejects it (PTX for "
                       f"sm_{cc[0]}{cc[1]}){where}: {first_line(exc)}. The simulator runs "
                       "kernels as plain Python, so it accepts code that no GPU can run.")
                if _ALLOC.search(text):
                    msg += (" A kernel cannot allocate arrays (np.empty, np.zeros, ...): pass the buffer "
                            "in as an argument, or use cuda.local.array / cuda.shared.array with a "
                            "constant size.")
                if re.search(r"KeyError: <ufunc '\w+'>", f"{type(exc).__name__}: {text}"):
                    msg += (" That is a NumPy function (np.exp, np.multiply, ...) in code compiled for "
                            "the GPU, which has no NumPy: use operators and the math module's functions "
                            "(math.exp), which compile for the CPU and the GPU alike.")
                if "compilation is disabled" in text:
                    msg += (" A @numba.jit helper with an explicit signature is frozen to the CPU: "
                            "drop the signature, and Numba compiles a GPU version when a kernel calls it.")
                msg = advise(msg, advice, against=f"{type(exc).__name__}: {text}")
                res.update(ok=False, message=msg)
                break
            for pattern, why in k.get("must_contain", ()):
                if not re.search(pattern, ptx):
                    res.update(ok=False, message=why)
                    break
            if not res["ok"]:
                break
        results.append(res)
    return {"phase": "ptx", "kernels": results, "cc": f"sm_{PTX_CC[0]}{PTX_CC[1]}"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    phase, spec_path = argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    try:
        out = run_phase(spec) if phase == "run" else ptx_phase(spec)
    except BaseException as exc:  # noqa: BLE001 - the harness itself failed: say so, in one piece
        import traceback

        out = {"phase": phase, "internal": "".join(traceback.format_exception(exc))[-3000:]}
    faulthandler.cancel_dump_traceback_later()
    Path(spec["result"] + ".tmp").write_text(json.dumps(out), encoding="utf-8")
    os.replace(spec["result"] + ".tmp", spec["result"])
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave at once: a learner's thread, cluster or pool that was never closed must not hold the
    # verdict back (the parent ends the whole process group afterwards).
    os._exit(0)


if __name__ == "__main__":
    main()
