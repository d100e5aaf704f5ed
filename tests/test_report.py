"""`numbabench report`: results files and asv results folders in, one self-contained HTML page out.

The inputs are made here: one real tiny sweep by the real CLI, crafted run rows (a GPU machine with a
CPU/GPU crossover, a wrong result, a failed cell, a missing target, an unknown column and phase), and
asv results folders written in asv 0.6's own format (checked by loading them with asv itself), plus
one made by a real `asv run --python=same`.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT, cli

NAN = float("nan")


# -- crafted inputs -----------------------------------------------------------------------------
def run_doc(rows, machine="gpubox", targets=None, peaks=None, gpu="NVIDIA H100 80GB HBM3", **extra):
    doc = {
        "format": "numbabench-results", "version": 1,
        "machine": {"name": machine, "cpu": "Fake EPYC 9000", "cores": {"logical": 16, "usable": 16},
                    "os": "Linux 6.1", "gpu": gpu, "compute_capability": "9.0" if gpu else None,
                    "gpu_memory_gib": 79.1 if gpu else None, "driver": "13.0" if gpu else None,
                    "cuda_runtime": "13.0" if gpu else None, "threading_layer": "omp (16 threads)"},
        "versions": {"python": "3.11.7", "numpy": "2.3.0", "numba": "0.68.1", "numba-cuda": "0.30.4",
                     "pandas": "2.3.0", "cupy": None, "numbabench": "0.1.0"},
        "commit": "0123456789abcdef0123456789abcdef01234567", "created": "2026-01-02T10:00:00+00:00",
        "finished": "2026-01-02T10:05:00+00:00", "interrupted": False, "load_average": [0.3, 0.2, 0.1],
        "options": {"targets": ["numpy", "cpu", "parallel", "cuda", "cudasim"]},
        "peaks": peaks if peaks is not None else {"cpu_gbps": 100.0, "gpu_gbps": 3000.0},
        "targets": targets if targets is not None else {
            "numpy": {"available": True, "reason": None}, "cpu": {"available": True, "reason": None},
            "parallel": {"available": True, "reason": None}, "cuda": {"available": True, "reason": None},
            "cudasim": {"available": True, "reason": None},
            "cupy": {"available": False, "reason": "CuPy is not installed (pip install 'numbabench[gpu]')"}},
        "rows": rows,
    }
    doc.update(extra)
    return doc


def row(technique, target, size, phase="compute", median=None, status="ok", **kw):
    r = {"technique": technique, "target": target, "size": size, "dtype": "float32", "phase": phase,
         "median_s": median, "spread_s": None if median is None else median * 0.02, "repeats": 10,
         "gbps": None, "roofline_fraction": None, "speedup_vs_numpy": None,
         "correct": True if status == "ok" else (False if status == "wrong" else None),
         "max_abs_err": 0.0, "status": status, "error": None,
         "simulated": target == "cudasim"}
    r.update(kw)
    return r


CLAMP_SIZES = (10_000, 1_000_000, 100_000_000)


def clamp_gpu_rows():
    """A GPU machine where cuda end to end first beats the best CPU target at 1,000,000."""
    rows = []
    for n in CLAMP_SIZES:
        nb = 8 * n
        t = {"numpy": 1e-9 * n + 2e-6, "cpu": 0.8e-9 * n + 1e-6, "parallel": 0.2e-9 * n + 10e-6,
             "cuda": 0.002e-9 * n + 5e-6}
        for target, s in t.items():
            rows.append(row("clamp", target, n, median=s, gbps=nb / s / 1e9))
        h = 0.08e-9 * n + 10e-6
        rows.append(row("clamp", "cuda", n, "h2d", h))
        rows.append(row("clamp", "cuda", n, "d2h", h))
        rows.append(row("clamp", "cuda", n, "end_to_end", t["cuda"] + 2 * h))
    for target, c in (("numpy", 1e-6), ("cpu", 0.2), ("parallel", 0.3), ("cuda", 0.5)):
        rows.append(row("clamp", target, CLAMP_SIZES[0], "compile", c))
    # the simulator, claiming a speedup it must never be given
    rows.append(row("clamp", "cudasim", 1000, median=0.1, speedup_vs_numpy=99.0))
    rows.append(row("clamp", "cudasim", 1000, "end_to_end", 0.2))
    return rows


def widget_rows():
    """A technique the registry does not know, with a wrong result (claiming 50x), a failed cell,
    an unknown column and a phase of its own."""
    return [
        row("widget", "numpy", 1000, median=1e-3, flux_capacitor=1.21),
        row("widget", "cpu", 1000, median=2e-5, status="wrong", speedup_vs_numpy=50.0, max_abs_err=0.5,
            error="result differs from the NumPy reference (max abs error 0.5)"),
        row("widget", "parallel", 1000, median=None, status="failed", error="worker died (exit status -11)"),
        row("widget", "numpy", 1000, "pickle_bytes", None, value=4096, unit="bytes"),
    ]


def write_run(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


ASV_COLUMNS = ["result", "params", "version", "started_at", "duration", "stats_ci_99_a", "stats_ci_99_b",
               "stats_q_25", "stats_q_75", "stats_number", "stats_repeat", "samples", "profile"]
ASV_TARGETS = ["numpy", "cpu", "parallel", "cuda", "cudasim"]
ASV_SIZES = [1000, 1000000]


def asv_params():
    return [[repr(s) for s in ASV_SIZES], [repr(t) for t in ASV_TARGETS]]


def write_asv(root: Path, machine="asvbox", runs=None) -> Path:
    """An asv results folder, written the way asv 0.6 writes one (api versions 1 and 2)."""
    bench = {}
    for method, unit, kind in (("time_compute", "seconds", "time"), ("time_end_to_end", "seconds", "time"),
                               ("track_compile_seconds", "seconds", "track"), ("track_gbps", "GB/s", "track"),
                               ("peakmem_compute", "bytes", "peakmemory")):
        name = f"bench_techniques.clamp.{method}"  # as benchmarks/bench_techniques.py names them
        bench[name] = {"name": name, "param_names": ["size", "target"], "params": asv_params(),
                       "type": kind, "unit": unit, "version": "0" * 64}
    bench["version"] = 2
    root.mkdir(parents=True, exist_ok=True)
    (root / "benchmarks.json").write_text(json.dumps(bench))
    mdir = root / machine
    mdir.mkdir(exist_ok=True)
    (mdir / "machine.json").write_text(json.dumps({
        "arch": "x86_64", "cpu": "Fake Xeon", "machine": machine, "num_cpu": "8", "os": "Linux 6.1",
        "ram": "65536000", "version": 1}))
    runs = runs if runs is not None else default_asv_runs()
    for r in runs:
        results = {}
        for method, values in r["values"].items():
            n = len(values)
            stats = [None if v is None or v != v else v for v in values]
            results[f"bench_techniques.clamp.{method}"] = [
                values, asv_params(), "0" * 64, r["date"] + 1000, 1.5,
                [v and v * 0.9 for v in stats], [v and v * 1.1 for v in stats],
                [v and v * 0.95 for v in stats], [v and v * 1.05 for v in stats], [1] * n, [10] * n]
        params = {"arch": "x86_64", "cpu": "Fake Xeon", "machine": machine, "num_cpu": "8", "os": "Linux 6.1",
                  "ram": "65536000", "python": "3.11"}
        params.update(r.get("params", {}))
        data = {"commit_hash": r["commit"], "env_name": r["env"], "date": r["date"], "params": params,
                "python": "3.11", "requirements": r.get("requirements", {}), "env_vars": r.get("env_vars", {}),
                "result_columns": ASV_COLUMNS, "results": results, "durations": {}, "version": 2}
        (mdir / f"{r['commit'][:8]}-{r['env']}.json").write_text(json.dumps(data))  # NaN stays NaN
        if "note" in r:  # numbabench's GPU/versions note beside the results (numbabench/asvsuite.py)
            (mdir / f"{r['commit'][:8]}-{r['env']}.numbabench.jsonl").write_text(
                json.dumps({"format": "numbabench-asv-env", "gpu": {"gpu": None}, "peaks": {"cpu_gbps": 1.0}})
                + "\n" + json.dumps(r["note"]) + "\n")
    return root


def _grid(fn):
    """Values in asv's order: the product of the params, first parameter slowest."""
    return [fn(s, t) for s in ASV_SIZES for t in ASV_TARGETS]


