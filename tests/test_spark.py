"""The remote technique's functions in a local Spark session (numbabench/spark.py).

One session for the module (a session start is ~10 s on a quiet 2-core VM, ~40 s under load);
the test that stops it runs last. CI (``.ci/run``) sets NUMBABENCH_REQUIRE_SPARK=1: there a missing
pyspark or Java fails these tests instead of skipping them.
"""
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import helpers
import numbabench
from numbabench import spark

TECH = numbabench.get_technique("remote")
REQUIRED = os.environ.get("NUMBABENCH_REQUIRE_SPARK") == "1"
#: a Spark job in these tests may take this long (the first compiles, on a loaded VM)
TIMEOUT = 90.0


@pytest.fixture(scope="module")
def session():
    why = spark.spark_unavailable()
    if why is not None:
        if REQUIRED:
            pytest.fail(f"CI runs the Spark tests, but: {why}")
        pytest.skip(why)
    old = os.environ.get(spark.SWITCH)
    os.environ[spark.SWITCH] = "1"  # conftest turns the Spark rows off for the other tests
    yield spark.start().spark
    spark.stop()
    if old is None:
        os.environ.pop(spark.SWITCH, None)
    else:
        os.environ[spark.SWITCH] = old


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(spark, "WARM_MIN_TIME", 0.0)  # three warm calls per row


def _rows(target, size=1000, seed=0):
    inputs = TECH.make_inputs(size, seed=seed)
    return {r["phase"]: r for r in spark.rows(target, inputs["x"], TECH.reference(inputs), TECH.compare, TIMEOUT)}


def test_session_is_local_on_loopback_with_this_python(session):
    conf = dict(session.sparkContext.getConf().getAll())
    assert session.sparkContext.master == "local[1]"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    # the worker really is this interpreter, and another process
    got = session.sparkContext.parallelize([0], 1).map(lambda _: (sys.executable, os.getpid())).collect()
    assert got[0][0] == sys.executable and got[0][1] != os.getpid()


@pytest.mark.parametrize("target, prefixes", [("numpy", [""]), ("cpu", ["", "dufunc_", "dufunc_byref_"]),
                                              ("parallel", [""])])
def test_shipped_functions_equal_the_reference(session, quick, target, prefixes):
    rows = _rows(target, seed=3)
    for prefix in prefixes:
        for phase in spark.PHASES:
            r = rows[prefix + phase]
            assert r["status"] == "ok" and r["correct"] is True, (prefix + phase, r["error"])
            assert r["median_s"] > 0 and r["local_s"] > 0
        for short, api in spark.APIS:
            assert rows[f"{prefix}spark_{short}"]["api"] == api and rows[f"{prefix}spark_{short}"]["repeats"] >= 3


def test_float64_and_an_empty_frame_keep_their_type(session, quick):
    for size, dtype in ((257, "float64"), (0, "float32")):
        inputs = TECH.make_inputs(size, seed=1, dtype=dtype)
        df = spark.frame(session, inputs["x"])
        for api, run in spark.calls(session, df, spark.shipped("cpu")[0][2], dtype).items():
            got = spark.bounded(session, run, TIMEOUT)
            assert got.dtype == np.dtype(dtype) and TECH.compare(got, TECH.reference(inputs))[0], (api, size)


def test_driver_parallel_ufunc_is_the_articles_limitation(session, quick):
    fn = spark.driver_parallel_ufunc()
    x = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(fn(x), np.cos(x))  # it works in the driver
    rows = _rows("parallel")
    for phase in spark.PHASES:
        r = rows["driver_" + phase]
        assert r["status"] == "limitation", (phase, r["status"], r["error"])
        assert "but not ufuncs" in r["error"]
        assert "No module named '__mp_main__'" in r["error"] or "Can't get attribute 'cos_parallel_driver'" in r["error"]
        assert "\n" not in r["error"]
    # the same ufunc from an importable module travels (by reference): the workaround
    assert rows["spark_udf"]["status"] == "ok"


