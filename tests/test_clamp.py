"""clamp (article item 3): every variant equals np.clip, including the edge cases."""
import numpy as np
import pytest

import numbabench
from numbabench.article.clamp import clamp
from helpers import in_simulator

clamp_t = numbabench.get_technique("clamp")

EDGE_CASES = [
    # (name, x, xmin, xmax)
    ("empty", np.array([], np.float32), -0.5, 0.5),
    ("one", np.array([3.0], np.float32), -0.5, 0.5),
    ("off-block", np.linspace(-2, 2, 1000 + 37, dtype=np.float32), -0.5, 0.5),
    ("nan", np.array([np.nan, -3, 0.1, np.nan, 7], np.float32), -0.5, 0.5),
    ("xmin==xmax", np.linspace(-2, 2, 101, dtype=np.float64), 0.25, 0.25),
    ("xmin>xmax", np.linspace(-2, 2, 101, dtype=np.float64), 1.0, -1.0),
    ("above-xmin-below-xmax", np.array([0.0, 0.2, -0.2], np.float32), -0.5, 0.5),
    ("float64-random", np.random.default_rng(1).standard_normal(4099), -1.0, 1.5),
]


@pytest.mark.parametrize("target", ["numpy", "cpu", "parallel"])
@pytest.mark.parametrize("case", EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_cpu_targets_equal_reference(target, case):
    _, x, lo, hi = case
    inputs = {"x": x, "xmin": lo, "xmax": hi}
    got = clamp_t.run(target, inputs)
    want = np.clip(x, x.dtype.type(lo), x.dtype.type(hi))
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, want)  # exact: clamp only selects values


def test_cudasim_equals_reference_on_every_edge_case():
    cases = [(name, x.tolist(), str(x.dtype), lo, hi) for name, x, lo, hi in EDGE_CASES]
    verdicts = in_simulator(f"""
        import json, numpy as np, numbabench
        from math import nan
        t = numbabench.get_technique("clamp")
        out = {{}}
        for name, x, dtype, lo, hi in {cases!r}:
            x = np.array(x, dtype=dtype)
            got = t.run("cudasim", {{"x": x, "xmin": lo, "xmax": hi}})
            want = np.clip(x, x.dtype.type(lo), x.dtype.type(hi))
            out[name] = bool(got.dtype == x.dtype and np.array_equal(got, want, equal_nan=True))
        print(json.dumps(out))
    """)
    assert verdicts == {c[0]: True for c in EDGE_CASES}


def test_shared_helper_is_the_article_function_not_the_cuda_cpp_bug():
    # The article's CUDA C++ clamp tests `x > xmin` in its second branch: a value between the bounds
    # would come back as xmax. The Python helper must return it unchanged.
    assert clamp(0.2, -0.5, 0.5) == 0.2
    assert clamp(-0.7, -0.5, 0.5) == -0.5
    assert clamp(0.7, -0.5, 0.5) == 0.5


@pytest.mark.parametrize("inputs, expected", [
    ({"x": np.arange(10), "xmin": 0, "xmax": 1}, "float32 or float64"),
    ({"x": np.zeros((3, 3), np.float32), "xmin": 0, "xmax": 1}, "1-D"),
    ({"x": np.zeros(10, np.float32)[::2], "xmin": 0, "xmax": 1}, "contiguous"),
    ({"x": np.zeros(10, np.float32), "xmin": float("nan"), "xmax": 1}, "xmin must be a real number"),
    ({"x": np.zeros(10, np.float32), "xmin": 0, "xmax": np.zeros(2)}, "xmax must be a real number"),
    ({"x": [1.0, 2.0], "xmin": 0, "xmax": 1}, "NumPy array"),
    ({"x": np.zeros(3, np.float32), "xmin": 0}, "missing input"),
])
def test_bad_input_names_technique_and_expectation(inputs, expected):
    with pytest.raises(numbabench.InputError) as e:
        clamp_t.run("cpu", inputs)
    assert str(e.value).startswith("clamp: ") and expected in str(e.value)


def test_unknown_target_for_technique():
    with pytest.raises(numbabench.UnknownName, match="unknown target 'tpu'"):
        clamp_t.run("tpu", clamp_t.make_inputs(10))


def test_cuda_target_without_gpu_names_cudasim(gpu_probe):
    if gpu_probe.cuda:
        pytest.skip("this machine has a GPU: the no-GPU message cannot be seen here")
    with pytest.raises(numbabench.TargetUnavailable, match="cudasim"):
        clamp_t.run("cuda", clamp_t.make_inputs(10))


def test_roofline_model():
    assert clamp_t.bytes_moved(1000, "float32") == 8000
    assert clamp_t.bytes_moved(1000, "float64") == 16000
    assert clamp_t.flops(1000) == 2000


@pytest.mark.gpu
@pytest.mark.parametrize("target", ["cuda", pytest.param("cupy", marks=pytest.mark.gpu("cupy"))])
def test_gpu_targets_equal_reference(target):
    for _, x, lo, hi in EDGE_CASES:
        got = clamp_t.run(target, {"x": x, "xmin": lo, "xmax": hi})
        np.testing.assert_array_equal(got, np.clip(x, x.dtype.type(lo), x.dtype.type(hi)))
    big = clamp_t.make_inputs(3_000_017, seed=5)
    assert clamp_t.compare(clamp_t.run(target, big), clamp_t.reference(big)) == (True, 0.0)
