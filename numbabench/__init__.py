"""numbabench: is Numba on the GPU worth it over Numba on the CPU for this workload?

The techniques of S. Seibert's *Seven Things You Might Not Know about Numba* (2017) as paired
variants (numpy, cpu, parallel, cuda, cudasim, cupy), verified against NumPy and timed honestly.
``import numbabench`` never needs a GPU or a driver: GPU objects are built on first use.
"""
from .errors import InputError, NumbabenchError, ResultsError, TargetUnavailable, UnknownName
from .registry import Kernel, Technique, get_technique, register, techniques
from .results import load_results
from .targets import TARGETS

__version__ = "0.1.0"

__all__ = [
    "TARGETS", "InputError", "Kernel", "NumbabenchError", "ResultsError", "TargetUnavailable",
    "Technique", "UnknownName", "get_technique", "load_results", "register", "techniques",
]