def default_asv_runs():
    def compute(scale, fail=None):
        def f(s, t):
            if t in ("cuda", "cudasim"):
                return NAN  # n/a: setup raised NotImplementedError
            if (s, t) == fail:
                return None  # the benchmark failed
            return {"numpy": 1.0, "cpu": 0.8, "parallel": 0.3}[t] * 1e-9 * s * scale + 1e-6
        return _grid(f)

    track = _grid(lambda s, t: NAN if t in ("cuda", "cudasim") else 0.25)
    gbps = _grid(lambda s, t: NAN if t in ("cuda", "cudasim") else 12.5)
    mem = _grid(lambda s, t: NAN if t in ("cuda", "cudasim") else 1.5e8)
    sim = _grid(lambda s, t: 0.05 if (t == "cudasim" and s == 1000) else (1e-6 if t == "numpy" else NAN))
    c1, c2 = "a" * 40, "b" * 40
    e67, e68 = "virtualenv-py3.11-numba0.67.1", "virtualenv-py3.11-numba0.68.1"
    d1, d2 = 1767225600000, 1767312000000
    return [
        {"commit": c1, "env": e68, "date": d1, "params": {"numba": "0.68.1"},
         "values": {"time_compute": compute(1.2), "track_compile_seconds": track, "track_gbps": gbps}},
        {"commit": c2, "env": e68, "date": d2, "params": {"numba": "0.68.1"},
         "values": {"time_compute": compute(1.0, fail=(1000000, "parallel")), "track_compile_seconds": track,
                    "track_gbps": gbps, "peakmem_compute": mem},
         "note": {"format": "numbabench-asv-env", "version": 1, "simulator": False,
                  "gpu": {"gpu": "NVIDIA A100-SXM4-40GB", "compute_capability": "8.0", "gpu_memory_gib": 39.4,
                          "driver": "12.4", "cuda_runtime": "12.4"},
                  "machine": {"name": "asvbox", "cpu": "Fake Xeon Gold", "cores": {"logical": 8, "usable": 6}},
                  "versions": {"python": "3.11.9", "numba": "0.68.1", "numba-cuda": "0.30.4"},
                  "peaks": {"cpu_gbps": 80.0, "gpu_gbps": 1400.0}}},
        {"commit": c2, "env": e67, "date": d2,  # the version only in the environment's name
         "values": {"time_compute": compute(1.5), "track_compile_seconds": track}},
        {"commit": c2, "env": e68 + "-NUMBA_ENABLE_CUDASIM1", "date": d2, "params": {"numba": "0.68.1"},
         "env_vars": {"NUMBA_ENABLE_CUDASIM": "1"}, "values": {"time_compute": sim}},
    ]


