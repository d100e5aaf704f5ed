"""Planted techniques for the runner's tests: a variant that raises, hangs, crashes or lies.

Loaded only when NUMBABENCH_TECHNIQUES=planted (tests/ on PYTHONPATH); never part of a real sweep.
"""
import os
import time

import numpy as np

from numbabench import Technique, register


class _Planted(Technique):
    targets = ("numpy", "cpu")
    sizes = {"quick": (100,), "full": (100,)}
    simulator_sizes = sizes

    def make_inputs(self, size, seed=0, dtype=None):
        return {"x": np.arange(size, dtype=dtype or "float32")}

    def reference(self, inputs):
        return inputs["x"] * 2

    def outputs(self, inputs):
        return {}

    def bytes_moved(self, size, dtype=None):
        return 8 * size

    def flops(self, size, dtype=None):
        return size

    def implementation(self, target):
        return (lambda a: a["x"] * 2) if target == "numpy" else self.broken

    def broken(self, a):
        raise NotImplementedError


@register
class PlantedFail(_Planted):
    name, title = "planted_fail", "cpu variant raises"

    def broken(self, a):
        raise RuntimeError("planted failure in the cpu variant")


@register
class PlantedHang(_Planted):
    name, title = "planted_hang", "cpu variant never returns"

    def broken(self, a):
        while True:
            time.sleep(0.5)


@register
class PlantedCrash(_Planted):
    name, title = "planted_crash", "cpu variant kills its process"

    def broken(self, a):
        print("planted crash: about to abort", flush=True)
        os.abort()


@register
class PlantedWrong(_Planted):
    name, title = "planted_wrong", "cpu variant is fast and wrong"

    def broken(self, a):
        return a["x"]  # forgot the * 2


@register
class PlantedSlow(_Planted):
    name, title = "planted_slow", "each call takes a while (for Ctrl-C tests)"
    sizes = {"quick": (10, 11, 12, 13, 14, 15), "full": (10,)}

    def broken(self, a):
        time.sleep(0.3)
        return a["x"] * 2


@register
class PlantedVariants(_Planted):
    """Two NumPy variants (one slow on purpose) and two cpu ones: the base is the fastest NumPy."""

    name, title = "planted_variants", "variants beside targets"
    variants = {"numpy": ("article", "tuned"), "cpu": ("article", "tuned")}

    def implementation(self, target, variant="article"):
        if target == "numpy" and variant == "article":
            return self.slow
        return lambda a: a["x"] * 2

    def slow(self, a):
        time.sleep(0.002)
        return a["x"] * 2


@register
class PlantedOwnEnv(_Planted):
    """A cpu variant that asks for its own worker environment."""

    name, title = "planted_env", "a variant with its own environment"
    variants = {"cpu": ("article", "tuned")}
    variant_env = {("cpu", "tuned"): {"NUMBABENCH_PLANTED_ENV": "yes"}}

    def implementation(self, target, variant="article"):
        if (target, variant) == ("cpu", "tuned"):
            return self.env_check
        return lambda a: a["x"] * 2

    def env_check(self, a):
        if os.environ.get("NUMBABENCH_PLANTED_ENV") != "yes":
            raise RuntimeError("the variant's environment was not applied")
        return a["x"] * 2
