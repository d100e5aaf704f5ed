"""fftmask (article item 1): library FFT + custom apply_mask kernel + inverse FFT on shared memory."""
import math
import sys

import numpy as np
import pytest

import numbabench
from numbabench import ptx
from helpers import in_simulator

T = numbabench.get_technique("fftmask")
fm = sys.modules[type(T).__module__]  # the module, wherever the package keeps it

# frames that do not tile the 32x8 GPU block nor the simulator's 2x2 grid of 8x4 blocks
SHAPES = [(1, 1), (1, 17), (7, 13), (33, 65), (180, 320)]


def _inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    frame = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    return {"frame": frame, "mask": fm.lowpass_mask(shape)}


# -- sizes, mask, models ----------------------------------------------------------------------


def test_shape_for_gives_exact_pixel_counts_near_16_by_9():
    assert fm.shape_for(921_600) == (720, 1280)  # the article's frame
    assert fm.shape_for(57_600) == (180, 320)
    assert fm.shape_for(3_686_400) == (1440, 2560)
    assert fm.shape_for(128) == (8, 16)
    assert fm.shape_for(1) == (1, 1)
    assert fm.shape_for(7919) == (1, 7919)  # a prime: one row
    for size in list(range(1, 400)) + [10**6, 12_345]:
        rows, cols = fm.shape_for(size)
        assert rows * cols == size
    for sweep in ("quick", "full"):
        for target in ("cpu", "cudasim"):
            for size in T.sizes_for(target, sweep):
                rows, cols = fm.shape_for(size)
                assert 1.0 <= cols / rows <= 2.0, (size, rows, cols)
    with pytest.raises(numbabench.InputError, match="fftmask: .*at least one pixel"):
        fm.shape_for(0)


def test_lowpass_mask_is_binary_symmetric_and_keeps_dc():
    m = fm.lowpass_mask((90, 160))
    assert m.dtype == np.float32 and m.shape == (90, 160)
    assert set(np.unique(m)) == {0.0, 1.0}
    assert m[0, 0] == 1.0 and m[45, 80] == 0.0  # DC kept, Nyquist corner dropped
    # m(f) == m(-f): a real frame stays real through the filter
    np.testing.assert_array_equal(m, np.roll(m[::-1, ::-1], (1, 1), axis=(0, 1)))
    # area of the disc of radius CUTOFF/2 in the unit frequency square
    assert m.mean() == pytest.approx(math.pi * (fm.CUTOFF / 2) ** 2, rel=0.05)


def test_made_inputs_are_deterministic_and_checked():
    a, b = T.make_inputs(57_600, seed=4), T.make_inputs(57_600, seed=4)
    np.testing.assert_array_equal(a["frame"], b["frame"])
    assert a["frame"].shape == (180, 320) and a["frame"].dtype == np.complex64
    assert not np.array_equal(a["frame"], T.make_inputs(57_600, seed=5)["frame"])
    assert T.check_inputs(a) is not None
    with pytest.raises(numbabench.InputError, match="complex64"):
        T.make_inputs(128, dtype="float32")


def test_roofline_models():
    n = 921_600
    assert T.bytes_moved(n) == 3 * 2 * n * 8 + 4 * n
    assert T.flops(n) == 2 * int(5 * n * math.log2(n)) + 2 * n
    assert fm.fft_flops(1) == 0 and fm.fft_flops(8) == 5 * 8 * 3


# -- reference layer: numpy, cpu, parallel in process --------------------------------------------


@pytest.mark.parametrize("target", ["numpy", "cpu", "parallel"])
def test_cpu_targets_equal_reference(target):
    for shape in SHAPES:
        inputs = _inputs(shape)
        before = inputs["frame"].copy()
        got = T.run(target, inputs)
        assert got.dtype == np.complex64 and got.shape == shape
        correct, err = T.compare(got, T.reference(inputs))
        assert correct, (shape, err)
        np.testing.assert_array_equal(inputs["frame"], before)  # the input frame is left alone


def test_filter_does_something():
    # the noise is gone and the smooth scene is left: the mask matters to the result
    inputs = T.make_inputs(57_600)
    out = T.run("cpu", inputs)
    assert np.abs(out - inputs["frame"]).max() > 0.5
    rows, cols = inputs["frame"].shape
    y, x = np.arange(rows)[:, None] / rows, np.arange(cols)[None, :] / cols
    scene = np.cos(2 * np.pi * 3 * y) * np.cos(2 * np.pi * 5 * x)
    assert np.abs(out - scene).std() < 0.25 * np.abs(inputs["frame"] - scene).std()