def sample_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A crafted GPU results file and an asv folder: every section of the page has something."""
    run = write_run(tmp_path / "in" / "gpubox.json",
                    run_doc(clamp_gpu_rows() + widget_rows() + gaussian_variant_rows(), ptx=PTX))
    asv = write_asv(tmp_path / "in" / "asv")
    return run, asv


def images_of(html: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]+)"', html)


def assert_self_contained(html: str):
    for src in images_of(html):
        assert src.startswith("data:image/png;base64,"), src[:60]
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//', html), "network reference"
    assert "<script" not in html


# -- the tests ------------------------------------------------------------------------------------
def test_report_from_a_real_tiny_sweep(tmp_path):
    res = tmp_path / "r.json"
    p = cli("run", "--techniques", "clamp", "--targets", "numpy,cpu,cudasim", "--sizes", "1000",
            "--min-time", "0.01", "--out", res, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = tmp_path / "rep"
    p = cli("report", res, "--out", out, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    page = out / "index.html"
    assert p.stdout.strip().splitlines()[-1] == f"report: {page}"
    html = page.read_text()
    assert_self_contained(html)
    assert "for clamp at size 1,000" in html
    assert "functional only" in html  # cudasim ran: correct, never a speedup
    doc = json.loads(res.read_text())
    assert doc["targets"]["cuda"]["reason"].split(";")[0] in html  # the target that did not run says why
    for name in ("speedup", "time_vs_size", "compile"):
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.svg").is_file()
    assert len(images_of(html)) >= 3


def test_crafted_gpu_run_crossover_break_even_wrong_and_simulator(tmp_path):
    from numbabench.report import analysis, build, figures, tidy

    run = write_run(tmp_path / "gpubox.json", run_doc(clamp_gpu_rows() + widget_rows()))
    coll = tidy.load([run])
    summaries = {s.name: s for s in analysis.summarize(coll, "gpubox")}
    clamp = summaries["clamp"]
    assert clamp.size == CLAMP_SIZES[-1]
    slots = {c.target: c for c in clamp.slots}
    assert clamp.best.target == "cuda" and clamp.best_cpu.target == "parallel"
    assert [(c.target, c.size) for c in clamp.crossovers] == [("cuda", 1_000_000)]
    # break-even of cuda against the best CPU target: (compile + h2d + d2h - parallel's compile) / saving
    c, p = slots["cuda"], slots["parallel"]
    want = math.ceil((0.5 + c.h2d_s + c.d2h_s - 0.3) / (p.compute_s - c.compute_s))
    be = {(b.target, b.reference): b for b in clamp.break_even}
    assert be[("cuda", "parallel")].calls == want
    assert be[("cpu", "parallel")].calls is None and be[("cpu", "parallel")].text.startswith("never")
    assert be[("parallel", "numpy")].calls >= 1
    # the simulator: functional only, whatever the file claims
    assert slots["cudasim"].speedup is None and slots["cudasim"].status == "ok"
    assert slots["cupy"].status == "not run" and "CuPy is not installed" in slots["cupy"].why
    # a wrong result: flagged, never a speedup, never a bar
    widget = {c.target: c for c in summaries["widget"].slots}
    assert widget["cpu"].status == "wrong" and widget["cpu"].speedup is None
    assert widget["parallel"].status == "failed" and "exit status -11" in widget["parallel"].why
    fig = figures.speedup_bars(list(summaries.values()))
    heights = [round(b.get_height(), 6) for b in fig.fig.axes[0].patches]
    assert 50.0 not in heights and all(h > 0 for h in heights)
    assert any(t.get_text() == "wrong" and t.get_color() == figures.WRONG for t in fig.fig.axes[0].texts)
    texts = [t.get_text() for t in fig.fig.axes[0].texts]
    assert not any("99" in t for t in texts)  # the simulator's claimed speedup is not drawn

    page = build([run], out=tmp_path / "rep")
    html = page.read_text()
    assert_self_contained(html)
    assert "the best target is cuda" in html and "crossover" in html
    assert 'class="wrong' in html and "✗ wrong" in html and "never counted as a speedup" in html
    assert "exit status -11" in html and "CuPy is not installed" in html
    assert "pickle_bytes" in html  # a phase of its own is shown, not dropped
    assert "NVIDIA H100" in html and "9.0" in html and "omp (16 threads)" in html  # the environment card
    assert "busier than" not in html
    assert (tmp_path / "rep" / "roofline.png").is_file()


def test_hand_written_asv_folder_is_asv_format(tmp_path):
    """The fixture is what asv itself reads, so the loader is tested against the real format."""
    asv_results = pytest.importorskip("asv.results")
    root = write_asv(tmp_path / "results")
    files = [p for p in (root / "asvbox").glob("*.json") if p.name != "machine.json"]
    assert len(files) == 4
    for p in files:
        r = asv_results.Results.load(str(p), machine_name="asvbox")
        assert r.get_result_keys({k: {"version": "0" * 64} for k in r.get_all_result_keys()})


def test_asv_loader_parses_params_and_tells_failed_from_skipped(tmp_path):
    from numbabench.report import asv_results, tidy

    assert asv_results.parse_param("'cuda'") == "cuda"
    assert asv_results.parse_param("1000000") == 1_000_000
    assert asv_results.parse_param("<class 'numpy.float32'>") == "numpy.float32"
    assert asv_results.parse_param("np.float32") == "np.float32"
    assert asv_results.split_name("bench_clamp.ClampSuite.time_compute") == ("clamp", "time_compute")
    assert asv_results.split_name("bench_techniques.clamp.track_gbps") == ("clamp", "track_gbps")
    assert asv_results.split_name("suites.GaussianSuite.time_h2d") == ("gaussian", "time_h2d")

    coll = tidy.load(asv=[write_asv(tmp_path / "results")])
    df = coll.table
    b = "b" * 40
    at = df[(df.commit == b) & (df.numba == "0.68.1") & ~df.asv_env.str.contains("CUDASIM", na=False)]
    comp = at[at.phase == "compute"].set_index(["size", "target"])
    assert comp.loc[(1_000_000, "parallel"), "status"] == "failed"  # null
    assert comp.loc[(1_000_000, "cuda"), "status"] == "skipped"  # NaN: n/a
    assert "NotImplementedError" in comp.loc[(1_000_000, "cuda"), "error"]
    assert comp.loc[(1_000_000, "cpu"), "status"] == "ok"
    assert comp.loc[(1_000_000, "cpu"), "gbps"] == 12.5  # track_gbps is a column of the compute row
    assert comp.loc[(1_000_000, "cpu"), "speedup_vs_numpy"] == pytest.approx(1.0e-3 / (0.8e-3 + 1e-6), rel=1e-3)
    assert set(at.phase) == {"compute", "compile", "peakmem_compute"}  # an unknown metric is its own phase
    mem = at[at.phase == "peakmem_compute"].iloc[0]
    assert mem.value == 1.5e8 and mem.unit == "bytes"
    assert set(df.numba.dropna()) == {"0.67.1", "0.68.1"}  # from params, and from the env name
    sim = df[df.asv_env.str.endswith("NUMBA_ENABLE_CUDASIM1", na=False) & (df.status == "ok")]
    assert set(sim.target) == {"numpy", "cudasim"} and sim[sim.target == "cudasim"].simulated.all()
    assert sim[sim.target == "cudasim"].speedup_vs_numpy.isna().all()
    # numbabench's note beside the results says what asv's machine.json cannot: the GPU
    noted = next(s for s in coll.sources if s.commit == b and s.env == "virtualenv-py3.11-numba0.68.1")
    assert noted.info["gpu"] == "NVIDIA A100-SXM4-40GB" and noted.info["driver"] == "12.4"
    assert noted.info["cpu"] == "Fake Xeon Gold" and noted.peaks["gpu_gbps"] == 1400.0
    bare = next(s for s in coll.sources if s.commit == "a" * 40)
    assert bare.info["gpu"] is None and not bare.info["has_note"]


def test_report_from_an_asv_folder_alone(tmp_path):
    from numbabench.report import build

    out = tmp_path / "rep"
    page = build(asv=[write_asv(tmp_path / "results")], out=out)
    html = page.read_text()
    assert_self_contained(html)
    assert (out / "asv_history.png").is_file() and (out / "asv_numba_versions.png").is_file()
    assert "History across commits" in html and "Numba version against Numba version" in html
    assert "for clamp at size 1,000,000" in html  # the headline comes from asv's newest commit
    assert "1 failed" in html or "failed asv benchmark" in html
    assert "NVIDIA A100-SXM4-40GB" in html  # the environment card reads the note


def test_report_from_both_and_machines_side_by_side(tmp_path):
    run, asv = sample_inputs(tmp_path)
    cpu_only = [r for r in clamp_gpu_rows() if r["target"] in ("numpy", "cpu", "parallel")]
    other = write_run(tmp_path / "in" / "laptop.json", run_doc(
        [dict(r, median_s=r["median_s"] * 3 if r["median_s"] else None) for r in cpu_only],
        machine="laptop", gpu=None))
    out = tmp_path / "rep"
    p = cli("report", run, other, "--asv", asv, "--out", out)
    assert p.returncode == 0, p.stderr[-3000:]
    html = (out / "index.html").read_text()
    assert_self_contained(html)
    assert "Machines side by side" in html
    side = html[html.index('id="machines"'):html.index('id="environment"')]
    assert "gpubox" in side and "laptop" in side and "asvbox" in side
    assert html.count('class="card"><h3>') >= 3  # an environment card per machine (run and asv)
    for name in ("speedup", "time_vs_size", "roofline", "compile", "asv_history", "asv_numba_versions"):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.svg").is_file(), name


def test_an_interrupted_run_with_no_rows_still_builds(tmp_path):
    from numbabench.report import build

    html = build([write_run(tmp_path / "r.json", run_doc([], machine="empty", interrupted=True))],
                 out=tmp_path / "rep").read_text()
    assert "No timing rows for machine empty" in html and "interrupted" in html
    assert images_of(html) == []


def test_a_cluster_sweep_reports_each_host(tmp_path):
    """`numbabench run --cluster`: rows tagged with their host, the workers' survey, peaks per host."""
    from numbabench.report import build, compare, tidy

    rows = []
    for host, scale in (("node-a", 1.0), ("node-b", 2.0)):
        for r in clamp_gpu_rows():
            if host == "node-b" and r["target"] == "cuda":
                continue
            rows.append(dict(r, host=host, worker=f"{host}-w0",
                             median_s=r["median_s"] * scale if r["median_s"] else None))
    workers = {
        "tcp://10.0.0.1:1": {"host": "node-a", "cpu": "EPYC A", "cores": {"logical": 64, "usable": 64},
                             "gpu": {"name": "NVIDIA L4", "compute_capability": "8.9", "driver": "13.0",
                                     "runtime": "13.0", "memory_gib": 22.0},
                             "targets": ["numpy", "cpu", "parallel", "cuda"], "peaks": {"cpu_gbps": 90.0},
                             "versions": {"numba": "0.68.1"}},
        "tcp://10.0.0.2:1": {"host": "node-b", "cpu": "Xeon B", "cores": {"logical": 8, "usable": 8},
                             "gpu": None, "targets": ["numpy", "cpu", "parallel"], "peaks": {"cpu_gbps": 20.0},
                             "versions": {"numba": "0.68.1"}},
    }
    doc = run_doc(rows, machine="laptop", gpu=None, cluster={"scheduler": "tcp://10.0.0.1:8786", "workers": workers},
                  peaks={"by_host": {"node-a": {"cpu_gbps": 90.0, "gpu_gbps": 250.0}, "node-b": {"cpu_gbps": 20.0}}},
                  load_average=[0.5, 0.4, 0.3])
    doc["machine"]["threading_layer"] = "omp (64 threads)"
    path = write_run(tmp_path / "cluster.json", doc)
    coll = tidy.load([path])
    assert sorted(coll.machines) == ["node-a", "node-b"]  # the client that ran no cell is no machine
    a = next(s for s in coll.sources if s.machine == "node-a")
    assert a.info["gpu"] == "NVIDIA L4" and a.peaks == {"cpu_gbps": 90.0, "gpu_gbps": 250.0}
    # speedups and roofline are per host: each host against its own NumPy and peak
    df = coll.table
    par = df[(df.target == "parallel") & (df.phase == "compute") & (df["size"] == CLAMP_SIZES[-1])].set_index("machine")
    assert par.loc["node-a", "speedup_vs_numpy"] == pytest.approx(par.loc["node-b", "speedup_vs_numpy"])
    assert par.loc["node-a", "roofline_fraction"] == pytest.approx(par.loc["node-a", "gbps"] / 90.0)
    side = compare.machines_side_by_side(coll)
    assert [r["machine"] for r in side[0]["rows"]] == ["node-a", "node-b"]
    html = build([path], out=tmp_path / "rep").read_text()
    assert "Machines side by side" in html and "NVIDIA L4" in html and "Xeon B" in html


