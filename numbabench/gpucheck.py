"""``make gpu-check``: the whole device check as one command that fits one 10-minute call.

A GPU machine is lent for minutes, so this driver runs a declared list of steps (``STEPS``), each in
its own process group with its own timeout (their sum is at most ``BUDGET_S``: 8 minutes), and never
stops before the last one: a step that fails, hangs or is refused is recorded with the reason and the
next step runs. Everything it writes goes into one folder (``--out``, at most ``MAX_FILES`` files):

    summary.txt   the step table (status, seconds, why) and the prerequisites, also printed
    gpucheck.json the same, for a program
    doctor.txt    ``numbabench doctor``
    tests.txt     ``pytest -m gpu`` over the test files that hold GPU-marked tests
    sweep.txt     ``numbabench run --sizes gpu`` (its log); results.json (its results file, with
                  the PTX layer's registers and spills under ``ptx``)
    report.html   ``numbabench report`` of results.json (self-contained: plots embedded)
    sanitizer.txt ``compute-sanitizer --tool memcheck`` on lesson 5's planted out-of-bounds kernel

Every step gets fresh, empty ``NUMBA_CACHE_DIR`` and ``CUPY_CACHE_DIR`` folders, so a compile row
is a real compile for Numba and CuPy alike (the tests must not warm CuPy's kernel cache for the
sweep). Prerequisites are checked by importing them; a missing one is named and the steps go on.
The exit status is the tests' (pytest's), or 1 if they could not run.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 480
MAX_FILES = 8
#: what the steps import: module -> (distribution, what needs it)
PREREQS = {
    "numpy": ("numpy", "everything"),
    "numba": ("numba", "everything"),
    "numba_cuda": ("numba-cuda", "the cuda and cudasim targets, the PTX layer"),
    "cupy": ("cupy-cuda13x", "the cupy target and fftmask's cuda variant"),
    "scipy": ("scipy", "fftmask's CPU FFT"),
    "pandas": ("pandas", "the frame technique, results tables, the report"),
    "matplotlib": ("matplotlib", "the report's plots"),
    "jinja2": ("jinja2", "the report's page"),
    "rich": ("rich", "the numbabench command line (doctor, run)"),
    "cloudpickle": ("cloudpickle", "the remote technique"),
    "pytest": ("pytest", "the GPU-marked tests"),
    "distributed": ("dask[distributed]", "remote's dask rows (skipped with the reason without it)"),
}
LESSON5 = ROOT / "lessons" / "05-debugging-with-the-simulator" / "exercise.py"
SANITIZER_PLACES = ("/usr/local/cuda/bin", "/opt/nvidia/cuda/bin")


@dataclass(frozen=True)
class Step:
    name: str
    timeout_s: int
    needs_gpu: bool
    does: str


#: the steps, in order; ``needs_gpu`` steps are skipped with the probe's reason where there is none
STEPS = (
    Step("prerequisites", 15, False, "import every package the steps use; name what is missing"),
    Step("doctor", 35, False, "numbabench doctor: machine, numba.cuda's implementation, GPU, targets"),
    Step("tests", 140, False, "pytest -m gpu over the files with GPU-marked tests (skips say why)"),
    Step("sweep", 180, True, "numbabench run --sizes gpu on every available target"),
    Step("ptx", 30, False, "the PTX and link layer's registers and spills, into results.json"),
    Step("report", 40, False, "numbabench report of the sweep's results (one self-contained page)"),
    Step("sanitizer", 40, True, "compute-sanitizer --tool memcheck on lesson 5's out-of-bounds kernel"),
)
#: SIGINT this long before a step's timeout (the sweep writes its results on Ctrl-C), then kill
GRACE_S = 8


@dataclass
class Outcome:
    step: str
    status: str  # ok, failed, timeout, skipped
    seconds: float = 0.0
    why: str | None = None
    rc: int | None = None
    files: list[str] = field(default_factory=list)


#: the fresh cache folders made so far (removed when the check ends)
_CACHES: list[str] = []
#: every file a check may write into its folder
FILES = ("summary.txt", "gpucheck.json", "doctor.txt", "tests.txt", "sweep.txt", "results.json",
         "report.html", "sanitizer.txt")


def _env(**extra) -> dict:
    """The environment of a step: this one, the checkout importable, fresh compile caches."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    for key, what in (("NUMBA_CACHE_DIR", "numba"), ("CUPY_CACHE_DIR", "cupy")):
        env[key] = tempfile.mkdtemp(prefix=f"numbabench-{what}-cache-")
        _CACHES.append(env[key])
    env.update(extra)
    return env


