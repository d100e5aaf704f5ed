"""Where the lessons live and what their index says.

``lessons/index.toml`` orders the lessons; a lesson's number is its place in that list (0, 1, ...).
Each ``[[lesson]]`` names a folder next to the index holding the same five files:

===========================  ========================================================================
``README.md``                what the lesson teaches and where the article says it
``exercise.py``              the starter: a jupytext percent notebook (``# %%`` cells) with ``# TODO``
                             at every spot the learner fills in; runs as a script, opens in Jupyter
``hints.toml``               ``[[hint]]`` entries, from a nudge to nearly the answer
``check.py``                 the grading logic (``check(ex, g)``, optional ``ptx_kernels(ex, types)``)
``.solution/solution.py``    a solved exercise, in a hidden folder so nobody reads it by accident
===========================  ========================================================================

The lessons are found, in order: ``$NUMBABENCH_LESSONS_DIR``; ``lessons/`` next to the package (a
checkout or an editable install); ``<prefix>/share/numbabench/lessons`` (a wheel that ships them).
"""
from __future__ import annotations

import os
import re
import sys
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
        item = e.get("article_item")
        out.append(Lesson(
            number=n, id=folder, title=e["title"], summary=str(e.get("summary", "")),
            article_item=int(item) if item is not None else None,
            timeout=float(e.get("timeout", DEFAULT_TIMEOUT)), path=root / folder,
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
    return found


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


def read_hints(lesson: Lesson) -> list[str]:
    try:
        data = tomllib.loads(lesson.file("hints").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise NumbabenchError(f"cannot read the hints of {lesson.id}: {exc}") from None
    hints = [h.get("text", "").strip() for h in data.get("hint", []) if isinstance(h, dict)]
    return [h for h in hints if h]
