"""asv benchmarks of every technique in numbabench's registry (see docs/asv.md).

One class per registered technique, parameterised by (size, target), with time_compute,
time_end_to_end, time_h2d, time_d2h, track_gbps, track_roofline_fraction, track_compile_seconds,
track_kernel_event_seconds and peakmem_end_to_end. The classes are built at import by
numbabench/asvsuite.py from ``numbabench.registry.techniques()``, so a new technique module is
benchmarked with no change here.

asv runs this checkout's benchmark code against every commit it measures; the measuring code is
therefore loaded from this checkout's numbabench/asvsuite.py, while the techniques themselves come
from the numbabench installed in the asv environment (the commit under test).
"""
import importlib.util as _util
import sys as _sys
from pathlib import Path as _Path


def _load_suite():
    name = "_numbabench_asvsuite"
    if name not in _sys.modules:
        path = _Path(__file__).resolve().parent.parent / "numbabench" / "asvsuite.py"
        spec = _util.spec_from_file_location(name, path)
        module = _util.module_from_spec(spec)
        _sys.modules[name] = module
        spec.loader.exec_module(module)
    return _sys.modules[name]


_suite = _load_suite()
globals().update(_suite.build_classes(__name__))
