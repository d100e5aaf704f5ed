"""dataframe (article item 7): column math, a filter and a group-by on DataFrame columns.

Every target equals the pandas reference (counts exactly, floats within tolerance) on the edge
cases; the CPU targets read the frame's own memory; the parallel group-by is race-free; the Arrow
hand-off is zero-copy; bad input is refused with a message; the kernels compile to PTX.
"""
import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest

import numbabench
from numbabench import ptx
from numbabench.measure import _nbytes
from helpers import in_simulator

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in sin:RuntimeWarning")

T = numbabench.get_technique("dataframe")
F = sys.modules[type(T).__module__]  # the module, wherever the package keeps it


# -- cases --------------------------------------------------------------------------------------
def _frame(n, seed=0, dtype=np.float32, key_dtype=np.int32, n_keys=16, **kw):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    k = rng.integers(0, n_keys, n).astype(key_dtype)
    return pd.DataFrame({"a": a, "b": b, "k": k}, **kw)


def _inputs(frame, threshold=None, n_keys=16):
    if threshold is None:
        threshold = F.gap_threshold(F.colmath_columns(frame["a"].to_numpy(), frame["b"].to_numpy()))
    return {"frame": frame, "threshold": threshold, "n_keys": n_keys}


def case_empty():
    return _inputs(_frame(0), 0.0)


def case_one_kept():
    return _inputs(pd.DataFrame({"a": np.float32([1.0]), "b": np.float32([2.0]), "k": np.int32([3])}), 0.5)


def case_one_dropped():
    return _inputs(pd.DataFrame({"a": np.float32([1.0]), "b": np.float32([-2.0]), "k": np.int32([3])}), 0.5)


def case_off_block():
    return _inputs(_frame(1031, seed=1))


def case_nan():
    f = _frame(777, seed=2)
    a, b = f["a"].to_numpy().copy(), f["b"].to_numpy().copy()
    a[::7], b[3::11], a[5] = np.nan, np.nan, np.inf  # inf * b + sin(inf) is NaN too
    return _inputs(pd.DataFrame({"a": a, "b": b, "k": f["k"].to_numpy()}))


def case_key_without_kept_rows():
    # key 3: rows, none above the threshold; key 5: no rows at all
    f = _frame(600, seed=3, n_keys=8)
    a, b, k = (f[c].to_numpy().copy() for c in "abk")
    k[k == 5] = 4
    a[k == 3], b[k == 3] = -1.0, 1.0  # c = -1 + sin(-1) < 0
    return _inputs(pd.DataFrame({"a": a, "b": b, "k": k}), 0.25, n_keys=8)


def case_int64_keys():
    return _inputs(_frame(999, seed=4, key_dtype=np.int64))


def case_float64():
    return _inputs(_frame(1000, seed=5, dtype=np.float64))


def case_odd_index():
    f = _frame(500, seed=6)
    f.index = np.random.default_rng(0).integers(0, 50, 500)  # shuffled labels with duplicates
    return _inputs(f)


def case_strided_columns():
    # a frame built from a 2-D array: its columns are strided views, not contiguous arrays
    rng = np.random.default_rng(7)
    f = pd.DataFrame(rng.standard_normal((640, 2)).astype(np.float32), columns=["a", "b"], copy=False)
    f["k"] = rng.integers(0, 16, 640).astype(np.int32)
    return _inputs(f)


def case_extra_columns():
    f = _frame(300, seed=8)
    f["name"] = "x"
    f["other"] = 1.5
    return _inputs(f)


def case_many_keys():
    # more keys than the CUDA kernel keeps in shared memory: it adds into global memory instead
    return _inputs(_frame(900, seed=9, n_keys=F.SHARED_KEYS + 44), n_keys=F.SHARED_KEYS + 44)


CASES = {name[5:]: fn for name, fn in dict(globals()).items() if name.startswith("case_")}


def independent_expected(inputs):
    """The same query in plain NumPy, written apart from the technique's pandas reference."""
    f = inputs["frame"]
    a, b, k = (f[c].to_numpy() for c in "abk")
    thr = a.dtype.type(inputs["threshold"])
    c = a * b + np.sin(a)
    mask = c > thr
    sums = np.bincount(k[mask], weights=c[mask].astype(np.float64), minlength=inputs["n_keys"])
    counts = np.bincount(k[mask], minlength=inputs["n_keys"])
    return c, mask, sums, counts


