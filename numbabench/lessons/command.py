"""``numbabench lessons``: work through the exercises in order and have them graded.

    numbabench lessons                 set up your copies of the exercises; say where to start
    numbabench lessons list            the lessons and your progress
    numbabench lessons check [N]       grade your copy of lesson N (default: the current lesson)
    numbabench lessons check N --file PATH    grade another file against lesson N
    numbabench lessons hint [N]        the next hint, one more each time
    numbabench lessons next            move on to the next lesson
    numbabench lessons reset N         put the starter back (your copy goes to the backups first)
    numbabench lessons solution [N]    a solution, once your copy of lesson N has passed
    numbabench lessons watch [N]       check again every time you save

Exit status: 0 when the check passed (or the command did what it says), 1 when a check did not
pass, 2 for a mistake in the command or a damaged lesson or progress file (one line on stderr,
nothing written).

Every command it prints for the learner to type is spelled so that it works as typed in a new
shell: the venv's own ``numbabench`` and ``jupyter`` by their path (a venv is active only in the
shell that activated it), a bare name only for a script that is on the default PATH.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import sysconfig
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..argtypes import positive_float
from ..errors import NumbabenchError
from ..fmt import seconds
from . import catalog
from .workspace import Workspace

ARTICLE_URL = "https://www.anaconda.com/blog/seven-things-you-might-not-know-about-numba"

out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out = Console(highlight=False, soft_wrap=True, width=200)


def _say(text: str = "") -> None:
    out.print(text, markup=False)


def _one_line_error(parser: argparse.ArgumentParser, message: str):
    """argparse's error, in one line (no usage block): what is wrong, and where to read more."""
    sys.stderr.write(f"{parser.prog}: error: {message} (see {parser.prog} --help)\n")
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        _one_line_error(self, message)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Self-paced exercises on the article's techniques, graded on the simulator or a GPU."
    p.error = lambda message: _one_line_error(p, message)
    sub = p.add_subparsers(dest="lessons_command", metavar="ACTION", parser_class=_Parser)
    sub.add_parser("start", help="make your copies of the exercises and say where to start (the default)")
    sub.add_parser("list", help="the lessons and your progress")
    c = sub.add_parser("check", help="grade your copy of a lesson (default: the current one)")
    c.add_argument("lesson", nargs="?", help="lesson number or folder name (default: the current lesson)")
    c.add_argument("--file", type=Path, default=None,
                   help="grade this file instead of your copy (not recorded in your progress)")
    c.add_argument("--timeout", type=positive_float, default=None,
                   help="seconds before the check gives up (default: the lesson's own)")
    target = c.add_mutually_exclusive_group()
    target.add_argument("--simulator", dest="simulator", action="store_const", const=True, default=None,
                        help="run on the CUDA simulator even where there is a GPU")
    target.add_argument("--gpu", dest="simulator", action="store_const", const=False,
                        help="run on the GPU (fails where there is none)")
    c.add_argument("-v", "--verbose", action="store_true", help="also show what your file printed")
    h = sub.add_parser("hint", help="the next hint for a lesson, one more each time")
    h.add_argument("lesson", nargs="?")
    sub.add_parser("next", help="move on to the next lesson")
    r = sub.add_parser("reset", help="put the starter back, keeping your copy in the backups")
    r.add_argument("lesson")
    s = sub.add_parser("solution", help="show a solution, once the lesson has passed")
    s.add_argument("lesson", nargs="?")
    w = sub.add_parser("watch", help="check again every time the file is saved (Ctrl-C to stop)")
    w.add_argument("lesson", nargs="?")
    w.add_argument("--interval", type=positive_float, default=0.5, help="seconds between looks at the file")
    w.add_argument("--timeout", type=positive_float, default=None)


def run(args) -> int:
    action = getattr(args, "lessons_command", None) or "start"
    lessons = catalog.load()
    catalog.require_intact()
    ws = Workspace()
    ws.state  # a damaged progress file is reported before anything is written
    # every mistake in the command is found before the first file is written
    ref = getattr(args, "lesson", None)
    chosen = catalog.find(lessons, ref) if ref is not None else None
    file = getattr(args, "file", None)
    if file is not None:
        if not file.exists():
            raise NumbabenchError(f"--file {file}: no such file")
        if not file.is_file():
            raise NumbabenchError(f"--file {file}: not a file (a folder?); give the path of a .py file")
    if action == "check" and args.simulator is False:
        from .checker import require_gpu

        require_gpu()
    made = ws.ensure(lessons)
    if action == "start":
        return cmd_start(lessons, ws, made)
    for line in made:
        _say(line)
    if action == "list":
        return cmd_list(lessons, ws)
    if action == "next":
        return cmd_next(lessons, ws)
    lesson = _pick(lessons, ws, chosen)
    if action == "check":
        return _run_check(lessons, lesson, ws, args.file, args.timeout, args.simulator, args.verbose)
    if action == "hint":
        return cmd_hint(lessons, ws, lesson)
    if action == "reset":
        return cmd_reset(lessons, ws, lesson)
    if action == "solution":
        return cmd_solution(lessons, ws, lesson)
    if action == "watch":
        return cmd_watch(lessons, ws, lesson, args)
    raise NumbabenchError(f"unknown action {action!r}")


