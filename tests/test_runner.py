"""The runner survives variants that raise, hang, crash or lie, and Ctrl-C; the file always parses."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from numbabench import load_results
from helpers import cli, env


def _rows(path):
    return json.loads(path.read_text())["rows"]


def _compute(rows, technique, target):
    return [r for r in rows if r["technique"] == technique and r["target"] == target and r["phase"] == "compute"]


@pytest.fixture(scope="module")
def planted_sweep(tmp_path_factory):
    """One sweep over clamp and every planted misbehaviour, on numpy + cpu."""
    out = tmp_path_factory.mktemp("sweep") / "res.json"
    proc = cli("run", "--techniques", "clamp,planted_fail,planted_hang,planted_crash,planted_wrong",
               "--targets", "numpy,cpu", "--sizes", "1000", "--min-time", "0.01", "--timeout", "20",
               "--no-peak", "--out", out, techniques="planted", timeout=300)
    return proc, out


def test_sweep_completes_and_reports_failures_in_its_exit_status(planted_sweep):
    proc, out = planted_sweep
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.is_file()


def test_good_cells_survive_bad_neighbours(planted_sweep):
    _, out = planted_sweep
    rows = _rows(out)
    for target in ("numpy", "cpu"):
        (r,) = _compute(rows, "clamp", target)
        assert r["status"] == "ok" and r["correct"] and r["median_s"] > 0
    # every planted technique's numpy cell ran fine too
    for name in ("planted_fail", "planted_hang", "planted_crash", "planted_wrong"):
        (r,) = _compute(rows, name, "numpy")
        assert r["status"] == "ok", r


def test_raising_variant_is_a_failed_row_with_its_reason(planted_sweep):
    (r,) = _compute(_rows(planted_sweep[1]), "planted_fail", "cpu")
    assert r["status"] == "failed" and "RuntimeError: planted failure" in r["error"]
    assert r["median_s"] is None and r["speedup_vs_numpy"] is None


def test_hanging_variant_times_out(planted_sweep):
    (r,) = _compute(_rows(planted_sweep[1]), "planted_hang", "cpu")
    assert r["status"] == "failed" and "timed out after 20 s" in r["error"]


def test_crashing_worker_is_a_failed_row_and_a_new_worker_goes_on(planted_sweep):
    rows = _rows(planted_sweep[1])
    (r,) = _compute(rows, "planted_crash", "cpu")
    assert r["status"] == "failed" and "SIGABRT" in r["error"]
    # planted_wrong comes after planted_crash on the cpu worker: a fresh worker measured it
    (w,) = _compute(rows, "planted_wrong", "cpu")
    assert w["median_s"] is not None


def test_wrong_answer_is_never_a_speedup(planted_sweep):
    (r,) = _compute(_rows(planted_sweep[1]), "planted_wrong", "cpu")
    assert r["status"] == "wrong" and r["correct"] is False
    assert r["speedup_vs_numpy"] is None and r["max_abs_err"] > 0


def test_results_file_has_the_promised_shape(planted_sweep):
    doc = json.loads(planted_sweep[1].read_text())
    for key in ("machine", "versions", "commit", "created", "peaks", "rows"):
        assert key in doc
    df = load_results(planted_sweep[1])
    for col in ("technique", "target", "size", "dtype", "phase", "median_s", "spread_s", "repeats",
                "gbps", "roofline_fraction", "speedup_vs_numpy", "correct", "max_abs_err", "status", "error"):
        assert col in df.columns
    assert set(df.phase) >= {"compile", "compute"}
    assert df.attrs["machine"]["cpu"]


def test_ctrl_c_keeps_measured_rows_and_a_valid_file(tmp_path):
    out = tmp_path / "res.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "numbabench", "run", "--techniques", "planted_slow", "--targets", "numpy,cpu",
         "--sizes", "quick", "--repeat", "3", "--no-peak", "--out", str(out)],
        env=env(techniques="planted"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the cpu worker has delivered at least one row
        if out.exists() and _compute(_rows(out), "planted_slow", "cpu"):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("no cpu row arrived in time")
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    cpu = _compute(doc["rows"], "planted_slow", "cpu")
    assert any(r["status"] == "ok" for r in cpu)
    assert len([r for r in cpu if r["status"] == "ok"]) < 6  # it really stopped early
    assert not list(tmp_path.glob(".*.tmp")), "a temp file was left behind"
