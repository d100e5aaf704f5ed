"""The sweep: plan cells, hand them to an executor, keep every row that arrives.

A *cell* is one technique at one size and dtype on the (target, variant) pairs that share a
process *group*: the host targets (numpy, cpu, parallel) are one group and are timed interleaved;
the real GPU (cuda, cupy) another; the simulator a third; a variant that declares an environment
of its own (a threading layer) gets a group of its own. The results file is rewritten atomically
after every cell, so what was measured is never lost, and everything a user asked for is checked
before anything is measured or written (``prepare``).

Where cells run is the executor's business (``numbabench.executor``): worker processes here, or
tasks on a dask cluster (``numbabench.cluster``).
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import machine, results
from .errors import NumbabenchError, TargetUnavailable
from .registry import get_technique, techniques
from .results import Row
from .targets import TARGETS, get_target


@dataclass
class Options:
    techniques: list[str] | None = None  # None: all
    targets: list[str] | None = None  # None: all available
    variants: list[str] | None = None  # None: every variant a technique has
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
class Cell:
    """The runner's unit of work: one technique, size and dtype on pairs of one process group."""

    id: int
    technique: str
    size: int
    dtype: str
    group: str
    pairs: list = field(default_factory=list)  # [(target, variant), ...]
    interleave: bool = True
    tries: int = 0

    def to_job(self) -> dict:
        d = asdict(self)
        d["pairs"] = [list(p) for p in self.pairs]
        return d

    def key(self) -> dict:
        return {"technique": self.technique, "size": self.size, "dtype": self.dtype}


@dataclass
class Plan:
    cells: dict[str, list[Cell]] = field(default_factory=dict)  # group -> cells
    skipped: list[dict] = field(default_factory=list)  # rows for pairs not run, with the reason

    @property
    def count(self) -> int:
        return sum(len(c) for c in self.cells.values())


# -- process groups ---------------------------------------------------------------------------

def group_of(tech, target: str, variant: str) -> str:
    """The process group a pair runs in: ``host``, ``gpu``, ``cudasim``, or one with its own env."""
    t = get_target(target)
    base = "host" if t.on_host else ("cudasim" if t.simulated else "gpu")
    env = tech.variant_env.get((target, variant))
    if env:
        return base + "|" + ",".join(f"{k}={v}" for k, v in sorted(env.items()))
    return base


def group_env(group: str, base: dict | None = None) -> dict:
    """The environment a worker of ``group`` starts with."""
    env = dict(os.environ if base is None else base)
    kind, _, extra = group.partition("|")
    env["NUMBA_ENABLE_CUDASIM"] = "1" if kind == "cudasim" else "0"
    env.setdefault("PYTHONUNBUFFERED", "1")
    for item in filter(None, extra.split(",")):
        k, _, v = item.partition("=")
        env[k] = v
    return env


def group_uses_gpu(group: str) -> bool:
    return group.partition("|")[0] == "gpu"


# -- validating what was asked -------------------------------------------------------------------

def parse_sizes(text: str) -> str | list[int]:
    """A preset name ('quick', 'full', 'gpu') or a comma list of positive integers (1e6 is fine)."""
    text = text.strip()
    if text in SIZE_PRESETS:
        return text
    sizes = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part.replace("_", ""))
        except ValueError:
            raise NumbabenchError(f"--sizes: {part!r} is not a size; use {', '.join(SIZE_PRESETS)} "
                                  "or N,N,... (e.g. 1000,1e6)") from None
        if value != int(value) or value < 1:
            raise NumbabenchError(f"--sizes: {part!r} must be a whole number of at least 1")
        if value > 1e10:
            raise NumbabenchError(f"--sizes: {part!r} is more elements than any machine here holds "
                                  "(at most 1e10)")
        sizes.append(int(value))
    return sizes


#: the named size sweeps every technique declares (``gpu``: sized for one device-check call)
SIZE_PRESETS = ("quick", "full", "gpu")


