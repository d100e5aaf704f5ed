"""OpenMP vs workqueue (and OpenMP with passive waiting) for every parallel variant.

The threading layer is fixed per process, so each setting runs in its own process, and the
processes alternate (A B C A B C ...). Within a process the parallel variant is timed interleaved
with the best NumPy form, and the figure is its median per-round ratio to that: a drift of the
machine between processes cancels out. Usage: python scripts/threading_cpu.py [--sizes 1e4,1e6]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SETTINGS = {
    "omp": {"NUMBA_THREADING_LAYER": "omp"},
    "omp-passive": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "passive"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
}
CHILD = """
import json, sys
sys.path.insert(0, "scripts")
import numba
from interleave_cpu import measure
name, size, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = measure(name, size, rounds=5, only={("parallel", variant)}, quiet=True)
med, lo, hi, ok, t = r[("parallel", variant)]
numba.get_num_threads()
print(json.dumps({"ratio": med, "ok": ok, "layer": numba.threading_layer(), "ms": t * 1e3}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--techniques", default="gaussian,remote,clamp,fftmask,dataframe")
    ap.add_argument("--sizes", default="1e4,1e6")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    sys.path.insert(0, os.path.dirname(__file__))
    from numbabench import get_technique

    for name in a.techniques.split(","):
        tech = get_technique(name)
        for s in a.sizes.split(","):
            size = int(float(s))
            if name == "fftmask":
                size = {10_000: 57_600, 1_000_000: 921_600}.get(size, size)
            for variant in tech.variants_for("parallel"):
                got = {k: [] for k in SETTINGS}
                layers = {}
                for _ in range(a.repeats):
                    for key, extra in SETTINGS.items():
                        env = {**os.environ, **extra}
                        p = subprocess.run([sys.executable, "-c", CHILD, name, str(size), variant], env=env,
                                           capture_output=True, text=True, timeout=600)
                        if p.returncode:
                            print(p.stderr[-2000:], file=sys.stderr)
                            continue
                        r = json.loads(p.stdout.strip().splitlines()[-1])
                        got[key].append(r["ratio"])
                        layers[key] = r["layer"] + ("" if r["ok"] else " WRONG")
                line = "  ".join(f"{k} ({layers.get(k)}): x{statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]"
                                 for k, v in got.items() if v)
                print(f"{name} {size} parallel/{variant}: {line}", flush=True)


if __name__ == "__main__":
    main()