def test_tolerance_catches_wrong_answers_but_passes_complex64_rounding():
    inputs = _inputs((64, 96), seed=1)
    want = T.reference(inputs)
    scale = float(np.abs(want).max())
    got = T.run("numpy", inputs)
    correct, err = T.compare(got, want)
    assert correct and 0 < err < fm.ATOL_REL * scale / 10  # a wide margin over float32 rounding
    off = got.copy()
    off[3, 5] += np.complex64(1e-3 * scale)
    assert T.compare(off, want)[0] is False
    unmasked = np.fft.ifft2(np.fft.fft2(inputs["frame"])).astype(np.complex64)
    assert T.compare(unmasked, want)[0] is False
    nan = got.copy()
    nan[0, 0] = np.nan
    assert T.compare(nan, want) == (False, float("inf"))
    assert T.compare(got[:, :-1], want) == (False, float("inf"))


@pytest.mark.parametrize("fn", ["mask_loop", "mask_prange"])
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (1, 1), (7, 13), (33, 65)])
def test_cpu_mask_functions_edge_cases(fn, shape):
    inputs = _inputs(shape, seed=3)
    frame, mask = inputs["frame"], inputs["mask"]
    if frame.size:
        frame.flat[::7] = np.complex64(complex(np.nan, 1.0))
        mask = np.random.default_rng(0).random(shape).astype(np.float32)  # not only 0 and 1
    want = frame * mask
    got = getattr(fm, fn)(frame, mask)
    assert got is frame  # in place
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("target", ["numpy", "cpu", "parallel"])
def test_extra_rows_split_library_and_kernel(target):
    rows = T.extra_rows(target, T.make_inputs(57_600), {"min_time": 0.01, "repeat": 3})
    assert [r["phase"] for r in rows] == ["fft", "mask", "ifft"]
    n = 57_600
    for r in rows:
        assert r["median_s"] > 0 and r["repeats"] == 3 and r["spread_s"] >= 0
        assert r["gbps"] == pytest.approx(r["bytes"] / r["median_s"] / 1e9)
    assert rows[1]["bytes"] == 2 * n * 8 + 4 * n and rows[1]["flops"] == 2 * n
    assert sum(r["bytes"] for r in rows) == T.bytes_moved(n)


# -- bad input ---------------------------------------------------------------------------------


