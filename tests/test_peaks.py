"""Cache-level peaks: which memory level a working set lives in, and how each level's peak is read."""
import pytest

from numbabench import peaks

PEAKS = {"cpu_gbps": 10.0, "cpu_l2_gbps": 80.0, "cpu_l2_bytes": 2 << 20, "cpu_l3_gbps": 40.0,
         "cpu_l3_bytes": 32 << 20, "gpu_gbps": 4000.0, "gpu_l2_gbps": 9000.0, "gpu_l2_bytes": 50 << 20}


@pytest.mark.parametrize("nbytes, device, level, key", [
    (1 << 20, "cpu", "L2", "cpu_l2_gbps"),
    (2 << 20, "cpu", "L2", "cpu_l2_gbps"),  # fits exactly
    (8 << 20, "cpu", "L3", "cpu_l3_gbps"),
    (800 << 20, "cpu", "DRAM", "cpu_gbps"),
    (None, "cpu", "DRAM", "cpu_gbps"),  # unknown working set: the DRAM peak, as before
    (40 << 20, "gpu", "L2", "gpu_l2_gbps"),
    (400 << 20, "gpu", "DRAM", "gpu_gbps"),
])
def test_level_for_picks_the_innermost_level_that_holds_the_working_set(nbytes, device, level, key):
    got = peaks.level_for(nbytes, PEAKS, device)
    assert (got.name, got.peak_key) == (level, key)


def test_levels_without_cache_peaks_fall_back_to_dram():
    assert [lv.name for lv in peaks.levels({"cpu_gbps": 10.0}, "cpu")] == ["DRAM"]
    assert peaks.level_for(1, {"gpu_gbps": 1.0}, "gpu").peak_key == "gpu_gbps"


def _cache(root, cpu, index, level, kind, size, shared):
    d = root / f"cpu{cpu}" / "cache" / f"index{index}"
    d.mkdir(parents=True)
    for name, text in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
        (d / name).write_text(f"{text}\n")


def test_cache_sizes_add_private_caches_and_count_a_shared_one_once(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for cpu in (0, 1):
        _cache(tmp_path, cpu, 0, 1, "Data", "32K", cpu)
        _cache(tmp_path, cpu, 1, 1, "Instruction", "32K", cpu)
        _cache(tmp_path, cpu, 2, 2, "Unified", "1024K", cpu)
        _cache(tmp_path, cpu, 3, 3, "Unified", "32768K", "0-1")
    assert peaks.cpu_cache_bytes(threads=2, root=tmp_path) == {"L2": 2 << 20, "L3": 32 << 20}
    assert peaks.cpu_cache_bytes(threads=1, root=tmp_path) == {"L2": 1 << 20, "L3": 32 << 20}
    assert peaks.cpu_cache_bytes(threads=2, root=tmp_path / "none") == {}


def test_read_peak_counts_every_pass():
    # a small working set read many times per call; only the sign is asserted (timings under load)
    gbps = peaks.read_gbps(256 << 10, min_time=0.02, per_call=4 << 20)
    assert gbps > 0
    x = __import__("numpy").full(1000, 1.0)
    assert peaks._sum_reps(x, 3, 2) == 3000.0  # each chunk summed reps times


def test_gpu_l2_kernel_compiles_and_links():
    from numba.core import types

    from numbabench import ptx
    from numbabench.registry import Kernel

    k = Kernel("gpu_l2_kernel", peaks.gpu_l2_kernel, ((types.float32[::1], types.int64, types.float32[::1]),))
    results = ptx.compile_kernel(k, technique="peaks")
    assert results and all(r.ok for r in results), [str(r) for r in results]
