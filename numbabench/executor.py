"""Where cells run: the executor seam of the sweep.

An executor says which targets it offers (``availability``), adds what the results document
should know about it (``describe``), and runs a plan's cells, handing every row to a sink (the
``runner.Sweep``: ``add_rows``, ``fail``, ``peak``, ``started``, ``done``). ``LocalExecutor`` runs
each process group's cells in worker processes on this machine, one at a time so that no two
timings share cores; ``cluster.DaskExecutor`` runs them as tasks on dask workers.

The local executor survives a worker that raises (the worker reports a failed row), crashes or
hangs past the timeout (the pair it was on is blamed and recorded as failed or timed out, and a
fresh worker takes the rest of the cell and the group's remaining cells) or is interrupted with
Ctrl-C (the cell is recorded as interrupted and the run stops).
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

from .targets import Probe, availability, get_target, probe_gpu

#: how often one cell may take a worker down before its remaining pairs are given up
MAX_TRIES = 3


class LocalExecutor:
    """Worker processes on this machine, one group's worker at a time."""

    def __init__(self, opts, probe: Probe | None = None):
        self.opts = opts
        self.probe = probe
        self.proc: subprocess.Popen | None = None

    def availability(self) -> dict:
        opts = self.opts
        if self.probe is None:
            needs_probe = opts.targets is None or any(get_target(t).uses_gpu for t in opts.targets)
            self.probe = probe_gpu() if needs_probe else Probe.none("not probed")
        elif isinstance(self.probe, dict):
            self.probe = Probe.from_dict(self.probe)
        return availability(self.probe)

    def describe(self, doc: dict) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, plan, sink) -> None:
        from .runner import group_uses_gpu

        for group, cells in plan.cells.items():
            remaining = {c.id: c for c in cells}
            while remaining:
                self._run_worker(group, remaining, sink,
                                 measure_gpu_peak=group_uses_gpu(group) and "gpu_gbps" not in sink.doc["peaks"])

    def _run_worker(self, group: str, remaining: dict, sink, measure_gpu_peak: bool) -> None:
        from .runner import group_env

        opts = self.opts
        job = {"group": group, "cells": [c.to_job() for c in remaining.values()], "seed": opts.seed,
               "min_time": opts.min_time, "repeat": opts.repeat, "measure_gpu_peak": measure_gpu_peak}
        errlog = tempfile.TemporaryFile(mode="w+")
        self.proc = proc = subprocess.Popen(
            [sys.executable, "-m", "numbabench.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=errlog, env=group_env(group), text=True, start_new_session=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        current = remaining[next(iter(remaining))]
        stage, pair = "first", None
        sink.started(current)
        deadline = time.monotonic() + opts.timeout
        try:
            while remaining:
                try:
                    line = lines.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    self._blame(current, stage, pair, remaining, sink,
                                f"timed out after {opts.timeout:g} s (worker killed)")
                    return
                if line is None:  # the worker is gone
                    self._blame(current, stage, pair, remaining, sink, _exit_reason(proc.wait(), errlog))
                    return
                msg = json.loads(line)
                ev = msg["event"]
                if ev == "start":
                    if msg["cell"] != current.id:
                        current = remaining[msg["cell"]]
                        sink.started(current)
                    stage, pair = msg.get("stage", "first"), tuple(msg["pair"]) if msg.get("pair") else None
                    deadline = time.monotonic() + opts.timeout
                elif ev == "rows":
                    done = remaining.pop(msg["cell"])
                    sink.add_rows(msg["rows"])
                    sink.done(done)
                    if remaining:
                        current = remaining[next(iter(remaining))]
                    stage, pair = "first", None
                    deadline = time.monotonic() + opts.timeout
                elif ev == "peak":
                    sink.peak(msg["key"], msg["value"])
                elif ev == "fatal":
                    for cid in list(remaining):
                        cell = remaining.pop(cid)
                        sink.fail(cell, cell.pairs, msg["error"])
                        sink.done(cell)
                    return
        except KeyboardInterrupt:
            if current.id in remaining:
                remaining.pop(current.id)
                sink.fail(current, current.pairs, "interrupted (Ctrl-C)", status="interrupted")
            raise
        finally:
            _kill(proc)
            self.proc = None
            errlog.close()

    @staticmethod
    def _blame(cell, stage: str, pair, remaining: dict, sink, why: str) -> None:
        """The worker died or hung on ``cell``: charge the pair it was on, retry the rest.

        Known pair: that pair fails and the cell runs again without it. During the interleaved
        phase (no single pair to blame): the cell runs again one pair at a time, so that the
        next failure names its pair."""
        cell.tries += 1
        if pair is not None and tuple(pair) in [tuple(p) for p in cell.pairs]:
            cell.pairs = [p for p in cell.pairs if tuple(p) != tuple(pair)]
            sink.fail(cell, [pair], why)
        elif stage == "steady" and cell.interleave:
            cell.interleave = False
        else:
            cell.tries = MAX_TRIES
        if not cell.pairs or cell.tries >= MAX_TRIES:
            remaining.pop(cell.id, None)
            if cell.pairs:
                sink.fail(cell, cell.pairs, why)
            sink.done(cell)


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
