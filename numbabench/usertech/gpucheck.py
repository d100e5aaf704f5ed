"""The GPU compiler check with no GPU: a user technique's CUDA kernel compiled to PTX for sm_80 and
sm_90, and the line of the user's file a refusal points at. ``python -m numbabench.usertech ptx NAME
[DTYPE]`` runs it in a process of its own (the parent may be the simulator, or must not import CUDA)."""
from __future__ import annotations

import inspect
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NumbabenchError

if TYPE_CHECKING:
    from ..registry import Technique


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

    from ..ptx import fake_current_device
    from ..targets import simulator_active

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



def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3) or argv[0] != "ptx":
        print("usage: python -m numbabench.usertech ptx TECHNIQUE [DTYPE]", file=sys.stderr)
        return 2
    from ..registry import get_technique

    tech = get_technique(argv[1])
    for check in gpu_check(tech, argv[2] if len(argv) == 3 else None):
        print(json.dumps(asdict(check)), flush=True)
    return 0


