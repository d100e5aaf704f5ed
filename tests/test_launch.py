"""launch: launch overhead of near-empty kernels, Numba (article, tuned) vs CuPy RawKernel."""
import numpy as np
import pytest

import numbabench
from helpers import in_simulator
from numbabench.article import launch

T = numbabench.get_technique("launch")


def test_sizes_are_the_argument_counts_and_bad_ones_are_refused():
    assert T.sizes_for("cuda", "gpu") == (0, 1, 4, 8) == T.sizes_for("cudasim", "quick")
    with pytest.raises(numbabench.InputError, match="number of array arguments"):
        T.make_inputs(3)
    with pytest.raises(numbabench.InputError, match="float32"):
        T.check_inputs({"arrays": [np.zeros(4)]})


def test_every_arity_and_variant_launches_under_the_simulator():
    out = in_simulator("""
        import json
        import numbabench
        T = numbabench.get_technique("launch")
        res = {}
        for variant in T.variants_for("cudasim"):
            for k in T.sizes_for("cudasim", "quick"):
                inputs = T.make_inputs(k)
                args = T.prepare("cudasim", inputs)
                fn = T.variant("cudasim", variant)
                fn(args); got = T.fetch("cudasim", fn(args))  # twice: the tuned launcher is reused
                res[f"{variant}/{k}"] = [T.compare(got, T.reference(inputs))[0], got.tolist()]
        print(json.dumps(res))
    """)
    assert set(out) == {f"{v}/{k}" for v in ("article", "tuned") for k in (0, 1, 4, 8)}
    for key, (ok, got) in out.items():
        k = int(key.split("/")[1])
        assert ok and got == ([float(k)] + [0.0] * (k - 1))[:k], (key, got)


def test_cupy_twins_take_the_same_arguments():
    for k, fn in launch.PYFUNCS.items():
        src = launch.cupy_source(k)
        assert src.count("float* a") == fn.__code__.co_argcount == k
        assert (f"a0[0] = {k}.0f" in src) == (k > 0)


@pytest.mark.gpu
@pytest.mark.parametrize("target, variant", [("cuda", "article"), ("cuda", "tuned"),
                                             pytest.param("cupy", "article", marks=pytest.mark.gpu("cupy"))])
def test_gpu_launches_per_call_cost_at_least_pipelined(target, variant):
    from numbabench import timing
    from numbabench.devices import memory

    sync = memory(target).synchronize
    for k in (0, 8):
        inputs = T.make_inputs(k)
        args = T.prepare(target, inputs)
        fn = T.variant(target, variant)
        assert T.compare(T.fetch(target, fn(args)), T.reference(inputs))[0]
        thr = timing.steady(lambda: fn(args), sync, min_time=0.05)
        lat = timing.latency(lambda: fn(args), sync, min_time=0.05)
        assert 0 < thr.median_s < 1e-3 and lat.median_s >= 0.9 * thr.median_s, (k, thr, lat)
