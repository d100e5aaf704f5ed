"""The asv suite: its self-test catches what asv would silently get wrong, and a real asv run works.

The slow part is one ``asv run --python=same --quick`` over a small subset (clamp on cpu, and on
cudasim in the simulator environment), kept in a temporary results folder with its own HOME (asv
keeps its machine list in ~/.asv-machine.json).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, in_simulator, run_python
from numbabench import Technique, asvsuite, get_technique, techniques
from numbabench.errors import NumbabenchError

asv = pytest.importorskip("asv", reason="asv is in the test extra: pip install -e '.[test]'")

CONF = ROOT / "asv.conf.json"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def suite():
    return asvsuite.load_benchmark_module(ROOT / "benchmarks")


def suite_classes(module):
    return [v for k, v in vars(module).items() if isinstance(v, type) and not k.startswith("_")]


def only(problems, *needles):
    """Exactly one problem, and it names every needle."""
    assert len(problems) == 1, problems
    for n in needles:
        assert n in problems[0], problems[0]
    return problems[0]


# -- the real suite ------------------------------------------------------------------------------
def test_real_suite_and_conf_pass_the_self_test(suite):
    assert asvsuite.validate(CONF, module=suite) == []


def test_one_class_per_registered_technique_with_every_metric(suite):
    classes = {c._technique: c for c in suite_classes(suite)}
    assert sorted(classes) == sorted(techniques())
    for name, cls in classes.items():
        tech = get_technique(name)
        assert cls.param_names == ["size", "target"]
        sizes, targets = cls.params
        assert targets == list(tech.targets)
        assert set(tech.sizes["quick"]) | set(tech.simulator_sizes["quick"]) == set(sizes)
        for metric in asvsuite.METRICS:
            assert callable(getattr(cls, metric))
        assert cls.track_gbps.unit == "GB/s" and cls.track_compile_seconds.unit == "seconds"


def test_skip_params_are_static_and_right(suite):
    clamp = suite.clamp
    sim = get_technique("clamp").simulator_sizes["quick"]
    h2d = set(clamp.time_h2d.skip_params)
    for size in clamp.params[0]:
        for host in ("numpy", "cpu", "parallel"):
            assert (size, host) in h2d  # no transfers on a host target
        assert ((size, "cudasim") in clamp.time_compute.skip_params) == (size not in sim)
        assert (size, "cudasim") in clamp.track_gbps.skip_params  # functional only
        assert (size, "cudasim") in clamp.track_kernel_event_seconds.skip_params
    big = max(clamp.params[0])
    assert (big, "cuda") not in clamp.track_kernel_event_seconds.skip_params
    assert (big, "cpu") not in clamp.track_compile_seconds.skip_params


def test_full_sizes_behind_an_env_var(monkeypatch):
    tech = get_technique("clamp")
    sizes, own = asvsuite.suite_sizes(tech, "full")
    assert set(tech.sizes["full"]) <= set(sizes) and own["cudasim"] == set(tech.simulator_sizes["quick"]) | set(tech.simulator_sizes["full"])
    monkeypatch.setenv(asvsuite.SIZES_ENV, "full")
    assert asvsuite.suite_sizes(tech)[0] == sizes
    monkeypatch.setenv(asvsuite.SIZES_ENV, "huge")
    with pytest.raises(NumbabenchError, match="quick or full"):
        asvsuite.suite_sizes(tech)


def test_no_cuda_context_and_no_cupy_at_import():
    out = run_python(f"""
        import json, sys
        import numba.cuda.cudadrv.devices as devices
        import numba.cuda.cudadrv.driver as driver
        calls = []
        real_ctx, real_init = devices._Runtime.get_or_create_context, driver.Driver.ensure_initialized
        devices._Runtime.get_or_create_context = lambda *a, **k: calls.append("context") or real_ctx(*a, **k)
        driver.Driver.ensure_initialized = lambda *a, **k: calls.append("cuInit") or real_init(*a, **k)
        sys.path.insert(0, {str(ROOT)!r})
        import benchmarks.bench_techniques as b
        print(json.dumps({{"calls": calls, "cupy": "cupy" in sys.modules,
                           "classes": sorted(k for k, v in vars(b).items() if isinstance(v, type) and not k.startswith("_"))}}))
    """)
    assert out["calls"] == [] and out["cupy"] is False
    assert out["classes"] == sorted(asvsuite.class_name(n) for n in techniques())


def test_no_numba_cache_anywhere():
    # a warm on-disk cache would make track_compile_seconds measure a cache load, not a compile
    hits = [f"{p.relative_to(ROOT)}" for d in ("numbabench", "benchmarks") for p in (ROOT / d).rglob("*.py")
            if re.search(r"cache\s*=\s*True", p.read_text())]
    assert hits == []


# -- setup: correctness, availability ------------------------------------------------------------
class _Doubling(Technique):
    title = "planted: doubles x"
    targets = ("numpy", "cpu", "cudasim")
    sizes = {"quick": (64,), "full": (64,)}
    simulator_sizes = {"quick": (32,), "full": (32,)}

    def make_inputs(self, size, seed=0, dtype=None):
        return {"x": np.arange(size, dtype="float64")}

    def reference(self, inputs):
        return inputs["x"] * 2

    def bytes_moved(self, size, dtype=None):
        return 16 * size

    def flops(self, size, dtype=None):
        return size

    def implementation(self, target):
        return lambda a: a["x"] * 2


class _Wrong(_Doubling):
    name = "planted_asv_wrong"

    def implementation(self, target):
        return (lambda a: a["x"] * 2) if target == "numpy" else (lambda a: a["x"] + 1)


def test_setup_checks_the_result_and_a_wrong_one_fails():
    cls = asvsuite.build_class(_Wrong(), "bench_planted")
    bench = cls()
    bench.setup({"peaks": {"cpu_gbps": 10.0}}, 64, "numpy")
    bench.time_compute({}, 64, "numpy")
    assert bench.track_gbps({}, 64, "numpy") > 0
    assert 0 < bench.track_roofline_fraction({}, 64, "numpy")
    assert bench.track_compile_seconds({}, 64, "numpy") >= 0
    with pytest.raises(asvsuite.WrongResult, match="planted_asv_wrong on cpu .* differs from the NumPy reference"):
        cls().setup({}, 64, "cpu")


def test_unavailable_targets_are_not_implemented_here():
    # this process is real-mode (conftest): the simulator target is n/a, and so is a GPU we lack
    with pytest.raises(NotImplementedError, match="NUMBA_ENABLE_CUDASIM=1"):
        asvsuite.require_target("cudasim")
    from numbabench.targets import probe_gpu

    if not probe_gpu()["cuda"]:
        for target in ("cuda", "cupy"):
            with pytest.raises(NotImplementedError):
                asvsuite.require_target(target)


def test_in_the_simulator_only_cudasim_runs():
    out = in_simulator("""
        import json
        from numbabench import asvsuite
        res = {}
        for t in ("numpy", "cpu", "parallel", "cuda", "cupy", "cudasim"):
            try:
                asvsuite.require_target(t)
                res[t] = "runs"
            except NotImplementedError as e:
                res[t] = str(e)
        print(json.dumps(res))
    """)
    assert out["cudasim"] == "runs"
    for t in ("numpy", "cpu", "parallel", "cuda", "cupy"):
        assert "simulator" in out[t], out[t]


# -- the self-test catches each planted mistake --------------------------------------------------
def _good_class():
    class Good:
        params = [[1, 2], ["a", "b"]]
        param_names = ["size", "target"]

        def setup(self, size, target):
            pass

        def time_x(self, size, target):
            pass

        def track_y(self, size, target):
            return 1.0

        track_y.unit = "things"

        def _helper(self):
            pass

    return Good


def test_self_test_accepts_a_good_class():
    assert asvsuite.validate_class(_good_class()) == []


@pytest.mark.parametrize("bad", ["tme_compute", "tiem_compute", "trak_gbps", "peekmem_x", "bench_x", "compute"])
def test_self_test_catches_a_method_asv_would_not_collect(bad):
    cls = _good_class()
    setattr(cls, bad, lambda self, size, target: None)
    only(asvsuite.validate_class(cls), bad, "will not collect")


def test_self_test_names_the_prefix_it_meant():
    cls = _good_class()
    cls.tme_compute = lambda self, size, target: None
    assert "did you mean time_compute" in only(asvsuite.validate_class(cls))


def test_self_test_catches_params_and_param_names_of_different_lengths():
    cls = _good_class()
    cls.param_names = ["size"]
    only(asvsuite.validate_class(cls), "2 params but 1 param_names")
    cls.param_names = ["size", "target", "dtype"]
    only(asvsuite.validate_class(cls), "2 params but 3 param_names")


def test_self_test_catches_a_misspelt_attribute():
    cls = _good_class()
    cls.parmas = [[1]]
    assert "did you mean params" in only(asvsuite.validate_class(cls), "parmas")


def test_self_test_catches_a_module_function_asv_would_not_collect():
    import types

    mod = types.ModuleType("benchmarks.planted")
    exec("def tiem_thing():\n    pass\n\ndef time_thing():\n    pass\n", mod.__dict__)
    only(asvsuite.validate_module(mod), "tiem_thing")


def test_self_test_catches_an_unknown_conf_key():
    conf = asvsuite.load_conf(CONF)
    assert asvsuite.validate_conf(conf) == []
    bad = dict(conf, enviroment_type="virtualenv")
    assert "did you mean 'environment_type'" in only(asvsuite.validate_conf(bad), "'enviroment_type'")
    only(asvsuite.validate_conf(dict(conf, default_benchmark_timout=60)), "default_benchmark_timout")


def test_self_test_holds_the_conf_to_this_project_s_choices():
    conf = asvsuite.load_conf(CONF)
    only(asvsuite.validate_conf(dict(conf, launch_method="forkserver")), "launch_method")
    only(asvsuite.validate_conf(dict(conf, build_command=["python -m build --wheel -o {build_cache_dir} {build_dir}"])),
         "--no-deps")
    no_dup_guard = {k: v for k, v in conf.items() if k != "exclude"}
    only(asvsuite.validate_conf(no_dup_guard), "--python=same")


def test_self_test_catches_a_technique_with_no_benchmark(suite):
    classes = suite_classes(suite)
    dropped = classes[0]
    only(asvsuite.validate_coverage([c for c in classes if c is not dropped]),
         f"technique {dropped._technique!r} has no benchmark class")
    planted = _Doubling()
    planted.name = "planted_asv_new"
    regs = [get_technique(n) for n in techniques()]
    only(asvsuite.validate_coverage(classes, regs + [planted]), "'planted_asv_new' has no benchmark class")
    # ... which the generator fixes with no change to the suite
    extra = asvsuite.build_class(planted, "benchmarks.bench_techniques")
    assert asvsuite.validate_coverage(classes + [extra], regs + [planted]) == []


def test_self_test_catches_a_target_with_no_benchmark(suite):
    tech = get_technique("clamp")
    cls = asvsuite.build_class(tech, "benchmarks.bench_techniques")
    cls.params = [cls.params[0], [t for t in cls.params[1] if t != "cudasim"]]
    only(asvsuite.validate_coverage([cls], [tech]), "target 'cudasim' has no benchmark")


def test_self_test_cli(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "numbabench.asvsuite", "check", "--conf", str(CONF)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "asv suite: ok" in proc.stdout, proc.stdout + proc.stderr
    bad = tmp_path / "asv.conf.json"
    conf = json.loads(CONF.read_text())
    conf.update(benchmark_dir=str(ROOT / "benchmarks"), results_dri=".asv/results")
    bad.write_text(json.dumps(conf))
    proc = subprocess.run([sys.executable, "-m", "numbabench.asvsuite", "check", "--conf", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "results_dri" in proc.stdout


# -- the sidecar ---------------------------------------------------------------------------------
def test_env_name_is_asv_s_own(tmp_path):
    from asv.environment import get_env_name

    conf = asvsuite.load_conf(CONF)
    (tmp_path / "asv-env-info.json").write_text(json.dumps(
        {"tool_name": "virtualenv", "python": "3.11", "requirements": {"numba": "0.67.0"}}))
    got = asvsuite.asv_env_name(conf, environ={"NUMBA_ENABLE_CUDASIM": "1"}, prefix=tmp_path)
    assert got == get_env_name("virtualenv", "3.11", {"numba": "0.67.0"}, {("nobuild", "NUMBA_ENABLE_CUDASIM"): "1"})
    exe = "/opt/py/bin/python3"
    got = asvsuite.asv_env_name(conf, environ={"NUMBA_ENABLE_CUDASIM": "0"}, prefix=tmp_path / "none", executable=exe)
    assert got == get_env_name("existing", exe.replace(os.sep, "_"), {}, {("nobuild", "NUMBA_ENABLE_CUDASIM"): "0"})


# -- asv itself ----------------------------------------------------------------------------------
def _asv_env(home: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)  # asv keeps its machine list in ~/.asv-machine.json
    env["NUMBA_ENABLE_CUDASIM"] = "0"
    env.pop("PYTHONPATH", None)
    env.pop(asvsuite.SIZES_ENV, None)
    return env


def _asv(*args, cwd, env, timeout=300):
    return subprocess.run([str(BIN / "asv"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_asv_check_passes(tmp_path):
    proc = _asv("check", "--python=same", cwd=ROOT, env=_asv_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


def test_asv_quick_run_gives_a_number_for_every_selected_benchmark(tmp_path):
    conf = json.loads(CONF.read_text())
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp_path / "results"),
                html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"))
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    env, machine = _asv_env(tmp_path), "numbabench-test"
    proc = _asv("machine", "--yes", "--machine", machine, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    # every metric that applies, for clamp on cpu and on the simulator, at one size each
    # (each (benchmark, parameters) is a fresh process: the subset keeps this test short)
    cells = {("10000", "'cpu'"): "cpu", ("1000", "'cudasim'"): "cudasim"}
    wanted = {t: [m for m in asvsuite.METRICS if asvsuite.applies(m, t)] for t in cells.values()}
    bench = []
    for (size, quoted), target in cells.items():
        bench += ["--bench", rf"^bench_techniques\.clamp\.({'|'.join(wanted[target])})\({size}, {quoted}\)$"]
    proc = _asv("run", "--python=same", "--quick", "--set-commit-hash", commit, "--machine", machine,
                "--show-stderr", *bench, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]

    from asv.results import Results

    files = sorted((tmp_path / "results" / machine).glob(f"{commit[:8]}-*.json"))
    assert len(files) == 2, files  # --python=same runs the real and the simulator environment
    numbers = set()
    for path in files:
        sim = path.stem.endswith("NUMBA_ENABLE_CUDASIM1")
        res = Results.load(str(path))
        names = [k for k in res.get_all_result_keys() if k.startswith("bench_techniques.clamp.")]
        assert sorted(n.rsplit(".", 1)[1] for n in names) == sorted(set(wanted["cpu"]) | set(wanted["cudasim"]))
        for name in names:
            metric = name.rsplit(".", 1)[1]
            params = res.get_result_params(name)
            for combo, value in zip(itertools.product(*params), res.get_result_value(name, params)):
                target = cells.get(combo)
                if target is None or metric not in wanted[target]:
                    continue  # not selected
                assert value is not None, f"{path.name}: {name}{combo} failed:\n{res.stderr.get(name)}"
                if (target == "cudasim") == sim:  # this environment runs it: a number
                    assert isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, (name, combo, value)
                    numbers.add((metric, target))
                else:  # the other environment's target: n/a, not a failure
                    assert math.isnan(value), f"{name}{combo} in {path.name} should be n/a, got {value}"
    assert numbers == {(m, t) for t, ms in wanted.items() for m in ms}
    compile_s = Results.load(str(files[0])).get_result_value(
        "bench_techniques.clamp.track_compile_seconds", [["10000"], ["'cpu'"]])
    assert compile_s[0] > 0.01  # a fresh process compiled: the compile was measured, not hidden

    # the sidecar pairs with each results file and says what ran where
    for path in files:
        side = path.with_name(path.name[: -len(".json")] + asvsuite.SIDECAR_SUFFIX)
        rec = asvsuite.read_sidecar(side)
        assert rec["format"] == asvsuite.SIDECAR_FORMAT
        assert rec["asv"]["machine"] == machine and rec["asv"]["commit"] == commit
        assert rec["simulator"] == path.stem.endswith("NUMBA_ENABLE_CUDASIM1")
        assert set(rec["gpu"]) >= {"gpu", "compute_capability", "driver", "cuda_runtime"}
        assert rec["versions"]["numba"] and rec["versions"]["numba-cuda"]
        assert ("cpu_gbps" in rec["peaks"]) != rec["simulator"]


def test_bench_selection_picks_exactly_the_pairs_that_are_not_static_n_a(suite):
    regexes = asvsuite.bench_selection()
    assert not any(set(r) & set(" *?[") for r in regexes)  # safe unquoted in a shell
    for cls in suite_classes(suite):
        for metric in asvsuite.METRICS:
            skip = set(getattr(cls, metric).skip_params)
            for size, target in itertools.product(*cls.params):
                name = f"bench_techniques.{cls.__name__}.{metric}({size!r}, {target!r})"  # as asv names it
                assert any(re.search(r, name) for r in regexes) == ((size, target) not in skip), name
