"""Scale out: the sweep as tasks on a ``dask.distributed`` cluster, one report for many machines.

``numbabench run --cluster local[:N]`` starts a cluster of N worker processes on this machine;
``numbabench run --scheduler ADDRESS`` uses a cluster you started. Every (technique, target, size)
cell is one task. The task carries the technique object itself, pickled by cloudpickle as dask
does for every task (article item 6 is the transport): a technique defined in an importable module
travels by reference and is imported on the worker; one defined in a notebook travels by value.

Each worker says what it has (``describe_worker``): host, CPU, GPU, the targets it can run and its
own bandwidth peaks, measured one worker at a time so the figures do not share cores. A worker is
either a real-GPU process or a simulator process, because numba.cuda picks the simulator when it is
imported: start a worker with ``NUMBA_ENABLE_CUDASIM=1`` in its environment to give it the
``cudasim`` target (``NUMBA_ENABLE_CUDASIM=1 dask worker tcp://scheduler:8786 --nthreads 1``);
``--cluster local:N`` makes its last worker a simulator worker when ``cudasim`` is asked for.
numbabench places the tasks itself: each goes to an idle worker that offers its target, one task
per worker at a time, pinned there by that worker's own dask resource (``numbabench-worker-<name>``,
plus ``numbabench-target-<target>``). ``--cluster local`` gives its workers these resources at start,
so a worker that dies comes back under its nanny with them; on a cluster of your own, numbabench
declares them on each worker it finds (a worker restarted without them is not used again, and its
cells fail after ``--timeout``; give workers a fixed ``--name`` and start them with
``--resources numbabench-worker-NAME=1,...`` to survive restarts).
Workers should run one thread (``--nthreads 1``) so that one timing runs at a time per worker.

A task that raises gives a failed row. A worker that dies mid-task costs that task only: dask
retries it once on another worker (``allowed-failures``), then the cell is recorded as failed.
A cell that takes longer than ``--timeout`` is cancelled, its worker restarted, and the cell
recorded as timed out.

Security: a pickle is code. Anyone who can submit to the scheduler can run anything on its workers,
and numbabench sends and accepts pickles only through dask's own connections (it never loads a
pickle from a file or a socket of its own). Use a cluster you trust; when the scheduler is not on
loopback, run dask with TLS (``distributed.security.Security``; ``dask scheduler --tls-ca-file ...
--tls-cert ... --tls-key ...``, the same on workers, and a ``tls://`` address here, with the client
certificates in dask's config ``distributed.comm.tls.*``).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace

from .errors import NumbabenchError

LOCAL_DEFAULT_WORKERS = 2


@dataclass
class ClusterSpec:
    scheduler: str | None = None  # address of an existing scheduler
    local_workers: int | None = None  # start a LocalCluster-like cluster of this many workers


def parse_cluster(text: str) -> int:
    """``local`` or ``local:N`` -> N worker processes."""
    kind, _, n = text.partition(":")
    if kind != "local":
        raise NumbabenchError(f"--cluster {text!r}: use local or local:N (N worker processes); "
                              "for a cluster of your own, give --scheduler ADDRESS")
    if not n:
        return LOCAL_DEFAULT_WORKERS
    if not n.isdigit() or int(n) < 1:
        raise NumbabenchError(f"--cluster {text!r}: N must be a whole number of at least 1")
    return int(n)


def _require_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise NumbabenchError("--cluster and --scheduler need dask.distributed: "
                              "pip install 'numbabench[dist]'") from None


def connect(spec: ClusterSpec, want_simulator: bool, connect_timeout: float = 5.0):
    """(client, cluster-or-None). Raises NumbabenchError if the scheduler cannot be reached."""
    _require_distributed()
    import dask
    from distributed import Client

    dask.config.set({"distributed.scheduler.allowed-failures": 1,  # a worker death: one retry
                     # one task in flight per worker thread, so a dying worker takes only the task
                     # it was running with it (a queued one would be blamed too)
                     "distributed.scheduler.worker-saturation": 1.0,
                     "distributed.admin.tick.limit": "1h"})  # long timings are not event-loop stalls
    if spec.scheduler:
        try:
            return Client(spec.scheduler, timeout=connect_timeout, set_as_default=False), None
        except (OSError, TimeoutError) as exc:
            raise NumbabenchError(f"cannot reach a dask scheduler at {spec.scheduler} within "
                                  f"{connect_timeout:g} s ({type(exc).__name__}); is it running?") from None
    cluster = start_local(spec.local_workers or LOCAL_DEFAULT_WORKERS, want_simulator)
    return Client(cluster, set_as_default=False), cluster


def resource(target: str) -> str:
    """The dask worker resource that says a worker offers ``target`` (tasks ask for 1 of it)."""
    return f"numbabench-target-{target}"


def worker_resource(name) -> str:
    """The resource only worker ``name`` has: numbabench pins each task to the worker it chose."""
    return f"numbabench-worker-{name}"


def start_local(n: int, simulator_worker: bool):
    """A cluster of ``n`` one-thread worker processes on loopback; the last one runs the
    simulator when ``simulator_worker`` (its environment has NUMBA_ENABLE_CUDASIM=1).

    Target resources are given to the nannies, so a worker that dies comes back with them."""
    from distributed import Nanny, Scheduler, SpecCluster

    from .targets import HOST_TARGETS, probe_gpu

    probe = probe_gpu()
    real = list(HOST_TARGETS) + (["cuda"] if probe.cuda else []) + (["cupy"] if probe.cupy else [])
    workers = {}
    for i in range(n):
        sim = simulator_worker and i == n - 1
        offers = [*HOST_TARGETS, "cudasim"] if sim else real
        name = f"{'sim' if sim else 'worker'}-{i}"
        workers[name] = {
            "cls": Nanny,
            "options": {"nthreads": 1, "env": {"NUMBA_ENABLE_CUDASIM": "1" if sim else "0"},
                        "resources": {**{resource(t): 1 for t in offers}, worker_resource(name): 1},
                        "host": "127.0.0.1", "silence_logs": logging.ERROR, "memory_limit": 0},
        }
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": None}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR)


# -- on the workers --------------------------------------------------------------------------

def describe_worker(measure_peaks: bool = True, dask_worker=None) -> dict:
    """What this worker process is and can run (called on every worker)."""
    from . import machine
    from .targets import HOST_TARGETS, simulator_active

    sim = simulator_active()
    targets = list(HOST_TARGETS)
    gpu = None
    if sim:
        targets.append("cudasim")
    else:
        from .worker import probe

        p = probe()
        if p.cuda:
            targets.append("cuda")
            gpu = p.gpu
            if p.cupy:
                targets.append("cupy")
    peaks = {}
    if measure_peaks:
        from .peaks import cpu_stream_gbps, gpu_copy_gbps

        peaks.update(cpu_stream_gbps())
        if gpu:
            peaks["gpu_gbps"] = gpu_copy_gbps()
    return {"name": dask_worker.name if dask_worker is not None else None, "host": machine.machine_name(),
            "cpu": machine.cpu_model(), "cores": machine.cores(),
            "gpu": gpu, "simulator": sim, "targets": targets, "peaks": peaks, "pid": os.getpid(),
            "versions": machine.versions()}


_COMPILED: set = set()  # what this worker process has compiled: its first call reports compile


def run_cell_task(technique, cell: dict, job: dict) -> list[dict]:
    """One cell on this worker, in this process: the rows, tagged with where they ran."""
    from distributed import get_worker

    from . import machine
    from .fmt import first_line
    from .results import Row
    from .worker import Worker

    try:
        rows = [r.to_dict() for r in Worker(job, compiled=_COMPILED).measure(cell, technique)]
    except Exception as exc:
        rows = [Row.failed(cell, t, first_line(exc), variant=v).to_dict() for t, v in cell["pairs"]]
    w = get_worker()
    tag = {"host": machine.machine_name(), "worker": w.name, "worker_address": w.address,
           "worker_cpu": machine.cpu_model()}
    for r in rows:
        r.update(tag)
    return rows


# -- in the runner ----------------------------------------------------------------------------

def survey(client, measure_peaks: bool = True) -> dict:
    """address -> describe_worker(), asked of one worker at a time (peaks must not share cores)."""
    client.wait_for_workers(1, timeout=60)
    caps = {}
    for addr, info in sorted(client.scheduler_info()["workers"].items()):
        caps[addr] = client.run(describe_worker, measure_peaks, workers=[addr])[addr]
        declared = info.get("resources") or {}
        wanted = {resource(t): 1 for t in caps[addr]["targets"]}
        wanted[worker_resource(caps[addr]["name"])] = 1
        missing = {k: v for k, v in wanted.items() if k not in declared}
        if missing:  # a worker of your own cluster: route by what it says it can run
            client.run(_declare_resources, missing, workers=[addr])
    return caps


async def _declare_resources(resources: dict, dask_worker=None) -> None:
    await dask_worker.set_resources(**{**dask_worker.state.total_resources, **resources})


def availability_from(caps: dict) -> dict[str, tuple[bool, str | None]]:
    from .targets import TARGETS

    offered = {t for c in caps.values() for t in c["targets"]}
    return {t: (True, None) if t in offered else
            (False, "no worker of the cluster offers it" + (
                "; start a worker with NUMBA_ENABLE_CUDASIM=1 for cudasim" if t == "cudasim" else ""))
            for t in TARGETS}


class DaskExecutor:
    """The cells as tasks on a dask cluster: one started here (``--cluster local[:N]``) or yours.

    A process group's environment cannot be chosen per task on a dask worker: a variant that asks
    for its own (a threading layer) runs in the worker's, and its rows record what it ran with."""

    def __init__(self, opts):
        from .targets import Probe

        self.opts = opts
        want_sim = opts.targets is None or "cudasim" in opts.targets
        self.client, self.cluster = connect(opts.cluster, want_simulator=want_sim)
        self.probe = Probe.none("the cells run on the cluster")
        try:
            self.workers = survey(self.client, measure_peaks=opts.measure_peak)
        except BaseException:
            self.close()
            raise

    def availability(self) -> dict:
        return availability_from(self.workers)

    def describe(self, doc: dict) -> None:
        doc["cluster"] = {"scheduler": self.client.scheduler.address, "workers": self.workers}
        by_host: dict = {}
        for w in self.workers.values():
            host = by_host.setdefault(w["host"], {})
            for k, v in w["peaks"].items():
                host[k] = max(host.get(k, 0.0), v)
        doc["peaks"]["by_host"] = by_host

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def run(self, plan, sink) -> None:
        run_on_cluster(plan, sink, self.client, self.workers, self.opts)


