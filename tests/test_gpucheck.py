"""make gpu-check: the declared steps fit the device budget, and a run here (no GPU) completes."""
import json
import re
import subprocess
import sys

import pytest

from helpers import ROOT, env
from numbabench import gpucheck


def test_steps_are_declared_and_fit_eight_minutes():
    names = [s.name for s in gpucheck.STEPS]
    assert names == ["prerequisites", "doctor", "tests", "sweep", "ptx", "report", "sanitizer"]
    assert sum(s.timeout_s for s in gpucheck.STEPS) <= gpucheck.BUDGET_S == 8 * 60
    assert all(s.timeout_s > gpucheck.GRACE_S for s in gpucheck.STEPS)
    assert len(gpucheck.FILES) <= gpucheck.MAX_FILES == 8


def test_prerequisites_cover_what_the_steps_import():
    for m in ("numba", "numba_cuda", "cupy", "pandas", "matplotlib", "rich", "jinja2", "scipy",
              "cloudpickle", "pytest"):
        assert m in gpucheck.PREREQS


def test_gpu_tests_are_chosen_by_their_marker():
    files = {p.name for p in gpucheck.gpu_test_files()}
    assert {"test_clamp.py", "test_fftmask.py", "test_gaussian.py", "test_launch.py"} <= files
    assert "test_gpucheck.py" not in files and "test_asv.py" not in files


@pytest.mark.parametrize("text, verdict", [
    ("========= Invalid __global__ write of size 8 bytes\n=========     at scale_rows\n"
     "planted kernel ran\n========= ERROR SUMMARY: 12 errors\n", "ok"),
    ("planted kernel ran\n========= ERROR SUMMARY: 0 errors\n", "failed"),
    ("========= Error: Device not supported. Please refer to the documentation\n", "skipped"),
])
def test_sanitizer_verdicts(text, verdict):
    assert gpucheck.sanitizer_verdict(text)[0] == verdict


def test_a_step_past_its_timeout_is_interrupted_then_killed(tmp_path):
    log = tmp_path / "log.txt"
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('started', flush=True)\ntime.sleep(60)"
    t0 = __import__("time").monotonic()
    rc, late = gpucheck.run_logged([sys.executable, "-c", code], log, timeout_s=gpucheck.GRACE_S + 1)
    assert late and rc is not None and rc != 0
    assert __import__("time").monotonic() - t0 < gpucheck.GRACE_S + 10
    assert "started" in log.read_text()


def test_cuda_stack_names_numba_cuda_or_the_deprecated_builtin():
    def stack(prelude=""):
        p = subprocess.run([sys.executable, "-c", prelude + "import json; from numbabench.devices import cuda_stack; "
                            "print(json.dumps(cuda_stack()))"], env=env(), capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        return json.loads(p.stdout.strip().splitlines()[-1])

    real = stack()
    assert real["implementation"] == "numba-cuda" and "numba_cuda" in real["module"]
    assert re.fullmatch(r"\d+\.\d+", real["nvrtc"])
    # numba-cuda takes over through a meta-path finder installed by a .pth file: without it, numba's own
    broken = stack("import sys; sys.meta_path[:] = [f for f in sys.meta_path "
                   "if type(f).__name__ != 'NumbaCudaFinder']\n")
    assert broken["implementation"] == "built-in" and "numba_cuda" not in broken["module"]


@pytest.fixture(scope="module")
def check_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    p = subprocess.run(["make", "-s", "gpu-check", f"GPU_OUT={out}", f"GPU_PYTHON={sys.executable}"],
                       cwd=ROOT, env=env(), capture_output=True, text=True, timeout=gpucheck.BUDGET_S + 60)
    return p, out


def test_make_gpu_check_completes_here_and_says_why_it_skipped(check_run):
    from numba import cuda

    p, out = check_run
    doc = json.loads((out / "gpucheck.json").read_text())
    steps = {s["step"]: s for s in doc["steps"]}
    assert list(steps) == [s.name for s in gpucheck.STEPS]  # every step ran or said why not
    assert p.returncode == doc["tests_rc"], p.stdout[-3000:] + p.stderr[-3000:]
    files = sorted(f.name for f in out.iterdir())
    assert len(files) <= gpucheck.MAX_FILES and set(files) <= set(gpucheck.FILES), files
    assert {"summary.txt", "gpucheck.json", "doctor.txt", "tests.txt"} <= set(files)
    summary = (out / "summary.txt").read_text()
    assert "timeouts sum to" in summary and summary in p.stdout
    assert steps["doctor"]["status"] == "ok", steps["doctor"]
    assert "numba-cuda" in (out / "doctor.txt").read_text()
    assert re.search(r"\d+ (passed|skipped)", steps["tests"]["why"] or ""), steps["tests"]
    if not cuda.is_available():
        for name in ("sweep", "sanitizer"):
            assert steps[name]["status"] == "skipped" and steps[name]["why"].startswith("no GPU: "), steps[name]
        for name in ("ptx", "report"):
            assert steps[name]["status"] == "skipped" and "results.json" in steps[name]["why"], steps[name]
        assert doc["tests_rc"] == 0  # GPU tests skip here, with their reasons in tests.txt
        assert "SKIPPED" in (out / "tests.txt").read_text()


def test_every_technique_has_a_gpu_sweep_that_reaches_the_largest_sizes():
    import numbabench

    for name in numbabench.techniques():
        t = numbabench.get_technique(name)
        if not type(t).__module__.startswith("numbabench.article."):
            continue  # a test's planted technique (the runner falls back to quick for those)
        for target in t.targets:
            assert t.sizes_for(target, "gpu"), (name, target)  # `numbabench run --sizes gpu` works
    assert max(numbabench.get_technique("clamp").sizes_for("cuda", "gpu")) >= 100_000_000
    fm = numbabench.get_technique("fftmask")
    assert max(fm.sizes_for("cuda", "gpu")) == max(fm.sizes["full"])  # the largest frame
    sim = numbabench.get_technique("clamp")
    assert max(sim.sizes_for("cudasim", "gpu")) <= sim.simulator_max_size


def test_ptx_step_puts_registers_and_spills_into_the_results_for_the_report(tmp_path, monkeypatch):
    import shutil

    from numbabench import ptx

    real = ptx.ptx_summary
    monkeypatch.setattr(ptx, "ptx_summary", lambda timeout: real(["launch"], timeout=300))
    out = tmp_path / "gc"
    out.mkdir()
    sweep = tmp_path / "sweep.json"
    p = subprocess.run([sys.executable, "-m", "numbabench", "run", "--techniques", "clamp", "--targets", "numpy",
                        "--sizes", "1000", "--min-time", "0.01", "--no-peak", "--out", str(sweep)],
                       env=env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    shutil.copyfile(sweep, out / "results.json")
    o = gpucheck.Check(out).step_ptx(gpucheck.Step("ptx", 300, False, ""))
    assert o.status == "ok" and o.why == "8 kernels linked, 0 failed", o
    doc = json.loads((out / "results.json").read_text())
    assert doc["ptx"]["ok"] and {k["kernel"] for k in doc["ptx"]["kernels"]} == {
        "empty_kernel", "kernel_1", "kernel_4", "kernel_8"}
    page = tmp_path / "report"
    p = subprocess.run([sys.executable, "-m", "numbabench", "report", str(out / "results.json"), "--out", str(page)],
                       env=env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "launch.kernel_8" in (page / "index.html").read_text()  # the environment card shows it
