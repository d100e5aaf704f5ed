"""The lessons test themselves: every solution passes its check, every untouched exercise fails it,
a plausible wrong answer for every property a lesson teaches is rejected with a verdict that names
the cause, every exercise and solution runs as a notebook, the hints keep their code pasteable, the
commands `make lessons` prints work in a new shell, bad input is one line and writes nothing, and
the runner (list, check, hint, next, reset, solution) keeps its promises.

Checks run on the CUDA simulator (NUMBABENCH_LESSONS_TARGET=cudasim) so the results do not depend
on the machine; the GPU-only test runs the solutions on a real GPU where there is one. The checks
and the notebooks are independent subprocesses, so they run a few at a time.
"""
from __future__ import annotations

import collections
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import ROOT, env, missing, needs

from numbabench.lessons import catalog
from numbabench.lessons.checker import check

LESSONS_DIR = ROOT / "lessons"
LESSONS = catalog.load(LESSONS_DIR)
BY_ID = {l.id: l for l in LESSONS}
WORKERS = 2  # notebooks: two kernels at a time
CHECK_WORKERS = 3  # checks: one process each (a planted answer runs one phase), often waiting
CHECK_TIMEOUT = 60


def lesson(prefix: str) -> catalog.Lesson:
    (found,) = [l for l in LESSONS if l.id.startswith(prefix)]
    return found