def test_missing_target_failed_row_and_unknown_column_still_build(tmp_path):
    from numbabench.report import build

    rows = [row("clamp", "numpy", 1000, median=1e-5, mystery_column={"nested": [1, 2]}),
            row("clamp", "parallel", 1000, median=None, status="failed", error="timed out after 900 s (worker killed)"),
            row("clamp", "cpu", 1000, "a_phase_of_its_own", median=3e-6)]
    targets = {"numpy": {"available": True, "reason": None},
               "cuda": {"available": False, "reason": "no CUDA GPU (CudaSupportError: no driver)"}}
    doc = run_doc(rows, machine="tiny", targets=targets, peaks={}, gpu=None, load_average=[40.0, 30.0, 20.0])
    del doc["options"]  # an older file without it
    page = build([write_run(tmp_path / "r.json", doc)], out=tmp_path / "rep")
    html = page.read_text()
    assert "timed out after 900 s" in html and "no CUDA GPU (CudaSupportError: no driver)" in html
    assert "a_phase_of_its_own" in html
    assert "busier than its 16 cores" in html  # a loaded machine's figures are flagged as noisy
    assert "Nothing to plot here" in html  # no roofline without a peak: said, not a broken image


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a readable results file"),
    ('{"hello": "world"}', "not a numbabench results file"),
    ('[1, 2, 3]', "not a numbabench results file"),
    ('{"format": "numbabench-results", "version": 1, "rows": [{"size": 3}]}', "row 0 has no technique"),
    (None, "no results file"),
])
def test_corrupt_or_foreign_results_file_is_one_line_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    p = cli("report", path, "--out", tmp_path / "rep")
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "rep" / "index.html").exists()


