"""Text that every command prints the same way: an exception in one line, a time with its unit."""
from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """``Type: first meaningful line of the message`` (no traceback, no trailing ``...:`` header)."""
    text = str(exc).strip()
    line = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().endswith(":")), text)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def seconds(s: float | None, digits: int = 3) -> str:
    """``1.23 ms``, ``456 µs``, ``7.8 ns``; ``-`` for no figure."""
    if s is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale:
            return f"{s / scale:.{digits}g} {unit}"
    return f"{s / 1e-9:.{digits}g} ns"
