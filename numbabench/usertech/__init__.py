"""Techniques built from a user's own code: the registry side of ``numbabench try``.

Two base classes turn one function of yours into a registry ``Technique`` with every variant
numbabench knows, so the runner, the report and the PTX layer treat it like the article's own:

* ``Elementwise`` — a scalar function (scalars in, one scalar out, as ``@vectorize`` takes it).
  Variants: ``numpy`` (your ``reference_function``, or the function on whole arrays, or
  ``np.vectorize``: see ``numpy_way``), ``cpu``/``parallel`` ``article`` (``@vectorize``) and
  ``tuned`` (an ``@njit`` / ``prange`` loop over contiguous arrays calling the function), ``cuda``
  and ``cudasim`` (a grid-stride ``@cuda.jit`` kernel calling it as a device function) and ``cupy``
  (``cupy.vectorize``, which compiles the same Python function; GPU only).
* ``UserKernel`` — a ``@cuda.jit``-style kernel whose last argument is the output array, launched
  by a rule numbabench applies (``grid-stride`` or ``one-per-element``) on ``cuda`` and ``cudasim``,
  against the NumPy ``reference_function`` you name. Under the simulator an index past the end of an
  array raises (numba's simulator checks bounds); the row says so.

A technique module (``numbabench try --emit-technique`` writes one) subclasses one of them, sets
the class attributes and registers it; ``NUMBABENCH_TECHNIQUES`` loads it in every process.
``python -m numbabench.usertech ptx NAME [DTYPE]`` compiles its CUDA kernel for sm_80 and sm_90
with no GPU and prints one JSON line per compute capability (``gpu_check``).

Layout (imports flow downward): ``loading`` (finding the user's code, ``UserCodeError``) <- ``inputs``
(input descriptions, signatures, Numba types) <- ``base`` (what both kinds share) <- ``elementwise``,
``kernel``; ``gpucheck`` (the PTX check) beside them. Every public name is importable from here, as
the technique modules ``--emit-technique`` writes import them (``from numbabench.usertech import ...``).
"""
from __future__ import annotations

from .base import OUT, TOLERANCE, _UserTechnique
from .elementwise import VECTORIZE, Elementwise, _build, elementwise_source
from .gpucheck import GPUCheck, compiler_message, gpu_check, main, refused_line
from .inputs import (InputSpec, _c_array, _c_array_of, _np_dtype, _scalar, parse_input, parse_inputs,
                     parse_signature, split_top_level)
from .kernel import LAUNCHES, THREADS, KernelOutOfBounds, UserKernel, poison
from .loading import (UserCodeError, _first_line, _identifier, _located, load_function, load_module,
                      parameters, python_function, returns_value, split_spec)

__all__ = [
    "OUT", "TOLERANCE", "LAUNCHES", "VECTORIZE", "THREADS", "UserCodeError", "KernelOutOfBounds",
    "split_spec", "load_module", "load_function", "python_function", "parameters", "returns_value",
    "InputSpec", "split_top_level", "parse_input", "parse_inputs", "parse_signature",
    "GPUCheck", "gpu_check", "refused_line", "compiler_message", "main",
    "Elementwise", "elementwise_source", "UserKernel", "poison",
]
