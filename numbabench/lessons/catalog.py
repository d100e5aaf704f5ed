"""Where the lessons live and what their index says.

``lessons/index.toml`` orders the lessons; a lesson's number is its place in that list (0, 1, ...).
Each ``[[lesson]]`` names a folder next to the index holding the same five files:

===========================  ========================================================================
``README.md``                what the lesson teaches and where the article says it
``exercise.py``              the starter: a jupytext percent notebook (``# %%`` cells) with ``# TODO``
                             at every spot the learner fills in; runs as a script, opens in Jupyter
``hints.toml``               ``[[hint]]`` entries, from a nudge to nearly the answer: ``text`` (prose)
                             and an optional ``code`` (a snippet that compiles on its own)
``check.py``                 the grading logic (``check(ex, g)``, optional ``ptx_kernels(ex, types)``)
``.solution/solution.py``    a solved exercise, in a hidden folder so nobody reads it by accident
===========================  ========================================================================

The lessons are found, in order: ``$NUMBABENCH_LESSONS_DIR``; ``lessons/`` next to the package (a
checkout or an editable install); ``<prefix>/share/numbabench/lessons`` (a wheel that ships them).
"""
from __future__ import annotations

import math
import os
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ..errors import NumbabenchError

INDEX = "index.toml"
FILES = {
    "readme": "README.md",
    "exercise": "exercise.py",
    "hints": "hints.toml",
    "check": "check.py",
    "solution": ".solution/solution.py",
}
#: the one marker every unsolved spot of an exercise carries
MARKER = "# TODO"
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Lesson:
    number: int
    id: str  # the folder's name, e.g. "03-one-function-two-targets"
    title: str
    summary: str
    article_item: int | None
    timeout: float  # seconds a check may run before it is called off
    path: Path

    def file(self, kind: str) -> Path:
        return self.path / FILES[kind]

    @property
    def label(self) -> str:
        return f"lesson {self.number} · {self.title}"


def lessons_root() -> Path:
    """The folder holding ``index.toml``, or NumbabenchError saying where it was looked for."""
    env = os.environ.get("NUMBABENCH_LESSONS_DIR")
    if env:
        root = Path(env).expanduser()
        if not (root / INDEX).is_file():
            raise NumbabenchError(f"NUMBABENCH_LESSONS_DIR={env} holds no {INDEX}")
        return root
    here = Path(__file__).resolve().parent
    candidates = [here.parent.parent / "lessons", Path(sys.prefix) / "share" / "numbabench" / "lessons"]
    for root in candidates:
        if (root / INDEX).is_file():
            return root
    raise NumbabenchError(
        "cannot find the lessons (looked in " + ", ".join(str(c) for c in candidates) + "); "
        "run from a clone of the numbabench repository, or set NUMBABENCH_LESSONS_DIR"
    )


