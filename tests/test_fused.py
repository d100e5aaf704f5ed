"""fftmask's fused variant: the mask as a cuFFT epilog compiled by nvmath-python.

No GPU needed for the compile layer (LTO-IR for cc 8.0 and 9.0, planted bad epilogs refused with
the compiler's reason); running it on a GPU is the ``gpu`` test at the end.
"""
import sys

import numpy as np
import pytest
from helpers import gpu_probe, missing, needs

import numbabench
from numbabench.article import fftmask_fused as ff

T = numbabench.get_technique("fftmask")
nvmath = needs("nvmath", extra="test")


def _allocates(data_out, offset, value, mask, unused):
    scratch = np.empty(2, np.float32)  # a heap allocation per element: no GPU compiler takes it
    scratch[0] = mask[offset]
    data_out[offset] = value * scratch[0]


def _four_arguments(data_out, offset, value, mask):
    data_out[offset] = value * mask[offset]


def _returns_instead_of_storing(data_out, offset, value, mask, unused):
    return value * mask[offset]  # a store callback returns nothing: it must write data_out


def test_fused_is_a_cuda_variant_beside_the_article():
    assert T.variants_for("cuda") == ("article", "tuned", "fused")  # tuned: the coalesced mask kernel
    assert T.variants_for("cudasim") == ("article", "tuned")
    assert "fused" not in T.variants_for("numpy")  # fused is a GPU variant only


@nvmath
@pytest.mark.parametrize("cc", [(8, 0), (9, 0)], ids=["sm_80", "sm_90"])
def test_mask_epilog_compiles_to_ltoir(cc):
    build = ff.compile_epilog(ff.mask_epilog, cc)
    assert build.cc == cc
    assert build.ltoir.startswith(ff.LTOIR_MAGIC) and len(build.ltoir) > 100
    assert build.seconds > 0


@nvmath
def test_check_epilog_gives_ptx_rows_for_both_ccs():
    rows = ff.check_epilog()
    assert [r.cc for r in rows] == [(8, 0), (9, 0)]
    assert all(r.ok for r in rows), "\n".join(map(str, rows))
    assert str(rows[0]).startswith("fftmask.mask_epilog(") and str(rows[0]).endswith("for sm_80: ok")


@nvmath
def test_planted_allocating_epilog_is_rejected_with_the_reason():
    with pytest.raises(ff.EpilogRejected, match="empty") as info:
        ff.compile_epilog(_allocates, (9, 0))
    assert "\n" not in str(info.value)
    rows = ff.check_epilog(fn=_allocates)
    assert rows and not any(r.ok for r in rows) and all("empty" in r.error for r in rows)


@nvmath
def test_planted_wrong_signature_is_rejected_with_the_reason():
    with pytest.raises(ff.EpilogRejected, match=r"takes \(data_out, offset, value, user_info, unused\).*4 arguments"):
        ff.compile_epilog(_four_arguments, (8, 0))
    with pytest.raises(ff.EpilogRejected, match="No conversion from complex64 to none"):
        ff.compile_epilog(_returns_instead_of_storing, (8, 0))


def test_without_nvmath_the_variant_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "nvmath", None)  # import nvmath -> ImportError
    monkeypatch.setitem(sys.modules, "nvmath.fft", None)
    with pytest.raises(numbabench.TargetUnavailable, match="nvmath-python.*numbabench\\[gpu\\]"):
        ff.require_nvmath()
    assert ff.nvmath_unavailable() == ff.NVMATH_MISSING
    rows = ff.check_epilog()
    assert not any(r.ok for r in rows) and all("nvmath-python" in r.error for r in rows)


def test_fused_variant_without_gpu_names_cudasim():
    if gpu_probe().cuda:
        pytest.skip("this machine has a GPU: the no-GPU message cannot be seen here")
    with pytest.raises(numbabench.TargetUnavailable, match="cudasim"):
        T.run("cuda", T.make_inputs(128), variant="fused")


@pytest.mark.gpu("cupy")  # conftest skips it, with the probe's reason, where there is no GPU or CuPy
def test_fused_equals_reference_and_the_unfused_variant():
    gone = missing("nvmath")
    if gone:
        pytest.skip("needs nvmath-python with cuFFT (pip install 'numbabench[gpu]')")
    for shape in ((8, 16), (180, 320), (720, 1280), (7, 13)):
        inputs = T.make_inputs(shape[0] * shape[1], seed=3)
        want = T.reference(inputs)
        fused, article = T.run("cuda", inputs, variant="fused"), T.run("cuda", inputs)
        assert T.compare(fused, want)[0], shape
        assert T.compare(fused, article)[0], shape
