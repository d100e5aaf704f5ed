"""What a numba-cuda kernel launch hands the GPU for each array argument (used by GPU tests).

numba-cuda 0.30 turns every array argument of a launch into a strided memory view
(``numba.cuda.cudadrv.devicearray._to_strided_memory_view``): a CuPy array by DLPack, a numba
device array as it is, a host array by a copy. Its device pointer is what the kernel receives.
"""
import contextlib


@contextlib.contextmanager
def kernel_arguments():
    """Yield a list that fills with {"ptr", "copied", "type"} for each array argument launched."""
    from numba.cuda.cudadrv import devicearray

    seen = []
    real = devicearray._to_strided_memory_view

    def spy(obj, *args, **kwargs):
        view, converted = real(obj, *args, **kwargs)
        seen.append({"ptr": int(view.ptr), "copied": bool(converted), "type": type(obj).__name__})
        return view, converted

    devicearray._to_strided_memory_view = spy
    try:
        yield seen
    finally:
        devicearray._to_strided_memory_view = real


def device_pointer(a) -> int:
    """The device address of a CuPy or numba array (read from its interface, only to compare)."""
    return int(a.__cuda_array_interface__["data"][0])
