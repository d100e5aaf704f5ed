"""The asv suite (benchmarks/benchmarks/): what it benchmarks, what it refuses, and a real asv run.

The slow part is one ``asv run --python=same --quick`` of every technique at a few parameter sets,
kept in a temporary results folder with its own HOME (asv keeps its machine list in
~/.asv-machine.json).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, run_python
from numbabench import Technique, get_technique, techniques

asv = pytest.importorskip("asv", reason="asv is in the test extra: pip install -e '.[test]'")

CONF = ROOT / "asv.conf.json"
BIN = Path(sys.executable).parent
BENCH_DIR = ROOT / "benchmarks"  # the folder that holds the benchmark package
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchmarks import bench_techniques as suite  # noqa: E402
from benchmarks import common, prepared, sidecar  # noqa: E402


# -- what the suite benchmarks -------------------------------------------------------------------
def test_one_class_per_technique_and_only_parameter_sets_that_can_give_a_number():
    assert sorted(c.technique for c in suite.CLASSES.values()) == sorted(techniques())
    for cls in suite.CLASSES.values():
        tech = get_technique(cls.technique)
        for metric in common.METRICS:
            bench = getattr(cls, metric, None)
            if bench is None:  # only where no target of the technique is of a kind it measures
                assert not any(common.applies(metric, t) for t in common.benchmarked_targets(tech))
                continue
            sizes, targets = bench.params
            assert "cudasim" not in targets  # no simulator environment in asv
            assert all(common.applies(metric, common.split_impl(t)[0]) for t in targets), (cls.__name__, metric, targets)
            assert bench.skip_params == []  # nothing is n/a by construction
            if metric == "track_compile_seconds":
                assert sizes == [min(tech.sizes["quick"])]
            else:
                assert sizes == sorted(tech.sizes["quick"])
        assert {common.split_impl(v)[0] for v in cls.time_latency.params[1]} <= {"cuda", "cupy"}
        assert {common.split_impl(v)[0] for v in cls.time_compute.params[1]} == set(tech.targets) - {"cudasim"}
        assert len(cls.time_compute.params[1]) == sum(len(tech.variants_for(t)) for t in tech.targets if t != "cudasim")
        assert cls.track_gbps.unit == "GB/s" and cls.track_compile_seconds.unit == "seconds"
        assert cls.time_compute.timer is common.CLOCK


def test_a_variant_other_than_the_article_s_is_a_target_variant_value():
    class Two(_Doubling):
        name = "planted_asv_two"
        variants = {"cpu": ("article", "tuned")}

    cls = suite.build_class(Two())
    assert cls.time_compute.param_names == ["size", "target"]
    assert cls.time_compute.params[1] == ["numpy", "cpu", "cpu:tuned"]  # the article's way: the bare target
    assert not hasattr(cls, "time_latency")  # no GPU target: no GPU metric at all
    assert suite.build_class(_Doubling()).time_compute.params[1] == ["numpy", "cpu"]
    assert common.split_impl("cpu:tuned") == ("cpu", "tuned") and common.split_impl("cpu") == ("cpu", "article")


def test_full_sizes_behind_an_env_var(monkeypatch):
    tech = get_technique("clamp")
    assert set(common.suite_sizes(tech, "full")["cpu"]) == set(tech.sizes["quick"]) | set(tech.sizes["full"])
    monkeypatch.setenv(common.SIZES_ENV, "huge")
    with pytest.raises(ValueError, match="quick or full"):
        common.suite_sizes(tech)


# -- what it refuses -----------------------------------------------------------------------------
PLANTED_MODULE = '''
import numpy as np
from numbabench import Technique, register

@register
class NoSizes(Technique):
    name, title = "planted_asv_nosizes", "a technique asv has no size for"
    targets = ("numpy", "cpu")
    sizes = {"quick": (), "full": (100,)}
    simulator_sizes = sizes
    def make_inputs(self, size, seed=0, dtype=None):
        return {"x": np.arange(size, dtype="float64")}
    def reference(self, inputs):
        return inputs["x"] * 2
    def implementation(self, target):
        return lambda a: a["x"] * 2
    def bytes_moved(self, size, dtype=None):
        return 16 * size
    def flops(self, size, dtype=None):
        return size
'''


def test_a_registered_technique_without_a_benchmark_fails_at_import(tmp_path):
    (tmp_path / "planted_asv.py").write_text(PLANTED_MODULE)
    code = f"""
        import json, sys
        sys.path[:0] = [{str(tmp_path)!r}, {str(BENCH_DIR)!r}]
        try:
            import benchmarks.bench_techniques
            print(json.dumps({{"error": None}}))
        except AssertionError as exc:
            print(json.dumps({{"error": str(exc)}}))
    """
    out = run_python(code, techniques="planted_asv")
    assert out["error"] and "planted_asv_nosizes" in out["error"] and "'cpu'" in out["error"], out


def test_coverage_names_a_dropped_technique_and_a_dropped_target():
    techs = [get_technique(n) for n in techniques()]
    classes = list(suite.CLASSES.values())
    missing = common.missing_benchmarks(classes[1:], techs)
    assert missing == [f"technique {classes[0].technique!r} has no benchmark class"]
    clamp = suite.build_class(get_technique("clamp"))
    clamp.time_compute = None  # the benchmark of every target, gone
    assert any("'cpu' has no clamp.time_compute" in m for m in common.missing_benchmarks([clamp], [get_technique("clamp")]))


class _Doubling(Technique):
    name = "planted_asv_doubling"
    title = "planted: doubles x"
    targets = ("numpy", "cpu", "cudasim")
    sizes = {"quick": (64, 128), "full": (64,)}
    simulator_sizes = {"quick": (32,), "full": (32,)}

    def make_inputs(self, size, seed=0, dtype=None):
        return {"x": np.arange(size, dtype="float64")}

    def reference(self, inputs):
        return inputs["x"] * 2

    def bytes_moved(self, size, dtype=None):
        return 16 * size

    def flops(self, size, dtype=None):
        return size

    def implementation(self, target, variant="article"):
        return lambda a: a["x"] * 2


class _Wrong(_Doubling):
    name = "planted_asv_wrong"

    def implementation(self, target, variant="article"):
        return (lambda a: a["x"] * 2) if target == "numpy" else (lambda a: a["x"] + 1)


def test_a_wrong_result_fails_its_benchmarks_and_a_right_one_gives_numbers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # asv's setup_cache folder, where figures are left
    cache = {"peaks": {"cpu_gbps": 10.0}, "gpu": False, "mismatch": {}}
    cls = suite.build_class(_Wrong())
    cls.time_compute.setup(cache, 64, "numpy")
    bench = cls()
    bench.time_compute(cache, 64, "numpy")
    assert common.CLOCK.calls >= 1
    cls.track_gbps.setup(cache, 64, "numpy")
    assert bench.track_gbps(cache, 64, "numpy") > 0
    assert 0 < bench.track_roofline_fraction(cache, 64, "numpy")
    for metric in ("time_compute", "track_gbps", "track_compile_seconds"):
        with pytest.raises(common.WrongResult, match="planted_asv_wrong cpu:article .* differs from the NumPy reference"):
            getattr(cls, metric).setup(cache, 64, "cpu")


def test_gpu_targets_are_n_a_without_a_gpu():
    cls = suite.CLASSES["clamp"]
    with pytest.raises(NotImplementedError, match="needs a GPU: no driver here"):
        cls.time_compute.setup({"gpu": False, "gpu_reason": "no driver here"}, 10000, "cuda")


def test_when_asv_runs_an_older_commit_it_uses_the_grid_asv_discovered(tmp_path):
    # asv files results by parameter index in the grid it discovered from the newest commit: a
    # commit with other variants, sizes or techniques must use that grid, n/a where it cannot run
    (tmp_path / "asv.conf.json").write_text(json.dumps({"results_dir": "results"}))
    (tmp_path / "results").mkdir()
    grid = {"bench_techniques.clamp.time_compute": {"params": [["10000", "123"], ["'cpu'", "'cpu:nosuch'"]],
                                                    "param_names": ["size", "target"]},
            "bench_techniques.newer_technique.time_compute": {"params": [["1"], ["'cpu'"]],
                                                              "param_names": ["size", "target"]}}
    (tmp_path / "results" / "benchmarks.json").write_text(json.dumps(grid))
    out = run_python(f"""
        import json, os, sys
        sys.argv = ["/asv/benchmark.py", "run_server"]  # as asv's forkserver imports the suite
        sys.path.insert(0, {str(BENCH_DIR)!r})
        os.chdir({str(tmp_path)!r})
        import benchmarks.bench_techniques as b
        clamp = b.CLASSES["clamp"]
        res = {{"params": clamp.time_compute.params, "names": clamp.time_compute.param_names,
                "has_gbps": hasattr(clamp, "track_gbps"), "classes": sorted(b.CLASSES)}}
        cache = {{"gpu": False}}
        for impl in ("cpu:nosuch",):
            try:
                clamp.time_compute.setup(cache, 10000, impl)
            except NotImplementedError as exc:
                res[impl] = str(exc)
        try:
            b.CLASSES["newer_technique"].time_compute.setup(cache, 1, "cpu")
        except NotImplementedError as exc:
            res["newer"] = str(exc)
        clamp.time_compute.setup(cache, 123, "cpu")  # a size this registry does not list
        res["ran"] = b.CLOCK.calls
        print(json.dumps(res))
    """, ASV_CONF_DIR=str(tmp_path))
    assert out["params"] == [[10000, 123], ["cpu", "cpu:nosuch"]] and out["names"] == ["size", "target"]
    assert out["has_gbps"] is False  # not discovered: not there
    assert "no variant 'nosuch'" in out["cpu:nosuch"] and "no technique 'newer_technique'" in out["newer"]
    assert out["ran"] >= 1 and "newer_technique" in out["classes"]


def test_a_renamed_technique_keeps_its_benchmark_names():
    assert common.class_name("frame") == "dataframe" == common.class_name("dataframe")
    assert all(getattr(cls, m).version == common.VERSION for cls in suite.CLASSES.values()
               for m in common.METRICS if hasattr(cls, m))


def test_nothing_before_the_fork_starts_a_thread_the_threading_layer_or_a_cuda_context():
    out = run_python(f"""
        import json, os, sys, threading
        import numba.cuda.cudadrv.devices as devices
        import numba.cuda.cudadrv.driver as driver
        calls = []
        real_ctx, real_init = devices._Runtime.get_or_create_context, driver.Driver.ensure_initialized
        devices._Runtime.get_or_create_context = lambda *a, **k: calls.append("context") or real_ctx(*a, **k)
        driver.Driver.ensure_initialized = lambda *a, **k: calls.append("cuInit") or real_init(*a, **k)
        sys.path.insert(0, {str(BENCH_DIR)!r})
        import benchmarks.bench_techniques as b
        from numba.np.ufunc import parallel
        native = sorted(open(f"/proc/self/task/{{t}}/comm").read().strip() for t in os.listdir("/proc/self/task"))
        print(json.dumps({{"calls": calls, "cupy": "cupy" in sys.modules, "python_threads": threading.active_count(),
                           "layer": bool(parallel._is_initialized), "native": native}}))
    """)
    assert out["calls"] == [] and out["cupy"] is False
    assert out["python_threads"] == 1 and out["layer"] is False, out
    # what is there: OpenBLAS's pool (numpy, scipy) and pyarrow's jemalloc thread, both fork-safe
    assert len(out["native"]) <= 4, out["native"]


def test_no_numba_cache_anywhere():
    # a warm on-disk cache would make track_compile_seconds measure a cache load, not a compile
    hits = [f"{p.relative_to(ROOT)}" for d in ("numbabench", "benchmarks") for p in (ROOT / d).rglob("*.py")
            if re.search(r"cache\s*=\s*True", p.read_text())]
    assert hits == []


# -- the sidecar ---------------------------------------------------------------------------------
def test_env_name_is_asv_s_own(tmp_path):
    from asv.environment import get_env_name

    conf = sidecar.load_conf(CONF)
    (tmp_path / "asv-env-info.json").write_text(json.dumps(
        {"tool_name": "virtualenv", "python": "3.11", "requirements": {"numba": "0.67.0"}}))
    got = sidecar.asv_env_name(conf, environ={"NUMBA_ENABLE_CUDASIM": "0"}, prefix=tmp_path)
    assert got == get_env_name("virtualenv", "3.11", {"numba": "0.67.0"}, {("nobuild", "NUMBA_ENABLE_CUDASIM"): "0"})
    exe = "/opt/py/bin/python3"
    got = sidecar.asv_env_name(conf, environ={"NUMBA_ENABLE_CUDASIM": "0"}, prefix=tmp_path / "none", executable=exe)
    assert got == get_env_name("existing", exe.replace(os.sep, "_"), {}, {("nobuild", "NUMBA_ENABLE_CUDASIM"): "0"})


def test_conf_runs_one_environment_per_numba_version_and_same_runs_once():
    from asv import environment
    from asv.config import Config

    conf = sidecar.load_conf(CONF)
    assert conf["launch_method"] == "forkserver" and conf["benchmark_dir"] == "benchmarks/benchmarks"
    assert conf["matrix"]["env_nobuild"] == {"NUMBA_ENABLE_CUDASIM": ["0"]}  # no simulator environment
    assert len(conf["matrix"]["req"]["numba"]) >= 3
    cfg = Config.from_json(dict(conf, repo=str(ROOT)))
    built = [e.name for e in environment.get_environments(cfg, None, verbose=False)]
    assert len(built) == len(set(built)) == len(conf["matrix"]["req"]["numba"])
    same = [e.name for e in environment.get_environments(cfg, [":same"], verbose=False)]
    assert len(same) == 1, same  # --python=same runs this interpreter once, not once per version


# -- asv itself ----------------------------------------------------------------------------------
def _asv_env(home: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)  # asv keeps its machine list in ~/.asv-machine.json
    env["NUMBA_ENABLE_CUDASIM"] = "0"
    env.pop("PYTHONPATH", None)
    env.pop(common.SIZES_ENV, None)
    return env


def _asv(*args, cwd, env, timeout=600):
    return subprocess.run([str(BIN / "asv"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_asv_check_passes(tmp_path):
    proc = _asv("check", "--python=same", cwd=ROOT, env=_asv_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


def test_asv_quick_run_of_every_technique_gives_numbers_and_a_sidecar(tmp_path):
    conf = json.loads(CONF.read_text())
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / conf["benchmark_dir"]), results_dir=str(tmp_path / "results"),
                html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"))
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    env, machine = _asv_env(tmp_path), "numbabench-test"
    proc = _asv("machine", "--yes", "--machine", machine, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    # every technique: its compute time on numpy and cpu at the smallest size, and the figures
    # (compile, GB/s) its time_compute process left for the track_* benchmarks
    metrics = ("time_compute", "track_compile_seconds", "track_gbps")
    wanted = {(n, m, t) for n in techniques() for m in metrics for t in ("numpy", "cpu")
              if t in get_technique(n).targets}  # a GPU-only technique (launch) is n/a here
    small = {n: min(get_technique(n).sizes["quick"]) for n in techniques()}
    bench = []
    for n in techniques():
        bench += ["--bench", rf"^bench_techniques\.{n}\.({'|'.join(metrics)})\({small[n]}, '(numpy|cpu)'\)$"]
    t0 = time.perf_counter()
    proc = _asv("run", "--python=same", "--quick", "--set-commit-hash", commit, "--machine", machine,
                "--show-stderr", *bench, cwd=tmp_path, env=env)
    took = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]

    from asv.results import Results

    files = sorted((tmp_path / "results" / machine).glob(f"{commit[:8]}-*.json"))
    assert len(files) == 1, files  # one environment: no simulator run
    res = Results.load(str(files[0]))
    got = {}
    for name in res.get_all_result_keys():
        _, technique, metric = name.split(".")
        params = res.get_result_params(name)
        for (size, target), value in zip(itertools.product(*params), res.get_result_value(name, params)):
            if (technique, metric, target.strip("'")) in wanted and int(size) == small[technique]:
                got[(technique, metric, target.strip("'"))] = value
    assert set(got) == wanted, sorted(wanted - set(got))
    for key, value in got.items():
        assert value is not None, f"{key} failed:\n{res.stderr.get('bench_techniques.' + key[0] + '.' + key[1])}"
        assert isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, (key, value)
    assert got[("clamp", "track_compile_seconds", "cpu")] > 0.01  # a fresh process compiled: measured
    assert got[("clamp", "time_compute", "cpu")] < 1.0  # a steady call, not a compile
    print(f"asv quick run of {len(wanted)} parameter sets: {took:.0f} s")

    side = files[0].with_name(files[0].name[: -len(".json")] + sidecar.SIDECAR_SUFFIX)
    rec = sidecar.read(side)
    assert rec["format"] == sidecar.SIDECAR_FORMAT and rec["simulator"] is False
    assert rec["asv"]["machine"] == machine and rec["asv"]["commit"] == commit
    assert set(rec["gpu"]) >= {"gpu", "compute_capability", "driver", "nvrtc"}
    assert rec["versions"]["numba"] and rec["versions"]["numba-cuda"] and "cpu_gbps" in rec["peaks"]
