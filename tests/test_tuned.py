"""The tuned host variants: listed by the registry, equal to the reference on awkward inputs too.

A tuned variant that is fast and wrong is a failure, so each one is checked beyond the benchmark's
seed: NaN, infinities, underflow to subnormals, large cos arguments, odd lengths (the vector
blocks' tails), strided views (a contiguous-only kernel must not be handed one), broadcast
arguments, and the scalar fallback of numbabench.vecmath.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import run_python
from numbabench import get_technique
from numbabench.registry import ARTICLE, TUNED

HOST = ("numpy", "cpu", "parallel")
#: what each technique offers per host target (one way only where the article's is already best)
EXPECTED = {
    "gaussian": {"numpy": (ARTICLE, TUNED), "cpu": (ARTICLE, TUNED), "parallel": (ARTICLE, TUNED)},
    "remote": {"numpy": (ARTICLE, TUNED), "cpu": (ARTICLE, TUNED), "parallel": (ARTICLE, TUNED)},
    "clamp": {"numpy": (ARTICLE,), "cpu": (ARTICLE,), "parallel": (ARTICLE, TUNED)},
    "fftmask": {"numpy": (ARTICLE, TUNED), "cpu": (ARTICLE,), "parallel": (ARTICLE, TUNED)},
    "frame": {"numpy": (ARTICLE, TUNED), "cpu": (ARTICLE, TUNED), "parallel": (ARTICLE, TUNED)},
}


def _frame_name():
    from numbabench import techniques

    return "dataframe" if "dataframe" in techniques() else "frame"


def tech(name):
    return get_technique(_frame_name() if name == "frame" else name)


def pairs(name):
    t = tech(name)
    return [(target, v) for target in HOST for v in t.variants_for(target)]


def check_all(name, inputs):
    t = tech(name)
    inputs = t.check_inputs(inputs)
    want = t.reference(inputs)
    bad = []
    for target, variant in pairs(name):
        ok, err = t.compare(t.run(target, inputs, variant), want)
        if not ok:
            bad.append(f"{target}/{variant}: max abs error {err:.3g}")
    assert not bad, f"{name}: " + "; ".join(bad)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_registry_lists_the_variants(name):
    t = tech(name)
    for target, want in EXPECTED[name].items():
        assert t.variants_for(target) == want
        for v in want:
            assert callable(t.variant(target, v))


#: every technique in each of its dtypes (fftmask has one: complex64)
CASES = [(n, d) for n in EXPECTED for d in (("complex64",) if n == "fftmask" else ("float32", "float64"))]


@pytest.mark.parametrize("name,dtype", CASES)
@pytest.mark.parametrize("size", [1, 999, 20_000, 200_000])
def test_every_variant_equals_the_reference(name, dtype, size):
    check_all(name, tech(name).make_inputs(size, seed=3, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_whole_range_and_edges(dtype):
    # x over the whole curve: the peak, the tails that underflow to subnormals and to 0, and IEEE
    # specials; 1-D odd length (vector tails) and 2-D.
    f = np.finfo(dtype)
    x = np.concatenate([np.linspace(-30, 30, 100_003), [0.0, -0.0, f.smallest_subnormal, np.nan, np.inf,
                                                        -np.inf, f.max, -f.max, 1e20]]).astype(dtype)
    check_all("gaussian", {"x": x, "x0": dtype(0.25), "sigma": dtype(1.5)})
    check_all("gaussian", {"x": x[:100_000].reshape(100, 1000), "x0": dtype(-3.0), "sigma": dtype(0.01)})
    check_all("gaussian", {"x": x, "x0": dtype(0.0), "sigma": dtype(1e30)})


def test_gaussian_strided_and_broadcast_inputs_do_not_reach_the_contiguous_kernel():
    rng = np.random.default_rng(0)
    big = rng.standard_normal((300, 2000)).astype(np.float32)
    check_all("gaussian", {"x": big[:, ::2], "x0": np.float32(0.1), "sigma": np.float32(2.0)})
    check_all("gaussian", {"x": big[::3], "x0": np.float32(0.1), "sigma": np.float32(2.0)})
    check_all("gaussian", {"x": big, "x0": rng.standard_normal(2000).astype(np.float32), "sigma": np.float32(1.0)})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_remote_cos_whole_range_and_edges(dtype):
    f = np.finfo(dtype)
    x = np.concatenate([np.linspace(-10, 10, 100_001), np.linspace(-1e5, 1e5, 10_001),
                        [0.0, -0.0, f.smallest_subnormal, -f.tiny, 1e10, -1e20, f.max, np.nan, np.inf, -np.inf]])
    check_all("remote", {"x": x.astype(dtype)})


def test_clamp_edges():
    x = np.concatenate([np.linspace(-3, 3, 70_001), [np.nan, np.inf, -np.inf, -0.0]]).astype(np.float32)
    check_all("clamp", {"x": x, "xmin": -0.5, "xmax": 0.5})
    check_all("clamp", {"x": x, "xmin": 1.0, "xmax": -1.0})  # xmin > xmax: xmax everywhere


def test_fftmask_random_mask_and_odd_frame():
    t = tech("fftmask")
    rng = np.random.default_rng(5)
    inp = t.make_inputs(35 * 61, seed=1)
    check_all("fftmask", inp)
    check_all("fftmask", {"frame": inp["frame"], "mask": rng.random(inp["frame"].shape).astype(np.float32)})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_frame_nan_rows_and_strided_columns(dtype):
    t = tech("frame")
    inp = t.make_inputs(50_001, seed=7, dtype=dtype)
    frame = inp["frame"].copy()
    frame.loc[::97, "a"] = np.nan
    frame.loc[5::101, "b"] = np.inf
    check_all("frame", {**inp, "frame": frame})
    # a frame made from one 2-D array: its columns are strided views
    rng = np.random.default_rng(2)
    block = rng.standard_normal((40_000, 2)).astype(dtype)
    strided = pd.DataFrame(block, columns=["a", "b"], copy=False)
    strided["k"] = rng.integers(0, inp["n_keys"], 40_000).astype(np.int32)
    check_all("frame", {"frame": strided, "threshold": 0.3, "n_keys": inp["n_keys"]})


@pytest.mark.parametrize("name,target", [("gaussian", "numpy"), ("gaussian", "cpu"), ("gaussian", "parallel"),
                                         ("remote", "numpy"), ("remote", "cpu"), ("remote", "parallel")])
def test_tuned_writes_into_the_prepared_buffer(name, target):
    t = tech(name)
    inputs = t.check_inputs(t.make_inputs(10_000))
    args = t.prepare(target, inputs)
    out = t.variant(target, TUNED)(args)
    assert out is args["out"]


def test_tuned_variants_right_on_the_scalar_fallback():
    state = run_python("""
        import json
        from numbabench import get_technique, vecmath
        from numbabench.registry import TUNED
        bad = []
        for name in ("gaussian", "remote"):
            t = get_technique(name)
            inputs = t.check_inputs(t.make_inputs(12_345, seed=2))
            want = t.reference(inputs)
            for target in ("cpu", "parallel"):
                ok, err = t.compare(t.run(target, inputs, TUNED), want)
                if not ok:
                    bad.append(f"{name} {target}: {err}")
        print(json.dumps({"backend": vecmath.backend().name, "bad": bad}))
    """, NUMBABENCH_VECMATH="scalar")
    assert state == {"backend": "scalar", "bad": []}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_variant_env_names_real_pairs_and_selects_its_layer(name):
    t = tech(name)
    envs = t.variant_env
    for target, variant in envs:
        assert variant in t.variants_for(target)
    # no setting: Numba's default order (OpenMP here), the quiet-machine choice (docs/threading.md)
    env = envs.get(("parallel", ARTICLE), {})
    state = run_python(f"""
        import json, numba
        from numbabench import get_technique
        t = get_technique({t.name!r})
        inputs = t.check_inputs(t.make_inputs(50_000))
        ok, _ = t.compare(t.run("parallel", inputs), t.reference(inputs))
        loadable = []
        for layer in ("omp", "tbb", "workqueue"):
            try:
                __import__(f"numba.np.ufunc.{{layer}}pool")
                loadable.append(layer)
            except ImportError:
                pass
        print(json.dumps({{"ok": ok, "layer": numba.threading_layer(), "loadable": loadable}}))
    """, **env)
    assert state["ok"]
    if "NUMBA_THREADING_LAYER" in env:
        want = env["NUMBA_THREADING_LAYER"]
    else:  # the first of the priority list (Numba's own: tbb omp workqueue) that this Numba can load
        order = env.get("NUMBA_THREADING_LAYER_PRIORITY", "tbb omp workqueue").split()
        want = next(x for x in order if x in state["loadable"])
    assert state["layer"] == want


def test_fftmask_step_rows_for_every_variant_of_the_cell():
    t = tech("fftmask")
    inputs = t.check_inputs(t.make_inputs(57_600))
    rows = t.extra_rows("parallel", inputs, {"min_time": 0.01, "repeat": 3, "variants": (ARTICLE, TUNED)})
    assert [(r["phase"], r["variant"]) for r in rows] == [
        (p, v) for v in (ARTICLE, TUNED) for p in ("fft", "mask", "ifft")]
    assert all(r["median_s"] > 0 for r in rows)
