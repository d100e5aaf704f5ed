"""``numbabench``: the command line.

    numbabench doctor                 what this machine has, and which targets can run
    numbabench run [options]          a sweep; one results file; a table at the end
    numbabench list                   techniques and their targets

A mistake in what was asked (an unknown name, a bad size, a target this machine lacks) is one line
on stderr and exit status 2, with nothing written. Ctrl-C keeps what was measured (exit 130).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .argtypes import comma_list as _comma_list
from .argtypes import positive_float as _positive_float
from .argtypes import positive_int as _positive_int
from .errors import NumbabenchError

out = Console(highlight=False)
if not out.is_terminal:  # a pipe or a CI log: do not squeeze the table into 80 columns
    out = Console(highlight=False, width=200)
err = Console(stderr=True, highlight=False)


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1, got {text}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="numbabench", description=(
        "Is Numba on the GPU worth it over Numba on the CPU for this workload? "
        "Paired numpy/cpu/parallel/cuda/cudasim variants, verified and timed."))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("doctor", help="what this machine has and which targets can run")
    sub.add_parser("list", help="the techniques and their targets")

    r = sub.add_parser("run", help="run a sweep and write one results file")
    r.add_argument("--targets", type=_comma_list, default=None,
                   help="comma list of numpy,cpu,parallel,cuda,cudasim,cupy (default: all available)")
    r.add_argument("--techniques", type=_comma_list, default=None, help="comma list (default: all)")
    r.add_argument("--variants", type=_comma_list, default=None,
                   help="comma list of article,tuned,... (default: every variant of each technique)")
    r.add_argument("--sizes", default="quick",
                   help="quick, full, gpu (the device check's sizes), or a comma list of sizes such as 1000,1e6")
    r.add_argument("--dtype", default=None, help="float32 or float64 (default: each technique's own)")
    r.add_argument("--repeat", type=_positive_int, default=None,
                   help="exact number of timing samples (default: as many as --min-time allows)")
    r.add_argument("--min-time", type=_positive_float, default=0.2,
                   help="seconds of timing samples per phase (default 0.2)")
    r.add_argument("--timeout", type=_positive_float, default=900.0,
                   help="seconds a worker may spend on one cell before it is killed (default 900)")
    r.add_argument("--seed", type=_seed, default=0, help="seed of the inputs (default 0)")
    r.add_argument("--out", type=Path, default=None,
                   help="results file (default results/<machine>-<timestamp>.json)")
    r.add_argument("--no-peak", dest="measure_peak", action="store_false",
                   help="skip the CPU bandwidth peak (no roofline fractions for CPU rows)")
    where = r.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="local[:N]", default=None,
                       help="run the cells as tasks on a dask LocalCluster of N worker processes (default 2)")
    where.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="run the cells as tasks on the dask cluster of this scheduler (tcp://host:8786)")
    for name, (module, help_text) in SUBCOMMANDS.items():
        mod = _subcommand_module(module)
        if mod is not None:
            mod.add_arguments(sub.add_parser(name, help=help_text))
    return p


# Subcommands that live in their own package: each module has add_arguments(parser) and
# run(args) -> exit status, and raises NumbabenchError for a user's mistake.
SUBCOMMANDS = {
    "report": ("numbabench.report.command", "turn results files and asv results into an HTML report"),
    "lessons": ("numbabench.lessons.command", "self-paced exercises on the article's techniques, graded"),
    "try": ("numbabench.trying", "your own function or kernel through every variant, checked and timed"),
}


def _subcommand_module(module: str):
    import importlib
    import importlib.util

    try:
        if importlib.util.find_spec(module) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(module)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "doctor":
            return cmd_doctor()
        if args.command == "list":
            return cmd_list()
        if args.command == "run":
            return cmd_run(args)
        if args.command in SUBCOMMANDS:
            return _subcommand_module(SUBCOMMANDS[args.command][0]).run(args)
    except NumbabenchError as exc:
        err.print(f"numbabench: error: {exc}", markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("numbabench: interrupted", markup=False)
        return 130
    return 0


def cmd_list() -> int:
    from .registry import get_technique, techniques

    t = Table("technique", "article", "targets", "what it shows", box=None)
    for name in techniques():
        tech = get_technique(name)
        t.add_row(name, str(tech.article_item or ""), ", ".join(tech.targets), tech.title)
    out.print(t)
    return 0


def cmd_doctor() -> int:
    from . import machine
    from .targets import availability, probe_gpu

    with err.status("probing the GPU and the simulator..."):
        probe = probe_gpu()
        sim_ok, sim_why = _simulator_works()
        layer = machine.threading_layer()
        stack = _cuda_stack()
    info, ver = machine.machine_info(probe.to_dict()), machine.versions()
    t = Table(box=None, show_header=False)
    t.add_row("CPU", f"{info['cpu']} ({info['cores']['usable']} usable of {info['cores']['logical']} logical cores)")
    t.add_row("OS", info["os"])
    t.add_row("Numba threading layer", layer)
    for k in ("python", "numpy", "numba", "numba-cuda", "pandas", "cupy"):
        t.add_row(k, ver[k] or "not installed")
    t.add_row("numba.cuda is", _implementation_line(stack))
    t.add_row("CUDA toolkit (NVRTC)", stack.get("nvrtc") or (probe.gpu or {}).get("nvrtc")
              or stack.get("nvrtc_error") or "unknown")
    if probe.cuda:
        g = probe.gpu or {}
        t.add_row("GPU", f"{g.get('name', '?')}, compute capability {g.get('compute_capability', '?')}, "
                         f"{g.get('memory_gib', '?')} GiB, {g.get('multiprocessors', '?')} SMs")
        t.add_row("CUDA driver", str(g.get("driver", "?")))
        mode = stack.get("compute_mode") or g.get("compute_mode") or stack.get("compute_mode_error") or "unknown"
        t.add_row("GPU compute mode", mode)
    else:
        t.add_row("GPU", f"none: {probe.reason}")
    t.add_row("CUDA simulator", "works" if sim_ok else f"does not work: {sim_why}")
    t.add_row("CuPy", "works" if probe.cupy else probe.cupy_reason)
    out.print(t)
    avail = availability(probe)
    if not sim_ok:
        avail["cudasim"] = (False, sim_why)
    tt = Table("target", "available", "what runs", box=None)
    from .targets import TARGETS

    for name, (ok, why) in avail.items():
        tt.add_row(name, "yes" if ok else f"no: {why}", TARGETS[name].summary)
    out.print()
    out.print(tt)
    return 0


def _cuda_stack() -> dict:
    """``devices.cuda_stack()`` of a fresh real-mode process (this one keeps no CUDA context)."""
    import json
    import subprocess

    from .targets import worker_env

    try:
        p = subprocess.run([sys.executable, "-m", "numbabench.devices"], env=worker_env("cuda"),
                           capture_output=True, text=True, timeout=120)
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return {"implementation": None, "error": "could not import numba.cuda in a fresh process"}


def _implementation_line(stack: dict) -> str:
    impl, where = stack.get("implementation"), stack.get("module") or "?"
    if impl == "numba-cuda":
        return f"numba-cuda (NVIDIA's package; {where})"
    if impl == "built-in":
        return (f"numba's deprecated built-in target ({where}): numba-cuda's .pth redirect did not apply; "
                "pip install --force-reinstall numba-cuda")
    return stack.get("error") or f"unknown ({impl})"


def _simulator_works() -> tuple[bool, str | None]:
    import subprocess

    from .targets import worker_env

    code = ("import numpy as np; from numba import cuda\n"
            "@cuda.jit\ndef k(a):\n  i = cuda.grid(1)\n  if i < a.size: a[i] += 1\n"
            "a = np.zeros(8); k[1, 8](a); assert a.sum() == 8, a")
    try:
        p = subprocess.run([sys.executable, "-c", code], env=worker_env("cudasim"),
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "a tiny kernel did not finish in 120 s"
    if p.returncode == 0:
        return True, None
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    return False, tail


def cmd_run(args) -> int:
    from . import runner

    spec = None
    if args.cluster or args.scheduler:
        from .cluster import ClusterSpec, parse_cluster

        spec = ClusterSpec(scheduler=args.scheduler,
                           local_workers=parse_cluster(args.cluster) if args.cluster else None)
    opts = runner.Options(
        techniques=args.techniques, targets=args.targets, variants=args.variants,
        sizes=runner.parse_sizes(args.sizes), dtype=args.dtype, repeat=args.repeat,
        min_time=args.min_time, timeout=args.timeout, seed=args.seed, out=args.out,
        measure_peak=args.measure_peak, cluster=spec,
    )
    with err.status("connecting to the cluster..." if spec else "checking targets..."):
        prepared = runner.prepare(opts)
    doc, local = prepared.doc, spec is None
    load, cores = doc.get("load_average"), doc["machine"]["cores"]["usable"]
    if load and local and load[0] > cores:
        err.print(f"numbabench: warning: load average {load[0]:.1f} on {cores} cores: other work is "
                  "running, and the figures (parallel ones most) will be noisy", markup=False)
    try:
        return _run_and_report(opts, prepared)
    finally:
        prepared.executor.close()


def _run_and_report(opts, prepared) -> int:
    from . import runner
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    plan, doc, path = prepared.plan, prepared.doc, prepared.out
    on_cluster = opts.cluster is not None
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=False)
    interrupted = False
    with progress:
        task = progress.add_task("tasks on the dask cluster" if on_cluster else "measuring the CPU bandwidth peak",
                                 total=plan.count)
        if opts.measure_peak and not on_cluster and "host" in {g.partition("|")[0] for g in plan.cells}:
            runner.measure_cpu_peak(doc)

        def update(cell=None, advance=0):
            if cell is not None:
                targets = ",".join(dict.fromkeys(t for t, _ in cell.pairs))
                progress.update(task, description=f"{cell.technique} · {targets} · {cell.size:,}")
            if advance:
                progress.advance(task, advance)

        sweep = runner.Sweep(opts, plan, doc, path, progress=update, executor=prepared.executor)
        try:
            sweep.run()
        except KeyboardInterrupt:
            interrupted = True
    print_table(doc)
    if interrupted:
        err.print(f"numbabench: interrupted; the {len(doc['rows'])} rows measured so far are in {path}", markup=False)
        return 130
    failed = sum(r["status"] in ("failed", "wrong") for r in doc["rows"])
    err.print(f"results: {path}" + (f"  ({failed} failed or wrong cells: see the table)" if failed else ""),
              markup=False)
    return 1 if failed else 0


def _fmt(v, spec) -> str:
    return "-" if v is None else format(v, spec)


def _speedup(r: dict) -> str:
    s = r.get("speedup_vs_numpy")
    if s is None:
        return "-"
    spread = r.get("speedup_spread")
    return f"{s:.2f}" + (f" ±{spread / 2:.2f}" if spread else "")


def print_table(doc: dict) -> None:
    from .fmt import seconds
    from .targets import TARGETS

    rows = doc["rows"]
    by = {}
    for r in rows:  # rows from a cluster: one line per host too
        key = (r["technique"], r["size"], r["dtype"], r["target"], r.get("variant") or "article", r.get("host") or "")
        by.setdefault(key, {})[r["phase"]] = r
    hosts = sorted({k[5] for k in by if k[5]})
    compile_s = {(r["technique"], r["target"], r.get("variant") or "article"): r["median_s"]
                 for r in rows if r["phase"] == "compile"}
    t = Table("technique", "size", "target", "variant", "throughput", "± iqr", "×numpy", "GB/s", "roofline",
              "latency", "end-to-end", "×numpy e2e", "compile", "status",
              title=f"{doc['machine']['name']} · {doc['machine']['cpu']} · GPU: {doc['machine']['gpu'] or 'none'}")

    def fmt_peaks(peaks):
        return ", ".join(f"{k.replace('_gbps', '').replace('_', ' ')} {v:.1f} GB/s"
                         for k, v in peaks.items() if isinstance(v, float))

    peaks = doc["peaks"]
    lines = [f"bandwidth peaks measured in this run: {fmt_peaks(peaks)}"] if fmt_peaks(peaks) else []
    for host, hp in peaks.get("by_host", {}).items():
        if fmt_peaks(hp):
            lines.append(f"bandwidth peaks on {host}: {fmt_peaks(hp)}")
    if "cluster" in doc:
        ws = doc["cluster"]["workers"].values()
        lines.append(f"ran on {len(ws)} dask workers: " + ", ".join(
            f"{w['host']}/{'simulator' if w['simulator'] else 'real'} ({', '.join(w['targets'])})" for w in ws))
    lines.append("throughput: pipelined calls, one synchronize per sample; latency: one call, synchronized "
                 "(GPU targets); ×numpy: against the fastest NumPy variant, ± half the spread of per-round "
                 "ratios where timed interleaved")
    t.caption = "\n".join(lines)
    order = {name: i for i, name in enumerate(TARGETS)}
    if len(hosts) > 1:
        t.add_column("host")
    for (tech, size, dtype, target, variant, host), ph in sorted(
            by.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][5], order.get(kv[0][3], 9), kv[0][4])):
        c = ph.get("compute", {})
        e = ph.get("end_to_end", {})
        lat = ph.get("latency", {})
        status = c.get("status", "?")
        if status != "ok":
            status = f"[red]{status}[/red]: {c.get('error') or ''}"[:120]
        elif c.get("simulated"):
            status = "ok (simulated: functional only)"
        roof = c.get("roofline_fraction")
        t.add_row(tech, f"{size:,}", target, variant, seconds(c.get("median_s")), seconds(c.get("spread_s")),
                  _speedup(c), _fmt(c.get("gbps"), ".1f"),
                  "-" if roof is None else f"{roof:.0%}", seconds(lat.get("median_s")), seconds(e.get("median_s")),
                  _fmt(e.get("speedup_vs_numpy"), ".2f"), seconds(compile_s.get((tech, target, variant))), status,
                  *([host or "-"] if len(hosts) > 1 else []))
    out.print(t)


if __name__ == "__main__":
    sys.exit(main())
