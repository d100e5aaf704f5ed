"""Shared test helpers: run code or the CLI in a fresh process, under the simulator if asked."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def env(simulator: bool = False, techniques: str | None = None, **extra) -> dict:
    e = dict(os.environ)
    e["NUMBA_ENABLE_CUDASIM"] = "1" if simulator else "0"
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), str(TESTS), e.get("PYTHONPATH")) if p)
    e["PYTHONUNBUFFERED"] = "1"
    if techniques:
        e["NUMBABENCH_TECHNIQUES"] = techniques
    e.update(extra)
    return e


def run_python(code: str, simulator: bool = False, timeout: float = 300, **kw):
    """Run ``code`` in a new interpreter; its last stdout line must be JSON, which is returned."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env(simulator, **kw),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def in_simulator(code: str, timeout: float = 300, **kw):
    """``run_python`` with NUMBA_ENABLE_CUDASIM=1, set before numba is imported."""
    return run_python(code, simulator=True, timeout=timeout, **kw)


def cli(*args, timeout: float = 600, techniques: str | None = None, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m numbabench ARGS`` and return the completed process (text mode)."""
    return subprocess.run([sys.executable, "-m", "numbabench", *map(str, args)],
                          env=env(techniques=techniques), capture_output=True, text=True,
                          timeout=timeout, **kw)


def missing(*modules: str) -> list[str]:
    """Which of ``modules`` cannot be imported here (e.g. on a GPU machine with no network)."""
    import importlib.util

    return [m for m in modules if importlib.util.find_spec(m) is None]


def needs(*modules: str, extra: str):
    """A skipif mark for tests of a feature that needs optional packages that are not installed."""
    import pytest

    gone = missing(*modules)
    return pytest.mark.skipif(bool(gone), reason=f"needs {', '.join(gone)} (the '{extra}' extra), not installed here")


# -- the registry's cells: one variant of one technique on one target, against its reference --------
SEED = 7


def variant_problems(name: str, target: str, variant: str, dtype: str, sweep: str = "quick") -> list[str]:
    """Check ``variant`` of technique ``name`` on ``target`` at every size of ``sweep``, as the
    worker does (seeded inputs, checked, the technique's own reference and ``compare``).

    Returns one line per size whose result differs from the reference; [] when all agree. An
    exception is left to propagate: it is the caller's to report.
    """
    from numbabench.registry import get_technique

    t = get_technique(name)
    bad = []
    for size in t.sizes_for(target, sweep):
        inputs = t.check_inputs(t.make_inputs(size, seed=SEED, dtype=dtype))
        correct, err = t.compare(t.run(target, inputs, variant), t.reference(inputs))
        if not correct:
            bad.append(f"size {size}: differs from the reference (max abs error {err:.3g})")
    return bad


def variant_problems_elsewhere(cells: list[tuple[str, str, str, str]], simulator: bool = False,
                               timeout: float = 600, **extra_env) -> dict[str, list[str]]:
    """``variant_problems`` for every (technique, target, variant, dtype) in ``cells``, all in one
    fresh process (the simulator's, or one with ``extra_env``); keyed by ``"name/target/variant/dtype"``.
    A cell that raises gets the exception's first line, and the other cells still run."""
    return run_python(f"""
        import json
        from helpers import variant_problems
        from numbabench.fmt import first_line
        out = {{}}
        for cell in {list(map(tuple, cells))!r}:
            try:
                out["/".join(cell)] = variant_problems(*cell)
            except Exception as exc:
                out["/".join(cell)] = ["raised " + first_line(exc)]
        print(json.dumps(out))
    """, simulator=simulator, timeout=timeout, **extra_env)


# -- the GPU probe: asked once per session, in a subprocess ---------------------------------------
_PROBE = []


def gpu_probe():
    """This machine's ``numbabench.targets.Probe`` (GPU, CuPy, or why not), asked once."""
    if not _PROBE:
        from numbabench.targets import probe_gpu

        _PROBE.append(probe_gpu())
    return _PROBE[0]


def gpu_skip_reason(needs=()) -> str | None:
    """Why a test that needs a GPU (and CuPy, if ``"cupy"`` is in ``needs``) cannot run here, or None."""
    p = gpu_probe()
    if not p.cuda:
        return f"needs a CUDA GPU: {p.reason}"
    if "cupy" in needs and not p.cupy:
        return f"needs CuPy on the GPU: {p.cupy_reason} (pip install 'numbabench[gpu]')"
    return None
