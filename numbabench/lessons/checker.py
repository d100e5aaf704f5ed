"""The parent side of a check: start the two harness phases, wait for them, and turn what they
report into a verdict the learner can act on.

The ``run`` phase (the learner's file, then the lesson's ``check``) runs on the CUDA simulator where
there is no GPU and on the GPU where there is one; the ``ptx`` phase compiles the learner's kernels
for a real GPU in real mode, which needs no GPU. Both run side by side, each in its own process
group, with the learner's output going to files (never a pipe that could fill up). Time's up is a
verdict, not a hang: the run phase dumps its threads' stacks and ends itself when the lesson's
timeout passes (the verdict says which line of the learner's file it was on), and the parent kills
the whole process group — dask workers and all — a few seconds later if it has not.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import NumbabenchError
from ..fmt import seconds
from .catalog import Lesson

GRACE = 10.0  # seconds the parent waits past the timeout before it kills the process group
PTX_TIMEOUT = 60.0
OK, NO = "✓", "✗"


@dataclass
class Verdict:
    lesson: Lesson
    file: Path
    simulator: bool
    passed: bool = False
    items: list = field(default_factory=list)  # (ok, text)
    speed: list = field(default_factory=list)  # lines
    notes: list = field(default_factory=list)
    timed_out: bool = False
    seconds: float = 0.0
    output: str = ""  # the tail of what the learner's file printed

    def text(self, file_label: str | None = None, verbose: bool = False) -> str:
        where = "the CUDA simulator" if self.simulator else "the GPU"
        out = [self.lesson.label, f"checking {file_label or self.file} on {where}"]
        for ok, text in self.items:
            mark = OK if ok else NO
            body = text.replace("\n", "\n    ")
            out.append(f"  {mark} {body}")
        out += [f"  {s}" for s in self.speed]
        out += [f"  note: {n}" for n in self.notes]
        if verbose and self.output.strip():
            out.append("  what your file printed (last lines):")
            out += ["    | " + ln for ln in self.output.rstrip().splitlines()[-30:]]
        failed = sum(1 for ok, _ in self.items if not ok)
        if self.passed:
            out.append(f"passed ({seconds(self.seconds, 2)})")
        elif self.timed_out:
            out.append(f"not passed: timed out ({seconds(self.seconds, 2)})")
        else:
            out.append(f"not passed: {failed} of {len(self.items)} checks failed ({seconds(self.seconds, 2)})")
        return "\n".join(out)


@lru_cache(maxsize=None)
def _probe() -> dict:
    from ..targets import probe_gpu

    return probe_gpu()


def _probe_has_gpu() -> bool:
    return bool(_probe()["cuda"])


def use_simulator(simulator: bool | None = None) -> bool:
    """Whether checks run on the simulator: as asked, else ``$NUMBABENCH_LESSONS_TARGET``
    (``cudasim`` or ``cuda``), else the simulator exactly when this machine has no usable GPU."""
    if simulator is not None:
        return simulator
    env = os.environ.get("NUMBABENCH_LESSONS_TARGET", "").strip().lower()
    if env in ("cudasim", "simulator"):
        return True
    if env in ("cuda", "gpu"):
        return False
    if env:
        raise NumbabenchError(f"NUMBABENCH_LESSONS_TARGET={env!r}: use cudasim or cuda")
    return not _probe_has_gpu()


def require_gpu() -> None:
    """NumbabenchError, in one line, where a check on the GPU was asked for and there is none."""
    if not _probe_has_gpu():
        raise NumbabenchError(f"a check on the GPU was asked for, and there is none here: {_probe()['reason']}; "
                              "leave out --gpu (or NUMBABENCH_LESSONS_TARGET=cuda) to use the simulator")


def _package_parent() -> str:
    return str(Path(__file__).resolve().parent.parent.parent)


class _Phase:
    def __init__(self, name: str, spec: dict, env: dict, tmp: Path):
        self.name = name
        self.result = tmp / f"{name}.json"
        self.stdout = tmp / f"{name}.out"
        spec = dict(spec, result=str(self.result))
        spec_path = tmp / f"{name}.spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        with open(self.stdout, "wb") as so, open(tmp / f"{name}.err", "wb") as se:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "numbabench.lessons.harness", name, str(spec_path)],
                env=env, stdout=so, stderr=se, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.stderr = tmp / f"{name}.err"

    def wait(self, seconds: float) -> bool:
        """Wait for the phase; False if it had to be killed."""
        try:
            self.proc.wait(timeout=seconds)
            finished = True
        except subprocess.TimeoutExpired:
            finished = False
        self.kill_group()
        if not finished:
            self.proc.wait()
        return finished

    def kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: the child and what it started
        except (ProcessLookupError, PermissionError):
            pass

    def read(self) -> dict | None:
        try:
            return json.loads(self.result.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def err_text(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def out_text(self) -> str:
        return self.stdout.read_text(encoding="utf-8", errors="replace")


def _env(simulator: bool, learner: Path) -> dict:
    env = dict(os.environ)
    env["NUMBA_ENABLE_CUDASIM"] = "1" if simulator else "0"
    env["PYTHONUNBUFFERED"] = "1"
    paths = [_package_parent(), str(learner.parent)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def where_stuck(stderr: str, learner: Path) -> str | None:
    """From a faulthandler dump: the line of the learner's file most threads were on."""
    name = str(learner.resolve())
    hits = Counter()
    for block in re.split(r"\n(?=(?:Thread|Current thread) 0x)", stderr):
        for m in re.finditer(r'File "([^"]+)", line (\d+) in (\S+)', block):
            try:
                same = str(Path(m.group(1)).resolve()) == name
            except OSError:
                same = False
            if same:
                hits[(int(m.group(2)), m.group(3))] += 1
                break  # innermost frame of the learner's file in this thread
    if not hits:
        return None
    (line, func), _ = hits.most_common(1)[0]
    try:
        src = learner.read_text(encoding="utf-8").splitlines()[line - 1].strip()
    except (OSError, IndexError):
        src = ""
    inside = "at the top level" if func == "<module>" else f"in {func}"
    return f"line {line} ({inside}): `{src}`"