def load(root: Path | None = None) -> list[Lesson]:
    """The lessons of the index, in order. A malformed index is a NumbabenchError naming the entry."""
    root = lessons_root() if root is None else Path(root)
    try:
        data = tomllib.loads((root / INDEX).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise NumbabenchError(f"cannot read {root / INDEX}: {exc}") from None
    entries = data.get("lesson")
    if not isinstance(entries, list) or not entries:
        raise NumbabenchError(f"{root / INDEX} lists no [[lesson]]")
    out, seen = [], set()
    for n, e in enumerate(entries):
        where = f"{root / INDEX}, lesson {n}"
        if not isinstance(e, dict) or not isinstance(e.get("folder"), str) or not isinstance(e.get("title"), str):
            raise NumbabenchError(f"{where}: every [[lesson]] needs a folder and a title")
        folder = e["folder"]
        if folder in seen or "/" in folder or folder.startswith("."):
            raise NumbabenchError(f"{where}: folder {folder!r} is repeated or not a plain folder name")
        seen.add(folder)
        item, timeout = e.get("article_item"), e.get("timeout", DEFAULT_TIMEOUT)
        if item is not None and (not isinstance(item, int) or not 1 <= item <= 7):
            raise NumbabenchError(f"{where}: article_item must be a whole number from 1 to 7, not {item!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
                math.isfinite(timeout) and timeout > 0):
            raise NumbabenchError(f"{where}: timeout must be a positive number of seconds, not {timeout!r}")
        out.append(Lesson(
            number=n, id=folder, title=e["title"], summary=str(e.get("summary", "")),
            article_item=item, timeout=float(timeout), path=root / folder,
        ))
    return out


def problems(root: Path | None = None) -> list[str]:
    """Everything on which the index, the folders and the files disagree (empty when they agree)."""
    root = lessons_root() if root is None else Path(root)
    lessons = load(root)
    found = []
    listed = {l.id for l in lessons}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if d.name.startswith((".", "_")):
            continue
        if d.name not in listed:
            found.append(f"folder {d.name}/ is not in {INDEX}")
    for l in lessons:
        if not l.path.is_dir():
            found.append(f"{INDEX} lists {l.id}, which has no folder")
            continue
        for kind in FILES:
            if not l.file(kind).is_file():
                found.append(f"{l.id}: missing {FILES[kind]}")
            elif kind in ("exercise", "check", "solution"):
                try:
                    compile(l.file(kind).read_bytes(), str(l.file(kind)), "exec")
                except (SyntaxError, ValueError, OSError) as exc:
                    found.append(f"{l.id}: {FILES[kind]} does not compile ({type(exc).__name__}: {exc})")
        if l.file("hints").is_file():
            try:
                read_hints(l)
            except NumbabenchError as exc:
                found.append(str(exc))
    return found


def require_intact(root: Path | None = None) -> None:
    """NumbabenchError, in one line, when the index and the lessons' files disagree."""
    root = lessons_root() if root is None else Path(root)
    found = problems(root)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise NumbabenchError(f"the lessons in {root} are incomplete or damaged: {found[0]}{more}; "
                              "`git checkout -- lessons/` in your clone (or a fresh clone) restores them")


def todo_lines(text: str) -> list[int]:
    """Line numbers (1-based) that carry the marker, not counting a mention of it in backticks."""
    return [n for n, line in enumerate(text.splitlines(), 1)
            if MARKER in line.replace(f"`{MARKER}`", "")]


def find(lessons: list[Lesson], ref) -> Lesson:
    """The lesson named by a number (``3``), its folder (``03-one-function-two-targets``) or a
    part of the folder name that only one lesson has (``two-targets``)."""
    text = str(ref).strip()
    if re.fullmatch(r"\d+", text):
        n = int(text)
        if 0 <= n < len(lessons):
            return lessons[n]
        raise NumbabenchError(f"there is no lesson {n}; the lessons are numbered 0 to {len(lessons) - 1}")
    exact = [l for l in lessons if l.id == text]
    if exact:
        return exact[0]
    partial = [l for l in lessons if text.lower() in l.id.lower()]
    if len(partial) == 1:
        return partial[0]
    names = ", ".join(f"{l.number} ({l.id})" for l in lessons)
    what = "matches several lessons" if partial else "is not a lesson"
    raise NumbabenchError(f"{text!r} {what}; give a number or a folder name: {names}")


@dataclass(frozen=True)
class Hint:
    text: str  # prose
    code: str  # a snippet that compiles on its own once dedented ("" for none)

    def render(self) -> str:
        """The hint as printed: the prose, then the code indented by four spaces."""
        parts = [self.text] if self.text else []
        if self.code:
            parts.append(textwrap.indent(self.code, "    "))
        return "\n".join(parts)


def _block(text: str) -> str:
    """Dedent, and drop the blank lines around: never strip a line's own indentation."""
    return textwrap.dedent(text).strip("\n").rstrip()


def read_hints(lesson: Lesson) -> list[Hint]:
    """The hints of a lesson, in order; a malformed hints.toml is a NumbabenchError naming it."""
    try:
        data = tomllib.loads(lesson.file("hints").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise NumbabenchError(f"cannot read the hints of {lesson.id}: {exc}") from None
    hints = []
    for h in data.get("hint", []):
        if not isinstance(h, dict) or not all(isinstance(h.get(k, ""), str) for k in ("text", "code")):
            raise NumbabenchError(f"{lesson.file('hints')}: every [[hint]] has a text and an optional code, both strings")
        hint = Hint(_block(h.get("text", "")), _block(h.get("code", "")))
        if hint.text or hint.code:
            hints.append(hint)
    return hints
