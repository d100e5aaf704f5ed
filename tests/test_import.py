"""`import numbabench` needs no GPU, no driver and no simulator, and builds no GPU object."""
from helpers import run_python


def test_import_builds_no_gpu_object_and_touches_no_driver():
    state = run_python("""
        import json, sys
        import numbabench
        names = numbabench.techniques()
        t = numbabench.get_technique("clamp")
        from numbabench.article import clamp
        from numba.cuda.cudadrv import driver
        print(json.dumps({
            "names": names,
            "api": [hasattr(t, a) for a in ("name", "targets", "make_inputs", "reference", "run",
                                             "bytes_moved", "flops")],
            "kernel_built": clamp._cuda_clamp.cache_info().currsize,
            "cuinit_called": driver.driver.pid is not None,  # set by cuInit, on a GPU machine too
        }))
    """)
    assert "clamp" in state["names"]
    assert all(state["api"])
    assert state["kernel_built"] == 0
    assert state["cuinit_called"] is False


def test_cudasim_target_in_a_real_mode_process_says_how():
    msg = run_python("""
        import json, numbabench
        t = numbabench.get_technique("clamp")
        try:
            t.run("cudasim", t.make_inputs(10))
        except numbabench.TargetUnavailable as e:
            print(json.dumps(str(e)))
    """)
    assert "NUMBA_ENABLE_CUDASIM=1" in msg
