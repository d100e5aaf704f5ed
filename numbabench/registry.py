"""The technique registry: one ``Technique`` subclass per article item, one module each.

Everything else — the runner, the tests' reference and PTX layers, and later the asv suites, the
report and the lesson checks — is driven by what a technique declares here, so adding a technique
is adding one module under ``numbabench/article/``. A technique that lives outside the package
(yours, or a test's planted one) is loaded from the modules named in ``NUMBABENCH_TECHNIQUES``
(comma-separated) or from the ``numbabench.techniques`` entry-point group.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, ClassVar

import numpy as np

from .devices import memory
from .errors import InputError, NumbabenchError, UnknownName
from .targets import get_target

#: the variant names: the article's own way, and the fastest honest way for the target
ARTICLE, TUNED = "article", "tuned"


@dataclass(frozen=True)
class Kernel:
    """A CUDA kernel as plain Python, with the signatures the PTX layer compiles it for."""

    name: str
    pyfunc: Callable
    signatures: tuple  # tuples of numba types, one per argument


class Technique:
    """One technique of the article, with a variant per target.

    Subclasses set the class attributes and implement ``make_inputs``, ``reference``,
    ``implementation``, ``bytes_moved`` and ``flops``; the rest has working defaults.
    Inputs are a dict of arrays and scalars; arrays travel to the target's memory in ``prepare``.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    article_item: ClassVar[int | None] = None
    targets: ClassVar[tuple[str, ...]]
    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64")
    #: sizes of a sweep; the simulator gets its own, small ones (one Python thread per CUDA thread)
    sizes: ClassVar[dict[str, tuple[int, ...]]]
    simulator_sizes: ClassVar[dict[str, tuple[int, ...]]]
    simulator_max_size: ClassVar[int] = 100_000
    rtol: ClassVar[float] = 0.0
    atol: ClassVar[float] = 0.0
    #: target -> another target it cannot run without (fftmask's cuda variant needs CuPy's FFT)
    needs: ClassVar[dict[str, str]] = {}
    #: target -> the ways this technique is written there, best known first is not required.
    #: ``article`` is the article's own way (on ``numpy``: the plain expression most users write);
    #: ``tuned`` the fastest honest code an expert writes for that target. A target not listed has
    #: the one variant ``article``.
    variants: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: (target, variant) -> environment that variant must run with (its own worker process):
    #: e.g. a threading layer that suits it. Recorded in its rows.
    variant_env: ClassVar[dict[tuple[str, str], dict[str, str]]] = {}

    # -- what a technique must say -------------------------------------------------------
    def make_inputs(self, size: int, seed: int = 0, dtype: str | None = None) -> dict:
        raise NotImplementedError

    def reference(self, inputs: dict) -> np.ndarray:
        raise NotImplementedError

    def implementation(self, target: str, variant: str = ARTICLE) -> Callable[[dict], Any]:
        """The callable that runs ``variant`` on ``target``: takes prepared args, returns the output
        there. A technique with one way per target may leave ``variant`` out of its signature."""
        raise NotImplementedError

    def bytes_moved(self, size: int, dtype: str | None = None) -> int:
        raise NotImplementedError

    def flops(self, size: int, dtype: str | None = None) -> int:
        raise NotImplementedError

    # -- defaults -------------------------------------------------------------------------
    def check_inputs(self, inputs: dict) -> dict:
        """Return the inputs normalised, or raise InputError naming this technique."""
        return inputs

    def outputs(self, inputs: dict) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Output buffers (name -> shape, dtype) that ``prepare`` allocates on the target."""
        return {}

    def extra_rows(self, target: str, inputs: dict, opts: dict) -> list[dict]:
        """Rows for phases of this technique's own (e.g. pickle size, a dask round trip).

        Each row is a dict with at least ``phase`` and ``median_s`` (or ``value`` and ``unit`` for
        a figure that is not a time); the worker adds technique, target, size, dtype and status.
        ``opts`` carries ``min_time`` and ``repeat`` for ``numbabench.timing.steady``.
        """
        return []

    def kernels(self) -> list[Kernel]:
        """The CUDA kernels of this technique, for the PTX layer."""
        return []

    def sizes_for(self, target: str, sweep: str) -> tuple[int, ...]:
        table = self.simulator_sizes if get_target(target).simulated else self.sizes
        try:
            return table[sweep]
        except KeyError:
            raise UnknownName(f"unknown sweep {sweep!r}; use quick, full or a list of sizes") from None

    def default_dtype(self) -> str:
        return self.dtypes[0]

    def variants_for(self, target: str) -> tuple[str, ...]:
        """The variants this technique has on ``target`` (``("article",)`` unless it says more)."""
        return tuple(self.variants.get(target, (ARTICLE,)))

    def variant(self, target: str, variant: str = ARTICLE) -> Callable[[dict], Any]:
        """The callable of ``variant`` on ``target``; UnknownName for a target or variant it lacks."""
        if target not in self.targets:
            get_target(target)  # an unknown name gets the list of known targets
            raise UnknownName(
                f"technique {self.name!r} has no variant for target {target!r}; "
                f"its targets: {', '.join(self.targets)}"
            )
        names = self.variants_for(target)
        if variant not in names:
            raise UnknownName(f"technique {self.name!r} has no variant {variant!r} on {target!r}; "
                              f"its variants there: {', '.join(names)}")
        if variant == ARTICLE and len(names) == 1:
            return self.implementation(target)  # one way only: old-style signatures work too
        return self.implementation(target, variant)

    def prepare(self, target: str, inputs: dict) -> dict:
        """Inputs moved to ``target``'s memory, plus the output buffers allocated there."""
        mem = memory(target)
        args = {k: mem.to_device(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}
        for k, (shape, dtype) in self.outputs(inputs).items():
            args[k] = mem.empty(shape, dtype)
        return args

    def fetch(self, target: str, out) -> np.ndarray:
        return memory(target).to_host(out)

    def run(self, target: str, inputs: dict, variant: str = ARTICLE) -> np.ndarray:
        """Run ``variant`` on ``target`` on host ``inputs``; return the result as host NumPy data."""
        fn = self.variant(target, variant)
        inputs = self.check_inputs(inputs)
        args = self.prepare(target, inputs)
        out = fn(args)
        memory(target).synchronize()
        return self.fetch(target, out)

    def compare(self, got, want) -> tuple[bool, float]:
        """(correct, max_abs_err) of ``got`` against the reference ``want``; NaNs must match."""
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            return False, float("inf")
        if got.size == 0:
            return True, 0.0
        if not np.issubdtype(want.dtype, np.inexact):
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
            return bool(np.array_equal(got, want)), float(diff.max())
        nan_got, nan_want = np.isnan(got), np.isnan(want)
        if not np.array_equal(nan_got, nan_want):
            return False, float("inf")
        ok = ~nan_want
        diff = np.abs(got[ok].astype(np.float64) - want[ok].astype(np.float64))
        err = float(diff.max()) if diff.size else 0.0
        rtol, atol = self.tolerance(want.dtype)
        correct = bool(np.allclose(got[ok], want[ok], rtol=rtol, atol=atol))
        return correct, err

    def tolerance(self, dtype) -> tuple[float, float]:
        """(rtol, atol) for results of ``dtype``; the class attributes unless overridden."""
        return self.rtol, self.atol

    def input_error(self, what: str) -> InputError:
        return InputError(f"{self.name}: {what}")

    def __repr__(self):
        return f"<technique {self.name!r}: {self.title}>"


_REGISTRY: dict[str, Technique] = {}
_loaded = False


def register(cls: type[Technique]) -> type[Technique]:
    """Class decorator: add one instance of ``cls`` to the registry."""
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise NumbabenchError(f"two techniques are named {cls.name!r}")
    _REGISTRY[cls.name] = cls()
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    builtin = importlib.import_module("numbabench.article")
    for info in pkgutil.iter_modules(builtin.__path__, builtin.__name__ + "."):
        importlib.import_module(info.name)
    extra = [m.strip() for m in os.environ.get("NUMBABENCH_TECHNIQUES", "").split(",") if m.strip()]
    for mod in extra:
        try:
            importlib.import_module(mod)
        except Exception as exc:  # a user's module: say which one, not a traceback
            raise NumbabenchError(
                f"cannot import technique module {mod!r} named in NUMBABENCH_TECHNIQUES: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    for ep in entry_points(group="numbabench.techniques"):
        ep.load()


def techniques() -> list[str]:
    """Names of all registered techniques, in article order."""
    _load()
    return sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].article_item or 99, n))


def get_technique(name: str) -> Technique:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownName(
            f"unknown technique {name!r}; known techniques: {', '.join(techniques())}"
        ) from None
