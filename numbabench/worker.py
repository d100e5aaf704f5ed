"""The worker process: measures the cells of one process group and streams rows to the runner.

The runner starts one worker per group of (target, variant) pairs that can share a process (the
host targets; the real GPU; the simulator; a variant that needs its own environment), with the
environment that group needs: ``NUMBA_ENABLE_CUDASIM`` is read when numba.cuda is imported, so it
is set before this process starts. The job arrives as JSON on stdin; messages go back as JSON lines
on the original stdout, kept for the protocol alone (what the measured code prints goes to stderr).

``python -m numbabench.worker --probe`` instead prints, as one JSON line, whether this machine has
a usable CUDA GPU (and CuPy), for ``numbabench doctor`` and target detection.
"""
from __future__ import annotations

import json
import os
import sys
import traceback

from .fmt import first_line
from .targets import Probe


def probe() -> Probe:
    out = Probe()
    try:
        from numba import cuda

        if not cuda.is_available():
            try:
                cuda.get_current_device()
                out.reason = "numba.cuda reports no usable GPU"
            except Exception as exc:  # CudaSupportError and friends carry the why
                out.reason = f"no CUDA GPU ({first_line(exc)})"
            return out
        dev = cuda.get_current_device()
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        gpu = {"name": name, "compute_capability": ".".join(map(str, dev.compute_capability)),
               "multiprocessors": dev.MULTIPROCESSOR_COUNT}
        try:
            gpu["memory_gib"] = round(cuda.current_context().get_memory_info().total / 2**30, 1)
        except Exception:
            pass
        try:
            from numba.cuda.cudadrv.driver import driver

            gpu["driver"] = ".".join(map(str, driver.get_version()))
        except Exception:
            pass
        try:
            from .devices import COMPUTE_MODES

            gpu["compute_mode"] = COMPUTE_MODES.get(dev.COMPUTE_MODE, f"mode {dev.COMPUTE_MODE}")
        except Exception:
            pass
        try:  # what numba.cuda.runtime reports here is the NVRTC (compiler) version
            gpu["nvrtc"] = ".".join(map(str, cuda.runtime.get_version()))
        except Exception:
            pass
        out.cuda, out.gpu = True, gpu
    except Exception as exc:
        out.reason = f"no CUDA GPU ({first_line(exc)})"
        return out
    try:
        import cupy

        cupy.arange(3).sum().item()
        out.cupy, out.cupy_reason = True, None
    except ImportError:
        out.cupy_reason = "CuPy is not installed (pip install 'numbabench[gpu]')"
    except Exception as exc:
        out.cupy_reason = f"CuPy does not work here ({first_line(exc)})"
    return out


class Worker:
    """Measures the cells of one job in this process. ``job`` carries cells, seed, min_time,
    repeat; ``compiled`` remembers what this process has compiled already."""

    def __init__(self, job: dict, send=None, compiled: set | None = None):
        self.job = job
        self.send = send
        self.compiled = set() if compiled is None else compiled

    def run(self):
        from .targets import get_target

        cells = self.job["cells"]
        uses_gpu = any(get_target(t).uses_gpu for c in cells for t, _ in c["pairs"])
        if uses_gpu and self.job.get("measure_gpu_peak", True):
            try:
                from .peaks import gpu_copy_gbps, gpu_l2_gbps

                self.send({"event": "peak", "key": "gpu_gbps", "value": gpu_copy_gbps()})
                for key, value in gpu_l2_gbps().items():
                    self.send({"event": "peak", "key": key, "value": value})
            except Exception:  # no roofline for GPU rows then, but the cells still run
                print(traceback.format_exc(), file=sys.stderr)
        for cell in cells:
            self.send({"event": "start", "cell": cell["id"], "stage": "first", "pair": None})
            try:
                rows = [r.to_dict() for r in self.measure(cell)]
            except Exception as exc:
                from .results import Row

                rows = [Row.failed(cell, t, first_line(exc), variant=v).to_dict() for t, v in cell["pairs"]]
                print(traceback.format_exc(), file=sys.stderr)
            self.send({"event": "rows", "cell": cell["id"], "rows": rows})

    def measure(self, cell, tech=None):
        """The rows (``Row``) of one cell; ``tech`` defaults to the registry's technique of that name."""
        from .measure import MeasureOptions, measure_cell
        from .registry import get_technique

        tech = tech or get_technique(cell["technique"])
        opts = MeasureOptions.from_job(dict(self.job, interleave=cell.get("interleave", True)))

        def on_stage(stage, pair):
            if self.send is not None:
                self.send({"event": "start", "cell": cell["id"], "stage": stage,
                           "pair": list(pair) if pair else None})

        return measure_cell(tech, [tuple(p) for p in cell["pairs"]], cell["size"], cell["dtype"], opts,
                            compiled=self.compiled, on_stage=on_stage)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--probe"]:
        print(json.dumps(probe().to_dict()), flush=True)
        return 0
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the measured code prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr

    def send(msg):
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    try:
        Worker(json.loads(sys.stdin.read()), send).run()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # setup failed (e.g. unknown technique): one line for the runner
        send({"event": "fatal", "error": first_line(exc)})
        print(traceback.format_exc(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