def run_logged(cmd: list[str], log: Path, timeout_s: float, env: dict | None = None) -> tuple[int | None, bool]:
    """Run ``cmd`` with stdout and stderr into ``log``; (exit status, timed out).

    At ``timeout_s - GRACE_S`` the process group gets SIGINT (a sweep then writes what it has), and
    SIGKILL at ``timeout_s``.
    """
    with open(log, "ab") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env or _env(), cwd=ROOT, start_new_session=True)
        try:
            return proc.wait(timeout=max(1.0, timeout_s - GRACE_S)), False
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGINT)
        try:
            proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()
        return proc.returncode, True


def _signal(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


# -- the steps ------------------------------------------------------------------------------------

class Check:
    """One run of the steps into ``out``; ``gpu`` is None (no GPU: skip GPU steps) or its name."""

    def __init__(self, out: Path, python: str = sys.executable, gpu_reason: str | None = None):
        self.out, self.python, self.gpu_reason = out, python, gpu_reason
        self.missing: dict[str, str] = {}
        self.outcomes: list[Outcome] = []
        self.tests_rc: int | None = None

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        for name in FILES:  # a folder used before: no stale file may pass for this run's
            (self.out / name).unlink(missing_ok=True)
        start = time.monotonic()
        for step in STEPS:
            t0 = time.monotonic()
            if step.needs_gpu and self.gpu_reason:
                o = Outcome(step.name, "skipped", why=f"no GPU: {self.gpu_reason}")
            else:
                try:
                    o = getattr(self, f"step_{step.name}")(step)
                except Exception as exc:  # the driver's own fault: say it, go on
                    o = Outcome(step.name, "failed", why=f"{type(exc).__name__}: {exc}")
            o.seconds = round(time.monotonic() - t0, 1)
            self.outcomes.append(o)
            print(f"gpu-check: {step.name}: {o.status} ({o.seconds:.0f} s){': ' + o.why if o.why else ''}",
                  flush=True)
        self.write_summary(time.monotonic() - start)
        while _CACHES:
            shutil.rmtree(_CACHES.pop(), ignore_errors=True)
        if self.tests_rc is None:
            return 1
        return self.tests_rc

    def step_prerequisites(self, step):
        code = ("import importlib, json, sys\nout = {}\n"
                f"for m in {list(PREREQS)!r}:\n"
                "    try:\n        importlib.import_module(m)\n    except Exception as e:\n"
                "        out[m] = f'{type(e).__name__}: {e}'.splitlines()[0]\n"
                "print(json.dumps(out))")
        try:
            p = subprocess.run([self.python, "-c", code], capture_output=True, text=True,
                               timeout=step.timeout_s, env=_env(), cwd=ROOT)
            self.missing = json.loads(p.stdout.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            return Outcome(step.name, "failed", why=f"could not check imports: {type(exc).__name__}")
        if not self.missing:
            return Outcome(step.name, "ok")
        named = "; ".join(f"{PREREQS[m][0]} ({PREREQS[m][1]})" for m in self.missing)
        return Outcome(step.name, "failed", why=f"missing: {named}; the steps that need them will say so")

    def step_doctor(self, step):
        log = self.out / "doctor.txt"
        rc, late = run_logged([self.python, "-m", "numbabench", "doctor"], log, step.timeout_s)
        return self._judge(step, rc, late, log, ok_codes=(0,))

    def step_tests(self, step):
        log = self.out / "tests.txt"
        files = gpu_test_files()
        if not files:
            return Outcome(step.name, "failed", why="no test file holds a GPU-marked test")
        cmd = [self.python, "-m", "pytest", "-m", "gpu", "-ra", "-p", "no:cacheprovider", "-q", "--durations=8",
               *[str(f.relative_to(ROOT)) for f in files]]
        rc, late = run_logged(cmd, log, step.timeout_s)
        self.tests_rc = 124 if late else rc
        o = self._judge(step, rc, late, log, ok_codes=(0,))
        counts = pytest_counts(log.read_text(errors="replace"))
        if counts:
            o.why = counts + (f"; {o.why}" if o.why and o.status != "ok" else "")
        return o

    def step_sweep(self, step):
        log, results = self.out / "sweep.txt", self.out / "results.json"
        # every cell gets at most a third of the step: a hung one cannot eat the whole budget
        cmd = [self.python, "-m", "numbabench", "run", "--sizes", "gpu", "--out", str(results),
               "--timeout", str(step.timeout_s // 3)]
        rc, late = run_logged(cmd, log, step.timeout_s)
        o = self._judge(step, rc, late, log, ok_codes=(0, 1))
        if rc == 1 and not late:
            o.why = "some cells failed or were wrong: the report flags them"
        o.files = [results.name] if results.exists() else []
        return o

    def step_ptx(self, step):
        """``ptx.ptx_summary()`` added to results.json as ``ptx``, for the report's environment card."""
        results = self.out / "results.json"
        if not results.exists():
            return Outcome(step.name, "skipped", why="no results.json to add it to (the test suite checks "
                           "the PTX layer everywhere)")
        from . import ptx
        from .results import write_atomic

        summary = ptx.ptx_summary(timeout=step.timeout_s)
        doc = json.loads(results.read_text())
        doc["ptx"] = summary
        write_atomic(results, doc)
        if summary.get("error"):
            return Outcome(step.name, "failed", why=str(summary["error"]))
        why = f"{summary.get('checked', 0)} kernels linked, {len(summary.get('failures') or [])} failed"
        return Outcome(step.name, "ok" if summary.get("ok") else "failed", why=why)

    def step_report(self, step):
        results = self.out / "results.json"
        if not results.exists():
            return Outcome(step.name, "skipped", why="no results.json: the sweep did not run or wrote nothing")
        log = self.out / "summary.txt"  # report's own messages go into the summary's tail
        with tempfile.TemporaryDirectory(prefix="numbabench-report-") as tmp:
            rc, late = run_logged([self.python, "-m", "numbabench", "report", str(results), "--out", tmp],
                                  log, step.timeout_s)
            page = Path(tmp) / "index.html"
            if page.exists():
                shutil.copyfile(page, self.out / "report.html")
        return self._judge(step, rc, late, log, ok_codes=(0,))

    def step_sanitizer(self, step):
        log = self.out / "sanitizer.txt"
        tool = find_sanitizer()
        if tool is None:
            return Outcome(step.name, "skipped", why="compute-sanitizer is not installed here "
                           f"(not on PATH, nor in {', '.join(SANITIZER_PLACES)})")
        cmd = [tool, "--tool", "memcheck", "--print-limit", "8", self.python, "-m", "numbabench.gpucheck",
               "--planted-oob"]
        rc, late = run_logged(cmd, log, step.timeout_s)
        verdict, why = sanitizer_verdict(log.read_text(errors="replace"))
        if late:
            return Outcome(step.name, "timeout", why=f"did not finish in {step.timeout_s} s", rc=rc)
        return Outcome(step.name, verdict, why=why, rc=rc)

    def _judge(self, step, rc, late, log, ok_codes) -> Outcome:
        if late:
            return Outcome(step.name, "timeout", why=f"stopped after {step.timeout_s} s (see {log.name})", rc=rc)
        if rc in ok_codes:
            return Outcome(step.name, "ok", rc=rc)
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
        return Outcome(step.name, "failed", rc=rc, why=f"exit {rc}: {tail[0].strip()[:200] if tail else 'no output'}")

    def write_summary(self, wall_s: float):
        lines = [f"numbabench gpu-check: {len(STEPS)} steps, timeouts sum to {sum(s.timeout_s for s in STEPS)} s "
                 f"(budget {BUDGET_S} s), wall {wall_s:.0f} s",
                 f"python: {self.python}", f"GPU: {'none: ' + self.gpu_reason if self.gpu_reason else 'yes'}", ""]
        for o in self.outcomes:
            lines.append(f"{o.step:<14} {o.status:<8} {o.seconds:>6.1f} s  {o.why or ''}".rstrip())
        lines.append("")
        lines.append("prerequisites missing: " + (", ".join(f"{PREREQS[m][0]} ({err})" for m, err in self.missing.items())
                                                  if self.missing else "none"))
        text = "\n".join(lines) + "\n"
        summary = self.out / "summary.txt"
        old = summary.read_text(errors="replace") if summary.exists() else ""
        summary.write_text(text + (f"\n-- report step output --\n{old}" if old.strip() else ""))
        doc = {"steps": [asdict(o) for o in self.outcomes], "wall_s": round(wall_s, 1),
               "budget_s": BUDGET_S, "timeouts": {s.name: s.timeout_s for s in STEPS},
               "missing": self.missing, "gpu_reason": self.gpu_reason, "tests_rc": self.tests_rc}
        (self.out / "gpucheck.json").write_text(json.dumps(doc, indent=1))
        print(text, end="")


# -- helpers ----------------------------------------------------------------------------------------

def gpu_test_files(tests: Path = ROOT / "tests") -> list[Path]:
    """The test files that hold a ``@pytest.mark.gpu`` test (collecting only these keeps the step
    free of imports the GPU tests do not need, e.g. asv on a machine without it)."""
    return sorted(p for p in tests.glob("test_*.py") if "pytest.mark.gpu" in p.read_text(errors="replace"))


def pytest_counts(text: str) -> str | None:
    """pytest's closing counts ('3 passed, 11 skipped in 4.2s'), or None."""
    for line in reversed(text.splitlines()):
        if re.search(r"\b\d+ (passed|failed|skipped|deselected|error)", line):
            return line.strip("= ").strip()
    return None


def find_sanitizer() -> str | None:
    tool = shutil.which("compute-sanitizer")
    if tool:
        return tool
    for place in SANITIZER_PLACES:
        p = Path(place) / "compute-sanitizer"
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def sanitizer_verdict(text: str) -> tuple[str, str]:
    """(status, why) from compute-sanitizer's output on the planted kernel."""
    m = re.search(r"ERROR SUMMARY: (\d+) error", text)
    invalid = re.search(r"Invalid __global__ (write|read) of size \d+", text)
    refused = re.search(r"(Device not supported|not supported on this platform|Unable to|"
                        r"Target application returned an error|error 999)[^\n]*", text)
    if invalid and m and int(m.group(1)) > 0:
        return "ok", f"caught: {invalid.group(0)}, {m.group(1)} errors (lesson 5's scale_rows)"
    if m and int(m.group(1)) == 0 and "planted kernel ran" in text:
        return "failed", "memcheck ran the planted out-of-bounds kernel and reported no error"
    if refused:
        return "skipped", f"compute-sanitizer refused: {refused.group(0).strip()[:160]}"
    last = [ln for ln in text.splitlines() if ln.strip()][-1:]
    return "failed", f"no verdict from compute-sanitizer: {last[0].strip()[:160] if last else 'no output'}"


def planted_oob(path: Path = LESSON5) -> None:
    """Run lesson 5's untouched ``scale_rows`` (an out-of-bounds write) once on the GPU.

    Only the kernel and its launcher are taken from the exercise (by its syntax tree): the rest of
    the notebook, which runs other kernels and prints, does not run.
    """
    import math

    import numpy as np
    from numba import cuda

    tree = ast.parse(path.read_text())
    wanted = {"scale_rows", "run_scale_rows"}
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    if {d.name for d in defs} != wanted:
        raise SystemExit(f"{path} no longer defines {', '.join(sorted(wanted))}")
    ns = {"cuda": cuda, "np": np, "math": math}
    exec(compile(ast.Module(body=defs, type_ignores=[]), str(path), "exec"), ns)
    a = np.arange(35, dtype=np.float64).reshape(5, 7)
    s = np.arange(1.0, 6.0)
    try:
        ns["run_scale_rows"](a, s)
        cuda.synchronize()
    except Exception as exc:  # memcheck may turn the bad write into a launch failure: fine
        print(f"the planted kernel's launch failed: {type(exc).__name__}: {exc}".splitlines()[0])
    print("planted kernel ran", flush=True)


def gpu_reason(python: str = sys.executable) -> str | None:
    """None when a usable CUDA GPU is here (by the project's probe), else why not."""
    from .targets import probe_gpu

    try:
        p = probe_gpu(timeout=60)
    except Exception as exc:  # a broken install: the steps will say more
        return f"GPU probe failed ({type(exc).__name__}: {exc})"
    return None if p.cuda else p.reason


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m numbabench.gpucheck", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("gpu-check"), help="folder for every file (default gpu-check)")
    ap.add_argument("--list", action="store_true", help="print the steps and their timeouts, run nothing")
    ap.add_argument("--planted-oob", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.planted_oob:
        planted_oob()
        return 0
    if a.list:
        for s in STEPS:
            print(f"{s.name:<14} {s.timeout_s:>4} s  {'GPU ' if s.needs_gpu else '    '}{s.does}")
        print(f"{'total':<14} {sum(s.timeout_s for s in STEPS):>4} s  (budget {BUDGET_S} s)")
        return 0
    print(f"gpu-check: {len(STEPS)} steps into {a.out}/, at most {sum(s.timeout_s for s in STEPS)} s", flush=True)
    return Check(a.out, gpu_reason=gpu_reason()).run()


if __name__ == "__main__":
    sys.exit(main())
