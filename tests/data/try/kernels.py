"""User kernels for the tests of `numbabench try --kernel`."""
from numba import cuda


def scale(x, a, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        out[i] = a * x[i] + 1.0


def scale_ref(x, a):
    return a * x + 1.0


def double(x, out):
    i = cuda.grid(1)
    out[i] = 2.0 * x[i]


def double_checked(x, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = 2.0 * x[i]


def double_ref(x):
    return 2.0 * x


def with_return(x, out):
    i = cuda.grid(1)
    out[i] = x[i]
    return out[i]