def test_an_out_that_is_a_file_is_one_line_exit_2(tmp_path):
    run = write_run(tmp_path / "r.json", run_doc(clamp_gpu_rows()))
    taken = tmp_path / "taken"
    taken.write_text("mine")
    p = cli("report", run, "--out", taken)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "is a file, not a folder" in p.stderr and taken.read_text() == "mine"


def test_corrupt_or_foreign_asv_folder_is_one_line_exit_2(tmp_path):
    from numbabench.errors import NumbabenchError
    from numbabench.report import tidy

    root = write_asv(tmp_path / "results")
    victim = next(p for p in (root / "asvbox").glob("*.json") if p.name != "machine.json")
    victim.write_text(victim.read_text()[:200])
    p = cli("report", "--asv", root, "--out", tmp_path / "rep")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert victim.name in p.stderr and "not a readable asv results file" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NumbabenchError, match="holds no asv results"):
        tidy.load(asv=[empty])
    with pytest.raises(NumbabenchError, match="no asv results folder"):
        tidy.load(asv=[tmp_path / "nowhere"])
    asv_file = next(p for p in (write_asv(tmp_path / "fine") / "asvbox").glob("*.json") if p.name != "machine.json")
    with pytest.raises(NumbabenchError, match=r"is an asv results file.*--asv"):
        tidy.load([asv_file])

    foreign = write_asv(tmp_path / "old")
    f = next(p for p in (foreign / "asvbox").glob("*.json") if p.name != "machine.json")
    f.write_text(f.read_text().replace('"version": 2', '"version": 1'))
    with pytest.raises(NumbabenchError, match="asv results format 1"):
        tidy.load(asv=[foreign])


def test_no_arguments_takes_this_machines_newest_results_and_asv(tmp_path, monkeypatch):
    import argparse

    from numbabench.errors import NumbabenchError
    from numbabench.machine import machine_name
    from numbabench.report import command

    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(results=[], asv=None, out=None)
    with pytest.raises(NumbabenchError, match="nothing to report"):
        command.resolve_inputs(args)
    me = machine_name()
    old = write_run(tmp_path / "results" / f"{me}-20260101-000000.json", run_doc([], machine=me))
    new = write_run(tmp_path / "results" / f"{me}-20260102-000000.json",
                    run_doc(clamp_gpu_rows(), machine=me))
    os.utime(old, (1, 1))
    write_run(tmp_path / "results" / "someone-else-20270101-000000.json", run_doc([], machine="someone-else"))
    write_asv(tmp_path / ".asv" / "results")
    write_asv(tmp_path / "reports" / me / "asv" / "results")  # a committed history: .asv/results wins
    results, asv = command.resolve_inputs(args)
    assert results == [Path("results") / new.name] and asv == [Path(".asv") / "results"]
    assert command.run(args) == 0
    assert (tmp_path / "reports" / me / "index.html").is_file()
    import shutil

    shutil.rmtree(tmp_path / ".asv")  # no local asv run: the history committed for this machine
    assert command.resolve_inputs(args)[1] == [Path("reports") / me / "asv"]


