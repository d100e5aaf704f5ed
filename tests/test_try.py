"""`numbabench try`: a user's function or kernel through every variant, the checks, the module it emits.

The user code lives in tests/data/try (funcs.py: gaussian, clamp, a polynomial, elu with a branch,
smooth3 with np.empty, spread returning an array, ...; kernels.py: a grid-stride kernel, one without
a bounds check). Host variants and the PTX check run in this process (not the simulator); the
simulator runs in subprocesses, one per group of checks.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import TESTS, cli, env, in_simulator

from numbabench import cli as nb_cli
from numbabench import trying, usertech

DATA = TESTS / "data" / "try"
FUNCS, KERNELS = DATA / "funcs.py", DATA / "kernels.py"
GOOD = {  # function -> (try arguments, how its numpy row computes)
    "gaussian": (["--signature", "float32(float32, float32, float32)", "--inputs", "normal, 0.25, 1.5"], "vectorize"),
    "clamp": (["--inputs", "normal(0, 2), -1.0, 1.0"], "vectorize"),
    "poly": ([], "arrays"),
    "elu": (["--make-inputs", f"{FUNCS}:make_inputs"], "vectorize"),
    "smooth3": (["--dtype", "float32"], "vectorize"),
}


def spec_of(name: str, *extra, path=FUNCS) -> trying.TrySpec:
    args = nb_cli.build_parser().parse_args(["try", f"{path}:{name}", *map(str, extra)])
    return trying.build_spec(args)


@pytest.fixture(scope="module")
def techs():
    return {name: trying.technique_class(spec_of(name, *extra))() for name, (extra, _) in GOOD.items()}


@pytest.mark.parametrize("name", list(GOOD))
def test_every_host_variant_agrees_with_the_reference(techs, name):
    tech = techs[name]
    inputs = tech.check_inputs(tech.make_inputs(1000, seed=3))
    want = tech.reference(inputs)
    assert want.shape == (1000,) and np.isfinite(want).all()
    seen = []
    for target in ("numpy", "cpu", "parallel"):
        for variant in tech.variants_for(target):
            got = tech.run(target, inputs, variant)
            correct, err = tech.compare(got, want)
            assert correct, f"{name} {target}/{variant}: max abs error {err}"
            seen.append((target, variant))
    assert ("cpu", "tuned") in seen and ("parallel", "tuned") in seen


def test_the_numpy_row_is_named_for_what_it_is(techs):
    for name, (_, way) in GOOD.items():
        assert techs[name].numpy_way == way, name
        assert techs[name].variants_for("numpy") == (("vectorize",) if way == "vectorize" else ("article",))
    spec = spec_of("gaussian", "--reference", f"{FUNCS}:gaussian_np")
    assert spec.numpy_way == "reference"
    tech = trying.technique_class(spec)()
    inputs = tech.check_inputs(tech.make_inputs(1000, seed=0))
    assert tech.compare(tech.run("numpy", inputs), tech.vectorized("float64")(*inputs.values()))[0]


def test_a_wrong_variant_is_caught_by_the_comparison(techs):
    tech = techs["clamp"]
    inputs = tech.check_inputs(tech.make_inputs(500, seed=1))
    want = tech.reference(inputs)
    assert not tech.compare(want + 1e-3, want)[0]
    assert tech.compare(want, want)[0]


def test_the_gpu_compiler_refuses_np_empty_at_its_line(techs):
    checks = usertech.gpu_check(techs["smooth3"], "float32")
    assert [c.sm for c in checks] == ["sm_80", "sm_90"] and not any(c.ok for c in checks)
    line = next(i for i, ln in enumerate(FUNCS.read_text().splitlines(), 1) if "np.empty" in ln)
    assert all(c.line == line for c in checks), [c.line for c in checks]
    text = checks[0].refusal()
    assert text.startswith(f"the GPU compiler refuses this at line {line}: `window = np.empty(3)`")
    assert "empty" in checks[0].error
    ok = usertech.gpu_check(techs["gaussian"], "float32")
    assert all(c.ok for c in ok), [c.error for c in ok]


def test_a_user_kernel_compiles_for_the_gpu():
    spec = spec_of("scale", "--kernel", "--inputs", "normal, 3.0", "--reference", f"{KERNELS}:scale_ref",
                   path=KERNELS)
    tech = trying.technique_class(spec)()
    assert all(c.ok for c in usertech.gpu_check(tech)), "the grid-stride kernel must compile to PTX"


def test_the_simulator_runs_the_kernels_and_catches_a_missing_bounds_check():
    got = in_simulator(f"""
        import json, sys
        from numba.core.errors import NumbaWarning
        from numbabench import cli, trying
        def tech(*argv):
            return trying.technique_class(trying.build_spec(cli.build_parser().parse_args(["try", *argv])))()
        out = {{}}
        good = {json.dumps({n: [str(a) for a in e] for n, (e, _) in GOOD.items()})}
        for name, extra in good.items():
            t = tech("{FUNCS}:" + name, *extra)
            x = t.check_inputs(t.make_inputs(300, seed=2))
            out[name] = bool(t.compare(t.run("cudasim", x), t.reference(x))[0])
        ref = "--reference={KERNELS}:"
        for name, argv in {{"scale": ["--inputs", "normal, 3.0", ref + "scale_ref"],
                            "double": ["--launch", "one-per-element", ref + "double_ref"],
                            "double_checked": ["--launch", "one-per-element", ref + "double_ref"],
                            "double_checked:grid-stride": ["--launch", "grid-stride", ref + "double_ref"]}}.items():
            t = tech("{KERNELS}:" + name.split(":")[0], "--kernel", *argv)
            x = t.check_inputs(t.make_inputs(1000, seed=2))
            import numpy as np
            from numbabench.usertech import OUT
            out["poisoned"] = bool(np.isnan(t.prepare("cudasim", x)[OUT].copy_to_host()).all())
            try:
                out[name] = bool(t.compare(t.run("cudasim", x), t.reference(x))[0])
            except Exception as exc:
                out[name] = type(exc).__name__ + ": " + str(exc)
        print(json.dumps(out))
    """, timeout=300)
    for name in GOOD:
        assert got[name] is True, f"{name} on cudasim: {got[name]}"
    assert got["scale"] is True and got["double_checked"] is True
    # one thread per element launched grid-stride (4 x 32 threads in the simulator) leaves most of
    # the output unwritten: a wrong result, which the comparison catches
    assert got["double_checked:grid-stride"] is False
    assert got["poisoned"], "a kernel's fresh output must be NaN before the launch, not an old answer"
    assert got["double"].startswith("KernelOutOfBounds: the kernel indexes out of bounds"), got["double"]
    assert "out of bounds for axis 0 with size 1000" in got["double"]
    assert "if i < out.shape[0]" in got["double"]


BAD = {
    "a file that does not exist": (["nothere.py:f"], "no file nothere.py"),
    "a name that does not exist": ([f"{FUNCS}:nothing"], "has no 'nothing'"),
    "a function returning an array": ([f"{FUNCS}:spread"], "spread returns an array"),
    "a function taking an array": ([f"{FUNCS}:first"], "first takes an array where a scalar is expected"),
    "nopython mode refuses it": ([f"{FUNCS}:uses_object"], "Numba cannot compile uses_object in nopython mode (line"),
    "a plain Python helper": ([f"{FUNCS}:calls_a_helper"], "_half is a plain Python function: decorate it with @numba.njit"),
    "a signature that does not parse": ([f"{FUNCS}:poly", "--signature", "float32(float32,,)"], "does not parse"),
    "a signature of the wrong arity": ([f"{FUNCS}:gaussian", "--signature", "float32(float32)"],
                                       "has 1 argument(s); gaussian takes 3 (x, x0, sigma)"),
    "a kernel with a return value": ([f"{KERNELS}:with_return", "--kernel", "--reference", f"{KERNELS}:double_ref"],
                                     "with_return returns a value (line"),
    "a kernel without a reference": ([f"{KERNELS}:scale", "--kernel"], "--kernel needs --reference"),
    "make_inputs of the wrong count": ([f"{FUNCS}:poly", "--make-inputs", f"{FUNCS}:make_inputs"],
                                       "make_inputs gave 2 values; the function takes 1 (x)"),
    "inputs of the wrong count": ([f"{FUNCS}:gaussian", "--inputs", "normal, 1.0"], "gaussian takes 3"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, monkeypatch, capsys):
    argv, says = BAD[case]
    monkeypatch.chdir(tmp_path)
    rc = nb_cli.main(["try", *argv, "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert says in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []


def test_emit_technique_writes_a_module_that_numbabench_run_runs(tmp_path, capsys):
    module = tmp_path / "clamp_technique.py"
    rc = nb_cli.main(["try", f"{FUNCS}:clamp", "--inputs", "normal(0, 2), -1.0, 1.0",
                      "--emit-technique", "--emit-to", str(module)])
    assert rc == 0 and module.is_file()
    assert "NUMBABENCH_TECHNIQUES=clamp_technique" in capsys.readouterr().out
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "numbabench", "run", "--techniques", "funcs.clamp", "--targets", "numpy,cpu",
         "--sizes", "2000", "--no-peak", "--min-time", "0.01", "--out", str(out)],
        env=env(techniques="clamp_technique", PYTHONPATH=f"{tmp_path}:{env()['PYTHONPATH']}"),
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [r for r in json.loads(out.read_text())["rows"] if r["phase"] == "compute"]
    assert {(r["target"], r["variant"], r["status"]) for r in rows} == {
        ("numpy", "vectorize", "ok"), ("cpu", "article", "ok"), ("cpu", "tuned", "ok")}


def test_try_gives_cpu_rows_and_the_gpu_compilers_refusal_in_an_ordinary_results_file(tmp_path):
    out = tmp_path / "smooth3.json"
    proc = cli("try", f"{FUNCS}:smooth3", "--targets", "numpy,cpu", "--sizes", "300",
               "--no-peak", "--min-time", "0.01", "--out", out, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]  # the refused cuda row is a failed cell
    assert "cuda: the GPU compiler refuses this at line" in proc.stderr
    from numbabench import load_results

    df = load_results(out)
    comp = df[df.phase == "compute"]
    status = {(r.target, r.variant): r.status for r in comp.itertuples()}
    assert status == {("numpy", "vectorize"): "ok", ("cpu", "article"): "ok", ("cpu", "tuned"): "ok",
                      ("cuda", "article"): "failed"}, status
    cuda = comp[comp.target == "cuda"].iloc[0]
    assert "refuses this at line" in cuda.error and "np.empty" in cuda.error
    assert df.attrs["try"]["technique"] == "funcs.smooth3"


def test_try_kernel_without_a_bounds_check_gets_a_row_that_says_so(tmp_path):
    out = tmp_path / "double.json"
    proc = cli("try", f"{KERNELS}:double", "--kernel", "--launch", "one-per-element",
               "--reference", f"{KERNELS}:double_ref", "--targets", "numpy,cudasim", "--sizes", "1000",
               "--no-peak", "--min-time", "0.01", "--out", out, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = [r for r in json.loads(out.read_text())["rows"] if r["phase"] == "compute"]
    sim = next(r for r in rows if r["target"] == "cudasim")
    assert sim["status"] == "failed" and "out of bounds" in sim["error"] and "if i < out.shape[0]" in sim["error"]
    assert next(r for r in rows if r["target"] == "numpy")["status"] == "ok"
    cuda = next(r for r in rows if r["target"] == "cuda")  # not asked for, but compiled for a GPU
    assert cuda["status"] == "skipped" and "compiles for sm_80 and sm_90" in cuda["error"]