def _check(got, inputs):
    """What every target must satisfy on a case: compare passes, counts and mask exact."""
    checked = T.check_inputs(inputs)
    want = T.reference(checked)
    correct, err = T.compare(got, want)
    assert correct, f"compare failed, max abs err {err}"
    assert got["c"].dtype == checked["a"].dtype and got["mask"].dtype == np.bool_
    np.testing.assert_array_equal(got["counts"], want["counts"])
    np.testing.assert_array_equal(got["mask"], want["mask"])


# -- reference layer ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_pandas_reference_equals_independent_numpy(name):
    inputs = CASES[name]()
    want = T.reference(T.check_inputs(inputs))
    c, mask, sums, counts = independent_expected(inputs)
    np.testing.assert_array_equal(want["c"], c)
    np.testing.assert_array_equal(want["mask"], mask)
    np.testing.assert_array_equal(want["counts"], counts)  # group counts: exact
    np.testing.assert_allclose(want["sums"], sums, rtol=1e-12)
    assert want["sums"].dtype == np.float64 and want["counts"].dtype == np.int64
    assert not np.isnan(want["sums"]).any()  # NaN never passes the filter, so never reaches a sum


@pytest.mark.parametrize("target", ["numpy", "cpu", "parallel"])
@pytest.mark.parametrize("name", list(CASES))
def test_cpu_targets_equal_reference(target, name):
    inputs = CASES[name]()
    _check(T.run(target, inputs), inputs)


def _run_twice(target, inputs):
    """Call a variant twice on the same prepared buffers, as the timing loop does."""
    checked = T.check_inputs(inputs)
    fn, args = T.variant(target), T.prepare(target, checked)
    fn(args)
    return T.fetch(target, fn(args))


@pytest.mark.parametrize("target", ["numpy", "cpu", "parallel"])
def test_a_second_call_on_the_same_buffers_starts_from_zero(target):
    inputs = case_off_block()
    _check(_run_twice(target, inputs), inputs)


def test_edge_cases_say_what_they_claim():
    assert len(T.run("cpu", case_empty())["c"]) == 0
    assert T.run("cpu", case_empty())["counts"].tolist() == [0] * 16
    assert T.run("cpu", case_one_kept())["counts"][3] == 1
    assert T.run("cpu", case_one_dropped())["counts"].sum() == 0
    got = T.run("cpu", case_key_without_kept_rows())
    assert got["counts"][3] == 0 and got["counts"][5] == 0 and got["sums"][3] == 0.0
    assert (case_key_without_kept_rows()["frame"]["k"] == 3).any()
    nan = case_nan()
    got = T.run("parallel", nan)
    bad = nan["frame"]["a"].isna().to_numpy() | nan["frame"]["b"].isna().to_numpy()
    assert np.isnan(got["c"][bad]).all() and not got["mask"][bad].any()
    assert np.isnan(got["c"][5])  # the inf row
    assert not case_strided_columns()["frame"]["a"].to_numpy().flags.c_contiguous


