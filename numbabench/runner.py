"""The sweep: plan cells, run one worker process per target, keep every row that arrives.

A *cell* is one (technique, target, size, dtype). Workers run one at a time, so no two timings
share cores. The runner survives a worker that raises (the worker reports a failed row), crashes
(the cell it was on is recorded as failed, with the exit status and the last line it printed),
hangs past the timeout (killed; the cell is recorded as timed out) or is interrupted with Ctrl-C
(the cell is recorded as interrupted, the file is written, the run stops). After a crash or a
timeout a fresh worker takes the rest of that target's cells. The results file is rewritten
atomically after every cell, so what was measured is never lost.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import machine, results
from .errors import NumbabenchError, TargetUnavailable
from .registry import get_technique, techniques
from .targets import TARGETS, availability, get_target, probe_gpu, worker_env
from .worker import failed_row


@dataclass
class Options:
    techniques: list[str] | None = None  # None: all
    targets: list[str] | None = None  # None: all available
    sizes: str | list[int] = "quick"
    dtype: str | None = None  # None: each technique's default
    repeat: int | None = None
    min_time: float = 0.2
    timeout: float = 900.0
    seed: int = 0
    out: Path | None = None
    measure_peak: bool = True
    cluster: object | None = None  # a numbabench.cluster.ClusterSpec: run the cells as dask tasks


@dataclass
class Plan:
    cells: dict[str, list[dict]] = field(default_factory=dict)  # target -> cells
    skipped: list[dict] = field(default_factory=list)  # rows for cells not run, with the reason

    @property
    def count(self) -> int:
        return sum(len(c) for c in self.cells.values())


def parse_sizes(text: str) -> str | list[int]:
    """'quick', 'full', or a comma list of positive integers (1e6 and 1_000_000 are fine)."""
    text = text.strip()
    if text in ("quick", "full"):
        return text
    sizes = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part.replace("_", ""))
        except ValueError:
            raise NumbabenchError(f"--sizes: {part!r} is not a size; use quick, full or N,N,... (e.g. 1000,1e6)") from None
        if value != int(value) or value < 1:
            raise NumbabenchError(f"--sizes: {part!r} must be a whole number of at least 1")
        sizes.append(int(value))
    return sizes


def resolve_targets(asked: list[str] | None, avail: dict) -> list[str]:
    if asked is None:
        return [t for t in TARGETS if avail[t][0]]
    for name in asked:
        get_target(name)
        ok, why = avail[name]
        if not ok:
            raise TargetUnavailable(f"target {name!r} is not available here: {why}")
    return list(dict.fromkeys(asked))


def plan(opts: Options, targets: list[str], avail: dict | None = None) -> Plan:
    names = opts.techniques or techniques()
    techs = [get_technique(n) for n in names]
    if opts.dtype is not None:
        for t in techs:
            if opts.dtype not in t.dtypes:
                raise NumbabenchError(f"technique {t.name!r} has no dtype {opts.dtype!r}; its dtypes: {', '.join(t.dtypes)}")
    p = Plan()
    n = 0
    for target in targets:
        sim = get_target(target).simulated
        for tech in techs:
            if target not in tech.targets:
                continue
            dtype = opts.dtype or tech.default_dtype()
            sizes = tech.sizes_for(target, opts.sizes) if isinstance(opts.sizes, str) else opts.sizes
            needed = tech.needs.get(target)
            missing = needed and avail is not None and not avail.get(needed, (False,))[0]
            for size in sizes:
                cell = {"id": n, "technique": tech.name, "size": size, "dtype": dtype}
                n += 1
                if missing:
                    p.skipped.append(failed_row(cell, target, (
                        f"{tech.name}'s {target} variant needs target {needed!r}, which is not available "
                        f"here: {avail[needed][1]}"), status="skipped"))
                    continue
                if sim and size > tech.simulator_max_size:
                    p.skipped.append(failed_row(cell, target, (
                        f"size {size:,} is too large for the simulator (at most {tech.simulator_max_size:,}: "
                        "it runs one Python thread per CUDA thread)"), status="skipped"))
                    continue
                p.cells.setdefault(target, []).append(cell)
    if not p.cells and not p.skipped:
        raise NumbabenchError("nothing to run: none of the chosen techniques has a variant for the chosen targets")
    return p


def default_out() -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{machine.machine_name()}-{stamp}.json"


class Sweep:
    """Runs a plan and keeps the results document up to date on disk."""

    def __init__(self, opts: Options, plan: Plan, doc: dict, out: Path, progress=None, cluster=None):
        self.opts, self.plan, self.doc, self.out = opts, plan, doc, out
        self.progress = progress or (lambda **kw: None)
        self.proc: subprocess.Popen | None = None
        self.cluster = cluster  # a Connection from prepare(), when the cells run on dask

    # -- bookkeeping ------------------------------------------------------------------------
    def add_rows(self, rows):
        self.doc["rows"].extend(rows)
        self.save()

    def save(self):
        results.derive(self.doc["rows"], self.doc["peaks"])
        results.write_atomic(self.out, self.doc)

    # -- running ----------------------------------------------------------------------------
    def run(self) -> dict:
        self.add_rows(self.plan.skipped)
        try:
            if self.cluster is not None:
                from .cluster import run_on_cluster

                run_on_cluster(self, self.cluster.client, self.cluster.workers)
            else:
                for target, cells in self.plan.cells.items():
                    self.run_target(target, cells)
        except KeyboardInterrupt:
            self.doc["interrupted"] = True
            raise
        finally:
            self.doc["finished"] = _now()
            self.save()
        return self.doc

    def run_target(self, target: str, cells: list[dict]):
        remaining = {c["id"]: c for c in cells}
        while remaining:
            self.run_worker(target, remaining)

    def run_worker(self, target: str, remaining: dict):
        job = {"target": target, "cells": list(remaining.values()), "seed": self.opts.seed,
               "min_time": self.opts.min_time, "repeat": self.opts.repeat,
               "measure_gpu_peak": "gpu_gbps" not in self.doc["peaks"]}  # once per run
        errlog = tempfile.TemporaryFile(mode="w+")
        self.proc = proc = subprocess.Popen(
            [sys.executable, "-m", "numbabench.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=errlog, env=worker_env(target), text=True, start_new_session=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        current = next(iter(remaining))
        self.progress(target=target, cell=remaining[current])
        deadline = time.monotonic() + self.opts.timeout
        try:
            while remaining:
                try:
                    line = lines.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    self.fail(target, remaining.pop(current), f"timed out after {self.opts.timeout:g} s (worker killed)")
                    return
                if line is None:  # the worker is gone
                    why = _exit_reason(proc.wait(), errlog)
                    self.fail(target, remaining.pop(current), why)
                    return
                msg = json.loads(line)
                ev = msg["event"]
                if ev == "start":
                    current = msg["cell"]
                    self.progress(target=target, cell=remaining[current])
                    deadline = time.monotonic() + self.opts.timeout
                elif ev == "rows":
                    remaining.pop(msg["cell"], None)
                    self.add_rows(msg["rows"])
                    self.progress(target=target, advance=1)
                    current = next(iter(remaining), None)
                    deadline = time.monotonic() + self.opts.timeout
                elif ev == "peak":
                    self.doc["peaks"][msg["key"]] = msg["value"]
                elif ev == "fatal":
                    for cid in list(remaining):
                        self.fail(target, remaining.pop(cid), msg["error"])
                    return
        except KeyboardInterrupt:
            if current in remaining:
                self.fail(target, remaining.pop(current), "interrupted (Ctrl-C)")
            raise
        finally:
            _kill(proc)
            self.proc = None
            errlog.close()

    def fail(self, target, cell, why):
        self.add_rows([failed_row(cell, target, why)])
        self.progress(target=target, advance=1)


def _pump(stream, q):
    for line in stream:
        if line.strip():
            q.put(line)
    q.put(None)


def _kill(proc: subprocess.Popen):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    proc.wait()


def _exit_reason(code: int, errlog) -> str:
    errlog.seek(0)
    tail = [ln.strip() for ln in errlog.read().splitlines() if ln.strip()]
    how = f"killed by signal {-code} ({signal.Signals(-code).name})" if code < 0 else f"exit status {code}"
    return f"worker died ({how})" + (f": {tail[-1][:300]}" if tail else "")


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_document(opts: Options, probe: dict, avail: dict, targets: list[str]) -> dict:
    return {
        "format": results.FORMAT, "version": results.VERSION,
        "machine": machine.machine_info(probe), "versions": machine.versions(),
        "commit": machine.commit(), "created": _now(), "finished": None, "interrupted": False,
        "command": sys.argv[1:] if sys.argv else None,
        "options": {"techniques": opts.techniques, "targets": targets, "sizes": opts.sizes,
                    "dtype": opts.dtype, "repeat": opts.repeat, "min_time": opts.min_time,
                    "timeout": opts.timeout, "seed": opts.seed},
        "load_average": _load(),  # at the start; a busy machine makes every figure noisy
        "peaks": {}, "targets": {t: {"available": ok, "reason": why} for t, (ok, why) in avail.items()},
        "rows": [],
    }


@dataclass
class Connection:
    """A dask client, the cluster numbabench started (None for --scheduler), and its workers."""

    client: object
    cluster: object | None
    workers: dict

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def prepare(opts: Options, probe: dict | None = None):
    """Validate everything a user asked for before anything is measured or written.

    Returns (plan, document, out path, connection-or-None). Raises NumbabenchError with a
    one-line message. With ``opts.cluster``, the targets are those the cluster's workers offer.
    """
    if opts.techniques is not None:
        for name in opts.techniques:
            get_technique(name)
    if opts.targets is not None:
        for name in opts.targets:
            get_target(name)
    out = Path(opts.out) if opts.out else default_out()
    if out.exists() and out.is_dir():
        raise NumbabenchError(f"--out {out} is a folder; give a file name such as {out / 'results.json'}")
    conn = None
    if opts.cluster is not None:
        from . import cluster

        want_sim = opts.targets is None or "cudasim" in opts.targets
        client, started = cluster.connect(opts.cluster, want_simulator=want_sim)
        conn = Connection(client, started, {})
        try:
            conn.workers = cluster.survey(client, measure_peaks=opts.measure_peak)
            probe = {"cuda": False, "reason": "the cells run on the cluster", "gpu": None,
                     "cupy": False, "cupy_reason": "the cells run on the cluster"}
            avail = cluster.availability_from(conn.workers)
            targets = resolve_targets(opts.targets, avail)
            p = plan(opts, targets, avail)
        except BaseException:
            conn.close()
            raise
        doc = new_document(opts, probe, avail, targets)
        doc["cluster"] = {"scheduler": client.scheduler.address, "workers": conn.workers}
        by_host: dict = {}
        for w in conn.workers.values():
            host = by_host.setdefault(w["host"], {})
            for k, v in w["peaks"].items():
                host[k] = max(host.get(k, 0.0), v)
        doc["peaks"]["by_host"] = by_host
        return p, doc, out, conn
    needs_probe = opts.targets is None or any(get_target(t).uses_gpu for t in opts.targets)
    probe = probe if probe is not None else (probe_gpu() if needs_probe else
                                             {"cuda": False, "reason": "not probed", "gpu": None,
                                              "cupy": False, "cupy_reason": "not probed"})
    avail = availability(probe)
    targets = resolve_targets(opts.targets, avail)
    p = plan(opts, targets, avail)
    return p, new_document(opts, probe, avail, targets), out, None


def measure_cpu_peak(doc: dict) -> None:
    from .peaks import cpu_stream_gbps

    doc["peaks"].update(cpu_stream_gbps())
