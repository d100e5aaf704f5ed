"""What a lesson's ``check.py`` works with: the learner's module ``ex`` and the grader ``g``.

A check is ``check(ex, g)``. It grades the learner's file in *parts*, each with a title the learner
understands; a part passes, or fails with one message that says what is wrong in the learner's
terms (which input, what was expected, what came back)::

    def check(ex, g):
        with g.part("clamp keeps values inside the bounds"):
            clamp = g.need(ex, "clamp")
            got = clamp(0.25, -0.5, 0.5)
            if got != 0.25:
                g.fail(f"clamp(0.25, -0.5, 0.5) returned {got}, expected 0.25")

An exception raised by the learner's code inside a part fails that part with the exception and the
lines of the learner's own file it went through (never the checker's frames). Parts after a failed
one still run, so the learner sees everything that is wrong at once.

``g.simulator`` says whether this run is the CUDA simulator (``g.gpu``: a real GPU). Speed is graded
with ``g.speed`` on a GPU only; on the simulator it records "speed: not measured (simulator)".

A check.py may also define ``ADVICE = [(regex, text), ...]``: wherever the learner's code raised (the
file itself, a part, the PTX compile), each ``text`` whose regex matches the error is added to the
verdict, so that an error that names numba's internals is followed by what to change in the file.
"""
from __future__ import annotations

import ast
import math
import re
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..fmt import seconds

SIMULATOR_SPEED = "speed: not measured (simulator): its clock says nothing about a GPU"


class Failed(Exception):
    """A part of the check failed; the message is for the learner."""


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.7g}"
    if isinstance(v, (complex, np.complexfloating)):
        return f"{complex(v):.5g}"
    if isinstance(v, np.integer):
        return str(int(v))
    return repr(v)