def _read_run(v: Verdict, run: "_Phase", finished: bool, timeout: float, file: Path) -> None:
    """The run phase's result, or why there is none, into the verdict's items."""
    ran = run.read()
    err = run.err_text()
    v.output = run.out_text()[-4000:]
    if ran is None:
        if not finished or "Timeout (" in err:
            v.timed_out = True
            stuck = where_stuck(err, file)
            msg = (f"timed out: your code was still running after {timeout:g} s"
                   + (f", at {stuck}" if stuck else "")
                   + ". An endless loop? Under the simulator a kernel thread that never leaves its "
                     "loop never ends (check the loop's condition and its step).")
            v.items.append((False, msg))
        else:
            tail = "\n".join(err.rstrip().splitlines()[-12:])
            code = run.proc.returncode
            how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit status {code}"
            v.items.append((False, f"your file crashed the Python process ({how}) before the check "
                                   f"could report:\n{tail}"))
    elif "internal" in ran:
        v.items.append((False, "the checker itself failed (a bug in numbabench, please report it):\n"
                        + ran["internal"]))
    else:
        if ran["crash"]:
            v.items.append((False, "your file did not run to the end: " + ran["crash"]))
        for p in ran["parts"]:
            text = p["title"]
            if p["message"]:
                text = f"{text}: {p['message']}" if text else p["message"]
            v.items.append((p["ok"], text))
        v.speed = [s["text"] for s in ran["speeds"]]
        v.notes = list(ran["notes"])


def check(lesson: Lesson, file: Path, *, simulator: bool | None = None, timeout: float | None = None,
          phases: tuple = ("run", "ptx")) -> Verdict:
    """Grade ``file`` against ``lesson``'s check; never raises for anything the file does.

    ``phases`` leaves a phase out when it does not name it: a partial verdict, for a caller that
    knows in which phase the fault it looks for shows (the tests' planted wrong answers)."""
    unknown = set(phases) - {"run", "ptx"}
    if unknown or not phases:
        raise ValueError(f"phases: give 'run', 'ptx' or both, not {phases!r}")
    file = Path(file).resolve()
    if not file.is_file():
        raise NumbabenchError(f"no such file: {file}")
    sim = use_simulator(simulator)
    if not sim and "run" in phases:
        require_gpu()
    timeout = float(timeout if timeout is not None else lesson.timeout)
    v = Verdict(lesson=lesson, file=file, simulator=sim)
    spec = {"file": str(file), "check": str(lesson.file("check")), "timeout": timeout}
    wants_ptx = "ptx" in phases and "def ptx_kernels" in lesson.file("check").read_text(encoding="utf-8")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="numbabench-check-") as tmp:
        tmp = Path(tmp)
        run = _Phase("run", spec, _env(sim, file), tmp) if "run" in phases else None
        ptx = _Phase("ptx", dict(spec, timeout=PTX_TIMEOUT), _env(False, file), tmp) if wants_ptx else None
        if run is not None:
            _read_run(v, run, run.wait(timeout + GRACE), timeout, file)
        if ptx is not None:
            ptx.wait(PTX_TIMEOUT + GRACE)
        v.seconds = time.perf_counter() - t0
        if ptx is not None and not v.timed_out:
            got = ptx.read()
            if got is None:
                v.items.append((False, "the PTX check (compiling your kernels for a real GPU) did not finish"
                                       f" in {PTX_TIMEOUT:g} s"))
            elif "internal" in got:
                v.items.append((False, "the PTX check failed (a bug in numbabench, please report it):\n"
                                + got["internal"]))
            else:
                for k in got["kernels"]:
                    v.items.append((k["ok"], k["message"] or f"`{k['name']}` compiles for a real GPU "
                                                            f"(PTX for {got['cc']})"))
    v.passed = bool(v.items) and all(ok for ok, _ in v.items) and not v.timed_out
    return v