def command(name: str = "numbabench") -> str | None:
    """How to type this environment's script ``name`` so that it works in a new shell, or None
    when this environment has no such script."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.is_file():
        return None
    found = shutil.which(name)
    in_venv = sys.prefix != sys.base_prefix
    if found and not in_venv and Path(found).resolve() == path.resolve():
        return name  # on the default PATH: every new shell finds it
    return _rel(path)


def nb() -> str:
    """The numbabench command, as ``command`` spells it (``python -m numbabench`` without a script)."""
    return command() or f"{_rel(Path(sys.executable))} -m numbabench"


def _pick(lessons, ws: Workspace, chosen: catalog.Lesson | None) -> catalog.Lesson:
    if chosen is None:
        return ws.current(lessons)
    ws.set_current(chosen)
    return chosen


def _rel(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it, else absolute. Lexical, not
    resolved: a venv reached through a symlink keeps the name it was reached by."""
    here = Path(os.path.abspath(os.getcwd()))
    try:
        return str(Path(os.path.abspath(path)).relative_to(here))
    except ValueError:
        return os.path.abspath(path)


def _intro(lesson: catalog.Lesson, ws: Workspace) -> None:
    _say(f"{lesson.label}" + (f"  (article item {lesson.article_item})" if lesson.article_item else ""))
    if lesson.summary:
        _say(f"  {lesson.summary}")
    _say(f"  read:  {_rel(lesson.file('readme'))}")
    _say(f"  edit:  {_rel(ws.copy_path(lesson))}   (every spot to fill in says {catalog.MARKER})")
    _say(f"  check: {nb()} lessons check {lesson.number}")


def _jupyter_line(ws: Workspace) -> str:
    jupyter = command("jupyter")
    if jupyter is None or importlib.util.find_spec("jupyterlab") is None:
        return ("  Jupyter is not installed here: `make lessons` in the clone (or pip install "
                "'numbabench[lessons]') installs it, with jupytext")
    return f"  {jupyter} lab {_rel(ws.home)}   then right-click the file: Open With > Notebook"


def cmd_start(lessons, ws: Workspace, made) -> int:
    if made:
        _say(f"your copies of the {len(lessons)} exercises are in {_rel(ws.home)}/ "
             f"(progress: {_rel(ws.state_file)})")
    cur = ws.current(lessons)
    done = sum(ws.passed(l) for l in lessons)
    _say(f"The lessons follow Stanley Seibert's article \"Seven Things You Might Not Know about Numba\" "
         f"({ARTICLE_URL}); their text and code are numbabench's own.")
    _say(f"{done} of {len(lessons)} lessons passed. Where to start:")
    _intro(cur, ws)
    _say("")
    _say("Each exercise is a notebook in plain Python (jupytext percent format): edit it in any editor, "
         "or open it in Jupyter:")
    _say(_jupyter_line(ws))
    _say("No GPU here? The notebooks and the checks run the kernels on the CUDA simulator.")
    _say(f"{nb()} lessons list | check | hint | next | reset N | solution | watch")
    _say(f"(type these from {Path.cwd()}, in this shell or a new one: nothing needs activating)")
    return 0


def what_next() -> list[str]:
    """Where a learner goes after the last lesson."""
    return [
        "What next:",
        f"  {nb()} run --techniques clamp,gaussian",
        "      times the kernels of these lessons on every target here, against NumPy measured in the same run",
        f"  {nb()} report",
        "      the HTML report of that run: compile time apart, median and spread, the roofline",
        f"  {nb()} try FILE.py:NAME",
        "      a function of your own (a kernel, with --kernel) through every variant, checked and timed",
        f"  the article itself: {ARTICLE_URL}",
    ]