def explain(exc: BaseException, learner_file: str | Path, limit: int = 14) -> str:
    """An exception as the learner needs it: what it says, and the lines of *their* file it passed."""
    learner = str(Path(learner_file).resolve())
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if _same(f.filename, learner)]
    text = str(exc).strip()
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > limit:
        lines = lines[:limit] + ["..."]
    head = f"{type(exc).__name__}: " + ("\n    ".join(lines) if lines else "(no message)")
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"SyntaxError at line {exc.lineno}: {exc.msg}" + (f"\n    {exc.text.strip()}" if exc.text else "")
    checker_last = frames and Path(frames[-1].filename).name in ("check.py", "grading.py")
    if not mine and checker_last:
        return ("the check itself failed (a bug in the lesson, not in your code; please report it): "
                + head)
    where = [f"\n    at line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in mine[-6:]]
    return "your code raised " + head + "".join(where)


def advise(text: str, advice, against: str | None = None) -> str:
    """``text`` followed by every piece of ``advice`` ((regex, text) pairs) whose regex matches
    ``against`` (the whole error; default ``text`` itself)."""
    subject = text if against is None else against
    extra = [tip for pattern, tip in advice or () if re.search(pattern, subject)]
    return "\n".join([text] + extra)  # each piece on a line of its own, after the error's lines


def _same(a: str, b: str) -> bool:
    try:
        return str(Path(a).resolve()) == b
    except OSError:
        return False


class Grader:
    def __init__(self, learner_file: str | Path, simulator: bool, advice=()):
        self.file = Path(learner_file).resolve()
        self.advice = list(advice)
        self.simulator = simulator
        self.gpu = not simulator
        self.parts: list[dict] = []
        self.notes: list[str] = []
        self.speeds: list[dict] = []
        self._tree = None

    # -- parts ----------------------------------------------------------------------------------
    @contextmanager
    def part(self, title: str, detail: str = ""):
        """One graded item. ``detail`` (what was tried) is shown when it passes."""
        try:
            yield
        except Failed as f:
            self.parts.append({"title": title, "ok": False, "message": str(f)})
        except Exception as exc:  # the learner's code raised
            self.parts.append({"title": title, "ok": False,
                               "message": advise(explain(exc, self.file), self.advice)})
        else:
            self.parts.append({"title": title, "ok": True, "message": detail})

    def fail(self, message: str):
        raise Failed(message)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def failed(self) -> bool:
        return any(not p["ok"] for p in self.parts)

    # -- what the learner wrote -----------------------------------------------------------------
    def need(self, ex, name: str, what: str = "function"):
        try:
            return getattr(ex, name)
        except AttributeError:
            raise Failed(f"your file defines no `{name}` (the check looks for a {what} of that name: "
                         "was it renamed, or deleted?)") from None

    @property
    def tree(self) -> ast.Module:
        if self._tree is None:
            self._tree = ast.parse(self.file.read_text(encoding="utf-8"), filename=str(self.file))
        return self._tree

    def function_def(self, name: str) -> ast.FunctionDef:
        """The last top-level ``def name`` of the learner's file (the one that counts)."""
        found = [n for n in self.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
        if not found:
            raise Failed(f"your file has no `def {name}(...)` at the top level")
        return found[-1]

    # -- comparing results ----------------------------------------------------------------------
    def expect_array(self, got, want, what: str, *, rtol: float = 1e-6, atol: float = 0.0,
                     dtype=None) -> None:
        """Fail unless ``got`` equals ``want`` within the tolerance; the message names the first
        wrong element, how many are wrong, and a pattern when one stands out."""
        if got is None:
            self.fail(f"{what} returned None; it should return the result (an array of shape {want.shape})")
        try:
            if hasattr(got, "copy_to_host"):
                got = got.copy_to_host()
            got = np.asarray(got)
        except Exception:
            self.fail(f"{what} returned a {type(got).__name__}, not an array")
        want = np.asarray(want)
        if got.shape != want.shape:
            self.fail(f"{what} returned an array of shape {got.shape}; expected shape {want.shape}")
        if dtype is not None and got.dtype != np.dtype(dtype):
            self.fail(f"{what} returned {got.dtype} values; expected {np.dtype(dtype)}")
        if got.size == 0:
            return
        if np.issubdtype(want.dtype, np.inexact) or np.issubdtype(got.dtype, np.inexact):
            ok = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        else:
            ok = got == want
        if ok.all():
            return
        bad = np.argwhere(~ok)
        idx = tuple(int(i) for i in bad[0])
        where = idx[0] if len(idx) == 1 else idx
        n_bad, n = int(bad.shape[0]), got.size
        msg = (f"{what}: element {where} is {_fmt(got[idx])}, expected {_fmt(want[idx])} "
               f"({n_bad} of {n} elements wrong)")
        if got.ndim == 1 and n_bad < n:
            first = int(bad[0][0])
            if n_bad == n - first:
                msg += f"; every element from index {first} on is wrong, all before it are right"
        self.fail(msg)

    # -- speed ----------------------------------------------------------------------------------
    def speed(self, label: str, yours, reference, *, max_ratio: float = 3.0, sync=None,
              min_time: float = 0.2) -> None:
        """Grade the time of ``yours()`` against ``reference()`` (both warmed up), on a GPU only."""
        if self.simulator:
            self.speeds.append({"label": label, "text": SIMULATOR_SPEED, "ok": True})
            return
        from .. import timing

        sync = sync or _cuda_sync
        with self.part(f"speed: {label}"):
            for fn in (reference, yours):  # compile both
                fn()
                sync()
            # one call each first: a kernel hopelessly slower fails here, before the steady timing
            once = []
            for fn in (reference, yours):
                t0 = timing.clock()
                fn()
                sync()
                once.append(timing.clock() - t0)
            if once[1] > 20 * max_ratio * once[0] and once[1] > 0.05:
                text = (f"{label}: one call of yours took {seconds(once[1])}, "
                        f"{once[1] / once[0]:.0f}x the reference's {seconds(once[0])}")
                self.speeds.append({"label": label, "text": "speed: " + text, "ok": False})
                self.fail(text + f"; the lesson asks for no more than {max_ratio:g}x")
            ref = timing.steady(reference, sync, min_time=min_time)
            mine = timing.steady(yours, sync, min_time=min_time)
            ratio = mine.median_s / ref.median_s if ref.median_s > 0 else math.inf
            text = (f"{label}: yours takes {ratio:.2f}x the reference's time "
                    f"({seconds(mine.median_s)} vs {seconds(ref.median_s)}, medians of "
                    f"{mine.repeats} and {ref.repeats} synchronized samples after a warm-up)")
            self.speeds.append({"label": label, "text": "speed: " + text, "ok": ratio <= max_ratio})
            if ratio > max_ratio:
                self.fail(text + f"; the lesson asks for no more than {max_ratio:g}x")


def _cuda_sync():
    from numba import cuda

    cuda.synchronize()


def kernel(ex, name: str, signatures, must_contain=()) -> dict | None:
    """For ``ptx_kernels``: the learner's kernel ``name`` to compile for each of ``signatures``
    (tuples of numba types), with ``must_contain``: (regex, message) pairs the PTX must match.
    None when the learner's file has no such name (the run phase says so)."""
    obj = getattr(ex, name, None)
    if obj is None:
        return None
    return {"name": name, "pyfunc": getattr(obj, "py_func", obj), "signatures": list(signatures),
            "must_contain": list(must_contain)}