@pytest.mark.parametrize("target", ["cpu", "parallel"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_made_inputs_match_pandas_exactly_on_counts(target, dtype):
    inputs = T.make_inputs(100_003, seed=11, dtype=dtype)
    checked = T.check_inputs(inputs)
    got, want = T.run(target, inputs), T.reference(checked)
    assert T.compare(got, want)[0]
    np.testing.assert_array_equal(got["counts"], want["counts"])
    np.testing.assert_array_equal(got["mask"], want["mask"])


def test_made_threshold_sits_in_a_gap():
    inputs = T.check_inputs(T.make_inputs(200_000, seed=2))
    c = F.colmath_columns(inputs["a"], inputs["b"])
    thr = inputs["threshold"]
    ulp = np.spacing(np.abs(thr))
    assert np.abs(c - thr).min() > 8 * ulp  # an ulp or two between targets cannot flip a row
    assert abs((c > thr).mean() - T.keep) < 0.01


def test_parallel_group_by_is_race_free_and_deterministic():
    import numba

    if numba.get_num_threads() < 2:
        pytest.skip("needs at least 2 Numba threads to have two chunks run at once")
    # Worst case for a race: every row kept, one key, so every thread adds into the same group.
    n = 1_000_003
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"a": rng.standard_normal(n).astype(np.float32),
                          "b": rng.standard_normal(n).astype(np.float32), "k": np.zeros(n, np.int32)})
    for inputs in (_inputs(frame, -100.0, n_keys=1), T.make_inputs(8 * F.MIN_CHUNK_ROWS + 5, seed=4)):
        want = T.reference(T.check_inputs(inputs))
        runs = [T.run("parallel", inputs) for _ in range(4)]
        for got in runs:
            np.testing.assert_array_equal(got["counts"], want["counts"])
            np.testing.assert_array_equal(got["sums"], runs[0]["sums"])  # fixed order: bit for bit
    assert want["counts"].sum() < len(want["c"])  # the second input really filters


