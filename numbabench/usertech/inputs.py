"""How a user technique's arguments are made and typed: input descriptions (``normal(0, 1)``,
``uniform(-1, 1)``, a number), Numba signatures, and the Numba-type helpers the variants share."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .loading import UserCodeError, _first_line


@dataclass(frozen=True)
class InputSpec:
    """How one argument is generated: a distribution (an array of the cell's size) or a constant."""

    kind: str  # normal, uniform, integers, constant
    a: float = 0.0
    b: float = 1.0

    DISTRIBUTIONS: ClassVar[dict[str, tuple[float, float]]] = {
        "normal": (0.0, 1.0), "uniform": (0.0, 1.0), "integers": (0.0, 100.0)}

    @property
    def is_array(self) -> bool:
        return self.kind != "constant"

    def make(self, rng: np.random.Generator, size: int, dtype) -> Any:
        dtype = np.dtype(dtype)
        if self.kind == "constant":
            return dtype.type(self.a)
        if self.kind == "normal":
            values = rng.normal(self.a, self.b, size)
        elif self.kind == "uniform":
            values = rng.uniform(self.a, self.b, size)
        else:
            values = rng.integers(int(self.a), int(self.b), size)
        return values.astype(dtype)

    def __str__(self):
        if self.kind == "constant":
            return repr(self.a)
        return f"{self.kind}({self.a!r}, {self.b!r})"


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_input(text: str) -> InputSpec:
    """``normal``, ``normal(loc, scale)``, ``uniform(low, high)``, ``integers(low, high)`` or a number."""
    text = text.strip()
    how = ("use normal, normal(loc, scale), uniform(low, high), integers(low, high) or a number, "
           "one per argument")
    try:
        return InputSpec("constant", float(text))
    except ValueError:
        pass
    m = re.fullmatch(r"([a-z]+)\s*(?:\((.*)\))?", text)
    if not m or m.group(1) not in InputSpec.DISTRIBUTIONS:
        raise UserCodeError(f"--inputs: {text!r} is not an input; {how}")
    kind, inner = m.group(1), m.group(2)
    a, b = InputSpec.DISTRIBUTIONS[kind]
    if inner is not None:
        try:
            a, b = (float(v) for v in inner.split(","))
        except ValueError:
            raise UserCodeError(f"--inputs: {text!r} needs two numbers in its parentheses; {how}") from None
    if kind in ("uniform", "integers") and not a < b:
        raise UserCodeError(f"--inputs: {text!r} needs low < high")
    if kind == "normal" and not b > 0:
        raise UserCodeError(f"--inputs: {text!r} needs a positive scale")
    return InputSpec(kind, a, b)


def parse_inputs(text) -> tuple[InputSpec, ...]:
    """A comma list (or sequence) of input descriptions, one per argument."""
    items = split_top_level(text) if isinstance(text, str) else [str(t) for t in text]
    if any(not it for it in items):
        raise UserCodeError(f"--inputs: {text!r} has an empty item; give one input per argument")
    return tuple(parse_input(it) for it in items)


# -- signatures --------------------------------------------------------------------------------------

def parse_signature(text: str):
    """``float32(float32, float32)`` -> (argument types, return type), as Numba reads it."""
    from numba.core import sigutils

    try:
        args, ret = sigutils.normalize_signature(text)
    except Exception as exc:
        raise UserCodeError(f"--signature {text!r} does not parse ({_first_line(exc)}); write it as "
                            "Numba does, e.g. 'float32(float32, float32)' or "
                            "'void(float32[:], float32, float32[:])'") from None
    return tuple(args), ret


def _scalar(t) -> bool:
    from numba.core import types

    return isinstance(t, (types.Number, types.Boolean))


def _c_array(t):
    from numba.core import types

    return types.Array(t.dtype, t.ndim, "C") if isinstance(t, types.Array) else t


def _np_dtype(t) -> np.dtype:
    from numba.np.numpy_support import as_dtype

    return np.dtype(as_dtype(t.dtype if hasattr(t, "dtype") and not _scalar(t) else t))


def _c_array_of(t):
    from numba.core import types

    return types.Array(t, 1, "C")

