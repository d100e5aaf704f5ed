"""The one measuring path: pairs timed interleaved, speedups against the fastest NumPy variant,
process groups by environment, and a crash blamed on the pair that caused it."""
import json

import pytest

from helpers import cli, run_python


def test_interleaved_pairs_give_per_round_speedups_against_the_fastest_numpy():
    out = run_python("""
        import json
        from numbabench.registry import get_technique
        from numbabench.measure import MeasureOptions, measure_cell
        tech = get_technique("planted_variants")
        pairs = [("numpy", "article"), ("numpy", "tuned"), ("cpu", "article"), ("cpu", "tuned")]
        rows = measure_cell(tech, pairs, 1000, "float32", MeasureOptions(min_time=0.02))
        print(json.dumps([r.to_dict() for r in rows]))
    """, techniques="planted")
    compute = {(r["target"], r["variant"]): r for r in out if r["phase"] == "compute"}
    assert set(compute) == {("numpy", "article"), ("numpy", "tuned"), ("cpu", "article"), ("cpu", "tuned")}
    # the slow NumPy variant is not the base: the fast one is, and it is 1.0 against itself
    assert compute[("numpy", "tuned")]["speedup_base"] == "tuned"
    assert compute[("numpy", "tuned")]["speedup_vs_numpy"] == pytest.approx(1.0)
    assert compute[("numpy", "article")]["speedup_vs_numpy"] < 0.5  # it sleeps 2 ms a call
    lengths = {len(r["samples_s"]) for r in compute.values()}
    assert len(lengths) == 1  # one sample of each pair per round
    for r in compute.values():
        assert r["speedup_spread"] is not None and r["correct"]


def test_derive_keeps_interleaved_speedups_and_uses_the_fastest_numpy_otherwise():
    from numbabench.results import derive

    def row(target, variant, median, **kw):
        return {"technique": "t", "target": target, "variant": variant, "size": 10, "dtype": "float32",
                "phase": kw.pop("phase", "compute"), "median_s": median, "status": "ok", "gbps": None, **kw}

    rows = [row("numpy", "article", 4.0), row("numpy", "tuned", 2.0),
            row("cuda", "article", 1.0, phase="end_to_end"),
            row("cpu", "tuned", 1.0, speedup_vs_numpy=2.5, speedup_spread=0.1, speedup_base="tuned")]
    derive(rows, {})
    assert rows[2]["speedup_vs_numpy"] == 2.0 and rows[2]["speedup_base"] == "tuned"
    assert rows[3]["speedup_vs_numpy"] == 2.5  # measured interleaved: kept
    assert rows[0]["speedup_vs_numpy"] == 0.5


@pytest.fixture
def planted_registered(monkeypatch):
    """The planted techniques in this process's registry, for one test only."""
    import importlib
    import sys

    from numbabench import registry

    registry.techniques()  # the built-ins first
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    sys.modules.pop("planted", None)
    importlib.import_module("planted")
    yield
    sys.modules.pop("planted", None)


def test_plan_groups_pairs_by_process_and_environment(planted_registered):
    from numbabench.registry import get_technique
    from numbabench.runner import Options, group_env, plan

    p = plan(Options(techniques=["planted_env", "clamp"], sizes=[100]), ["numpy", "cpu", "cudasim"])
    groups = {g: [(c.technique, c.pairs) for c in cells] for g, cells in p.cells.items()}
    assert groups["host"][0] == ("planted_env", [("numpy", "article"), ("cpu", "article")])
    (own,) = [g for g in groups if "NUMBABENCH_PLANTED_ENV" in g]
    assert groups[own] == [("planted_env", [("cpu", "tuned")])]
    assert group_env(own, {})["NUMBABENCH_PLANTED_ENV"] == "yes"
    # clamp's host pairs share the environment clamp asks for, so they are still timed together
    clamp = get_technique("clamp")
    (clamp_pairs,) = [pairs for g, cells in groups.items() if g.startswith("host")
                      for name, pairs in cells if name == "clamp"]
    assert {tuple(p) for p in clamp_pairs} == {(t, v) for t in ("numpy", "cpu") for v in clamp.variants_for(t)}
    assert group_env("cudasim", {})["NUMBA_ENABLE_CUDASIM"] == "1"
    (sim,) = [g for g in groups if g.startswith("cudasim")]
    assert groups[sim] == [("clamp", [("cudasim", v) for v in clamp.variants_for("cudasim")])]


def test_a_variant_with_its_own_environment_runs_in_it(tmp_path):
    out = tmp_path / "res.json"
    p = cli("run", "--techniques", "planted_env", "--targets", "numpy,cpu", "--sizes", "100",
            "--min-time", "0.01", "--no-peak", "--out", out, techniques="planted", timeout=300)
    assert p.returncode == 0, p.stderr
    rows = json.loads(out.read_text())["rows"]
    (tuned,) = [r for r in rows if r["variant"] == "tuned" and r["phase"] == "compute"]
    assert tuned["status"] == "ok" and tuned["env"] == {"NUMBABENCH_PLANTED_ENV": "yes"}
    assert tuned["speedup_vs_numpy"] is not None and tuned["speedup_spread"] is None  # another process


def test_unknown_variant_is_one_line(tmp_path):
    p = cli("run", "--techniques", "clamp", "--variants", "turbo", "--out", tmp_path / "r.json")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "no chosen technique has a variant 'turbo'" in p.stderr
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("where, message", [
    ("file/res.json", "is a file, so no folder can be made under it"),
    ("/proc/numbabench/res.json", "cannot write in /proc"),
])
def test_unwritable_out_fails_before_measuring(tmp_path, where, message):
    (tmp_path / "file").write_text("a regular file")
    target = tmp_path / where if not where.startswith("/") else where
    p = cli("run", "--techniques", "clamp", "--targets", "numpy", "--out", target, timeout=120)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) <= 2  # one message (rich may wrap it)
    assert "measuring" not in p.stderr