def _bad_cases():
    good = _inputs((6, 10))
    f, m = good["frame"], good["mask"]
    return [
        ({"frame": f.real.astype(np.float64), "mask": m}, "frame must be complex64, got float64"),
        ({"frame": f.astype(np.complex128), "mask": m}, "frame must be complex64, got complex128"),
        ({"frame": f, "mask": m.astype(np.float64)}, "mask must be float32, got float64"),
        ({"frame": f, "mask": m[:, :-1].copy()}, "does not match frame shape (6, 10)"),
        ({"frame": f[:, ::2], "mask": m[:, ::2].copy()}, "frame must be C-contiguous"),
        ({"frame": f, "mask": np.asfortranarray(m)}, "mask must be C-contiguous"),
        ({"frame": f.ravel(), "mask": m.ravel()}, "2-D NumPy array"),
        ({"frame": f.tolist(), "mask": m}, "2-D NumPy array, got list"),
        ({"frame": np.zeros((0, 4), np.complex64), "mask": np.zeros((0, 4), np.float32)},
         "at least one pixel"),
        ({"frame": f}, "missing input 'mask'"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_bad_input_names_technique_and_expectation(case):
    inputs, expected = _bad_cases()[case]
    with pytest.raises(numbabench.InputError) as e:
        T.run("cpu", inputs)
    assert str(e.value).startswith("fftmask: ") and expected in str(e.value)


# -- PTX layer ---------------------------------------------------------------------------------


def test_apply_mask_compiles_to_ptx_in_single_precision():
    from numba import cuda

    (kernel,) = T.kernels()
    assert kernel.pyfunc is fm.apply_mask
    results = ptx.compile_kernel(kernel, technique="fftmask")
    assert results and all(r.ok for r in results), "\n".join(map(str, results))
    assert {r.cc for r in results} == {(8, 0), (9, 0)}
    text, _ = cuda.compile_ptx(fm.apply_mask, kernel.signatures[0], cc=(8, 0))
    assert ".f64" not in text  # complex64 * float32 stays float32 on the GPU
    assert "ld.global.f32" in text and "st.global.f32" in text


# -- cudasim: the same kernel under the simulator, memory shared between the steps -------------


def test_cudasim_reference_kernel_edges_and_shared_memory():
    res = in_simulator(f"""
        import json, sys, numpy as np, numbabench
        from numba import cuda
        import numba.cuda.simulator.cudadrv.devicearray as sda
        T = numbabench.get_technique("fftmask")
        fm = sys.modules[type(T).__module__]
        out = {{}}

        def inputs(shape, seed=0):
            rng = np.random.default_rng(seed)
            f = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
            return {{"frame": f, "mask": fm.lowpass_mask(shape)}}

        # 1. the whole pipeline equals the reference, on frames that tile no block
        out["reference"] = {{}}
        for shape in {SHAPES[:-1] + [(32, 64)]!r}:
            i = inputs(shape)
            out["reference"][str(shape)] = T.compare(T.run("cudasim", i), T.reference(i))[0]
        made = T.make_inputs(2048)
        out["reference"]["made 2048"] = T.compare(T.run("cudasim", made), T.reference(made))[0]

        # 2. apply_mask alone: empty, one pixel, odd shapes, NaN; several launch shapes
        out["kernel"] = {{}}
        k = fm.cuda_apply_mask()
        for shape in [(0, 5), (5, 0), (1, 1), (7, 13), (33, 65), (9, 40)]:
            rng = np.random.default_rng(1)
            f = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
            if f.size:
                f.flat[::5] = np.complex64(complex(np.nan, 1.0))
            m = rng.random(shape).astype(np.float32)
            want = f * m
            for launch in ["default", ((1, 1), (1, 1)), ((3, 1), (5, 3))]:
                d = cuda.to_device(f)
                if launch == "default":
                    fm.launch_mask(d, cuda.to_device(m))
                else:
                    k[launch](d, cuda.to_device(m))
                got = d.copy_to_host()
                out["kernel"][f"{{shape}} {{launch}}"] = bool(np.array_equal(got, want, equal_nan=True))

        # 3. shared memory: count copies and new device arrays, watch what the kernel gets
        counts = {{"new_device_array": 0, "copy_to_host": 0, "copy_to_device": 0}}
        seen = []
        def counting(name, orig):
            def f(self, *a, **kw):
                counts[name] += 1
                return orig(self, *a, **kw)
            return f
        sda.FakeCUDAArray.__init__ = counting("new_device_array", sda.FakeCUDAArray.__init__)
        sda.FakeCUDAArray.copy_to_host = counting("copy_to_host", sda.FakeCUDAArray.copy_to_host)
        sda.FakeCUDAArray.copy_to_device = counting("copy_to_device", sda.FakeCUDAArray.copy_to_device)
        orig_within = sda.FakeWithinKernelCUDAArray.__init__
        def within(self, item):
            seen.append(item._ary)
            orig_within(self, item)
        sda.FakeWithinKernelCUDAArray.__init__ = within

        i = inputs((33, 65), seed=2)
        args = T.prepare("cudasim", i)
        dev = args["out"]
        buf = dev._ary  # the simulator's "device memory" of the output
        addr = buf.ctypes.data
        view = fm.sim_buffer(dev)
        out["view_is_zero_copy"] = bool(np.shares_memory(view, buf) and view.ctypes.data == addr)

        for k_ in counts: counts[k_] = 0
        seen.clear()
        result = T.variant("cudasim")(args)
        out["whole_run_counts"] = dict(counts)
        out["result_is_out"] = result is dev and dev._ary is buf and buf.ctypes.data == addr
        out["kernel_got_out_buffer"] = len(seen) == 2 and seen[0] is buf and seen[1] is args["mask"]._ary
        out["whole_run_correct"] = T.compare(buf.copy(), T.reference(i))[0]

        # step by step: the FFT lands in the buffer, the kernel changes that buffer in place
        fm.sim_fft_into(args["frame"], dev)
        spectrum = buf.copy()
        out["fft_in_buffer"] = bool(np.allclose(spectrum, np.fft.fft2(i["frame"]), atol=1e-3))
        fm.launch_mask(dev, args["mask"])
        out["mask_in_place"] = bool(np.array_equal(buf, spectrum * i["mask"])) and buf.ctypes.data == addr

        # negative control: a host array handed to the kernel IS copied, and the counters see it
        for k_ in counts: counts[k_] = 0
        fm.launch_mask(spectrum, args["mask"])
        out["host_array_is_copied"] = counts["new_device_array"] > 0

        # 4. extra rows run on the simulator too
        rows = T.extra_rows("cudasim", T.make_inputs(128), {{"min_time": 0.0, "repeat": 2}})
        out["extra_phases"] = [r["phase"] for r in rows]
        out["extra_ok"] = all(r["median_s"] > 0 for r in rows)
        print(json.dumps(out))
    """)
    assert res["reference"] and all(res["reference"].values()), res["reference"]
    assert res["kernel"] and all(res["kernel"].values()), res["kernel"]
    assert res["view_is_zero_copy"]
    assert res["whole_run_counts"] == {"new_device_array": 0, "copy_to_host": 0, "copy_to_device": 0}
    assert res["result_is_out"] and res["kernel_got_out_buffer"] and res["whole_run_correct"]
    assert res["fft_in_buffer"] and res["mask_in_place"]
    assert res["host_array_is_copied"]
    assert res["extra_phases"] == ["fft", "mask", "ifft"] and res["extra_ok"]


# -- GPU targets -------------------------------------------------------------------------------


def test_cuda_target_without_gpu_names_cudasim(gpu_probe):
    if gpu_probe.cuda:
        pytest.skip("this machine has a GPU: the no-GPU message cannot be seen here")
    with pytest.raises(numbabench.TargetUnavailable, match="cudasim"):
        T.run("cuda", T.make_inputs(128))


def test_missing_cupy_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(numbabench.TargetUnavailable, match="CuPy.*pyculib|pyculib.*CuPy"):
        fm._cupy()


@pytest.mark.gpu
def test_gpu_targets_equal_reference(gpu_probe):
    if not gpu_probe.cupy:  # a GPU without CuPy: the cuda target must say what it needs
        with pytest.raises(numbabench.TargetUnavailable, match="CuPy"):
            T.run("cuda", T.make_inputs(128))
        return
    for target in ("cuda", "cupy"):
        for shape in SHAPES + [(720, 1280)]:
            inputs = _inputs(shape, seed=6)
            got = T.run(target, inputs)
            assert got.dtype == np.complex64 and got.shape == shape
            assert T.compare(got, T.reference(inputs))[0], (target, shape)


@pytest.mark.gpu("cupy")
def test_cuda_path_zero_copy_one_stream_no_host_trip(monkeypatch):
    import cupy
    import cupyx.scipy.fft as cfft
    from numba import cuda
    from numba.cuda.cudadrv import devicearray

    from kernel_args import kernel_arguments

    inputs = _inputs((720, 1280), seed=7)
    args = T.prepare("cuda", inputs)
    # zero copy: the mask kernel receives CuPy's own memory (what the launch hands the GPU, not a
    # pointer read back from a view), and its write shows in CuPy
    spec = cfft.fft2(args["frame"])
    before = cupy.asnumpy(spec)
    with kernel_arguments() as seen:
        fm.cuda_mask_step(spec, args["mask_nb"])
        cuda.synchronize()
    assert [s["ptr"] for s in seen] == [spec.data.ptr, args["mask"].data.ptr], seen
    assert not any(s["copied"] for s in seen)
    np.testing.assert_array_equal(cupy.asnumpy(spec), before * inputs["mask"])

    # one stream, no host round trip: on a non-blocking CuPy stream the kernel goes onto that
    # stream, and nothing is copied to or from the host
    streams, copies = [], []
    real_external = cuda.external_stream
    monkeypatch.setattr(cuda, "external_stream", lambda ptr: streams.append(ptr) or real_external(ptr))
    monkeypatch.setattr(cupy, "asnumpy", lambda *a, **k: copies.append("asnumpy"))
    monkeypatch.setattr(cuda, "to_device", lambda *a, **k: copies.append("to_device"))
    real_copy = devicearray.DeviceNDArray.copy_to_host
    monkeypatch.setattr(devicearray.DeviceNDArray, "copy_to_host",
                        lambda self, *a, **k: copies.append("copy_to_host") or real_copy(self, *a, **k))
    fn = T.variant("cuda")
    with cupy.cuda.Stream(non_blocking=True) as s:
        out = fn(args)
    s.synchronize()
    assert streams == [s.ptr] and copies == []
    monkeypatch.undo()
    assert T.compare(out.get(), T.reference(inputs))[0]


@pytest.mark.gpu("cupy")
@pytest.mark.parametrize("target", ["cuda", "cupy"])
def test_gpu_extra_rows(target):
    rows = T.extra_rows(target, T.make_inputs(921_600), {"min_time": 0.05, "repeat": None})
    assert [r["phase"] for r in rows] == ["fft", "mask", "ifft"]
    assert all(r["median_s"] > 0 for r in rows)
