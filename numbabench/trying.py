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

This module is the command (its arguments, the run, the GPU compiler's rows); ``trying_spec`` checks
what was asked and builds the technique class, ``trying_emit`` writes the technique module.
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
from pathlib import Path

from . import usertech as ut
from .argtypes import comma_list, positive_float, positive_int
from .trying_emit import MODULE, emit, module_source  # noqa: F401 (public, as before the split)
from .trying_spec import SAMPLE, TrySpec, build_spec, technique_class  # noqa: F401 (public)
from .usertech import UserCodeError


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
    p.add_argument("--targets", type=comma_list, default=None,
                   help="comma list (default: every target available here that the function has)")
    p.add_argument("--repeat", type=positive_int, default=None, help="exact number of timing samples")
    p.add_argument("--min-time", type=positive_float, default=0.2,
                   help="seconds of samples per phase (default 0.2)")
    p.add_argument("--timeout", type=positive_float, default=900.0,
                   help="seconds per cell before a worker is killed (default 900)")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    p.add_argument("--out", type=Path, default=None, help="results file (default results/<machine>-<timestamp>.json)")
    p.add_argument("--no-peak", dest="measure_peak", action="store_false",
                   help="skip the CPU bandwidth peak (no roofline fractions for CPU rows)")


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
    targets = args.targets  # a list (argtypes.comma_list), or None: every target here
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
