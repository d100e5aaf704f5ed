"""The PTX and link layer: compile every CUDA code path for real GPUs, on a machine that has none.

The simulator runs kernels as Python, so it accepts things no GPU compiler does (``np.empty`` in a
kernel, Python objects, unsupported NumPy calls). This layer runs the real tool chain without a
driver: ``numba.cuda.compile_ptx`` (NVVM) turns each kernel into PTX for every compute capability
in ``DEFAULT_CCS``, and nvJitLink (``cuda.bindings.nvjitlink``, from the CUDA wheels of the
``numba-cuda[cu13]`` extra) links that PTX to a cubin, as the driver would at load time. The link's
log gives each kernel's registers, stack frame and spills. A kernel passes when it compiles, links,
and spills nothing.

"Every code path" is each technique's ``kernels()`` plus, where it has them, ``ptx_paths()``: code a
target runs that is not a kernel the technique wrote (the stager kernels numba-cuda writes for a
``@vectorize(target='cuda')`` ufunc, with the layouts a real call gives them) or that only a variant
runs. numbabench's own timing kernel is checked too.

When a kernel calls a device function, numba-cuda asks the *current device* for its compute
capability, and without a driver there is none; ``fake_current_device`` stands one in for the
compile. Must run in a process where numba.cuda is not the simulator; ``ptx_summary`` starts one.
"""
from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from unittest import mock

from .errors import TargetUnavailable
from .fmt import first_line
from .registry import Kernel, get_technique, techniques

DEFAULT_CCS = ((8, 0), (9, 0))


@dataclass
class PTXResult:
    """One kernel, one signature, one compute capability: compiled, linked, and what it uses."""

    technique: str
    kernel: str
    signature: str
    cc: tuple[int, int]
    ok: bool
    error: str | None = None
    stage: str = "link"  # how far it got: "ptx" (NVVM refused), "link" (nvJitLink ran)
    registers: int | None = None
    spill_bytes: int | None = None  # spill stores + spill loads, all functions
    stack_bytes: int | None = None
    cubin_bytes: int | None = None

    @property
    def arch(self) -> str:
        return f"sm_{self.cc[0]}{self.cc[1]}"

    def __str__(self):
        what = f"{self.technique}.{self.kernel}({self.signature}) for {self.arch}"
        if not self.ok:
            return f"{what}: FAILS: {self.error}"
        if self.registers is None:  # compiled, not linked here (an LTO-IR callback, say)
            return f"{what}: ok"
        return f"{what}: ok, {self.registers} registers, {self.spill_bytes} bytes spilled"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cc"] = self.arch
        return d


class _FakeDevice:
    def __init__(self, cc):
        self.compute_capability = cc


@contextlib.contextmanager
def fake_current_device(cc):
    """Stand in a device of compute capability ``cc`` for numba-cuda's current-device query."""
    import numba.cuda.dispatcher as dispatcher

    with mock.patch.object(dispatcher, "get_current_device", lambda: _FakeDevice(cc)):
        yield


# -- nvJitLink ------------------------------------------------------------------------------------

@dataclass
class Link:
    """What nvJitLink made of one PTX module: the cubin's size and the entry kernel's resources."""

    cubin_bytes: int
    registers: int | None
    spill_bytes: int
    stack_bytes: int
    log: str


class LinkError(Exception):
    pass


def nvjitlink_version() -> str | None:
    try:
        from cuda.bindings import nvjitlink

        return ".".join(map(str, nvjitlink.version()))
    except Exception:
        return None


def link_ptx(ptx: str, cc, max_registers: int | None = None) -> Link:
    """Link ``ptx`` to a cubin for ``cc`` with nvJitLink (no driver); LinkError with its log if it fails."""
    from cuda.bindings import nvjitlink

    opts = [f"-arch=sm_{cc[0]}{cc[1]}", "-verbose"]
    if max_registers:
        opts.append(f"-maxrregcount={max_registers}")
    handle = nvjitlink.create(len(opts), opts)
    try:
        data = ptx.encode()
        try:
            nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel.ptx")
            nvjitlink.complete(handle)
        except nvjitlink.nvJitLinkError as exc:
            log = _log(handle, nvjitlink.get_error_log_size, nvjitlink.get_error_log)
            raise LinkError(_first_error(log) or str(exc)) from None
        log = _log(handle, nvjitlink.get_info_log_size, nvjitlink.get_info_log)
        size = nvjitlink.get_linked_cubin_size(handle)
    finally:
        nvjitlink.destroy(handle)
    return Link(size, *parse_resources(log), log)


def _log(handle, size_fn, get_fn) -> str:
    n = size_fn(handle)
    if not n:
        return ""
    buf = bytearray(n)
    get_fn(handle, buf)
    return buf.decode(errors="replace").rstrip("\x00")


def _first_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errs = [ln for ln in lines if "error" in ln.lower()]
    return (errs or lines or [""])[0]


_SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")
_ENTRY = re.compile(r"Compiling entry function")


def parse_resources(log: str) -> tuple[int | None, int, int]:
    """(registers of the entry kernel, spill bytes of all functions, largest stack frame) from ptxas'
    verbose lines in an nvJitLink info log."""
    regs, spills, stack = None, 0, 0
    in_entry = False
    for line in log.splitlines():
        if _ENTRY.search(line):
            in_entry = True
        elif "Compiling" in line:  # a non-entry function follows
            in_entry = False
        m = _SPILL.search(line)
        if m:
            stack = max(stack, int(m.group(1)))
            spills += int(m.group(2)) + int(m.group(3))
        m = _REGS.search(line)
        if m and in_entry and regs is None:
            regs = int(m.group(1))
    return regs, spills, stack