def check_module(l: catalog.Lesson):
    """A lesson's check.py, imported (it defines PROPERTIES and check; importing it runs nothing)."""
    spec = importlib.util.spec_from_file_location(f"check_{l.id.replace('-', '_')}", l.file("check"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# lesson 2's benchmark in the solution, and the same benchmark with CUDA events
BENCHMARK = """    def timed():
        cuda.synchronize()  # earlier work must not land in this measurement
        t0 = time.perf_counter()
        fn()
        cuda.synchronize()  # the launch only queued the work: wait for it
        return time.perf_counter() - t0

    first = timed()  # compiles the kernel (the first time fn's kernel is called)
"""
EVENTS_BENCHMARK = """    start, end = cuda.event(timing=True), cuda.event(timing=True)

    def timed():
        start.record()
        fn()
        end.record()
        end.synchronize()
        return cuda.event_elapsed_time(start, end) / 1e3

    cuda.synchronize()
    first = timed()
"""
# lesson 6: the solution's cos_ufunc, and the starter's
CPU_UFUNC = '@vectorize(["float32(float32)", "float64(float64)"], target="cpu")  # a DUFunc: travels by value'
PARALLEL_UFUNC = '@vectorize(["float32(float32)", "float64(float64)"], target="parallel")'


# -- wrong answers a learner would plausibly write: (lesson, property, name, [(old, new) in the
# solution], what the verdict must say). `property` is a key of the lesson's check.PROPERTIES: every
# property a lesson teaches has at least one wrong answer here, whose verdict must name the cause.
# Each `old` must be in the solution, so a changed solution fails loudly here. `ptx`: whether the
# fault shows only when the kernels are compiled for a real GPU (else the PTX phase is left out).
W = collections.namedtuple("W", "lesson property name edits says ptx", defaults=(False,))
BOTH = ("run", "ptx")
WRONG = [
    # lesson 0
    W("00", "own-index", "thread-index-in-block", [("    i = cuda.grid(1)", "    i = cuda.threadIdx.x")],
      "cuda.threadIdx.x is the index within the block"),
    W("00", "own-index", "placeholder-index", [("    i = cuda.grid(1)", "    i = 0")],
      "`i` is still the placeholder 0, so no thread reaches past the end"),
    W("00", "bounds-check", "no-bounds-check", [("    if i < out.shape[0]:\n        out[i]", "    if True:\n        out[i]")],
      "threads past the end must skip the work"),
    W("00", "blocks-rounded-up", "blocks-rounded-down",
      [("blocks = math.ceil(n / THREADS_PER_BLOCK)", "blocks = n // THREADS_PER_BLOCK")],
      "never computed (still 0)"),
    W("00", "gpu-compiles", "f-string-in-kernel",
      [("        out[i] = a * x[i] + y[i]", "        if i == 3:\n            print(f\"thread {i}\")\n        out[i] = a * x[i] + y[i]")],
      "A kernel cannot build strings", ptx=True),
    # lesson 1
    W("01", "both-axes", "article-kernel-no-bounds-check",
      [("    if i < frame.shape[0] and j < frame.shape[1]:\n        frame[i, j] *= mask[i, j]",
        "    frame[i, j] *= mask[i, j]")],
      "inside the frame on both axes"),
    W("01", "both-axes", "bounds-check-on-one-axis",
      [("    if i < frame.shape[0] and j < frame.shape[1]:", "    if i < frame.shape[0]:")],
      "inside the frame on both axes"),
    W("01", "no-round-trip", "host-round-trip",
      [("    apply_mask[blocks, threads](spec, lib.asarray(mask))  # in place, on the library's memory\n",
        "    d_spec = cuda.to_device(lib.asnumpy(spec))\n"
        "    apply_mask[blocks, threads](d_spec, lib.asarray(mask))\n"
        "    spec = lib.asarray(d_spec.copy_to_host())\n")],
      "transfers between host and device"),
    W("01", "mask-applied", "mask-never-applied",
      [("    apply_mask[blocks, threads](spec, lib.asarray(mask))  # in place, on the library's memory\n", "")],
      "is the mask applied"),
    W("01", "result-to-host", "returns-the-device-array",
      [("    return lib.asnumpy(lib.ifft2(spec))", "    return lib.ifft2(spec)")],
      "never brought its result back to the host"),
    W("01", "gpu-compiles", "numpy-function-in-kernel",
      [("        frame[i, j] *= mask[i, j]", "        frame[i, j] = np.multiply(frame[i, j], mask[i, j])")],
      "That is a NumPy function", ptx=True),
    # lesson 2
    W("02", "waits", "no-synchronize", [("        cuda.synchronize()  # earlier work must not land in this measurement\n", ""),
                                        ("        cuda.synchronize()  # the launch only queued the work: wait for it\n", "")],
      "benchmark never waits for the GPU"),
    W("02", "sync-after", "synchronize-before-only",
      [("        cuda.synchronize()  # the launch only queued the work: wait for it\n", "")],
      "The clock was read before the GPU finished"),
    W("02", "sync-before", "synchronize-after-only",
      [("        cuda.synchronize()  # earlier work must not land in this measurement\n", "")],
      "waited for the 800 ms of work that was already queued"),
    W("02", "sync-before", "events-on-a-busy-stream", [(BENCHMARK, EVENTS_BENCHMARK.replace("    cuda.synchronize()\n    first", "    first"))],
      "the compile hid behind that work"),
    W("02", "compile-apart", "compile-in-the-mean",
      [("    first = timed()  # compiles the kernel (the first time fn's kernel is called)\n", ""),
       ("statistics.median(timed() for _ in range(repeats))", "statistics.mean([timed() for _ in range(repeats)])"),
       ("compile_s = max(first - steady_s, 0.0)", "compile_s = 0.0")],
      "includes the first one, which compiled"),
    W("02", "events-complete", "events-read-too-early", [(BENCHMARK, EVENTS_BENCHMARK.replace("        end.synchronize()\n", ""))],
      "CUDA_ERROR_NOT_READY"),
    # lesson 3
    W("03", "article-bug", "article-clamp-bug", [("elif x > xmax:", "elif x > xmin:")],
      "clamp(0.25, -0.5, 0.5) returned 0.5, expected 0.25"),
    W("03", "grid-stride", "stride-by-one", [("stride = cuda.gridsize(1)", "stride = 1")],
      "each element was done"),
    W("03", "grid-start", "start-at-zero", [("start = cuda.grid(1)", "start = 0")],
      "elements were never written"),
    W("03", "one-function", "clamp-written-out-in-the-kernel",
      [("        out[i] = clamp(x[i], xmin, xmax)", "        out[i] = min(max(x[i], xmin), xmax)")],
      "never called clamp"),
    W("03", "no-signature", "signature-on-helper",
      [("@numba.jit\ndef clamp", "@numba.jit('float32(float32, float32, float32)')\ndef clamp")],
      "explicit signature", ptx=True),
    # lesson 4
    W("04", "formula", "no-normalisation",
      [("return math.exp(-((x - x0) / sigma) ** 2 / t(2)) / t(SQRT_2PI) / sigma",
        "return math.exp(-((x - x0) / sigma) ** 2 / t(2))")],
      "without its normalisation"),
    W("04", "formula", "precedence", [("-((x - x0) / sigma) ** 2 / t(2)", "-(x - x0) / sigma ** 2 / t(2)")],
      "gaussian(1.0, 0.25, 1.5) returned"),
    W("04", "math-not-numpy", "np-exp", [("return math.exp(", "return np.exp(")],
      "use operators and the math module's functions (math.exp)", ptx=True),
    W("04", "float32-loop", "float64-loop-only",
      [('SIGNATURES = ["float32(float32, float32, float32)", "float64(float64, float64, float64)"]',
        'SIGNATURES = ["float64(float64, float64, float64)"]')],
      "it has no float32 loop"),
    W("04", "parallel-target", "parallel-built-for-cpu",
      [('gaussian_parallel = vectorize(SIGNATURES, target="parallel")(gaussian)',
        'gaussian_parallel = vectorize(SIGNATURES, target="cpu")(gaussian)')],
      "target='cpu' ufunc"),
    W("04", "cuda-on-first-use", "cuda-ufunc-built-at-import",
      [("def gaussian_cuda():\n", 'gaussian_gpu = vectorize(SIGNATURES, target="cuda")(gaussian)\n\n\ndef gaussian_cuda():\n')],
      "build it inside gaussian_cuda(), on first use"),
    # lesson 5
    W("05", "both-axes", "or-not-and",
      [("if i < out.shape[0] and j < out.shape[1]:", "if i < out.shape[0] or j < out.shape[1]:")],
      "inside on both axes"),
    W("05", "row-scale", "scaled-by-the-column", [("out[i, j] = a[i, j] * s[i]", "out[i, j] = a[i, j] * s[j]")],
      "Its bounds test let it in rightly; an index it uses is wrong"),
    W("05", "slope-sign", "sign", [("out[i] = (x[i + 1] - x[i - 1]) / 2", "out[i] = (x[i - 1] - x[i + 1]) / 2")],
      "wrong sign"),
    W("05", "atomic", "race", [("cuda.atomic.add(bins, x[i], 1)", "bins[x[i]] += 1")], "no atomic add", ptx=True),
    W("05", "atomic", "race-spelled-out", [("cuda.atomic.add(bins, x[i], 1)", "bins[x[i]] = bins[x[i]] + 1")],
      "no atomic add", ptx=True),
    W("05", "every-value", "atomic-without-a-grid-stride-loop",
      [("    start = cuda.grid(1)\n    stride = cuda.gridsize(1)\n    for i in range(start, x.shape[0], stride):\n"
        "        cuda.atomic.add(bins, x[i], 1)",
        "    i = cuda.grid(1)\n    if i < x.shape[0]:\n        cuda.atomic.add(bins, x[i], 1)")],
      "Your update is atomic; the values past the first 128 were never visited"),
    W("05", "gpu-compiles", "pdb-left-in-the-kernel",
      [("        if 0 < i < x.shape[0] - 1:", "        if i == 3:\n            import pdb; pdb.set_trace()\n        if 0 < i < x.shape[0] - 1:")],
      "pdb.set_trace() in a kernel runs only under the simulator"),
    # lesson 6
    W("06", "round-trip", "ship-returns-the-original", [("    return cloudpickle.loads(cloudpickle.dumps(f))", "    return f")],
      "returned do_cos itself"),
    W("06", "on-a-worker", "computed-here", [("    return client.submit(do_cos, x).result()", "    return do_cos(x)")],
      "no task ran on the cluster"),
    W("06", "by-value", "parallel-ufunc-from-a-notebook", [(CPU_UFUNC, PARALLEL_UFUNC)],
      "a worker cannot unpickle `cos_ufunc`"),
    W("06", "by-value", "parallel-ufunc-in-a-lambda",
      [(CPU_UFUNC, PARALLEL_UFUNC),
       ("return client.submit(cos_ufunc, x).result()", "return client.submit(lambda v: cos_ufunc(v), x).result()")],
      "`<lambda>` itself pickles by value"),
    W("06", "numba-shipped", "numpy-cos", [("return client.submit(cos_ufunc, x).result()", "return client.submit(np.cos, x).result()")],
      "which holds no Numba code"),
    # lesson 7
    W("07", "column-loop", "no-grid-stride-loop",
      [("    for i in range(cuda.grid(1), c.shape[0], cuda.gridsize(1)):\n        c[i] = a[i] * b[i] + math.sin(a[i])",
        "    i = cuda.grid(1)\n    if i < c.shape[0]:\n        c[i] = a[i] * b[i] + math.sin(a[i])")],
      "rows unwritten"),
    W("07", "filter", "no-filter",
      [("        if c[i] > threshold:\n            cuda.atomic.add(sums, k[i], c[i])\n            cuda.atomic.add(counts, k[i], 1)",
        "        cuda.atomic.add(sums, k[i], c[i])\n        cuda.atomic.add(counts, k[i], 1)")],
      "the filter is missing"),
    W("07", "count-one", "counts-add-the-value", [("cuda.atomic.add(counts, k[i], 1)", "cuda.atomic.add(counts, k[i], c[i])")],
      "Your atomic add to the counts adds `c[i]`, not 1"),
    W("07", "atomic-sums", "race-in-the-sums", [("            cuda.atomic.add(sums, k[i], c[i])", "            sums[k[i]] += c[i]")],
      "no atomic float64 add", ptx=True),
    W("07", "atomic-counts", "race-in-the-counts", [("            cuda.atomic.add(counts, k[i], 1)", "            counts[k[i]] += 1")],
      "no atomic integer add", ptx=True),
]

# -- right answers other than the solution, which must pass: (lesson, name, edits)
RIGHT = [
    ("02", "cuda-events", [(BENCHMARK, EVENTS_BENCHMARK)]),
]


def _mutated(tmp: Path, prefix: str, name: str, edits) -> Path:
    text = lesson(prefix).file("solution").read_text()
    for old, new in edits:
        assert old in text, f"lesson {prefix} solution no longer contains {old!r}: update WRONG"
        text = text.replace(old, new)
    path = tmp / f"{prefix}-{name}.py"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def verdicts(tmp_path_factory):
    """Every check the tests look at, run once, CHECK_WORKERS at a time: {key: Verdict}."""
    tmp = tmp_path_factory.mktemp("wrong")
    jobs = {}
    for l in LESSONS:
        jobs[("solution", l.id)] = (l, l.file("solution"), BOTH)
        jobs[("exercise", l.id)] = (l, l.file("exercise"), BOTH)
    for w in WRONG:  # one phase each: the one where the planted fault shows
        jobs[("wrong", w.name)] = (lesson(w.lesson), _mutated(tmp, w.lesson, w.name, w.edits),
                                   ("ptx",) if w.ptx else ("run",))
    for prefix, name, edits in RIGHT:
        jobs[("right", name)] = (lesson(prefix), _mutated(tmp, prefix, name, edits), BOTH)
    with ThreadPoolExecutor(CHECK_WORKERS) as pool:
        futures = {k: pool.submit(check, l, f, simulator=True, timeout=CHECK_TIMEOUT, phases=phases)
                   for k, (l, f, phases) in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


# -- the index, the folders, the files ------------------------------------------------------------
def test_index_and_folders_agree():
    assert catalog.problems(LESSONS_DIR) == []
    assert [l.number for l in LESSONS] == list(range(len(LESSONS)))
    assert all(l.id.startswith(f"{l.number:02d}-") for l in LESSONS)  # `check 3` is folder 03-...


def test_problems_are_found(tmp_path):
    root = tmp_path / "lessons"
    shutil.copytree(LESSONS_DIR, root)
    (root / "99-orphan").mkdir()
    victim = LESSONS[0]
    (root / victim.id / "hints.toml").unlink()
    found = catalog.problems(root)
    assert "folder 99-orphan/ is not in index.toml" in found
    assert f"{victim.id}: missing hints.toml" in found


@pytest.mark.parametrize("l", LESSONS, ids=lambda l: l.id)
def test_markers(l):
    exercise = l.file("exercise").read_text()
    solution = l.file("solution").read_text()
    assert catalog.todo_lines(exercise), f"{l.id}: the exercise has no {catalog.MARKER}"
    assert catalog.todo_lines(solution) == [], f"{l.id}: the solution still says {catalog.MARKER}"
    assert "# %%" in exercise and "# %%" in solution  # jupytext percent cells
    assert len(catalog.read_hints(l)) >= 2, f"{l.id}: fewer than two graded hints"


# -- the checks ------------------------------------------------------------------------------------
def _skip_if_packages_missing(lesson_id: str):
    """Lesson 6 ships functions over dask: without the 'dist' extra it cannot pass (or fail right)."""
    if lesson_id.startswith("06") and missing("distributed"):
        pytest.skip("lesson 6 needs distributed (the 'dist' extra), not installed here")


@pytest.mark.parametrize("l", LESSONS, ids=lambda l: l.id)
def test_solution_passes(verdicts, l):
    _skip_if_packages_missing(l.id)
    v = verdicts[("solution", l.id)]
    assert v.passed, v.text()
    assert v.seconds < 30, f"{l.id}: the check took {v.seconds:.1f} s"


@pytest.mark.parametrize("l", LESSONS, ids=lambda l: l.id)
def test_untouched_exercise_fails(verdicts, l):
    _skip_if_packages_missing(l.id)
    v = verdicts[("exercise", l.id)]
    assert not v.passed and not v.timed_out, v.text()
    text = v.text()
    assert "Traceback (most recent call last)" not in text  # a verdict, not the checker's traceback
    assert "bug in numbabench" not in text and "bug in the lesson" not in text, text


@pytest.mark.parametrize("case", WRONG, ids=lambda w: f"{w.lesson}-{w.property}-{w.name}")
def test_wrong_answer_is_rejected(verdicts, case):
    _skip_if_packages_missing(case.lesson)
    v = verdicts[("wrong", case.name)]
    text = v.text()
    assert not v.passed, text
    assert case.says in text, text
    assert "bug in numbabench" not in text and "bug in the lesson" not in text, text


@pytest.mark.parametrize("case", RIGHT, ids=lambda c: f"{c[0]}-{c[1]}")
def test_another_right_answer_passes(verdicts, case):
    prefix, name, _ = case
    _skip_if_packages_missing(prefix)
    v = verdicts[("right", name)]
    assert v.passed, v.text()


@pytest.mark.parametrize("l", LESSONS, ids=lambda l: l.id)
def test_every_property_a_lesson_teaches_has_a_planted_wrong_answer(l):
    taught = check_module(l).PROPERTIES
    planted = {w.property for w in WRONG if l.id.startswith(w.lesson)}
    assert set(taught) == planted, f"{l.id}: taught {sorted(taught)}, planted {sorted(planted)}"
    assert all(isinstance(t, str) and t for t in taught.values())


def test_the_events_benchmark_says_how_it_was_graded(verdicts):
    text = verdicts[("right", "cuda-events")].text()
    assert "times with CUDA events" in text and "stand-in GPU" in text, text


def test_float64_arithmetic_in_a_float32_loop_is_a_note_not_a_failure(tmp_path):
    sol = lesson("04").file("solution").read_text()
    literal = sol.replace("/ t(2)) / t(SQRT_2PI)", "/ 2) / SQRT_2PI")
    assert literal != sol
    v, text, _ = _check_text(tmp_path, "04", literal)
    assert v.passed, text
    assert "computes in float64" in text


def test_simulator_speed_is_never_a_number(verdicts):
    v = verdicts[("solution", lesson("03").id)]
    assert v.speed == ["speed: not measured (simulator): its clock says nothing about a GPU"]


# -- files that do not run -------------------------------------------------------------------------
def _check_text(tmp_path, prefix, source, timeout=CHECK_TIMEOUT):
    path = tmp_path / "learner.py"
    path.write_text(source)
    t0 = time.perf_counter()
    v = check(lesson(prefix), path, simulator=True, timeout=timeout)
    return v, v.text(), time.perf_counter() - t0


def test_file_that_does_not_parse(tmp_path):
    v, text, _ = _check_text(tmp_path, "03", "def clamp(x, lo, hi)\n    return x\n")
    assert not v.passed
    assert "SyntaxError at line 1" in text, text


def test_file_that_does_not_import(tmp_path):
    v, text, _ = _check_text(tmp_path, "03", "import numba\nimport no_such_module_here\n")
    assert not v.passed
    assert "ModuleNotFoundError: No module named 'no_such_module_here'" in text, text
    assert "at line 2" in text


def test_file_that_defines_nothing(tmp_path):
    v, text, _ = _check_text(tmp_path, "03", "# nothing yet\n")
    assert not v.passed
    assert "your file defines no `clamp`" in text, text


def test_endless_kernel_loop_times_out(tmp_path):
    sol = lesson("03").file("solution").read_text()
    looping = sol.replace("    start = cuda.grid(1)\n",
                          "    start = cuda.grid(1)\n    while start >= 0:\n        start += 0\n")
    assert looping != sol
    v, text, took = _check_text(tmp_path, "03", looping, timeout=4)
    assert v.timed_out and not v.passed
    # the line most threads were on when time ran out: either line of the loop
    assert "timed out" in text and ("while start >= 0:" in text or "start += 0" in text), text
    assert took < 4 + 12  # the timeout, plus start-up; never a hang


def test_kernel_the_gpu_compiler_rejects(tmp_path):
    sol = lesson("03").file("solution").read_text()
    planted = sol.replace("        out[i] = clamp(x[i], xmin, xmax)\n",
                          "        tmp = np.empty(1, dtype=np.float32)\n"
                          "        tmp[0] = clamp(x[i], xmin, xmax)\n"
                          "        out[i] = tmp[0]\n")
    assert planted != sol
    v, text, _ = _check_text(tmp_path, "03", planted)
    assert not v.passed
    # the simulator ran it happily: only the PTX layer objects
    assert all(ok for ok, t in v.items if "compiles" not in t and "GPU compiler" not in t), text
    assert "runs on the simulator, but the GPU compiler rejects it" in text, text
    assert "cannot allocate arrays" in text


# -- the command line ------------------------------------------------------------------------------
def lessons_cli(home, *args, timeout=120):
    e = env(NUMBABENCH_LESSONS_HOME=str(home), NUMBABENCH_LESSONS_TARGET="cudasim")
    return subprocess.run([sys.executable, "-m", "numbabench", "lessons", *map(str, args)], env=e,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_cli_learner_flow(tmp_path):
    home = tmp_path / "home"
    l3 = lesson("03")
    p = lessons_cli(home)
    assert p.returncode == 0, p.stderr
    copy = home / f"{l3.id}.py"
    assert copy.read_text() == l3.file("exercise").read_text()
    assert (home / ".progress.json").is_file()

    p = lessons_cli(home, "hint", l3.number)
    assert p.returncode == 0 and "hint 1 of" in p.stdout
    p = lessons_cli(home, "hint")  # the current lesson is now 3
    assert "hint 2 of" in p.stdout, p.stdout

    p = lessons_cli(home, "solution", l3.number)
    assert p.returncode == 2 and "opens once your copy passes" in p.stderr
    assert "elif x > xmax" not in p.stdout

    p = lessons_cli(home, "check")
    assert p.returncode == 1 and "clamp(0.25, -0.5, 0.5) returned 0.5" in p.stdout, p.stdout

    # the learner solves it in their copy
    copy.write_text(l3.file("solution").read_text())
    p = lessons_cli(home, "check")
    assert p.returncode == 0 and "passed" in p.stdout, p.stdout + p.stderr
    p = lessons_cli(home, "list")
    row = next(ln for ln in p.stdout.splitlines() if l3.title in ln)
    assert "passed" in row
    assert re.search(r"\b1 of \d+ passed", p.stdout)
    p = lessons_cli(home, "solution", l3.number)
    assert p.returncode == 0 and "elif x > xmax" in p.stdout

    # reset keeps a backup of the solved copy and restores the starter; progress stays
    p = lessons_cli(home, "reset", l3.number)
    assert p.returncode == 0
    backups = list((home / ".backups").glob(f"{l3.id}-*.py"))
    assert len(backups) == 1 and backups[0].read_text() == l3.file("solution").read_text()
    assert copy.read_text() == l3.file("exercise").read_text()
    assert "passed" in next(ln for ln in lessons_cli(home, "list").stdout.splitlines() if l3.title in ln)

    p = lessons_cli(home, "next")
    assert p.returncode == 0 and LESSONS[l3.number + 1].title in p.stdout

    p = lessons_cli(home, "check", "no-such-lesson")
    assert p.returncode == 2 and "is not a lesson" in p.stderr


def test_check_of_another_file_is_not_recorded(tmp_path):
    home = tmp_path / "home"
    l0 = LESSONS[0]
    p = lessons_cli(home, "check", l0.number, "--file", l0.file("solution"))
    assert p.returncode == 0, p.stdout
    assert "not recorded" in p.stdout
    row = next(ln for ln in lessons_cli(home, "list").stdout.splitlines() if l0.title in ln)
    assert "passed" not in row


def test_watch_checks_again_on_every_save(tmp_path):
    import queue
    import signal
    import threading

    home = tmp_path / "home"
    l0 = LESSONS[0]
    assert lessons_cli(home).returncode == 0
    e = env(NUMBABENCH_LESSONS_HOME=str(home), NUMBABENCH_LESSONS_TARGET="cudasim")
    p = subprocess.Popen([sys.executable, "-m", "numbabench", "lessons", "watch", str(l0.number), "--interval", "0.2"],
                         env=e, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in p.stdout], daemon=True).start()

    def read_until(marker, seconds=60):
        seen, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                ln = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(ln)
            if marker in ln:
                return "".join(seen)
        raise AssertionError(f"no {marker!r} within {seconds} s:\n" + "".join(seen))

    try:
        first = read_until("waiting for the next save")
        assert "not passed" in first
        (home / f"{l0.id}.py").write_text(l0.file("solution").read_text())  # the learner saves
        second = read_until("waiting for the next save")
        assert "\npassed (" in second
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
    assert p.returncode == 0  # Ctrl-C ends the watch with the last check's status: passed


def test_hints_run_out_gracefully(tmp_path):
    from numbabench.lessons.workspace import Workspace

    ws = Workspace(tmp_path)
    l = LESSONS[0]
    n = len(catalog.read_hints(l))
    assert [ws.next_hint(l, n) for _ in range(n + 1)] == list(range(n)) + [None]
    assert Workspace(tmp_path).record(l)["hints_shown"] == n  # kept on disk


def test_untouched_copies_follow_their_starter_edited_ones_do_not(tmp_path, monkeypatch):
    from numbabench.lessons.workspace import Workspace

    root = tmp_path / "lessons"
    shutil.copytree(LESSONS_DIR, root)
    monkeypatch.setenv("NUMBABENCH_LESSONS_DIR", str(root))
    lessons = catalog.load(root)
    ws = Workspace(tmp_path / "home")
    ws.ensure(lessons)
    a, b = lessons[0], lessons[1]
    ws.copy_path(b).write_text("# my own work\n")
    for l in (a, b):  # a `git pull` brings new starters
        l.file("exercise").write_text(l.file("exercise").read_text() + "\n# improved\n")
    said = Workspace(tmp_path / "home").ensure(lessons)
    assert ws.copy_path(a).read_text().endswith("# improved\n")
    assert ws.copy_path(b).read_text() == "# my own work\n"
    assert len(said) == 1 and "refreshed" in said[0]


# -- hints -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("l", LESSONS, ids=lambda l: l.id)
def test_hints_keep_their_indentation_and_their_code_compiles(l):
    hints = catalog.read_hints(l)
    assert any(h.code for h in hints), f"{l.id}: no hint shows code"
    for n, h in enumerate(hints, 1):
        # code goes in `code`: indented lines in the prose would be code that nothing compiles
        assert not any(ln.startswith("    ") for ln in h.text.splitlines()), f"{l.id} hint {n}: code in the text"
        if h.code:
            compile(textwrap.dedent(h.code), f"{l.id} hint {n}", "exec")
            shown = h.render().splitlines()
            body = [ln for ln in shown if ln.strip()][len(h.text.splitlines()):]
            assert all(ln.startswith("    ") for ln in body)  # indented as a block, first line included
            compile(textwrap.dedent("\n".join(body)), f"{l.id} hint {n} as printed", "exec")


def test_a_hint_is_printed_with_its_indentation(tmp_path, monkeypatch, capsys):
    from numbabench.cli import main

    l2 = lesson("02")
    code = catalog.read_hints(l2)[-1].code
    assert code.splitlines()[1].startswith("    def timed():")
    monkeypatch.setenv("NUMBABENCH_LESSONS_HOME", str(tmp_path / "home"))
    for _ in catalog.read_hints(l2):
        assert main(["lessons", "hint", str(l2.number)]) == 0
    out = capsys.readouterr().out
    assert "\n        def timed():\n" in out, out  # the block's 4 spaces + the code's own 4


def test_after_the_last_lesson_it_says_what_next(tmp_path, monkeypatch, capsys):
    from numbabench.cli import main

    monkeypatch.setenv("NUMBABENCH_LESSONS_HOME", str(tmp_path / "home"))
    for _ in LESSONS:
        assert main(["lessons", "next"]) == 0
    out = capsys.readouterr().out
    assert "is the last lesson" in out and "What next:" in out, out
    for says in (" run --techniques", " report", " try",
                 "https://www.anaconda.com/blog/seven-things-you-might-not-know-about-numba"):
        assert says in out, out


# -- what `make lessons` prints works as typed, in a new shell --------------------------------------
def _fresh_shell(cmd: str, home: Path, cwd: Path):
    """``cmd`` in ``bash`` with an empty environment (``env -i``), as a new terminal would run it.
    Only what the tests need passes: the lessons' home and the simulator; and PYTHONPATH, because
    here the numbabench under test is this checkout, which the venv's own install may not be."""
    keep = {"HOME": str(home), "NUMBABENCH_LESSONS_HOME": str(home / "lessons"),
            "NUMBABENCH_LESSONS_TARGET": "cudasim", "PYTHONPATH": str(ROOT)}
    return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in keep.items()), "bash", "--noprofile",
                           "--norc", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=180)


def test_the_commands_make_lessons_prints_work_in_a_new_shell(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    # what `make lessons` runs: the venv's python -m numbabench lessons, with the user's PATH
    p = subprocess.run([sys.executable, "-m", "numbabench", "lessons"], cwd=ROOT, capture_output=True, text=True,
                       env=env(NUMBABENCH_LESSONS_HOME=str(home / "lessons"), NUMBABENCH_LESSONS_TARGET="cudasim"),
                       timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "https://www.anaconda.com/blog/seven-things-you-might-not-know-about-numba" in out
    check_cmd = re.search(r"check: (.+lessons check 0)$", out, re.M).group(1)
    hint_cmd = re.search(r"^(.+) lessons list \| check", out, re.M).group(1) + " lessons hint 0"
    where = Path(re.search(r"\(type these from (.+?), in this shell or a new one", out).group(1))
    for cmd, ok in ((check_cmd, (0, 1)), (hint_cmd, (0,))):  # an untouched lesson 0 does not pass: 1
        r = _fresh_shell(cmd, home, where)
        assert r.returncode in ok, f"{cmd!r} in a new shell: {r.returncode}\n{r.stdout}\n{r.stderr}"
        assert "lesson 0" in r.stdout, r.stdout
    jupyter = re.search(r"^  (\S+) lab (\S+)   then right-click", out, re.M)
    if jupyter is None:
        assert "Jupyter is not installed here" in out, out
    else:
        r = _fresh_shell(f"{jupyter.group(1)} --version", home, where)
        assert r.returncode == 0, r.stderr


# -- bad input: one line, exit status 2, nothing written --------------------------------------------
def _broken_lessons(tmp_path, how: str) -> Path:
    root = tmp_path / "lessons"
    shutil.copytree(LESSONS_DIR, root)
    victim = root / LESSONS[3].id
    if how == "folder-missing":
        shutil.rmtree(victim)
    elif how == "check-corrupt":
        (victim / "check.py").write_text("def check(ex, g)\n")
    elif how == "hints-corrupt":
        (victim / "hints.toml").write_text("[[hint]\ntext = 'x'\n")
    elif how == "index-corrupt":
        (root / "index.toml").write_text("[[lesson]]\nfolder = 3\n")
    return root


BAD = [  # (name, lessons command line, how the lessons are broken, what stderr says)
    ("no-such-number", ["check", "99"], None, "there is no lesson 99"),
    ("not-a-number", ["hint", "abc"], None, "'abc' is not a lesson"),
    ("huge-number", ["reset", "9" * 30], None, "there is no lesson"),
    ("zero-timeout", ["check", "0", "--timeout", "0"], None, "must be positive"),
    ("infinite-timeout", ["check", "0", "--timeout", "inf"], None, "must be a finite number"),
    ("word-timeout", ["watch", "0", "--interval", "soon"], None, "'soon' is not a number"),
    ("unknown-action", ["frobnicate"], None, "invalid choice: 'frobnicate'"),
    ("file-missing", ["check", "0", "--file", "no/such/file.py"], None, "no such file"),
    ("file-is-a-folder", ["check", "0", "--file", "."], None, "not a file"),
    ("lesson-folder-missing", ["list"], "folder-missing", "has no folder"),
    ("check-corrupt", ["check", "0"], "check-corrupt", "check.py does not compile"),
    ("hints-corrupt", ["hint", "3"], "hints-corrupt", "cannot read the hints"),
    ("index-corrupt", [], "index-corrupt", "every [[lesson]] needs a folder and a title"),
    ("progress-corrupt", ["list"], None, "is damaged"),
]


def _tree(path: Path) -> dict:
    return {str(p.relative_to(path)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(path.rglob("*"))} if path.exists() else {}


@pytest.mark.parametrize("case", BAD, ids=lambda c: c[0])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, case):
    from numbabench.cli import main

    name, argv, broken, says = case
    home = tmp_path / "home"
    if name == "progress-corrupt":
        home.mkdir()
        (home / ".progress.json").write_text("{not json")
    monkeypatch.setenv("NUMBABENCH_LESSONS_HOME", str(home))
    monkeypatch.setenv("NUMBABENCH_LESSONS_TARGET", "cudasim")
    if broken:
        monkeypatch.setenv("NUMBABENCH_LESSONS_DIR", str(_broken_lessons(tmp_path, broken)))
    monkeypatch.chdir(tmp_path)
    before = _tree(home)
    try:
        status = main(["lessons", *argv])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert "Traceback" not in err
    assert _tree(home) == before, "something was written"


# -- every exercise and solution runs as a notebook -----------------------------------------------
NOTEBOOKS = [(l, kind) for l in LESSONS for kind in ("exercise", "solution")]


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory):
    import jupytext
    import nbclient

    base = tmp_path_factory.mktemp("notebooks")
    kernel_env = env(simulator=True)

    def run(l, kind):
        nb = jupytext.read(l.file(kind))
        cwd = base / f"{l.id}-{kind}"
        cwd.mkdir()
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                         resources={"metadata": {"path": str(cwd)}})
        try:
            client.execute(env=kernel_env)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            return exc
        return nb

    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {(l.id, kind): pool.submit(run, l, kind) for l, kind in NOTEBOOKS}
        return {k: f.result() for k, f in futures.items()}


@needs("jupytext", "nbclient", "ipykernel", extra="lessons")
@pytest.mark.parametrize("l,kind", NOTEBOOKS, ids=lambda x: x.id if isinstance(x, catalog.Lesson) else x)
def test_runs_as_a_notebook(notebook_runs, l, kind):
    nb = notebook_runs[(l.id, kind)]
    assert not isinstance(nb, Exception), f"{l.id} {kind}: {nb}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    outputs = "".join(o.get("text", "") for c in code for o in c.get("outputs", []))
    assert "kernels run on the CUDA simulator" in outputs  # gpu_or_simulator respected the env


# -- on a real GPU ---------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("l", LESSONS, ids=lambda l: l.id)
def test_solution_passes_on_a_gpu(l):
    _skip_if_packages_missing(l.id)
    v = check(l, l.file("solution"), simulator=False, timeout=300)
    assert v.passed, v.text()
    assert not any("not measured" in s for s in v.speed)
