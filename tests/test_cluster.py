"""Scale out: the sweep as dask tasks on a LocalCluster; rows tagged; dead workers lose one task."""
import json
import time

import pytest

from helpers import cli

pytest.importorskip("distributed", reason="dask.distributed is the 'dist' extra; not installed here")


def _rows(path, phase="compute"):
    return [r for r in json.loads(path.read_text())["rows"] if r["phase"] == phase]


def test_local_cluster_of_two_runs_cpu_and_cudasim_and_tags_rows(tmp_path):
    out = tmp_path / "res.json"
    p = cli("run", "--cluster", "local:2", "--techniques", "clamp", "--targets", "numpy,cpu,cudasim",
            "--sizes", "1000", "--min-time", "0.02", "--out", out, timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    workers = doc["cluster"]["workers"].values()
    assert len(workers) == 2 and sorted(w["simulator"] for w in workers) == [False, True]
    rows = _rows(out)
    assert {r["target"] for r in rows} == {"numpy", "cpu", "cudasim"}
    for r in rows:
        assert r["status"] == "ok" and r["correct"]
        assert r["host"] and r["worker"] and r["worker_address"].startswith("tcp://127.0.0.1")
    sims = [r for r in rows if r["target"] == "cudasim"]
    assert {r["variant"] for r in sims} == {"article", "tuned"}  # clamp's two GPU variants
    assert all(r["worker"].startswith("sim-") for r in sims)  # routed to the only worker that offers it
    (cpu,) = [r for r in rows if r["target"] == "cpu"]
    assert cpu["speedup_vs_numpy"] > 0 and cpu["roofline_fraction"] > 0  # per-host peak and baseline
    assert doc["peaks"]["by_host"][cpu["host"]]["cpu_gbps"] > 0


def test_a_worker_that_dies_loses_only_its_task(tmp_path):
    out = tmp_path / "res.json"
    p = cli("run", "--cluster", "local:2", "--techniques", "clamp,planted_crash", "--targets", "numpy,cpu",
            "--sizes", "100", "--min-time", "0.01", "--no-peak", "--out", out, techniques="planted",
            timeout=300)
    assert p.returncode == 1, p.stderr  # one cell failed, the rest is there
    rows = _rows(out)
    (crash,) = [r for r in rows if r["technique"] == "planted_crash" and r["target"] == "cpu"]
    assert crash["status"] == "failed" and "died" in crash["error"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert {(r["technique"], r["target"]) for r in ok} == {
        ("clamp", "numpy"), ("clamp", "cpu"), ("planted_crash", "numpy")}


def test_a_hanging_task_is_cancelled_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "res.json"
    p = cli("run", "--cluster", "local:1", "--techniques", "planted_hang,clamp", "--targets", "cpu",
            "--sizes", "100", "--min-time", "0.01", "--timeout", "8", "--no-peak", "--out", out,
            techniques="planted", timeout=300)
    assert p.returncode == 1, p.stderr
    rows = {r["technique"]: r for r in _rows(out)}
    assert rows["planted_hang"]["status"] == "failed" and "timed out" in rows["planted_hang"]["error"]
    assert rows["clamp"]["status"] == "ok"


def test_scheduler_where_nothing_listens_is_a_quick_clear_error(tmp_path):
    out = tmp_path / "res.json"
    t0 = time.monotonic()
    p = cli("run", "--scheduler", "tcp://127.0.0.1:9", "--targets", "cpu", "--out", out, timeout=120)
    assert time.monotonic() - t0 < 30
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "cannot reach a dask scheduler at tcp://127.0.0.1:9" in p.stderr
    assert not out.exists()


@pytest.mark.parametrize("arg, message", [("remote:3", "use local or local:N"), ("local:0", "at least 1"),
                                          ("local:x", "at least 1")])
def test_bad_cluster_option(tmp_path, arg, message):
    p = cli("run", "--cluster", arg, "--out", tmp_path / "r.json")
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr


def test_remote_in_a_cluster_sweep_skips_its_own_cluster_with_the_reason(tmp_path):
    out = tmp_path / "res.json"
    p = cli("run", "--cluster", "local:1", "--techniques", "remote", "--targets", "cpu", "--sizes", "1000",
            "--min-time", "0.01", "--no-peak", "--out", out, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = json.loads(out.read_text())["rows"]
    assert not [r for r in rows if r["status"] in ("failed", "wrong")]
    skipped = [r for r in rows if r["status"] == "skipped" and not r["phase"].startswith("spark")]
    assert skipped and all("inside a dask worker" in r["error"] for r in skipped)
    assert any(r["phase"] == "pickle_bytes" and r["status"] == "ok" for r in rows)  # the rest still measured
