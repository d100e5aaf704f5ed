"""fftmask's ``fused`` cuda variant: the mask runs inside cuFFT as an epilog, not as a kernel.

The article (item 1) runs a library FFT and then its own ``apply_mask`` kernel over the spectrum:
one more pass over device memory. cuFFT can call a user function on every element as it stores
its output (a "store callback"); nvmath-python compiles such a function from Python with
numba-cuda to LTO-IR (``nvmath.fft.compile_epilog``) and links it into the FFT's plan. The mask
is then applied as the forward FFT writes the spectrum: no separate kernel, no extra read and
write of the frame. The inverse FFT is CuPy's, as in the unfused variant, so the two differ only
in where the mask runs.

The epilog sees one element at a time: ``(data_out, offset, value, mask, unused)``, with
``offset`` the element's flat index in the result. The plan asks for the result in the frame's
own C layout (``result_layout="natural"``) so that ``offset`` also indexes the C-ordered mask, and
it checks that cuFFT agreed before the first run.

Compiling needs no driver when the target compute capability and the callback's symbol name are
given: ``check_epilog`` is the offline layer's entry (cc 8.0 and 9.0), beside ``numbabench.ptx``.
Running needs a GPU, CuPy and nvmath-python's cuFFT (``pip install 'numbabench[gpu]'``).
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

from ..errors import TargetUnavailable
from ..fmt import first_line

#: the symbol cuFFT (11.3 and later: offsets are ``unsigned long long``) looks up for a complex64
#: store callback: ``void cufftJITCallbackStoreComplex(void*, unsigned long long, float2, void*,
#: void*)``, Itanium-mangled. nvmath builds it from cuFFT's version, which needs a driver; the
#: offline compile names it instead.
EPILOG_SYMBOL = "_Z28cufftJITCallbackStoreComplexPvy6float2S_S_"
#: the first bytes of NVVM's LTO-IR container, which cuFFT's JIT linker takes
LTOIR_MAGIC = b"\xedCN\x7f"
ELEMENT, USER_INFO = "complex64", "float32"
DEFAULT_CCS = ((8, 0), (9, 0))

NVMATH_MISSING = ("fftmask: the fused variant compiles its mask into cuFFT with nvmath-python, which is "
                  "not installed: pip install 'numbabench[gpu]'")


def mask_epilog(data_out, offset, value, mask, unused):
    """cuFFT store callback: write the spectrum's element at ``offset`` times the mask's."""
    data_out[offset] = value * mask[offset]


class EpilogRejected(Exception):
    """The compiler refused an epilog; the message says why in one line."""


@dataclass(frozen=True)
class EpilogBuild:
    """One epilog compiled to LTO-IR for one compute capability."""

    cc: tuple[int, int]
    ltoir: bytes
    seconds: float


def nvmath_fft():
    """``nvmath.fft``, or TargetUnavailable saying that nvmath-python is missing."""
    try:
        import nvmath.fft
    except ImportError:
        raise TargetUnavailable(NVMATH_MISSING) from None
    return nvmath.fft


def _reason(exc: BaseException) -> str:
    """One line: the compiler's first statement, with the line after it when it ends in ':'.

    Numba opens with the pipeline that failed ("Failed in cuda mode pipeline ..."): the reason is
    the line after that.
    """
    lines = [ln.strip() for ln in str(exc).splitlines()
             if ln.strip() and not (ln.startswith("Failed in ") and "pipeline" in ln)]
    if not lines:
        return type(exc).__name__
    text = lines[0]
    if text.endswith(":") and len(lines) > 1:
        text = f"{text} {lines[1].lstrip('>').strip()}"
    return f"{type(exc).__name__}: {text}"


def compile_epilog(fn=mask_epilog, cc: tuple[int, int] = (9, 0)) -> EpilogBuild:
    """Compile ``fn`` as a complex64 store epilog with float32 user data for ``cc``, no driver needed.

    Raises EpilogRejected with the compiler's reason (wrong signature, a return value, an array
    allocated inside, anything the CUDA target cannot type), TargetUnavailable without
    nvmath-python or in a simulator process.
    """
    from ..targets import simulator_active

    if simulator_active():
        raise TargetUnavailable("the epilog compile needs the real CUDA compiler; unset NUMBA_ENABLE_CUDASIM")
    fft = nvmath_fft()
    from ..ptx import fake_current_device

    t0 = time.perf_counter()
    try:
        # the fake device answers numba-cuda's current-device question, which some typing paths
        # ask (np.empty's overload does) even when the compute capability is given
        with fake_current_device(cc):
            ltoir = fft.compile_epilog(fn, ELEMENT, USER_INFO, compute_capability=f"{cc[0]}{cc[1]}",
                                       name=EPILOG_SYMBOL)
    except TypeError as exc:  # the argument count
        raise EpilogRejected(f"an epilog takes (data_out, offset, value, user_info, unused): {_reason(exc)}") from exc
    except Exception as exc:
        raise EpilogRejected(f"the CUDA compiler rejects the epilog: {_reason(exc)}") from exc
    seconds = time.perf_counter() - t0
    if not isinstance(ltoir, bytes) or not ltoir.startswith(LTOIR_MAGIC):
        raise EpilogRejected(f"the compile returned no LTO-IR (got {type(ltoir).__name__} {bytes(ltoir[:4])!r})")
    return EpilogBuild(cc, ltoir, seconds)


def check_epilog(ccs=DEFAULT_CCS, fn=mask_epilog) -> list:
    """The offline layer's entry: ``fn`` compiled for each of ``ccs``, as ``ptx.PTXResult`` rows."""
    from ..ptx import PTXResult

    sig = f"void({ELEMENT}*, uint64, {ELEMENT}, {USER_INFO}*, void*)"
    name = getattr(fn, "__name__", "epilog")
    out = []
    for cc in ccs:
        try:
            compile_epilog(fn, cc)
            out.append(PTXResult("fftmask", name, sig, cc, True))
        except (EpilogRejected, TargetUnavailable) as exc:
            out.append(PTXResult("fftmask", name, sig, cc, False, str(exc)))
    return out