def test_a_task_failing_in_the_worker_fails_its_rows_and_the_session_goes_on(session, quick, monkeypatch):
    driver = os.getpid()

    def fails_remotely(x):  # fine here, raises in Spark's Python worker
        if os.getpid() != driver:
            raise RuntimeError("planted failure in the worker")
        return np.cos(x)

    monkeypatch.setattr(spark, "shipped", lambda target: [("", "fails remotely", fails_remotely),
                                                          ("sin_", "np.sin", np.sin)])
    rows = _rows("numpy")
    for phase in spark.PHASES:
        assert rows[phase]["status"] == "failed", phase
        assert "RuntimeError: planted failure in the worker" in rows[phase]["error"]
        assert rows["sin_" + phase]["status"] == "wrong" and rows["sin_" + phase]["correct"] is False
    monkeypatch.undo()
    assert _rows("numpy")["spark_udf"]["status"] == "ok"  # the same session, still working


def test_a_job_past_its_time_is_cancelled(session):
    def sleepy(x):
        time.sleep(60)
        return x

    df = spark.frame(session, np.zeros(4, np.float32))
    run = spark.calls(session, df, sleepy, "float32")["udf"]
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError, match="ran past 3 s"):
        spark.bounded(session, run, timeout=3.0)
    assert time.perf_counter() - t0 < 45
    assert spark.bounded(session, lambda: df.count(), TIMEOUT) == 4  # and the session still serves


def test_without_pyspark_or_java_the_rows_say_why(monkeypatch):
    monkeypatch.setenv(spark.SWITCH, "1")
    monkeypatch.setattr(spark, "start", lambda: pytest.fail("must not start a session"))
    x = np.zeros(3, np.float32)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    rows = spark.rows("cpu", x, np.cos(x), TECH.compare)
    assert len(rows) == 3 * len(spark.PHASES)
    assert all(r["status"] == "skipped" and r["error"] == spark.SPARK_MISSING for r in rows)
    monkeypatch.delitem(sys.modules, "pyspark")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark.shutil, "which", lambda name: None)
    rows = spark.rows("numpy", x, np.cos(x), TECH.compare)
    assert rows and all(r["status"] == "skipped" and "default-jre-headless" in r["error"] for r in rows)
    monkeypatch.setenv(spark.SWITCH, "0")
    assert [r["status"] for r in spark.rows("numpy", x, np.cos(x), TECH.compare)] == ["skipped"]


def _marked(marker: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                if marker.encode() in (p / "environ").read_bytes().split(b"\0"):
                    found.append(int(p.name))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc to find processes")
def test_numbabench_run_gives_the_spark_rows_and_leaves_no_jvm(session, tmp_path):
    marker = f"NUMBABENCH_SPARK_PROBE={uuid.uuid4().hex}"
    key, value = marker.split("=")
    out = tmp_path / "remote.json"
    proc = subprocess.run(
        [sys.executable, "-m", "numbabench", "run", "--techniques", "remote", "--targets", "parallel",
         "--sizes", "1000", "--min-time", "0.01", "--out", str(out)],
        env=helpers.env(**{key: value, spark.SWITCH: "1"}), capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["phase"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["spark_start"]["status"] == "ok" and rows["spark_start"]["median_s"] > 0
    for phase in spark.PHASES:
        assert rows[phase]["status"] == "ok" and rows[phase]["correct"] is True, (phase, rows[phase]["error"])
        assert rows["driver_" + phase]["status"] == "limitation"
    deadline = time.monotonic() + 20
    while (left := _marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == [], "a JVM or Python worker outlived `numbabench run`"


def test_zz_the_session_ends_even_when_a_task_fails(session):
    # last in the file: it stops the module's session
    from pyspark import SparkContext

    def boom(x):
        raise ZeroDivisionError("planted")

    with pytest.raises(Exception, match="ZeroDivisionError"):
        with spark.session() as s:
            assert s is session  # the running one
            df = spark.frame(s, np.zeros(4, np.float32))
            spark.bounded(s, spark.calls(s, df, boom, "float32")["map"], TIMEOUT)
    assert SparkContext._active_spark_context is None and session.sparkContext._jsc is None
    assert spark._session is None
