"""User functions for the tests of `numbabench try` (as a user would write them)."""
import math

import numpy as np


def gaussian(x, x0, sigma):
    return math.exp(-((x - x0) / sigma) ** 2 / 2) / math.sqrt(2 * math.pi) / sigma


def gaussian_np(x, x0, sigma):
    return np.exp(-((x - x0) / sigma) ** 2 / 2) / np.sqrt(2 * np.pi) / sigma


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def poly(x):
    return ((0.5 * x - 1.25) * x + 2.0) * x - 0.75


def elu(x, alpha):
    if x > 0.0:
        return x
    return alpha * (math.exp(x) - 1.0)


def smooth3(x):
    window = np.empty(3)
    window[0] = x - 0.5
    window[1] = x
    window[2] = x + 0.5
    return window.sum() / 3.0


def spread(x):
    return np.full(3, x)


def first(a):
    return a[0] + a.shape[0]


def uses_object(x):
    box = {"x": object()}
    return x


def _half(x):
    return x / 2


def calls_a_helper(x):
    return _half(x) + 1.0


def make_inputs(size, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(-3.0, 3.0, size), 0.5