# -- zero copy ------------------------------------------------------------------------------------
def test_cpu_kernels_get_the_frames_own_memory(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(50_000).astype(np.float32), rng.standard_normal(50_000).astype(np.float32)
    k = rng.integers(0, 16, 50_000).astype(np.int32)
    frame = pd.DataFrame({"a": a, "b": b, "k": k}, copy=False)
    seen = {}
    for target, name in (("cpu", "frame_loop"), ("parallel", "frame_prange")):
        real = getattr(F, name)

        def spy(*args, real=real, target=target):
            seen[target] = args[:3]
            return real(*args)

        monkeypatch.setattr(F, name, spy)
        got = T.run(target, _inputs(frame))
        _check(got, _inputs(frame))
    for target in ("cpu", "parallel"):
        for col, original in zip(seen[target], (a, b, k)):
            assert np.shares_memory(col, original), f"{target} got a copy of a column"
    checked = T.check_inputs(_inputs(frame))
    assert all(np.shares_memory(checked[c], v) for c, v in (("a", a), ("b", b), ("k", k)))
    assert T.prepare("cpu", checked)["frame"] is frame


@pytest.fixture
def pa():
    return pytest.importorskip("pyarrow", reason="pyarrow is not installed: no Arrow hand-off to show")


def test_arrow_hand_off_is_zero_copy(pa):
    frame = case_nan()["frame"]  # NaN stays a value (no nulls), so the buffer wraps as it is
    arr = F.to_arrow(frame, "a")
    assert isinstance(arr, pa.Array) and arr.null_count == 0 and len(arr) == len(frame)
    col = frame["a"].to_numpy()
    assert np.shares_memory(np.frombuffer(arr.buffers()[1], dtype=col.dtype), col)
    back = F.from_arrow(arr)
    assert np.shares_memory(back, col)
    np.testing.assert_array_equal(back, col)
    keys = F.to_arrow(frame, "k")
    assert keys.type == pa.int32() and np.shares_memory(F.from_arrow(keys), frame["k"].to_numpy())


def test_arrow_refuses_a_column_it_would_copy(pa):
    with pytest.raises(numbabench.InputError, match="^dataframe: .*without a copy"):
        F.to_arrow(case_strided_columns()["frame"], "a")


# -- bad input ------------------------------------------------------------------------------------
def _bad(**change):
    inputs = _inputs(_frame(20), 0.0)
    frame = inputs["frame"]
    if "frame" in change:
        frame = change.pop("frame")(frame)
    inputs.update(frame=frame, **change)
    return {k: v for k, v in inputs.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize("inputs, expected", [
    (_bad(frame=lambda f: f.drop(columns="b")), "lacks column(s) 'b'"),
    (_bad(frame=lambda f: f.assign(k=f["k"].astype(np.float64))), "'k' must be int32 or int64"),
    (_bad(frame=lambda f: f.assign(k=f["k"].astype(np.int8))), "'k' must be int32 or int64"),
    (_bad(frame=lambda f: f.assign(k=f["k"].astype("Int32"))), "'k' must be int32 or int64"),
    (_bad(frame=lambda f: f.assign(a=f["a"].astype(np.int32))), "'a' must be float32 or float64"),
    (_bad(frame=lambda f: f.assign(b=f["b"].astype("Float32"))), "nullable"),
    (_bad(frame=lambda f: f.assign(b=f["b"].astype(np.float64))), "same dtype"),
    (_bad(frame=lambda f: f.assign(k=f["k"] - 1)), "keys must be in [0, n_keys)"),
    (_bad(frame=lambda f: f.assign(k=f["k"] + 16)), "keys must be in [0, n_keys)"),
    (_bad(frame=lambda f: {c: f[c].to_numpy() for c in f}), "pandas DataFrame"),
    (_bad(frame=lambda f: pd.concat([f, f["a"]], axis=1)), "'a' appear more than once"),
    (_bad(threshold=float("nan")), "threshold must be a real number"),
    (_bad(threshold="0.5"), "threshold must be a real number"),
    (_bad(threshold=_DROP), "missing input 'threshold'"),
    (_bad(n_keys=0), "n_keys must be an integer"),
    (_bad(n_keys=16.0), "n_keys must be an integer"),
    ([1, 2, 3], "must be a dict"),
])
def test_bad_input_names_technique_and_expectation(inputs, expected):
    with pytest.raises(numbabench.InputError) as e:
        T.run("cpu", inputs)
    assert str(e.value).startswith("dataframe: ") and expected in str(e.value), str(e.value)


# -- compare --------------------------------------------------------------------------------------
def _edge_setup():
    """A reference whose row 0 sits just above the threshold, and a result identical to it."""
    inputs = case_off_block()
    thr = F.colmath_columns(np.float32([0.8]), np.float32([0.5]))[0]  # row 0's c, as pandas has it
    inputs["threshold"] = np.nextafter(thr, np.float32(-np.inf))  # one ulp below it: row 0 is kept
    a = inputs["frame"]["a"].to_numpy().copy()
    b = inputs["frame"]["b"].to_numpy().copy()
    a[0], b[0] = 0.8, 0.5
    inputs["frame"] = pd.DataFrame({"a": a, "b": b, "k": inputs["frame"]["k"].to_numpy()})
    checked = T.check_inputs(inputs)
    want = T.reference(checked)
    got = {f: np.array(want[f], copy=True) for f in F.FIELDS}
    return checked, want, got


def _flip(got, checked, row):
    """Drop kept row ``row`` from the result, consistently: c nudged to the threshold, groups fixed."""
    key, c = checked["k"][row], got["c"][row]
    got["mask"][row] = False
    got["c"][row] = checked["threshold"]
    got["sums"][key] -= c
    got["counts"][key] -= 1


def test_compare_accepts_a_flip_on_the_edge_only():
    checked, want, got = _edge_setup()
    assert T.compare(got, want) == (True, 0.0)
    assert want["mask"][0]
    _flip(got, checked, 0)  # row 0 is within an ulp of the threshold: either side is right
    assert T.compare(got, want)[0]
    far = int(np.argmax(want["c"]))  # far above the threshold
    _flip(got, checked, far)
    assert not T.compare(got, want)[0]


@pytest.mark.parametrize("spoil", [
    lambda g: g["counts"].__setitem__(2, g["counts"][2] + 1),
    lambda g: g["sums"].__setitem__(2, g["sums"][2] * (1 + 1e-3)),
    lambda g: g["c"].__setitem__(10, g["c"][10] + 1e-2),
    lambda g: g["mask"].__setitem__(np.argmin(g["c"]), True),  # inconsistent with its own c
    lambda g: g.pop("counts"),
    lambda g: g.__setitem__("c", g["c"].astype(np.float64)),
    lambda g: g.__setitem__("c", g["c"][:-1]),
], ids=["count", "sum", "c", "mask", "missing", "dtype", "shape"])
def test_compare_rejects_a_wrong_result(spoil):
    _, want, got = _edge_setup()
    spoil(got)
    assert not T.compare(got, want)[0]


# -- roofline model -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bytes_model_is_what_travels(dtype):
    n = 12_345
    checked = T.check_inputs(T.make_inputs(n, dtype=dtype))
    # the worker counts h2d bytes from the inputs and d2h bytes from the reference
    assert T.bytes_moved(n, dtype) == _nbytes(checked) + _nbytes(T.reference(checked))
    assert T.flops(n, dtype) == 5 * n


# -- simulator ------------------------------------------------------------------------------------
SIM_CASES = [n for n in CASES if n != "odd_index"] + ["made_float64"]


def test_cudasim_equals_reference_on_every_edge_case():
    verdicts = in_simulator(f"""
        import json, numpy as np, numbabench
        from test_dataframe import CASES, T, F, _check
        out = {{}}
        for name in {SIM_CASES!r}:
            inputs = T.make_inputs(1000, seed=3, dtype="float64") if name == "made_float64" else CASES[name]()
            try:
                _check(T.run("cudasim", inputs), inputs)
                out[name] = True
            except AssertionError as exc:
                out[name] = str(exc)
        from test_dataframe import _run_twice
        try:
            _check(_run_twice("cudasim", CASES["off_block"]()), CASES["off_block"]())
            out["twice"] = True
        except AssertionError as exc:
            out["twice"] = str(exc)
        out["store"] = F.column_store("cudasim")
        print(json.dumps(out))
    """)
    assert verdicts == dict({name: True for name in SIM_CASES}, twice=True, store="numba")


# -- PTX ------------------------------------------------------------------------------------------
def test_every_kernel_compiles_to_ptx():
    kernels = T.kernels()
    assert {k.name for k in kernels} == {"zero_kernel", "frame_kernel"}
    for kernel in kernels:
        results = ptx.compile_kernel(kernel, technique="dataframe")
        assert results and all(r.ok for r in results), "\n".join(map(str, results))


# -- GPU only -------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_cuda_target_equals_reference():
    for name, fn in CASES.items():
        inputs = fn()
        _check(T.run("cuda", inputs), inputs)
    big = T.make_inputs(3_000_017, seed=5)
    got, want = T.run("cuda", big), T.reference(T.check_inputs(big))
    assert T.compare(got, want)[0]
    np.testing.assert_array_equal(got["counts"], want["counts"])


@pytest.mark.gpu
def test_cuda_columns_are_handed_over_not_copied():
    if F.column_store("cuda") == "numba":
        pytest.skip("needs CuPy or cuDF as the GPU column store (pip install 'numbabench[gpu]')")
    from numba import cuda

    from kernel_args import device_pointer, kernel_arguments

    inputs = T.check_inputs(T.make_inputs(10_000))
    args = T.prepare("cuda", inputs)
    with kernel_arguments() as seen:  # what the launches really receive (numba-cuda takes CuPy by DLPack)
        out = T.variant("cuda")(args)
        cuda.synchronize()
    received = {s["ptr"] for s in seen}
    for name in ("a", "b", "k", "c", "mask", "sums", "counts"):
        assert device_pointer(args[name]) in received, name  # the column's own memory, no copy
    assert not any(s["copied"] for s in seen), seen
    assert T.compare(T.fetch("cuda", out), T.reference(inputs))[0]


# -- the rename ----------------------------------------------------------------------------------
def test_results_written_before_the_rename_load_under_the_new_name(tmp_path):
    import json

    from numbabench.results import FORMAT, load_results

    row = {"technique": "frame", "target": "cpu", "size": 1000, "dtype": "float32", "phase": "compute",
           "median_s": 1e-3, "status": "ok"}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": FORMAT, "version": 1, "rows": [row]}))
    df = load_results(path)
    assert list(df["technique"]) == ["dataframe"] and list(df["variant"]) == ["article"]
    assert numbabench.get_technique(df["technique"][0]) is T


def test_column_store_follows_the_probe_not_the_import(monkeypatch):
    # a CuPy that imports but does not work (built for another CUDA) must not be the column store
    monkeypatch.setattr(F, "_gpu_probe", lambda: {"cuda": True, "cupy": False})
    assert F.column_store("cuda") == "numba"
    monkeypatch.setattr(F, "_gpu_probe", lambda: {"cuda": True, "cupy": True})
    want = "cudf" if importlib.util.find_spec("cudf") else "cupy"
    assert F.column_store("cuda") == want and F.column_store("cudasim") == "numba"
