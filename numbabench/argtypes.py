"""Argument types the command line shares (``type=`` of argparse): each turns a bad value into one
line that says what was wrong, through ``argparse.ArgumentTypeError``."""
from __future__ import annotations

import argparse
import math


def comma_list(text: str) -> list[str]:
    """``a, b,c`` -> ``["a", "b", "c"]``; an empty list is an error."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return items


def positive_float(text: str) -> float:
    """A finite number above zero (``inf`` and ``nan`` are refused: no timeout or interval means them)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def positive_int(text: str) -> int:
    """A whole number, at least 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return v
