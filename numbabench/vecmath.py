"""Vector exp, cos and sin for ``@njit`` loops: glibc's libmvec where it serves, a scalar loop else.

Numba has had no vector math library since SVML left (0.62), and llvmlite cannot point LLVM at
libmvec, so a loop over ``math.exp`` calls the scalar ``expf`` once per element. This module calls
libmvec's vector functions itself: ``exp_into(src, dst)``, ``cos_into`` and ``sin_into`` are
callable from ``@njit`` code on 1-D float32 or float64 arrays of one length (``dst`` may be
``src``). On C-contiguous arrays they hand blocks of 16/8/4 values (AVX-512 / AVX2 / SSE, picked
from the CPU features Numba compiles for) to ``_ZGV?N??v_expf`` and friends, and the tail to libm.
Strided arrays (Numba types them with layout 'A'), a CPU without x86 vectors, a libc without
libmvec, or ``NUMBABENCH_VECMATH=scalar`` get a plain ``math.exp`` loop: slower, never wrong.

Lazy: nothing is loaded at import; the choice is made (and libmvec loaded) when the first function
using these compiles. ``backend()`` says what was chosen. Accuracy: docs/vecmath.md.
"""
from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from functools import lru_cache

import numba
from numba.core import cgutils, types
from numba.extending import intrinsic, overload

#: environment switch: ``auto`` (default), ``scalar`` (never libmvec: the fallback, for tests)
ENV = "NUMBABENCH_VECMATH"
LIBMVEC = "libmvec.so.1"

#: x86 ISA letter of the vector ABI -> (float32 lanes); float64 lanes are half
_ISAS = (("e", "avx512f", 16), ("d", "avx2", 8), ("b", None, 4))


@dataclass(frozen=True)
class Backend:
    """What the vector functions compile to in this process."""

    name: str  # "libmvec" or "scalar"
    isa: str | None  # "e" (AVX-512), "d" (AVX2), "b" (SSE4/SSE2) or None
    lanes32: int  # float32 values per call (1 for scalar)
    reason: str  # why this one

    @property
    def lanes64(self) -> int:
        return max(1, self.lanes32 // 2)

    def symbol(self, fn: str, bits: int) -> str:
        """libmvec's name for ``fn`` ('exp', 'cos', 'sin') on ``bits``-bit floats."""
        lanes = self.lanes32 if bits == 32 else self.lanes64
        return f"_ZGV{self.isa}N{lanes}v_{fn}{'f' if bits == 32 else ''}"


def _compile_features() -> set[str] | None:
    """The CPU features Numba's code generator targets (``+avx2`` style), or None if unknown."""
    from numba.core import config

    if config.CPU_FEATURES:
        return {f.strip() for f in config.CPU_FEATURES.split(",") if f.strip()}
    if config.CPU_NAME and config.CPU_NAME != "host":
        return None  # a named CPU (e.g. 'generic' for portable caches): assume nothing
    import llvmlite.binding as ll

    return set(ll.get_host_cpu_features().flatten().split(","))


@lru_cache(maxsize=None)
def backend() -> Backend:
    """Choose (once per process) and, for libmvec, load the library so its symbols resolve."""
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in ("auto", "scalar"):
        raise ValueError(f"{ENV}={mode!r}: use auto or scalar")
    if mode == "scalar":
        return Backend("scalar", None, 1, f"{ENV}=scalar")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return Backend("scalar", None, 1, f"libmvec's vector ABI is x86-64 only here ({platform.machine()})")
    feats = _compile_features()
    if feats is None:
        return Backend("scalar", None, 1, "Numba compiles for a named CPU (NUMBA_CPU_NAME): no vector ISA assumed")
    import llvmlite.binding as ll

    try:
        ll.load_library_permanently(LIBMVEC)
    except Exception as exc:  # musl, macOS, an old glibc: no libmvec
        return Backend("scalar", None, 1, f"{LIBMVEC} cannot be loaded ({exc})")
    for isa, feature, lanes in _ISAS:
        if feature is None or f"+{feature}" in feats:
            b = Backend("libmvec", isa, lanes, f"{LIBMVEC}, {feature or 'sse2'} vectors")
            if ll.address_of_symbol(b.symbol("exp", 32)):
                return b
    return Backend("scalar", None, 1, f"{LIBMVEC} lacks the vector symbols")


def _block_call(fn: str):
    """An intrinsic ``f(src, i, dst, j)``: ``dst[j:j+L] = fn(src[i:i+L])``, L = the backend's lanes."""

    @intrinsic
    def block(typingctx, src, i, dst, j):
        sig = types.void(src, i, dst, j)

        def codegen(context, builder, signature, args):
            from llvmlite import ir

            srcty, _, dstty, _ = signature.args
            bits = srcty.dtype.bitwidth
            b = backend()
            lanes = b.lanes32 if bits == 32 else b.lanes64
            elem = ir.FloatType() if bits == 32 else ir.DoubleType()
            vec = ir.VectorType(elem, lanes)
            s = context.make_array(srcty)(context, builder, args[0])
            d = context.make_array(dstty)(context, builder, args[2])
            src_p = builder.bitcast(builder.gep(s.data, [args[1]]), vec.as_pointer())
            dst_p = builder.bitcast(builder.gep(d.data, [args[3]]), vec.as_pointer())
            v = builder.load(src_p, align=bits // 8)
            f = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]), b.symbol(fn, bits))
            builder.store(builder.call(f, [v]), dst_p, align=bits // 8)
            return context.get_dummy_value()

        return sig, codegen

    return block


def _make(fn: str, scalar):
    """Stub + overload for ``<fn>_into(src, dst)``."""

    def stub(src, dst):
        raise NotImplementedError(f"{fn}_into is for @njit code; from Python use numpy.{fn}(src, out=dst)")

    stub.__name__ = stub.__qualname__ = f"{fn}_into"
    block = _block_call(fn)

    @overload(stub, jit_options={"error_model": "numpy"})
    def impl(src, dst):
        if not (isinstance(src, types.Array) and isinstance(dst, types.Array)):
            return None
        if src.ndim != 1 or dst.ndim != 1 or src.dtype != dst.dtype or src.dtype not in (types.float32, types.float64):
            return None
        b = backend()
        vector = b.name == "libmvec" and src.layout == "C" and dst.layout == "C"
        lanes = (b.lanes32 if src.dtype == types.float32 else b.lanes64) if vector else 1

        if not vector:
            def loop(src, dst):
                n = src.shape[0]
                if dst.shape[0] != n:
                    raise ValueError("src and dst differ in length")
                for i in range(n):
                    dst[i] = scalar(src[i])
            return loop

        def blocks(src, dst):
            n = src.shape[0]
            if dst.shape[0] != n:
                raise ValueError("src and dst differ in length")
            m = n - n % lanes
            for i in range(0, m, lanes):
                block(src, i, dst, i)
            for i in range(m, n):
                dst[i] = scalar(src[i])
        return blocks

    return stub


exp_into = _make("exp", math.exp)
cos_into = _make("cos", math.cos)
sin_into = _make("sin", math.sin)


# Python-callable forms (tests, and anyone who wants one call): compiled on first use.
@numba.njit
def vexp(src, dst):
    exp_into(src, dst)
    return dst


@numba.njit
def vcos(src, dst):
    cos_into(src, dst)
    return dst


@numba.njit
def vsin(src, dst):
    sin_into(src, dst)
    return dst