def resolve_targets(asked: list[str] | None, avail: dict) -> list[str]:
    if asked is None:
        return [t for t in TARGETS if avail[t][0]]
    for name in asked:
        get_target(name)
        ok, why = avail[name]
        if not ok:
            raise TargetUnavailable(f"target {name!r} is not available here: {why}")
    return list(dict.fromkeys(asked))


def _sizes(tech, target: str, sizes) -> tuple[int, ...]:
    if not isinstance(sizes, str):
        return tuple(sizes)
    if sizes == "gpu" and "gpu" not in (tech.simulator_sizes if get_target(target).simulated else tech.sizes):
        sizes = "quick"  # a technique without a device-check preset runs its quick sizes there
    return tech.sizes_for(target, sizes)


def plan(opts: Options, targets: list[str], avail: dict | None = None) -> Plan:
    names = opts.techniques or techniques()
    techs = [get_technique(n) for n in names]
    if opts.dtype is not None:
        for t in techs:
            if opts.dtype not in t.dtypes:
                raise NumbabenchError(f"technique {t.name!r} has no dtype {opts.dtype!r}; its dtypes: {', '.join(t.dtypes)}")
    if opts.variants is not None:
        known = {v for t in techs for target in t.targets for v in t.variants_for(target)}
        for v in opts.variants:
            if v not in known:
                raise NumbabenchError(f"--variants: no chosen technique has a variant {v!r}; "
                                      f"known variants: {', '.join(sorted(known))}")
    p = Plan()
    n = 0
    ram = machine.memory_bytes()
    for tech in techs:
        dtype = opts.dtype or tech.default_dtype()
        if ram and not isinstance(opts.sizes, str):
            for size in opts.sizes:
                need = tech.bytes_moved(size, dtype) * 2  # inputs, outputs and the reference
                if need > ram:
                    raise NumbabenchError(
                        f"--sizes {size:,}: {tech.name} would need about {need / 2**30:.0f} GiB and this "
                        f"machine has {ram / 2**30:.0f} GiB; choose a smaller size")
        cells: dict[tuple[str, int], Cell] = {}
        for target in targets:
            if target not in tech.targets:
                continue
            sim = get_target(target).simulated
            needed = tech.needs.get(target)
            missing = needed and avail is not None and not avail.get(needed, (False,))[0]
            for variant in tech.variants_for(target):
                if opts.variants is not None and variant not in opts.variants:
                    continue
                group = group_of(tech, target, variant)
                for size in _sizes(tech, target, opts.sizes):
                    key = {"technique": tech.name, "size": size, "dtype": dtype}
                    if missing:
                        p.skipped.append(Row.failed(key, target, (
                            f"{tech.name}'s {target} variant needs target {needed!r}, which is not available "
                            f"here: {avail[needed][1]}"), status="skipped", variant=variant).to_dict())
                        continue
                    if sim and size > tech.simulator_max_size:
                        p.skipped.append(Row.failed(key, target, (
                            f"size {size:,} is too large for the simulator (at most {tech.simulator_max_size:,}: "
                            "it runs one Python thread per CUDA thread)"), status="skipped",
                            variant=variant).to_dict())
                        continue
                    cell = cells.get((group, size))
                    if cell is None:
                        cell = cells[(group, size)] = Cell(n, tech.name, size, dtype, group)
                        n += 1
                        p.cells.setdefault(group, []).append(cell)
                    cell.pairs.append((target, variant))
    if not p.cells and not p.skipped:
        raise NumbabenchError("nothing to run: none of the chosen techniques has a variant for the chosen targets")
    return p


def default_out() -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{machine.machine_name()}-{stamp}.json"


# -- the sink: rows into the results document, on disk after every cell -----------------------