def run_on_cluster(plan, sink, client, caps: dict, opts) -> None:
    """Hand every planned cell to an idle worker that offers its targets; add rows as they arrive.

    numbabench does the placing itself, one task per worker at a time, each task pinned to its
    worker by that worker's own resource (``numbabench-worker-<name>``): so no two timings share a
    worker, and when a worker dies, only the task it was running is blamed (dask counts every task
    assigned to a dying worker as suspect). A nanny brings a dead worker back under the same name
    and resources, and the task is retried there once (dask's ``allowed-failures``). Cells that use
    a real GPU never run two at once on one host: they would share its one device.
    """
    from .registry import get_technique
    from .runner import group_uses_gpu

    job = {"seed": opts.seed, "min_time": opts.min_time, "repeat": opts.repeat}
    offers = {c["name"]: set(c["targets"]) for c in caps.values()}
    host_of = {c["name"]: c["host"] for c in caps.values()}
    queue = []
    for cells in plan.cells.values():
        for cell in cells:
            need = {t for t, _ in cell.pairs}
            if any(need <= t for t in offers.values()):
                queue.append(cell)
            else:
                sink.fail(cell, cell.pairs, "no worker of the cluster offers these targets together")
                sink.done(cell)
    pending: dict = {}  # future -> (cell, worker name)
    retried: dict = {}

    def dispatch():
        busy = {w for _, w in pending.values()}
        gpu_hosts = {host_of[w] for c, w in pending.values() if group_uses_gpu(c.group)}
        for name, targets in offers.items():
            if name in busy:
                continue
            pick = next((i for i, c in enumerate(queue) if {t for t, _ in c.pairs} <= targets
                         and not (group_uses_gpu(c.group) and host_of[name] in gpu_hosts)), None)
            if pick is None:
                continue
            cell = queue.pop(pick)
            if group_uses_gpu(cell.group):
                gpu_hosts.add(host_of[name])
            res = {worker_resource(name): 1, **{resource(t): 1 for t, _ in cell.pairs}}
            fut = client.submit(run_cell_task, get_technique(cell.technique), cell.to_job(), job,
                                resources=res, pure=False,
                                key=f"numbabench-{cell.group.partition('|')[0]}-{cell.id}-{time.time_ns()}")
            pending[fut] = (cell, name)
            sink.started(cell)

    deadline = time.monotonic() + opts.timeout
    try:
        dispatch()
        while pending:
            done = [f for f in pending if f.done()]
            if not done:
                if time.monotonic() > deadline:  # nothing finished for a whole timeout: stuck
                    _cancel_stuck(sink, client, pending, opts.timeout)
                    deadline = time.monotonic() + opts.timeout
                    dispatch()
                time.sleep(0.05)
                continue
            deadline = time.monotonic() + opts.timeout
            for fut in done:
                cell, name = pending.pop(fut)
                if fut.status == "finished":
                    try:
                        sink.add_rows(fut.result(timeout=opts.timeout))
                        sink.done(cell)
                        continue
                    except Exception:  # its result died with its worker before we fetched it
                        pass
                exc = fut.exception() if fut.status == "error" else None
                died = fut.status != "error" or type(exc).__name__ == "KilledWorker"
                if died and len(cell.pairs) > 1:
                    # a dying worker cannot say which pair killed it: each pair alone, then
                    queue[:0] = [replace(cell, pairs=[pair], interleave=False) for pair in cell.pairs]
                elif fut.status != "error" and retried.get((cell.id, tuple(cell.pairs)), 0) < 1:
                    retried[(cell.id, tuple(cell.pairs))] = 1
                    queue.insert(0, cell)
                else:
                    why = ("the dask worker running it died twice (KilledWorker)"
                           if type(exc).__name__ == "KilledWorker" else
                           f"{type(exc).__name__}: {exc}" if exc else f"its result was lost twice ({fut.status})")
                    sink.fail(cell, cell.pairs, why)
                    sink.done(cell)
            dispatch()
    finally:
        for fut in pending:
            fut.cancel()


def _cancel_stuck(sink, client, pending: dict, timeout: float) -> None:
    try:  # what each worker is executing right now (its event loop answers while a task runs)
        executing = client.run(_executing)
    except Exception:  # a worker that does not answer: fall back to what the scheduler assigned
        executing = {a: keys[:1] for a, keys in client.processing().items()}
    stuck_workers = set()
    running = {k for keys in executing.values() for k in keys}
    for fut, (cell, _) in list(pending.items()):
        where = [addr for addr, keys in executing.items() if fut.key in keys]
        if where or not running:  # stuck here, or nothing runs at all: no able worker is left
            fut.cancel()
            pending.pop(fut)
            stuck_workers.update(where)
            why = (f"timed out after {timeout:g} s (task cancelled, worker restarted)" if where else
                   f"no worker offering its targets ran it within {timeout:g} s")
            sink.fail(cell, cell.pairs, why)
            sink.done(cell)
    if stuck_workers:
        client.restart_workers(list(stuck_workers))


def _executing(dask_worker) -> list:
    return [ts.key for ts in dask_worker.state.executing]
