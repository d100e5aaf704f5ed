"""numbabench.vecmath: libmvec's vector exp/cos/sin from @njit code, and its scalar fallback.

The accuracy sweep covers every argument the tuned kernels meet (gaussian's exp over its whole
range down to underflow, remote's cos and frame's sin far beyond their inputs) plus the IEEE edge
inputs, against a wider reference: float64 for float32 results, long double for float64 results.
"""
from __future__ import annotations

import ctypes.util
import platform

import numpy as np
import pytest

from helpers import run_python
from numbabench import vecmath

FUNCS = {"exp": (vecmath.vexp, np.exp), "cos": (vecmath.vcos, np.cos), "sin": (vecmath.vsin, np.sin)}
#: glibc documents its vector functions as accurate to 4 ulp
MAX_ULP = 4.0


def edge_inputs(dtype) -> np.ndarray:
    f = np.finfo(dtype)
    tiny, sub = f.tiny, f.smallest_subnormal
    vals = [0.0, -0.0, sub, -sub, tiny - sub, -(tiny - sub), tiny, -tiny, 1.0, -1.0, np.pi / 2, np.pi,
            1e4, -1e4, 1e6, 1e10, 1e20, -1e30, f.max, -f.max, np.nan, np.inf, -np.inf]
    return np.array(vals, dtype)


def sweep_inputs(name: str, dtype) -> np.ndarray:
    rng = np.random.default_rng(1)
    if name == "exp":  # gaussian's argument -z*z/2 is in (-inf, 0]; exp overflows above ~88 (f4)
        hi = 89.0 if dtype == np.float32 else 710.0
        lo = -104.0 if dtype == np.float32 else -746.0
        body = np.concatenate([np.linspace(lo, hi, 200_001), rng.uniform(-30, 0, 100_000)])
    else:  # remote's x in [-10, 10], frame's a ~ N(0, 1); then far arguments
        body = np.concatenate([np.linspace(-10, 10, 200_001), rng.uniform(-1e5, 1e5, 50_000),
                               rng.uniform(-1e30, 1e30, 20_000) if dtype == np.float32 else
                               rng.uniform(-1e300, 1e300, 20_000)])
    return np.concatenate([body.astype(dtype), edge_inputs(dtype)])


def reference(name, x):
    wide = np.float64 if x.dtype == np.float32 else np.longdouble
    with np.errstate(all="ignore"):
        return FUNCS[name][1](x.astype(wide))


def errors(got, ref, dtype) -> tuple[float, float]:
    """(max ulp error, max relative error where the result is normal); non-finite ones must match."""
    with np.errstate(over="ignore"):  # exp beyond the type's range: inf, as the result must be
        ref_d = ref.astype(dtype)  # rounded to the result's type
    finite = np.isfinite(ref_d)
    assert np.array_equal(np.isnan(got), np.isnan(ref_d)), "NaN where the reference is not (or not where it is)"
    assert np.array_equal(got[~finite & ~np.isnan(ref_d)], ref_d[~finite & ~np.isnan(ref_d)]), "wrong infinity"
    g, r = got[finite].astype(ref.dtype), ref[finite]
    ulp = np.spacing(np.abs(ref_d[finite])).astype(ref.dtype)
    d = np.abs(g - r)
    normal = np.abs(ref_d[finite]) >= np.finfo(dtype).tiny  # relative error means little in subnormals
    rel = float((d[normal] / np.abs(r[normal])).max()) if normal.any() else 0.0
    return float((d / ulp).max()), rel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(FUNCS))
def test_accuracy_sweep_within_4_ulp(name, dtype):
    x = sweep_inputs(name, dtype)
    got = FUNCS[name][0](x, np.empty_like(x))
    max_ulp, max_rel = errors(got, reference(name, x), dtype)
    assert max_ulp <= MAX_ULP, f"{name} {np.dtype(dtype).name}: {max_ulp:.2f} ulp (relative {max_rel:.3g})"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_edge_values_are_ieee(dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, np.finfo(dtype).smallest_subnormal], dtype)
    e = vecmath.vexp(x, np.empty_like(x))
    c = vecmath.vcos(x, np.empty_like(x))
    s = vecmath.vsin(x, np.empty_like(x))
    np.testing.assert_array_equal(e, np.array([1, 1, np.inf, 0, np.nan, 1], dtype))
    np.testing.assert_array_equal(c, np.array([1, 1, np.nan, np.nan, np.nan, 1], dtype))
    np.testing.assert_array_equal(s[[0, 1, 5]], x[[0, 1, 5]])  # sin(x) == x there, sign of -0 kept
    assert np.signbit(s[1]) and np.isnan(s[2:5]).all()


@pytest.mark.parametrize("n", [0, 1, 7, 15, 16, 17, 31, 33, 100])
def test_every_length_blocks_and_tail(n):
    x = np.linspace(-5, 5, n).astype(np.float32)
    np.testing.assert_allclose(vecmath.vexp(x, np.empty_like(x)), np.exp(x), rtol=1e-6)
    y = x.copy()
    vecmath.vcos(y, y)  # in place: dst is src
    np.testing.assert_allclose(y, np.cos(x), rtol=1e-6, atol=1e-7)


def test_strided_views_take_the_scalar_path_and_stay_right():
    x = np.linspace(-20, 20, 1001).astype(np.float32)
    out = np.zeros(2002, np.float32)
    vecmath.vcos(x[::2], out[::4])
    np.testing.assert_allclose(out[::4], np.cos(x[::2]), rtol=1e-6, atol=1e-7)
    assert not out[1::4].any()  # nothing written between the strided elements


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        vecmath.vexp(np.ones(8, np.float32), np.empty(9, np.float32))


def test_libmvec_is_used_where_glibc_has_it():
    b = vecmath.backend()
    have = platform.machine() == "x86_64" and ctypes.util.find_library("mvec") is not None
    assert (b.name == "libmvec") == have, b
    if have:
        assert b.lanes32 in (4, 8, 16) and b.symbol("exp", 32).startswith("_ZGV")


def test_import_loads_nothing_and_the_fallbacks_are_right():
    state = run_python("""
        import json, numpy as np
        import numbabench
        numbabench.techniques()  # imports every technique module, vecmath with them
        from numbabench import vecmath
        loaded = vecmath.backend.cache_info().currsize
        vecmath.LIBMVEC = "libnumbabench-no-such-library.so.9"
        b = vecmath.backend()
        x = np.linspace(-30, 30, 1003).astype(np.float32)
        e = float(np.abs(vecmath.vexp(x, np.empty_like(x)) / np.exp(x.astype(np.float64)) - 1).max())
        print(json.dumps({"loaded_at_import": loaded, "name": b.name, "reason": b.reason, "err": e}))
    """)
    assert state["loaded_at_import"] == 0
    assert state["name"] == "scalar" and "cannot be loaded" in state["reason"]
    assert state["err"] < 1e-6


def test_forced_scalar_backend():
    state = run_python("""
        import json, numpy as np
        from numbabench import vecmath
        x = np.linspace(-10, 10, 999).astype(np.float32)
        c = vecmath.vcos(x, np.empty_like(x))
        print(json.dumps({"name": vecmath.backend().name,
                          "err": float(np.abs(c - np.cos(x.astype(np.float64))).max())}))
    """, NUMBABENCH_VECMATH="scalar")
    assert state["name"] == "scalar" and state["err"] < 1e-6