class Sweep:
    """Runs a plan on an executor and keeps the results document up to date on disk."""

    def __init__(self, opts: Options, plan: Plan, doc: dict, out: Path, progress=None, executor=None):
        self.opts, self.plan, self.doc, self.out = opts, plan, doc, out
        self.progress = progress or (lambda **kw: None)
        if executor is None:
            from .executor import LocalExecutor

            executor = LocalExecutor(opts)
        self.executor = executor

    def add_rows(self, rows):
        self.doc["rows"].extend(r.to_dict() if isinstance(r, Row) else r for r in rows)
        self.save()

    def fail(self, cell: Cell, pairs, why: str, status: str = "failed"):
        """Rows for ``pairs`` of ``cell`` that gave no figure, with the reason."""
        self.add_rows([Row.failed(cell.key(), t, why, status=status, variant=v) for t, v in pairs])

    def peak(self, key: str, value: float):
        self.doc["peaks"][key] = value

    def done(self, cell: Cell):
        self.progress(cell=cell, advance=1)

    def started(self, cell: Cell):
        self.progress(cell=cell)

    def save(self):
        results.derive(self.doc["rows"], self.doc["peaks"])
        results.write_atomic(self.out, self.doc)

    def run(self) -> dict:
        self.add_rows(self.plan.skipped)
        try:
            self.executor.run(self.plan, self)
        except KeyboardInterrupt:
            self.doc["interrupted"] = True
            raise
        finally:
            self.doc["finished"] = _now()
            self.save()
        return self.doc


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_document(opts: Options, probe, avail: dict, targets: list[str]) -> dict:
    return {
        "format": results.FORMAT, "version": results.VERSION,
        "machine": machine.machine_info(probe), "versions": machine.versions(),
        "commit": machine.commit(), "created": _now(), "finished": None, "interrupted": False,
        "command": sys.argv[1:] if sys.argv else None,
        "options": {"techniques": opts.techniques, "targets": targets, "variants": opts.variants,
                    "sizes": opts.sizes, "dtype": opts.dtype, "repeat": opts.repeat,
                    "min_time": opts.min_time, "timeout": opts.timeout, "seed": opts.seed},
        "load_average": _load(),  # at the start; a busy machine makes every figure noisy
        "peaks": {}, "targets": {t: {"available": ok, "reason": why} for t, (ok, why) in avail.items()},
        "rows": [],
    }


@dataclass
class Prepared:
    """What ``prepare`` checked and built: the plan, the document, where it goes, where it runs."""

    plan: Plan
    doc: dict
    out: Path
    executor: object

    def __iter__(self):  # (plan, doc, out, executor), as older callers unpack it
        return iter((self.plan, self.doc, self.out, self.executor))


def prepare(opts: Options, probe=None) -> Prepared:
    """Validate everything a user asked for before anything is measured or written.

    Raises NumbabenchError with a one-line message. The executor (local worker processes, or the
    dask cluster of ``opts.cluster``) says which targets are available.
    """
    from .paths import check_output_file

    if opts.techniques is not None:
        for name in opts.techniques:
            get_technique(name)
    if opts.targets is not None:
        for name in opts.targets:
            get_target(name)
    out = check_output_file(Path(opts.out) if opts.out else default_out())
    if opts.cluster is not None:
        from .cluster import DaskExecutor

        executor = DaskExecutor(opts)
    else:
        from .executor import LocalExecutor

        executor = LocalExecutor(opts, probe=probe)
    try:
        avail = executor.availability()
        targets = resolve_targets(opts.targets, avail)
        p = plan(opts, targets, avail)
        doc = new_document(opts, executor.probe, avail, targets)
        executor.describe(doc)
    except BaseException:
        executor.close()
        raise
    return Prepared(p, doc, out, executor)


def measure_cpu_peak(doc: dict) -> None:
    """STREAM (the DRAM peak) and the L2/L3 read peaks: a row is held against the level its
    working set fits in."""
    from .peaks import cpu_cache_gbps, cpu_stream_gbps

    doc["peaks"].update(cpu_stream_gbps())
    doc["peaks"].update(cpu_cache_gbps())
