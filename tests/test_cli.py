"""Bad input: one clear line, a non-zero exit, no traceback, nothing written."""
import json

import pytest

from helpers import cli

BAD = [
    (["--targets", "tpu"], "unknown target 'tpu'"),
    (["--techniques", "nope"], "unknown technique 'nope'"),
    (["--sizes", "0"], "at least 1"),
    (["--sizes", "-5"], "at least 1"),
    (["--sizes", "lots"], "'lots' is not a size"),
    (["--sizes", "1.5"], "whole number"),
    (["--sizes", "1000,,x"], "is not a size"),
    (["--dtype", "int8", "--techniques", "clamp"], "has no dtype 'int8'"),
    (["--min-time", "-1"], "must be positive"),
    (["--repeat", "0"], "at least 1"),
    (["--targets", ","], "comma-separated"),
    (["--seed", "-3"], "must be between 0"),
    (["--sizes", "1e11"], "at most 1e10"),
    (["--techniques", "clamp", "--sizes", "9e9"], "choose a smaller size"),
    (["--variants", "article,fast", "--techniques", "clamp"], "no chosen technique has a variant 'fast'"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_run_options(tmp_path, args, message):
    out = tmp_path / "res.json"
    p = cli("run", *args, "--out", out)
    assert p.returncode == 2
    assert message in p.stderr
    assert "Traceback" not in p.stderr
    assert len([ln for ln in p.stderr.splitlines() if "error" in ln]) == 1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cuda_without_gpu_is_one_line_naming_cudasim(tmp_path, gpu_probe):
    if gpu_probe.cuda:
        pytest.skip("this machine has a GPU: the no-GPU message cannot be seen here")
    out = tmp_path / "res.json"
    p = cli("run", "--targets", "cuda", "--out", out)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    (line,) = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert "target 'cuda' is not available here" in line and "cudasim" in line
    assert not out.exists()


def test_out_is_a_folder(tmp_path):
    p = cli("run", "--targets", "numpy", "--out", tmp_path)
    assert p.returncode == 2 and "is a folder" in p.stderr and "Traceback" not in p.stderr


def test_unknown_command_and_option():
    p = cli("frobnicate")
    assert p.returncode == 2 and "invalid choice" in p.stderr and "Traceback" not in p.stderr
    p = cli("run", "--colour", "red")
    assert p.returncode == 2 and "unrecognized arguments" in p.stderr


def test_quick_run_numpy_cpu_parallel_cudasim(tmp_path):
    """The sweep end to end on every CPU target and the simulator, as `make report` runs it."""
    out = tmp_path / "res.json"
    p = cli("run", "--techniques", "clamp", "--targets", "numpy,cpu,parallel,cudasim",
            "--min-time", "0.05", "--out", out)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    compute = [r for r in doc["rows"] if r["phase"] == "compute"]
    assert {r["target"] for r in compute} == {"numpy", "cpu", "parallel", "cudasim"}
    assert all(r["status"] == "ok" and r["correct"] for r in compute)
    sim = [r for r in doc["rows"] if r["target"] == "cudasim"]
    assert {r["phase"] for r in sim} == {"compile", "compute", "latency", "h2d", "d2h", "end_to_end"}
    assert all(r["speedup_vs_numpy"] is None and r["roofline_fraction"] is None for r in sim)
    cpu = [r for r in compute if r["target"] in ("cpu", "parallel")]
    assert all(r["speedup_vs_numpy"] > 0 and r["roofline_fraction"] > 0 for r in cpu)
    assert doc["peaks"]["cpu_gbps"] > 0
    assert "clamp" in p.stdout and "simulated" in p.stdout  # the table


def test_explicit_size_too_big_for_simulator_is_skipped_with_reason(tmp_path):
    out = tmp_path / "res.json"
    p = cli("run", "--techniques", "clamp", "--targets", "numpy,cudasim", "--sizes", "10000000",
            "--min-time", "0.01", "--no-peak", "--out", out)
    assert p.returncode == 0, p.stderr
    sims = [r for r in json.loads(out.read_text())["rows"] if r["target"] == "cudasim"]
    assert {r["variant"] for r in sims} == {"article", "tuned"}  # clamp's two GPU variants, both skipped
    assert all(r["status"] == "skipped" and "too large for the simulator" in r["error"] for r in sims)


def test_list_and_doctor():
    p = cli("list")
    assert p.returncode == 0 and "clamp" in p.stdout
    p = cli("doctor")
    assert p.returncode == 0, p.stderr
    for word in ("CPU", "Numba threading layer", "numba-cuda", "CUDA simulator", "CuPy", "cudasim"):
        assert word in p.stdout
    assert "works" in p.stdout  # the simulator runs here


@pytest.mark.gpu
def test_gpu_sweep_has_every_phase_and_a_gpu_peak(tmp_path):
    out = tmp_path / "res.json"
    p = cli("run", "--techniques", "clamp", "--targets", "numpy,cuda", "--sizes", "1000000",
            "--min-time", "0.05", "--out", out)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    gpu = [r for r in doc["rows"] if r["target"] == "cuda"]
    assert {r["phase"] for r in gpu} == {"compile", "compute", "latency", "h2d", "d2h", "end_to_end"}
    assert all(r["status"] == "ok" for r in gpu)
    assert doc["peaks"]["gpu_gbps"] > 0 and doc["machine"]["gpu"]
    (c,) = [r for r in gpu if r["phase"] == "compute" and r["variant"] == "article"]
    assert c["roofline_fraction"] > 0 and c["speedup_vs_numpy"] > 0


def test_a_variant_that_needs_a_missing_target_is_skipped_with_reason(tmp_path):
    from numbabench.runner import Options, plan

    avail = {"cupy": (False, "CuPy is not installed")}
    p = plan(Options(techniques=["fftmask"], sizes=[1000]), ["numpy", "cuda"], avail)
    from numbabench import get_technique

    # every cuda variant of fftmask needs CuPy: each is skipped with the reason
    assert {row["variant"] for row in p.skipped} == set(get_technique("fftmask").variants_for("cuda"))
    for row in p.skipped:
        assert row["target"] == "cuda" and row["status"] == "skipped"
        assert "needs target 'cupy'" in row["error"] and "CuPy is not installed" in row["error"]
    host = [(c.technique, c.pairs) for g, cells in p.cells.items() if g.startswith("host") for c in cells]
    assert host == [("fftmask", [("numpy", v) for v in get_technique("fftmask").variants_for("numpy")])]