def cmd_list(lessons, ws: Workspace) -> int:
    cur = ws.current(lessons)
    t = Table("#", "lesson", "article", "status", "hints", "your file", box=None)
    for l in lessons:
        rec = ws.record(l)
        if rec.get("passed"):
            status = "passed ✓"
        elif rec.get("checks"):
            status = f"not passed yet ({rec['checks']} check{'s' if rec['checks'] > 1 else ''})"
        else:
            status = "edited" if ws.edited(l) else "not started"
        if l.id == cur.id:
            status += "  ← current"
        item = str(l.article_item) if l.article_item else ""
        t.add_row(str(l.number), l.title, item, status, str(rec.get("hints_shown", 0)), _rel(ws.copy_path(l)))
    out.print(t)
    done = sum(ws.passed(l) for l in lessons)
    _say(f"{done} of {len(lessons)} passed")
    return 0


def _run_check(lessons, lesson, ws: Workspace, file: Path | None, timeout, simulator, verbose) -> int:
    from .checker import check

    own = ws.copy_path(lesson)
    target = Path(file) if file is not None else own
    if not target.is_file():
        raise NumbabenchError(f"no such file: {target}")
    v = check(lesson, target, simulator=simulator, timeout=timeout)
    recorded = target.resolve() == own.resolve()
    _say(v.text(file_label=_rel(target), verbose=verbose))
    if recorded:
        ws.note_check(lesson, v.passed, v.seconds)
        if v.passed:
            if lesson.number + 1 < len(lessons):
                _say(f"well done. Next: {nb()} lessons next   "
                     f"(the solution: {nb()} lessons solution {lesson.number})")
            else:
                _say("well done: that was the last lesson.")
                for line in what_next():
                    _say(line)
        else:
            _say(f"stuck? {nb()} lessons hint {lesson.number}")
    else:
        _say(f"(not recorded in your progress: it follows your copy, {_rel(own)})")
    return 0 if v.passed else 1


def cmd_hint(lessons, ws: Workspace, lesson) -> int:
    hints = catalog.read_hints(lesson)
    i = ws.next_hint(lesson, len(hints))
    if i is None:
        _say(f"{lesson.label}: that was the last of its {len(hints)} hints. All of them again:")
        for n, h in enumerate(hints, 1):
            _say(f"hint {n}:")
            _say(h.render())
        return 0
    _say(f"{lesson.label}, hint {i + 1} of {len(hints)}:")
    _say(hints[i].render())
    if i + 1 < len(hints):
        _say(f"(another one: {nb()} lessons hint {lesson.number})")
    return 0


def cmd_next(lessons, ws: Workspace) -> int:
    cur = ws.current(lessons)
    if cur.number + 1 >= len(lessons):
        _say(f"{cur.label} is the last lesson.")
        for line in what_next():
            _say(line)
        return 0
    if not ws.passed(cur):
        _say(f"({cur.label} has not passed yet: come back with `{nb()} lessons check {cur.number}`)")
    nxt = lessons[cur.number + 1]
    ws.set_current(nxt)
    _intro(nxt, ws)
    return 0


def cmd_reset(lessons, ws: Workspace, lesson) -> int:
    backup = ws.reset(lesson)
    _say(f"{_rel(ws.copy_path(lesson))} is the starter of {lesson.label} again")
    if backup is not None:
        _say(f"your previous copy is saved as {_rel(backup)}")
    return 0


def cmd_solution(lessons, ws: Workspace, lesson) -> int:
    if not ws.passed(lesson):
        raise NumbabenchError(
            f"the solution of lesson {lesson.number} opens once your copy passes its check "
            f"({nb()} lessons check {lesson.number}); stuck? {nb()} lessons hint {lesson.number}"
        )
    sol = lesson.file("solution")
    _say(f"# a solution of {lesson.label} ({_rel(sol)}); yours passed too, and may well be better")
    _say(sol.read_text(encoding="utf-8"))
    return 0


def cmd_watch(lessons, ws: Workspace, lesson, args) -> int:
    path = ws.copy_path(lesson)
    _say(f"watching {_rel(path)}: every save is checked (Ctrl-C to stop)")
    last = None
    status = 1
    try:
        while True:
            try:
                stamp = path.stat().st_mtime_ns
            except FileNotFoundError:
                stamp = None
            if stamp is not None and stamp != last:
                last = stamp
                status = _run_check(lessons, lesson, ws, None, args.timeout, None, False)
                _say(f"-- waiting for the next save of {_rel(path)} --")
            time.sleep(args.interval)
    except KeyboardInterrupt:
        _say("stopped watching")
        return status
