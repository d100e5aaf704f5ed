"""The results file: atomic writes, a loader that says what is wrong, derived columns that are honest."""
import json

import pytest

from numbabench import ResultsError, load_results
from numbabench import results


def _row(target, phase="compute", median=1.0, status="ok", gbps=10.0, **kw):
    r = {"technique": "clamp", "target": target, "size": 100, "dtype": "float32", "phase": phase,
         "median_s": median, "status": status, "gbps": gbps}
    r.update(kw)
    return r


def test_speedup_and_roofline_are_derived_from_the_same_run():
    rows = [_row("numpy", median=2.0), _row("parallel", median=0.5, gbps=40.0),
            _row("cudasim", median=9.0, simulated=True), _row("cpu", median=0.1, status="wrong")]
    results.derive(rows, {"cpu_gbps": 50.0})
    numpy, par, sim, wrong = rows
    assert numpy["speedup_vs_numpy"] == 1.0
    assert par["speedup_vs_numpy"] == pytest.approx(4.0)
    assert par["roofline_fraction"] == pytest.approx(0.8)
    assert sim["speedup_vs_numpy"] is None and sim["roofline_fraction"] is None  # functional only
    assert wrong["speedup_vs_numpy"] is None  # a wrong answer is never a speedup


def test_no_numpy_baseline_means_no_speedup():
    rows = [_row("cpu")]
    results.derive(rows, {})
    assert rows[0]["speedup_vs_numpy"] is None and rows[0]["roofline_fraction"] is None


def test_atomic_write_round_trip_and_nan_becomes_null(tmp_path):
    path = tmp_path / "sub" / "r.json"
    doc = {"format": results.FORMAT, "version": 1, "rows": [_row("numpy", max_abs_err=float("inf"))]}
    results.write_atomic(path, doc)
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)["rows"][0]["max_abs_err"] is None
    assert list(path.parent.iterdir()) == [path]
    df = load_results(path)
    assert len(df) == 1 and "roofline_fraction" in df.columns


@pytest.mark.parametrize("content, message", [
    (None, "no results file"),
    ("{not json", "not a readable results file"),
    ('{"rows": []}', "not a numbabench results file"),
    ('[1, 2]', "not a numbabench results file"),
    ('{"format": "numbabench-results", "version": 99, "rows": []}', "newer numbabench"),
])
def test_loader_errors_are_one_clear_line(tmp_path, content, message):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultsError, match=message) as e:
        load_results(path)
    assert "\n" not in str(e.value)


def test_technique_phases_compare_with_numpys_same_phase():
    rows = [_row("numpy", phase="mask", median=3.0), _row("cpu", phase="mask", median=1.0),
            _row("numpy", median=2.0), _row("cuda", phase="end_to_end", median=4.0),
            _row("cuda", phase="h2d", median=0.5), _row("cpu", phase="pickle_bytes", median=None)]
    results.derive(rows, {})
    assert rows[1]["speedup_vs_numpy"] == pytest.approx(3.0)
    assert rows[3]["speedup_vs_numpy"] == pytest.approx(0.5)  # end-to-end against NumPy's compute
    assert rows[4]["speedup_vs_numpy"] is None and rows[5]["speedup_vs_numpy"] is None