def test_loads_what_a_real_asv_run_writes(tmp_path):
    """A tiny asv project measured by the real `asv run --python=same`: the loader reads its files."""
    pytest.importorskip("asv", reason="asv is not installed (pip install 'numbabench[test]')")
    proj = tmp_path / "proj"
    (proj / "benchmarks").mkdir(parents=True)
    (proj / "asv.conf.json").write_text(json.dumps({
        "version": 1, "project": "toy", "project_url": "https://example.invalid", "repo": ".",
        "environment_type": "virtualenv", "benchmark_dir": "benchmarks", "results_dir": ".asv/results",
        "env_dir": ".asv/env", "html_dir": ".asv/html"}))
    (proj / "benchmarks" / "__init__.py").write_text("")
    (proj / "benchmarks" / "bench_toy.py").write_text(textwrap.dedent("""
        class ToySuite:
            params = ([1000, 20000], ["numpy", "cpu", "cuda"])
            param_names = ["size", "target"]

            def setup(self, size, target):
                if target == "cuda":
                    raise NotImplementedError("no GPU here")

            def time_compute(self, size, target):
                if target == "cpu" and size == 20000:
                    raise RuntimeError("planted failure")
                sum(range(size // 10))

            def track_compile_seconds(self, size, target):
                return 0.25
            track_compile_seconds.unit = "seconds"
    """))
    env = dict(os.environ, HOME=str(tmp_path), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env.pop("PYTHONPATH", None)
    asv = [sys.executable, "-m", "asv"]
    heads = []
    for i, work in enumerate(("size // 10", "size // 5")):  # two commits: the second does twice the work
        bench = proj / "benchmarks" / "bench_toy.py"
        bench.write_text(bench.read_text().replace("size // 10", work))
        for cmd in ((["git", "init", "-q", "."],) if i == 0 else ()) + (["git", "add", "-A"], ["git", "commit", "-qm", f"toy {i}"]):
            subprocess.run(cmd, cwd=proj, env=env, check=True, capture_output=True)
        heads.append(subprocess.run(["git", "rev-parse", "HEAD"], cwd=proj, capture_output=True, text=True).stdout.strip())
        if i == 0:
            subprocess.run(asv + ["machine", "--yes", "--machine", "toybox"], cwd=proj, env=env, check=True,
                           capture_output=True, timeout=120)
        p = subprocess.run(asv + ["run", "--python=same", "--quick", "--set-commit-hash", heads[-1], "--machine", "toybox"],
                           cwd=proj, env=env, capture_output=True, text=True, timeout=300)
        assert len(list((proj / ".asv" / "results" / "toybox").glob(f"{heads[-1][:8]}-*.json"))) == 1, \
            p.stdout[-2000:] + p.stderr[-2000:]

    from numbabench.report import build, compare, tidy

    coll = tidy.load(asv=[proj])  # the project folder is found too
    df = coll.table[coll.table.commit == heads[0]]
    comp = df[df.phase == "compute"].set_index(["size", "target"])
    assert comp.loc[(1000, "numpy"), "status"] == "ok" and comp.loc[(1000, "numpy"), "median_s"] > 0
    assert comp.loc[(20000, "cpu"), "status"] == "failed"
    assert comp.loc[(1000, "cuda"), "status"] == "skipped"
    assert set(df[df.phase == "compile"].median_s.dropna()) == {0.25}
    # the history across the two commits, drawn from what asv wrote
    size, table = compare.history(coll, "toybox")["toy"]
    assert list(table.index) == heads and size == 1000 and list(table.columns) == ["numpy", "cpu"]
    page = build(asv=[proj / ".asv" / "results"], out=tmp_path / "rep")
    html = page.read_text()
    assert "toy" in html and "History across commits (asv)" in html and "2 commits" in html
    assert (tmp_path / "rep" / "asv_history.png").stat().st_size > 1000


@pytest.mark.skipif(not (ROOT / ".asv" / "results").is_dir(), reason="this checkout has no .asv/results yet")
def test_loads_this_projects_asv_results():
    from numbabench.report import tidy

    df = tidy.load(asv=[ROOT / ".asv" / "results"]).table
    assert not df.empty and set(df.status) <= {"ok", "failed", "skipped"}


# -- variants, latency, the PTX card, a user's `try` ------------------------------------------------
GAUSS_N = (10_000, 1_000_000, 100_000_000)


def gaussian_variant_rows():
    """gaussian in two ways per target, as the fair-CPU sweep writes it: the article's way first
    (NumPy's plain expression, the @vectorize ufunc...), then the tuned way; a GPU with throughput,
    latency and end to end; a tuned variant that is fast and wrong; threading layers per row."""
    per_elem = {("numpy", "article"): 2.0e-9, ("numpy", "tuned"): 1.25e-9, ("cpu", "article"): 4.2e-9,
                ("cpu", "tuned"): 0.55e-9, ("parallel", "article"): 6.0e-9, ("parallel", "tuned"): 0.27e-9}
    rows = []
    for n in GAUSS_N:
        for (target, variant), t in per_elem.items():
            extra = {}
            if target == "parallel":
                layer = "omp" if variant == "article" else "workqueue"
                extra = {"threading_layer": layer, "env": {"NUMBA_THREADING_LAYER": layer}}
            rows.append(row("gaussian", target, n, median=t * n, variant=variant, **extra))
        rows.append(row("gaussian", "parallel", n, median=0.01e-9 * n, variant="fused", status="wrong",
                        speedup_vs_numpy=125.0, max_abs_err=3.0, error="result differs from the NumPy reference"))
        for variant, k in (("article", 1.0), ("tuned", 0.9)):
            rows.append(row("gaussian", "cuda", n, median=k * (0.004e-9 * n + 3e-6), variant=variant))
            rows.append(row("gaussian", "cuda", n, "latency", k * (0.004e-9 * n + 3e-6) + 20e-6, variant=variant))
            rows.append(row("gaussian", "cuda", n, "end_to_end", k * (0.1e-9 * n + 1e-3), variant=variant))
    for (target, variant) in per_elem:
        rows.append(row("gaussian", target, GAUSS_N[0], "compile", 0.3 if target != "numpy" else 1e-6,
                        variant=variant))
    return rows


PTX = [{"kernel": "gaussian_kernel", "cc": "8.0", "registers": 18, "spills": 0, "ok": True, "reason": None},
       {"kernel": "gaussian_kernel", "cc": "9.0", "registers": 20, "spills": 0, "ok": True, "reason": None},
       {"kernel": "planted_spill", "cc": "9.0", "registers": 255, "spills": 48, "ok": False,
        "reason": "spills 48 bytes to local memory"}]


def test_variants_side_by_side_best_numpy_baseline_and_no_bar_for_a_wrong_one(tmp_path):
    from numbabench.report import analysis, build, figures, tidy

    run = write_run(tmp_path / "gpubox.json", run_doc(gaussian_variant_rows(), ptx=PTX))
    s = {s.name: s for s in analysis.summarize(tidy.load([run]), "gpubox")}["gaussian"]
    slots = {c.label: c for c in s.slots}
    assert list(slots) == ["numpy · tuned", "numpy · article", "cpu · tuned", "cpu · article", "parallel · tuned",
                           "parallel · fused", "parallel · article", "cuda · tuned", "cuda · article", "cudasim", "cupy"]
    n = GAUSS_N[-1]
    best_numpy = 1.25e-9 * n
    assert s.baseline.label == "numpy · tuned"  # the best NumPy row, not the plain expression
    assert slots["cpu · article"].speedup == pytest.approx(best_numpy / (4.2e-9 * n))
    assert slots["numpy · article"].speedup == pytest.approx(1.25 / 2.0)  # the plain one stays, below 1x
    assert s.best_cpu.label == "parallel · tuned" and s.best.label == "cuda · tuned"
    assert "the best target is cuda · tuned: 12.6× NumPy end to end" in s.headline
    assert "cpu · article 0.298× NumPy against cpu · tuned 2.27×" in s.variants_line
    assert "parallel · article 0.208× NumPy against parallel · tuned 4.63×, parallel · fused WRONG" in s.variants_line
    assert "numpy · article is 0.625× of it" in s.baseline_line
    fused = slots["parallel · fused"]
    assert fused.status == "wrong" and fused.speedup is None  # 125x claimed by the file: not a speedup
    assert slots["cuda · tuned"].latency_s > slots["cuda · tuned"].compute_s  # per call vs pipelined
    assert s.verdict == "On this machine, from size 100,000,000 the GPU wins end to end."

    fig = figures.speedup_bars([s])
    ax = fig.fig.axes[0]
    heights = [round(b.get_height(), 6) for b in ax.patches]
    # 5 correct host slots (not the NumPy baseline) + 2 cuda variants x (compute, end to end); fused: none
    assert 125.0 not in heights and len(heights) == 9
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "cpu · article" in legend and "cpu · tuned" in legend and "numpy · article" in legend
    assert "numpy · tuned" not in legend  # the baseline itself: 1x says nothing
    assert any(t.get_text() == "wrong" for t in ax.texts)
    assert "throughput" in fig.title and "per call" in fig.title

    html = build([run], out=tmp_path / "rep").read_text()
    assert "compute<br><small>throughput ± iqr</small>" in html and "latency<br><small>per call</small>" in html
    assert "cpu · tuned" in html and "cpu · article" in html and "The article&#39;s way" in html
    # the environment card: the threading layer differs between rows, the PTX layer per kernel
    assert "differs between rows: omp (parallel · article); workqueue (parallel · tuned)" in html
    assert "NUMBA_THREADING_LAYER=workqueue" in html
    card = html[html.index('id="environment"'):]
    assert "planted_spill" in card and "spills 48 bytes to local memory" in card and ">255<" in card
    table = html[html.index('id="summary"'):html.index('id="speedup"')]
    last = table[:table.rindex("</tbody>")].rstrip()
    assert last.endswith("from size 100,000,000 the GPU wins end to end.</td></tr>")


def test_the_card_reads_the_ptx_layers_own_summary(tmp_path):
    """``numbabench.ptx.summary()``'s record (kernels as PTXResult.to_dict()), and a check that could not run."""
    from numbabench.report import build

    summary = {"ccs": ["sm_80", "sm_90"], "ok": False, "kernels": [
        {"technique": "gaussian", "kernel": "gaussian_ufunc", "signature": "(float32[::1],)", "cc": "sm_90",
         "ok": True, "error": None, "stage": "link", "registers": 16, "spill_bytes": 0},
        {"technique": "planted", "kernel": "uses_np_empty", "signature": "(float32[::1],)", "cc": "sm_80",
         "ok": False, "error": "PTX: np.empty is not supported in a kernel (line 12)", "stage": "ptx",
         "registers": None, "spill_bytes": None}]}
    html = build([write_run(tmp_path / "a.json", run_doc(clamp_gpu_rows(), ptx=summary))],
                 out=tmp_path / "a").read_text()
    card = html[html.index('id="environment"'):]
    assert "gaussian.gaussian_ufunc((float32[::1],))" in card and ">16<" in card
    assert "np.empty is not supported in a kernel (line 12)" in card
    html = build([write_run(tmp_path / "b.json", run_doc(clamp_gpu_rows(), ptx={
        "ok": False, "error": "the PTX check did not finish in 600 s", "kernels": []}))], out=tmp_path / "b").read_text()
    assert "not checked: the PTX check did not finish in 600 s" in html


def test_an_old_results_file_reads_as_the_article_variant(tmp_path):
    from numbabench.report import build, tidy

    rows = [{k: v for k, v in r.items()} for r in clamp_gpu_rows()]
    rows += [row("frame", "numpy", 1000, median=2e-4), row("frame", "cpu", 1000, median=1e-4)]
    for r in rows:
        r.pop("variant", None)
    path = write_run(tmp_path / "old.json", run_doc(rows))
    df = tidy.load([path]).table
    assert set(df.variant) == {"article"}
    assert "frame" not in set(df.technique) and "dataframe" in set(df.technique)
    cpu = df[(df.technique == "dataframe") & (df.target == "cpu")].iloc[0]
    assert cpu.speedup_vs_numpy == pytest.approx(2.0)
    html = build([path], out=tmp_path / "rep").read_text()
    assert "<td>cpu · article</td>" not in html and "<td>cpu</td>" in html  # one variant: the target's name
    assert "PTX layer" not in html  # no PTX in the document: no table on the card


def try_doc(gpu_rows, machine="trybox"):
    """What `numbabench try mykernels.py:mygauss` writes: an ordinary results file, the technique
    named after the user's function (the registry does not know it)."""
    rows = []
    for n in (1000, 100_000, 10_000_000):
        rows.append(row("mygauss", "numpy", n, median=2e-9 * n + 1e-6))
        rows.append(row("mygauss", "cpu", n, median=1.5e-9 * n + 1e-6))
        rows.append(row("mygauss", "parallel", n, median=0.8e-9 * n + 5e-6))
        rows += gpu_rows(n)
    rows.append(row("mygauss", "cudasim", 1000, median=0.2))
    targets = {t: {"available": True, "reason": None} for t in ("numpy", "cpu", "parallel", "cudasim")}
    targets["cuda"] = {"available": False, "reason": "no CUDA GPU (no driver)"}
    return run_doc(rows, machine=machine, targets=targets, gpu=None,
                   options={"targets": ["numpy", "cpu", "parallel", "cuda", "cudasim"]},
                   **{"try": {"function": "mykernels.py:mygauss", "kind": "elementwise", "technique": "mygauss",
                              "numpy_way": "vectorize"}})


@pytest.mark.parametrize("gpu_rows, sentence", [
    (lambda n: [], "No GPU was measured here."),
    (lambda n: [row("mygauss", "cuda", n, median=1e-6), row("mygauss", "cuda", n, "end_to_end", 1.0)],
     "On this machine, the GPU does not win end to end at any size measured."),
    (lambda n: [row("mygauss", "cuda", n, median=1e-6), row("mygauss", "cuda", n, "end_to_end", 0.05e-9 * n + 1e-3)],
     "On this machine, from size 10,000,000 the GPU wins end to end."),
], ids=["no-gpu", "gpu-never-wins", "gpu-wins"])
def test_a_users_try_results_get_the_crossover_and_one_closing_sentence(tmp_path, gpu_rows, sentence):
    from numbabench.report import build

    html = build([write_run(tmp_path / "try.json", try_doc(gpu_rows))], out=tmp_path / "rep").read_text()
    assert "for mygauss at size 10,000,000" in html and "Your function mykernels.py:mygauss" in html
    assert "against Python, not NumPy" in html  # its numpy row is np.vectorize: said, not hidden
    table = html[html.index('id="summary"'):html.index('id="speedup"')]
    assert table[:table.rindex("</tbody>")].rstrip().endswith(sentence + "</td></tr>")
    assert html.count(sentence) == 1
    if "wins" in sentence and "not" not in sentence:
        assert "crossover" in html and "cuda end to end beats the best CPU target from size 10,000,000" in html


COMMITTED_HISTORY = sorted(p for p in (ROOT / "reports").glob("*/asv") if p.is_dir())


@pytest.mark.skipif(not COMMITTED_HISTORY, reason="no asv history committed under reports/<machine>/asv yet")
def test_the_committed_asv_history_draws_history_and_numba_versions(tmp_path):
    """The history `make asv-history` committed: every commit on the history plot, Numba against Numba."""
    from numbabench.report import build, compare, tidy

    for folder in COMMITTED_HISTORY:
        coll = tidy.load(asv=[folder])
        assert not coll.table.empty and set(coll.table.status) <= {"ok", "failed", "skipped"}
        machine = compare.asv_machine(coll, coll.sources[0].machine)
        hist = compare.history(coll, machine)
        commits = {s.commit for s in coll.sources if s.machine == machine}
        assert hist and max(len(t.index) for _, t in hist.values()) == len(commits) >= 2
        versions, table = compare.numba_versions(coll, machine)
        assert len(versions) >= 2 and table is not None and not table.empty
        out = tmp_path / folder.parent.name
        html = build(asv=[folder], out=out).read_text()
        assert_self_contained(html)
        for name in ("asv_history", "asv_numba_versions"):
            assert (out / f"{name}.png").stat().st_size > 1000, name


def test_an_interleaved_speedup_is_shown_with_its_spread_and_latency_is_held_against_numpy(tmp_path):
    """The worker's median of per-round ratios stays (derive keeps it); the best NumPy variant is the
    baseline whichever comes first in the file; a GPU's per-call latency has its own speedup."""
    from numbabench.report import analysis, build, tidy

    rows = [row("clamp", "numpy", 1000, median=1e-3, variant="tuned"),
            row("clamp", "numpy", 1000, median=2e-3, variant="article"),
            row("clamp", "cpu", 1000, median=0.4e-3, variant="tuned", speedup_vs_numpy=2.6, speedup_spread=0.15,
                speedup_base="tuned"),
            row("clamp", "cuda", 1000, median=1e-5),
            row("clamp", "cuda", 1000, "latency", 2e-4),
            row("clamp", "cuda", 1000, "end_to_end", 5e-3)]
    path = write_run(tmp_path / "r.json", run_doc(rows))
    s = analysis.summarize(tidy.load([path]), "gpubox")[0]
    slots = {c.label: c for c in s.slots}
    assert s.baseline.label == "numpy · tuned"
    assert slots["numpy · article"].speedup == pytest.approx(0.5)
    assert (slots["cpu"].speedup, slots["cpu"].speedup_spread) == (2.6, 0.15)  # not 1e-3 / 0.4e-3
    assert slots["cuda"].speedup_latency == pytest.approx(5.0) and slots["cuda"].speedup == pytest.approx(100)
    assert "5× per call (latency)" in s.gpu_line and "(throughput)" in s.gpu_line
    html = build([path], out=tmp_path / "rep").read_text()
    assert "2.6× <small>± 0.15</small>" in html
    assert s.verdict == "On this machine, the GPU does not win end to end at any size measured."
