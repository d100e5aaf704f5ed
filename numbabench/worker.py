"""The worker process: runs one target's cells and streams rows back to the runner.

The runner (``numbabench.runner``) starts one worker per target with the environment that target
needs (``NUMBA_ENABLE_CUDASIM`` is read when numba.cuda is imported, so it must be set before this
process starts). The job arrives as JSON on stdin; messages go back as JSON lines on the original
stdout, which is kept for the protocol alone: anything the measured code prints goes to stderr.

``python -m numbabench.worker --probe`` instead reports, as one JSON line, whether this machine has
a usable CUDA GPU (and CuPy), for ``numbabench doctor`` and target detection.
"""
from __future__ import annotations

import json
import os
import sys
import traceback


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().endswith(":")), text)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def probe() -> dict:
    out = {"cuda": False, "reason": None, "gpu": None, "cupy": False, "cupy_reason": "no CUDA GPU"}
    try:
        from numba import cuda

        if not cuda.is_available():
            try:
                cuda.get_current_device()
                out["reason"] = "numba.cuda reports no usable GPU"
            except Exception as exc:  # CudaSupportError and friends carry the why
                out["reason"] = f"no CUDA GPU ({_first_line(exc)})"
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
            gpu["runtime"] = ".".join(map(str, cuda.runtime.get_version()))
        except Exception:
            pass
        out.update(cuda=True, gpu=gpu)
    except Exception as exc:
        out["reason"] = f"no CUDA GPU ({_first_line(exc)})"
        return out
    try:
        import cupy

        cupy.arange(3).sum().item()
        out.update(cupy=True, cupy_reason=None)
    except ImportError:
        out["cupy_reason"] = "CuPy is not installed (pip install 'numbabench[gpu]')"
    except Exception as exc:
        out["cupy_reason"] = f"CuPy does not work here ({_first_line(exc)})"
    return out


class Worker:
    """Measures cells of one target in this process. ``job`` carries target, seed, min_time,
    repeat; ``compiled`` remembers which (target, technique, dtype) this process has compiled already."""

    def __init__(self, job: dict, send=None, compiled: set | None = None):
        self.job = job
        self.send = send
        self.compiled = set() if compiled is None else compiled

    def run(self):
        from .targets import get_target

        target = self.job["target"]
        if get_target(target).uses_gpu and self.job.get("measure_gpu_peak", True):
            try:
                self.send({"event": "peak", "key": "gpu_gbps", "value": self._gpu_peak()})
            except Exception:  # no roofline for GPU rows then, but the cells still run
                print(traceback.format_exc(), file=sys.stderr)
        for cell in self.job["cells"]:
            self.send({"event": "start", "cell": cell["id"]})
            try:
                rows = self.measure(cell)
            except Exception as exc:
                rows = [failed_row(cell, target, _first_line(exc))]
                print(traceback.format_exc(), file=sys.stderr)
            self.send({"event": "rows", "cell": cell["id"], "rows": rows})

    def _gpu_peak(self):
        from .peaks import gpu_copy_gbps

        return gpu_copy_gbps()

    def measure(self, cell, tech=None) -> list[dict]:
        """The rows of one cell; ``tech`` defaults to the registry's technique of that name."""
        from . import timing
        from .devices import memory
        from .registry import get_technique
        from .targets import get_target

        job, target = self.job, self.job["target"]
        tech = tech or get_technique(cell["technique"])
        size, dtype = cell["size"], cell["dtype"]
        mem, t = memory(target), get_target(target)
        sync = mem.synchronize
        fn = tech.variant(target)
        inputs = tech.check_inputs(tech.make_inputs(size, seed=job["seed"], dtype=dtype))
        want = tech.reference(inputs)
        args = tech.prepare(target, inputs)
        sync()
        first_s, out = timing.first_call(lambda: fn(args), sync)
        correct, err = tech.compare(tech.fetch(target, out), want)
        opts = {"min_time": job["min_time"], "repeat": job["repeat"]}
        compute = timing.steady(lambda: fn(args), sync, **opts)

        base = {"technique": tech.name, "target": target, "size": size, "dtype": dtype,
                "correct": correct, "max_abs_err": err, "status": "ok" if correct else "wrong",
                "error": None if correct else f"result differs from the NumPy reference (max abs error {err:.3g})",
                "simulated": t.simulated}
        nbytes, nflops = tech.bytes_moved(size, dtype), tech.flops(size, dtype)

        def row(phase, tm, moved=nbytes, flops=nflops):
            r = dict(base, phase=phase, **tm.as_row(), bytes=moved, flops=flops)
            r["gbps"] = moved / tm.median_s / 1e9 if moved and tm.median_s > 0 else None
            r["gflops"] = flops / tm.median_s / 1e9 if flops and tm.median_s > 0 else None
            return r

        rows = [row("compute", compute)]
        key = (target, tech.name, dtype)
        if key not in self.compiled:  # the first call in this process compiled: report it once
            self.compiled.add(key)
            compile_s = max(first_s - compute.median_s, 0.0)
            rows.append(dict(base, phase="compile", median_s=compile_s, spread_s=0.0, min_s=compile_s,
                             repeats=1, number=1, bytes=None, flops=None, gbps=None, gflops=None))
        if t.on_device:
            in_bytes, out_bytes = _nbytes(inputs), _nbytes(want)
            rows.append(row("h2d", timing.steady(lambda: tech.prepare(target, inputs), sync, **opts), in_bytes, None))
            rows.append(row("d2h", timing.steady(lambda: tech.fetch(target, out), sync, **opts), out_bytes, None))
            e2e = timing.steady(lambda: tech.fetch(target, fn(tech.prepare(target, inputs))), sync, **opts)
            rows.append(row("end_to_end", e2e))
        for extra in tech.extra_rows(target, inputs, opts):
            r = dict(base, bytes=None, flops=None, gbps=None, gflops=None, spread_s=None, min_s=None,
                     repeats=None, number=None, median_s=None)
            r.update(extra)
            rows.append(r)
        return rows


def _nbytes(obj) -> int:
    """Bytes of the arrays in ``obj`` (an array, or a dict/tuple/list of them); scalars count 0."""
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return int(obj.nbytes) if getattr(obj, "ndim", 0) and hasattr(obj, "nbytes") else 0


def failed_row(cell: dict, target: str, error: str, status: str = "failed") -> dict:
    return {"technique": cell["technique"], "target": target, "size": cell["size"], "dtype": cell["dtype"],
            "phase": "compute", "median_s": None, "spread_s": None, "min_s": None, "repeats": 0,
            "number": 0, "bytes": None, "flops": None, "gbps": None, "gflops": None, "correct": None,
            "max_abs_err": None, "status": status, "error": error}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--probe"]:
        print(json.dumps(probe()), flush=True)
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
        send({"event": "fatal", "error": _first_line(exc)})
        print(traceback.format_exc(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