# -- compile + link ---------------------------------------------------------------------------------

def _require_real_compiler():
    from .targets import simulator_active

    if simulator_active():
        raise TargetUnavailable("the PTX check needs the real CUDA compiler; unset NUMBA_ENABLE_CUDASIM")


def compile_kernel(kernel: Kernel, ccs=DEFAULT_CCS, technique: str = "-",
                   max_registers: int | None = None) -> list[PTXResult]:
    """Compile ``kernel`` for each of its signatures and each ``ccs``, link each, report each."""
    _require_real_compiler()
    from numba import cuda

    out = []
    for sig in kernel.signatures:
        sig_text = ", ".join(str(t) for t in sig)
        for cc in ccs:
            base = dict(technique=technique, kernel=kernel.name, signature=sig_text, cc=tuple(cc))
            try:
                with fake_current_device(cc):
                    ptx, _ = cuda.compile_ptx(kernel.pyfunc, sig, cc=cc)
            except Exception as exc:
                out.append(PTXResult(**base, ok=False, stage="ptx", error=f"PTX: {compile_error(exc)}"))
                continue
            try:
                link = link_ptx(ptx, cc, max_registers)
            except LinkError as exc:
                out.append(PTXResult(**base, ok=False, stage="link", error=f"link: {exc}"))
                continue
            except Exception as exc:  # nvJitLink missing or broken: say so, per kernel
                out.append(PTXResult(**base, ok=False, stage="link", error=f"link: {first_line(exc)}"))
                continue
            error = None
            if link.spill_bytes:
                error = (f"spills {link.spill_bytes} bytes to local memory with {link.registers} "
                         "registers: slow on every GPU (fewer live values, or a larger register limit)")
            elif not link.cubin_bytes:
                error = "link: nvJitLink produced an empty cubin"
            out.append(PTXResult(**base, ok=error is None, error=error, registers=link.registers,
                                 spill_bytes=link.spill_bytes, stack_bytes=link.stack_bytes,
                                 cubin_bytes=link.cubin_bytes))
    return out


def compile_error(exc: BaseException, limit: int = 240) -> str:
    """A Numba compile error in one line: its first two meaningful lines (Numba's own header, "Failed
    in cuda mode pipeline", and its traceback-like "During:" lines say nothing about the cause)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Failed in", "During:", "File ", "^"))]
    text = " ".join(lines[:2]) or first_line(exc)
    text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def code_paths(name: str) -> list[Kernel]:
    """Every CUDA code path of technique ``name``: its ``kernels()`` and its ``ptx_paths()``."""
    tech = get_technique(name)
    paths = list(tech.kernels())
    more = getattr(tech, "ptx_paths", None)
    if more is not None:
        with fake_current_device(DEFAULT_CCS[-1]):  # building a cuda ufunc compiles device functions
            paths.extend(more())
    return paths


def own_paths() -> list[Kernel]:
    """numbabench's own kernels: the spin kernel that keeps a stream busy for event timing, and the
    GPU L2 peak's read kernel."""
    from numba.core import types

    from .peaks import gpu_l2_kernel
    from .timing import spin_kernel

    arr = types.Array(types.float32, 1, "C")
    return [Kernel("spin", spin_kernel(), ((types.int64,),)),
            Kernel("gpu_l2_kernel", gpu_l2_kernel, ((arr, types.int64, arr),))]


def check(names=None, ccs=DEFAULT_CCS) -> list[PTXResult]:
    """Compile and link every code path of the named techniques (default: all, and numbabench's own)."""
    _require_real_compiler()
    results = []
    for name in names or techniques():
        for k in code_paths(name):
            results.extend(compile_kernel(k, ccs, technique=name))
    if names is None:
        for k in own_paths():
            results.extend(compile_kernel(k, ccs, technique="numbabench"))
    return results


def summary(results: list[PTXResult], ccs=DEFAULT_CCS) -> dict:
    """A JSON-friendly record of a check, for results files and the report's environment card."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        nc = version("numba-cuda")
    except PackageNotFoundError:
        nc = None
    failures = [str(r) for r in results if not r.ok]
    return {
        "ccs": [f"sm_{a}{b}" for a, b in ccs],
        "numba_cuda": nc,
        "nvjitlink": nvjitlink_version(),
        "kernels": [r.to_dict() for r in results],
        "checked": len(results),
        "ok": not failures and bool(results),
        "failures": failures,
        "max_registers": max((r.registers or 0 for r in results), default=None),
        "spilling": sum(1 for r in results if r.spill_bytes),
    }


def ptx_summary(names=None, timeout: float = 600) -> dict:
    """``summary(check(names))``, run in a fresh real-mode process (any caller, even the simulator).

    Never raises: a process that fails or times out gives ``{"ok": False, "error": ...}``.
    """
    from .targets import worker_env

    cmd = [sys.executable, "-m", "numbabench.ptx", "--json"] + (["--techniques", ",".join(names)] if names else [])
    try:
        proc = subprocess.run(cmd, env=worker_env("cuda"), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"the PTX check did not finish in {timeout:.0f} s", "kernels": []}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": f"the PTX check failed: {tail}", "kernels": []}


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m numbabench.ptx",
                                description="compile and link every CUDA code path for sm_80 and sm_90")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.add_argument("--techniques", help="comma-separated technique names (default: all)")
    a = p.parse_args(argv)
    names = [n.strip() for n in a.techniques.split(",")] if a.techniques else None
    results = check(names)
    s = summary(results)
    if a.json:
        print(json.dumps(s))
    else:
        for r in results:
            print(r)
        print(f"{s['checked']} compiled and linked, {len(s['failures'])} failed")
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
