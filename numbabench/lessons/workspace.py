"""The learner's side: their own copies of the exercises, and their progress.

The starters under ``lessons/<id>/exercise.py`` are never edited: they are under git, and a
``git pull`` that brings a better starter must not collide with a learner's work. The learner works
on a copy, ``<home>/<id>.py``, and the progress lives next to the copies in ``<home>/.progress.json``
(a file of its own, never inside an exercise). ``<home>`` is

* ``$NUMBABENCH_LESSONS_HOME`` when set (the tests point it at a temporary folder);
* ``my-lessons/`` at the root of a checkout (git-ignored), when the lessons come from a checkout;
* ``~/numbabench-lessons`` otherwise.

A copy nobody has touched is refreshed when its starter changes (a ``git pull``); a copy the learner
edited is never overwritten, except by ``reset``, which first moves it to ``<home>/.backups/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from ..errors import NumbabenchError
from .catalog import Lesson, lessons_root

STATE = ".progress.json"
BACKUPS = ".backups"
VERSION = 1


def default_home() -> Path:
    env = os.environ.get("NUMBABENCH_LESSONS_HOME")
    if env:
        return Path(env).expanduser()
    try:
        root = lessons_root().resolve()
    except NumbabenchError:
        root = None
    if root is not None and (root.parent / "pyproject.toml").is_file() and (root.parent / "numbabench").is_dir():
        return root.parent / "my-lessons"
    return Path.home() / "numbabench-lessons"


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


class Workspace:
    def __init__(self, home: Path | None = None):
        self.home = Path(home) if home is not None else default_home()
        self.state_file = self.home / STATE
        self._state: dict | None = None

    # -- the copies -----------------------------------------------------------------------------
    def copy_path(self, lesson: Lesson) -> Path:
        return self.home / f"{lesson.id}.py"

    def ensure(self, lessons: list[Lesson]) -> list[str]:
        """Give every lesson a working copy; refresh untouched copies whose starter changed.

        Returns one line per file made or refreshed.
        """
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NumbabenchError(f"cannot create the lessons folder {self.home}: {exc}") from None
        self.state  # a damaged progress file stops here, before any copy is made
        said = []
        try:
            for lesson in lessons:
                copy, starter = self.copy_path(lesson), lesson.file("exercise")
                rec = self.record(lesson)
                if not copy.exists():
                    self._copy_starter(lesson)
                    said.append(f"made {copy}")
                elif (_sha(copy) == rec.get("starter_sha256") and rec.get("starter_sha256") != _sha(starter)):
                    self._copy_starter(lesson)
                    said.append(f"refreshed {copy} (you had not edited it; its starter changed)")
        except OSError as exc:
            raise NumbabenchError(f"cannot write your copies of the exercises in {self.home}: {exc}") from None
        if said or not self.state_file.exists():
            self.save()
        return said

    def _copy_starter(self, lesson: Lesson) -> None:
        copy = self.copy_path(lesson)
        tmp = copy.with_name(copy.name + ".tmp")
        shutil.copyfile(lesson.file("exercise"), tmp)
        os.replace(tmp, copy)
        self.record(lesson)["starter_sha256"] = _sha(copy)

    def edited(self, lesson: Lesson) -> bool:
        return _sha(self.copy_path(lesson)) != self.record(lesson).get("starter_sha256")

    def reset(self, lesson: Lesson) -> Path | None:
        """Put the starter back; the old copy goes to the backups first. Returns the backup."""
        copy = self.copy_path(lesson)
        backup = None
        if copy.exists():
            backups = self.home / BACKUPS
            backups.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = backups / f"{lesson.id}-{stamp}.py"
            n = 1
            while backup.exists():
                n += 1
                backup = backups / f"{lesson.id}-{stamp}-{n}.py"
            shutil.copy2(copy, backup)
        self.home.mkdir(parents=True, exist_ok=True)
        self._copy_starter(lesson)
        self.save()
        return backup

    # -- the progress ---------------------------------------------------------------------------
    @property
    def state(self) -> dict:
        if self._state is None:
            self._state = self._load()
        return self._state

    def _load(self) -> dict:
        """The progress, or NumbabenchError in one line: an unreadable file is left as it is."""
        try:
            text = self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": VERSION, "current": None, "lessons": {}}
        except (OSError, UnicodeDecodeError) as exc:
            raise NumbabenchError(f"cannot read the progress file {self.state_file}: {exc}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("lessons"), dict):
                raise ValueError("it holds no \"lessons\" table")
            bad = [k for k, v in data["lessons"].items() if not isinstance(v, dict)]
            if bad:
                raise ValueError(f"the entry of {bad[0]} is not a table")
            if not isinstance(data.get("current"), (str, type(None))):
                raise ValueError("\"current\" is not a lesson's name")
        except ValueError as exc:
            raise NumbabenchError(
                f"the progress file {self.state_file} is damaged ({exc}); nothing was changed: "
                f"move it away (mv {self.state_file} {self.state_file}.bad) to start your progress afresh "
                "(your copies of the exercises stay)"
            ) from None
        data.setdefault("current", None)
        return data

    def save(self) -> None:
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_name(STATE + ".tmp")
            tmp.write_text(json.dumps(self.state, indent=2, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.state_file)
        except OSError as exc:
            raise NumbabenchError(f"cannot save your progress in {self.state_file}: {exc}") from None

    def record(self, lesson: Lesson) -> dict:
        return self.state["lessons"].setdefault(lesson.id, {})

    def passed(self, lesson: Lesson) -> bool:
        return bool(self.record(lesson).get("passed"))

    def current(self, lessons: list[Lesson]) -> Lesson:
        """The lesson being worked on: the one last chosen, else the first not passed yet."""
        cur = self.state.get("current")
        for l in lessons:
            if l.id == cur:
                return l
        for l in lessons:
            if not self.passed(l):
                return l
        return lessons[-1]

    def set_current(self, lesson: Lesson) -> None:
        self.state["current"] = lesson.id
        self.save()

    def note_check(self, lesson: Lesson, passed: bool, seconds: float) -> None:
        rec = self.record(lesson)
        rec["checks"] = rec.get("checks", 0) + 1
        rec["last_check"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        rec["last_result"] = "passed" if passed else "failed"
        rec["last_seconds"] = round(seconds, 2)
        if passed and not rec.get("passed"):
            rec["passed"] = True
            rec["passed_at"] = rec["last_check"]
        self.save()

    def next_hint(self, lesson: Lesson, n_hints: int) -> int | None:
        """The index of the next hint to show (and count it shown), or None when all were shown."""
        rec = self.record(lesson)
        shown = rec.get("hints_shown", 0)
        if shown >= n_hints:
            return None
        rec["hints_shown"] = shown + 1
        self.save()
        return shown