# -- on a GPU: one planned FFT with the epilog, then CuPy's inverse FFT ----------------------------


@dataclass
class FusedFFT:
    """A planned forward FFT of one frame whose store callback multiplies by one mask."""

    plan: object  # nvmath.fft.FFT, planned
    mask: object  # the CuPy mask whose pointer cuFFT calls the epilog with: kept alive here
    compile_s: float

    def forward(self):
        """The masked spectrum, a new CuPy array, queued on CuPy's current stream."""
        return self.plan.execute()


def plan_fused(frame, mask) -> FusedFFT:
    """Compile the epilog for this device and plan ``fft2(frame)`` with it (the costly first step)."""
    fft = nvmath_fft()
    t0 = time.perf_counter()
    # on a GPU nvmath picks the device's compute capability and the installed cuFFT's symbol name
    ltoir = fft.compile_epilog(mask_epilog, ELEMENT, USER_INFO)
    compile_s = time.perf_counter() - t0
    plan = fft.FFT(frame, axes=(0, 1), options={"result_layout": "natural"})
    try:
        plan.plan(epilog={"ltoir": ltoir, "data": mask.data.ptr})
        shape, strides = plan.get_output_layout()
        want = (tuple(frame.shape), (frame.shape[1], 1))
        if (tuple(shape), tuple(strides)) != want:
            raise RuntimeError(f"cuFFT lays the spectrum out as shape {shape} strides {strides}, not C order "
                               f"{want}: the epilog's offset would not index the mask")
    except BaseException:
        plan.free()
        raise
    fused = FusedFFT(plan, mask, compile_s)
    weakref.finalize(fused, plan.free)  # the cuFFT plan and its workspace go with the holder
    return fused


def run_fused(a):
    """The fused pipeline on prepared cuda args: fft2 with the mask as epilog, then ifft2 in place.

    The plan is made on the first call (so it lands in the compile phase) and kept in ``a``.
    """
    import cupyx.scipy.fft as cfft

    fused = a.get("fused_fft")
    if fused is None:
        fused = a["fused_fft"] = plan_fused(a["frame"], a["mask"])
    return cfft.ifft2(fused.forward(), overwrite_x=True)


def require_nvmath() -> None:
    """TargetUnavailable unless nvmath-python imports (checked before the variant is handed out)."""
    try:
        nvmath_fft()
    except TargetUnavailable:
        raise
    except Exception as exc:  # it imports but cannot load: say so
        raise TargetUnavailable(f"fftmask: nvmath-python does not load: {first_line(exc)}") from None


def nvmath_unavailable() -> str | None:
    """Why the fused variant cannot be compiled or run here, or None (for the PTX layer's listing)."""
    try:
        require_nvmath()
    except TargetUnavailable as exc:
        return str(exc)
    return None
