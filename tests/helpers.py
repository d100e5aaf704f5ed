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
