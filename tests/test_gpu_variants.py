"""GPU tuned variants beside the article's way (clamp, gaussian, fftmask; launch has its own tests):
the simulator proves both equal the reference, the PTX layer compiles both (test_ptx)."""
import pytest

import numbabench
from helpers import in_simulator
from numbabench import ptx

GPU_TUNED = ("clamp", "gaussian", "fftmask")


def test_gpu_targets_offer_article_and_tuned():
    for name in GPU_TUNED:
        t = numbabench.get_technique(name)
        for target in ("cuda", "cudasim"):
            assert t.variants_for(target)[:2] == ("article", "tuned"), (name, target)  # (fftmask: + fused)


def test_every_gpu_variants_kernel_is_a_ptx_code_path():
    names = {(n, k.name) for n in GPU_TUNED for k in ptx.code_paths(n)}
    for want in [("fftmask", "apply_mask"), ("fftmask", "apply_mask_article"), ("clamp", "clamp_kernel"),
                 ("gaussian", "gaussian_scalars_kernel"), ("gaussian", "gaussian_kernel")]:
        assert want in names


def test_article_and_tuned_equal_the_reference_under_the_simulator():
    out = in_simulator("""
        import json, numpy as np, numbabench
        from numba import cuda
        res = {}
        for name, sizes in (("clamp", (1, 999, 5000)), ("gaussian", (7, 3000, 5001)), ("fftmask", (128, 2048))):
            T = numbabench.get_technique(name)
            for variant in ("article", "tuned"):
                for size in sizes:
                    inp = T.make_inputs(size, seed=size)
                    res[f"{name}/{variant}/{size}"] = T.compare(T.run("cudasim", inp, variant),
                                                                T.reference(T.check_inputs(inp)))[0]
        G = numbabench.get_technique("gaussian")
        x = np.random.default_rng(1).standard_normal((7, 100)).astype(np.float32)
        for label, x0 in (("row", np.linspace(-1, 1, 100).astype(np.float32)), ("scalar", np.float32(0.3))):
            inp = {"x": x, "x0": x0, "sigma": np.float32(1.5)}
            res[f"gaussian/tuned/broadcast {label}"] = G.compare(G.run("cudasim", inp, "tuned"),
                                                                 G.reference(G.check_inputs(inp)))[0]
        # which mask kernel each fftmask variant launches
        import sys
        fm = sys.modules[type(numbabench.get_technique("fftmask")).__module__]
        launched = []
        for name in ("cuda_apply_mask", "cuda_apply_mask_article"):
            real = getattr(fm, name)()
            class Spy:
                def __init__(self, real, name): self.real, self.name = real, name
                def __getitem__(self, cfg):
                    launched.append(self.name); return self.real[cfg]
            setattr(fm, name, (lambda spy: (lambda: spy))(Spy(real, name)))
        F = numbabench.get_technique("fftmask")
        for variant in ("article", "tuned"):
            F.run("cudasim", F.make_inputs(128), variant)
        res["launched"] = launched
        print(json.dumps(res))
    """)
    launched = out.pop("launched")
    assert out and all(out.values()), {k: v for k, v in out.items() if not v}
    assert launched == ["cuda_apply_mask_article", "cuda_apply_mask"]


def test_sm_sized_config_is_tiny_under_the_simulator():
    got = in_simulator("""
        import json
        from numbabench.devices import sm_sized_config
        print(json.dumps([sm_sized_config(10), sm_sized_config(10**8)]))
    """)
    assert got == [[4, 32], [4, 32]]


@pytest.mark.gpu
def test_gpu_tuned_variants_equal_the_reference_and_launch_one_wave():
    from numba import cuda

    from helpers import gpu_probe

    from numbabench.devices import sm_sized_config

    dev = cuda.get_current_device()
    blocks, threads = sm_sized_config(10**8)
    assert blocks == dev.MULTIPROCESSOR_COUNT * (dev.MAX_THREADS_PER_MULTIPROCESSOR // threads)
    assert sm_sized_config(100) == (1, 256)
    for name in GPU_TUNED:
        t = numbabench.get_technique(name)
        if name == "fftmask" and not gpu_probe().cupy:
            continue  # its cuda variants run cuFFT through CuPy (the cupy-marked tests cover that)
        size = 921_600 if name == "fftmask" else 3_000_017
        inp = t.make_inputs(size, seed=3)
        for variant in ("article", "tuned"):
            got = t.run("cuda", inp, variant)
            assert t.compare(got, t.reference(t.check_inputs(inp)))[0], (name, variant)


def test_fftmask_extra_rows_time_each_gpu_variants_mask_kernel():
    rows = in_simulator("""
        import json, numbabench
        F = numbabench.get_technique("fftmask")
        rows = F.extra_rows("cudasim", F.make_inputs(128), {"min_time": 0.0, "repeat": 2,
                                                            "variants": ("article", "tuned")})
        print(json.dumps([[r["phase"], r.get("variant"), r["median_s"] > 0] for r in rows]))
    """)
    assert rows == [[phase, v, True] for v in ("article", "tuned") for phase in ("fft", "mask", "ifft")]
