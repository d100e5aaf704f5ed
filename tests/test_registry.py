"""Every variant of every registered technique, on every target, equals the technique's reference.

The cells are read from the registry when the tests are collected, so a technique module added
under ``numbabench/article/`` (or named in ``NUMBABENCH_TECHNIQUES``) is checked here with no test
written for it. Host targets run in this process at the quick sizes, in every dtype; variants that
need an environment of their own (``variant_env``) run in a process started with it; ``cudasim``
runs in one simulator subprocess for all techniques; ``cuda`` and ``cupy`` run where there is a GPU.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import helpers
from numbabench.registry import get_technique, techniques
from numbabench.targets import HOST_TARGETS

GPU_TARGETS = ("cuda", "cupy")


def _cells(targets, marks=lambda t, target: ()):
    """pytest params (technique, target, variant, dtype) for every variant the registry declares."""
    out = []
    for name in techniques():
        t = get_technique(name)
        for target in (x for x in targets if x in t.targets):
            for variant in t.variants_for(target):
                for dtype in t.dtypes:
                    out.append(pytest.param(name, target, variant, dtype, marks=marks(t, target),
                                            id=f"{name}-{target}-{variant}-{dtype}"))
    return out


def _gpu_marks(t, target):
    needs_cupy = target == "cupy" or t.needs.get(target) == "cupy"
    return pytest.mark.gpu("cupy") if needs_cupy else pytest.mark.gpu


TESTS = ("test_host_variant_equals_reference", "test_gpu_variant_equals_reference",
         "test_cudasim_variant_equals_reference")


def _key(cell) -> str:
    return "/".join(cell)


def _process_for(cell) -> tuple | None:
    """Where a cell must run: None for this process, else (simulator, env) of a fresh one."""
    name, target, variant, _ = cell
    env = get_technique(name).variant_env.get((target, variant)) or {}
    if target == "cudasim" or env:  # a threading layer, say, is chosen before the first parallel call
        return target == "cudasim", tuple(sorted(env.items()))
    return None


@pytest.fixture(scope="session")
def elsewhere(request):
    """Problems of every selected cell that cannot run in this process: all the cudasim cells in
    one simulator subprocess, and one subprocess per ``variant_env`` that cells ask for."""
    cells = [tuple(item.callspec.params[k] for k in ("name", "target", "variant", "dtype"))
             for item in request.session.items if getattr(item, "originalname", None) in TESTS]
    groups: dict[tuple, list] = {}
    for cell in cells:
        where = _process_for(cell)
        if where is None:
            continue
        if cell[1] in GPU_TARGETS and helpers.gpu_skip_reason(_gpu_marks(get_technique(cell[0]), cell[1]).args):
            continue  # skipped, with the reason, by the conftest rule
        groups.setdefault(where, []).append(cell)
    out = {}
    for (simulator, env), group in groups.items():
        out.update(helpers.variant_problems_elsewhere(group, simulator=simulator, **dict(env)))
    return out


def _check(elsewhere, cell):
    if _process_for(cell) is None:
        problems = helpers.variant_problems(*cell)
    else:
        problems = elsewhere[_key(cell)]
    name, target, variant, dtype = cell
    assert problems == [], f"{name} {variant} on {target} ({dtype}): " + "; ".join(problems)


@pytest.mark.parametrize("name, target, variant, dtype", _cells(HOST_TARGETS))
def test_host_variant_equals_reference(elsewhere, name, target, variant, dtype):
    _check(elsewhere, (name, target, variant, dtype))


@pytest.mark.parametrize("name, target, variant, dtype", _cells(GPU_TARGETS, _gpu_marks))
def test_gpu_variant_equals_reference(elsewhere, name, target, variant, dtype):
    _check(elsewhere, (name, target, variant, dtype))


@pytest.mark.parametrize("name, target, variant, dtype", _cells(("cudasim",)))
def test_cudasim_variant_equals_reference(elsewhere, name, target, variant, dtype):
    _check(elsewhere, (name, target, variant, dtype))


def test_every_technique_and_target_has_cells():
    covered = {(c.values[0], c.values[1]) for c in _cells(HOST_TARGETS + GPU_TARGETS + ("cudasim",))}
    declared = {(n, t) for n in techniques() for t in get_technique(n).targets}
    assert techniques() and covered == declared


# -- the promise: a new technique module is covered the moment it exists ---------------------------
def test_a_new_technique_module_is_covered_with_no_test_written_for_it(tmp_path):
    """``tests/planted_registry.py``, loaded through NUMBABENCH_TECHNIQUES, gets a cell for each
    of its variants on each of its targets; its right variants pass and its wrong one fails."""
    report = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", os.path.abspath(__file__), "-k", "planted_", "-q",
         "-p", "no:cacheprovider", f"--junitxml={report}"],
        env=helpers.env(techniques="planted_registry"), cwd=helpers.ROOT,
        capture_output=True, text=True, timeout=600)
    outcome = {}
    for case in ET.parse(report).iter("testcase"):
        bad = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcome[case.get("name")] = "failed" if bad else "skipped" if skipped else "passed"
    host = [f"{t}-{v}-{d}" for t, v in (("numpy", "article"), ("cpu", "article"), ("cpu", "tuned"),
                                        ("parallel", "article"), ("parallel", "tuned"))
            for d in ("float32", "float64")]
    want = {}
    for name in ("planted_right", "planted_wrong"):
        for cell in host:
            failing = name == "planted_wrong" and cell.startswith("cpu-tuned")
            want[f"test_host_variant_equals_reference[{name}-{cell}]"] = "failed" if failing else "passed"
        for d in ("float32", "float64"):
            want[f"test_cudasim_variant_equals_reference[{name}-cudasim-article-{d}]"] = "passed"
    assert outcome == want, proc.stdout[-3000:]
    assert proc.returncode == 1  # pytest's "some tests failed": the wrong variant, and only it
    assert "planted_wrong tuned on cpu (float32): size 100: differs from the reference" in proc.stdout


def test_the_gpu_rule_says_what_is_missing(monkeypatch):
    from numbabench.targets import Probe

    monkeypatch.setattr(helpers, "_PROBE", [Probe.none("no CUDA GPU (driver not found)")])
    assert helpers.gpu_skip_reason() == "needs a CUDA GPU: no CUDA GPU (driver not found)"
    gpu_no_cupy = Probe(cuda=True, gpu={"name": "a GPU"}, cupy=False, cupy_reason="CuPy is not installed")
    monkeypatch.setattr(helpers, "_PROBE", [gpu_no_cupy])
    assert helpers.gpu_skip_reason() is None
    assert "CuPy is not installed" in helpers.gpu_skip_reason(("cupy",))
    assert _gpu_marks(get_technique("fftmask"), "cuda").args == ("cupy",)  # its cuda runs cuFFT via CuPy
    assert _gpu_marks(get_technique("clamp"), "cuda").args == ()
