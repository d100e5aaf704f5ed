"""The environment cards: what ran where, one card per machine and kind of results.

A card of ``numbabench run`` results says the CPU, cores, GPU, driver, versions, commit, peaks,
load, the settings rows ran with (the threading layer, said when it differs between rows) and,
when the results document carries them, the PTX layer's registers and spills per kernel. A card
of asv results says the same from asv's machine.json and numbabench's note beside the results.
"""
from __future__ import annotations

from pathlib import Path

from .model import Collection, Source, fmt_size, slot_label


def cards(coll: Collection, machines: list[str]) -> list[dict]:
    out = []
    for m in machines:
        runs = [s for s in coll.sources if s.machine == m and s.kind == "run"]
        asvs = [s for s in coll.sources if s.machine == m and s.kind == "asv"]
        if runs:
            out.append(run_card(coll, m, runs))
        if asvs:
            out.append(asv_card(m, asvs))
    return out


def _gpu_text(i: dict) -> str:
    gpu = i.get("gpu")
    if not gpu:
        return "none"
    return (f"{gpu}, compute capability {i.get('compute_capability') or '?'}"
            + (f", {i['gpu_memory_gib']} GiB" if i.get("gpu_memory_gib") else ""))


def run_card(coll: Collection, machine: str, runs: list[Source]) -> dict:
    s = max(runs, key=lambda s: s.date or "")
    i, v = s.info, s.versions
    cores = i.get("cores") or {}
    fields = [
        ("CPU", i.get("cpu") or "?"),
        ("cores", f"{cores.get('usable', '?')} usable of {cores.get('logical', '?')} logical"
         if isinstance(cores, dict) else str(cores)),
        ("OS", i.get("os") or "?"),
        ("GPU", _gpu_text(i)),
        ("driver / NVRTC", f"{i.get('driver') or '-'} / {i.get('nvrtc') or i.get('cuda_runtime') or '-'}" if i.get("gpu") else "-"),
    ]
    if i.get("threading_layer"):
        fields.append(("Numba threads", str(i["threading_layer"])))
    fields += row_settings(coll, machine)
    fields += [(k, v.get(k) or "not installed") for k in ("python", "numpy", "numba", "numba-cuda", "cupy")]
    fields += [("commit", (s.commit or "unknown")[:12] + (" (+dirty)" if s.commit and "dirty" in s.commit else "")),
               ("date", s.date or "?")]
    if s.peaks:
        fields.append(("peaks", ", ".join(f"{k} {val:.1f} GB/s" for k, val in s.peaks.items())))
    if s.load_average:
        usable = cores.get("usable") if isinstance(cores, dict) else None
        busy = usable and s.load_average[0] > usable
        fields.append(("load average", " ".join(f"{x:g}" for x in s.load_average)
                       + (f": busier than its {usable} cores, figures are noisy" if busy else "")))
    if s.interrupted:
        fields.append(("note", "this run was interrupted: some cells are missing"))
    if len(runs) > 1:
        fields.append(("results files", str(len(runs))))
    if s.ptx_error:
        fields.append(("PTX layer", f"not checked: {s.ptx_error}"))
    return {"title": machine, "kind": f"numbabench run · {Path(s.path).name}", "fields": fields,
            "ptx": ptx_table(s.ptx)}


def row_settings(coll: Collection, machine: str) -> list[tuple[str, str]]:
    """The threading layer and settings each slot's rows ran with, where rows carry them; a field
    that says so when the layer differs between rows (a figure may owe something to it)."""
    df = coll.table
    d = df[(df.machine == machine) & (df.origin == "run") & (df.status.isin(["ok", "wrong"]))]
    layers: dict[str, set] = {}
    settings: dict[str, set] = {}
    several = d.groupby("target").variant.nunique().to_dict() if not d.empty else {}
    for r in d.itertuples():
        label = slot_label(r.target, r.variant, several.get(r.target, 1) > 1)
        if isinstance(r.threading_layer, str) and r.threading_layer:
            layers.setdefault(r.threading_layer, set()).add(label)
        if isinstance(r.env, dict) and r.env:
            text = " ".join(f"{k}={val}" for k, val in sorted(r.env.items()))
            settings.setdefault(text, set()).add(label)
    out = []
    if len(layers) > 1:
        out.append(("threading layer", "differs between rows: " + "; ".join(
            f"{layer} ({', '.join(sorted(labels))})" for layer, labels in sorted(layers.items()))))
    elif layers:
        (layer, labels), = layers.items()
        out.append(("threading layer", f"{layer} ({', '.join(sorted(labels))})"))
    if settings:
        out.append(("row settings", "; ".join(f"{', '.join(sorted(labels))}: {text}"
                                              for text, labels in sorted(settings.items()))))
    return out


def ptx_table(ptx: list) -> list[dict]:
    """The PTX layer's kernels for the card: one line per kernel, signature and compute capability.

    Reads both spellings of a kernel: ``{kernel, cc, registers, spills, ok, reason}`` and
    ``numbabench.ptx.PTXResult.to_dict()`` (``technique``, ``signature``, ``spill_bytes``, ``error``)."""
    out = []
    for k in ptx or []:
        regs = k.get("registers")
        spills = k.get("spills", k.get("spill_bytes"))
        ok = bool(k.get("ok")) and not spills
        why = k.get("reason") or k.get("error") or ("spills registers to local memory" if spills else "")
        name = ".".join(str(x) for x in (k.get("technique"), k.get("kernel") or "?") if x)
        if k.get("signature"):
            name += f"({k['signature']})"
        out.append({"kernel": name, "cc": str(k.get("cc") or "?"),
                    "registers": "-" if regs is None else str(regs), "spills": "-" if spills is None else str(spills),
                    "ok": ok, "why": str(why)})
    return sorted(out, key=lambda r: (r["kernel"], r["cc"]))


def asv_card(machine: str, asvs: list[Source]) -> dict:
    newest_first = sorted(asvs, key=lambda s: (s.date or "", bool(s.info.get("gpu"))), reverse=True)
    s = newest_first[0]
    i: dict = {}  # each fact from the newest results file that has it (a note may sit beside only some)
    for x in reversed(newest_first):
        i.update({k: v for k, v in x.info.items() if v not in (None, "", {})})
    if any(x.info.get("has_note") for x in asvs):
        i["has_note"] = True
    peaks = next((x.peaks for x in newest_first if x.peaks), {})
    commits = sorted({x.commit for x in asvs if x.commit})
    versions = sorted({x.versions.get("numba") for x in asvs if x.versions.get("numba")})
    cores = i.get("cores") or {}
    gpu = i.get("gpu")
    fields = [
        ("CPU", i.get("cpu") or "?"),
        ("cores", f"{cores.get('usable')} usable of {cores.get('logical', '?')} logical"
         if isinstance(cores, dict) and cores.get("usable") else str(cores.get("logical") or "?")),
        ("OS", i.get("os") or "?"),
        ("RAM", _ram(i.get("ram"))),
        ("GPU", (f"{gpu}, compute capability {i.get('compute_capability') or '?'}" if gpu
                 else "none" if i.get("has_note") else "not recorded (no numbabench note beside the results)")),
    ]
    if gpu:
        fields.append(("driver / NVRTC", f"{i.get('driver') or '-'} / {i.get('nvrtc') or i.get('cuda_runtime') or '-'}"))
    fields += [("python", next((x.versions["python"] for x in newest_first if x.versions.get("python")), "?")),
               ("numba", ", ".join(versions) or "not recorded"),
               ("environments", ", ".join(sorted({x.env for x in asvs if x.env}))),
               ("commits", f"{len(commits)} (newest {(s.commit or '?')[:8]}, {s.date or '?'})")]
    if peaks:
        fields.append(("peaks", ", ".join(f"{k} {val:.1f} GB/s" for k, val in peaks.items()
                                          if isinstance(val, (int, float)))))
    return {"title": machine, "kind": f"asv · {fmt_size(len(asvs))} results file{'s' if len(asvs) != 1 else ''}",
            "fields": fields, "ptx": []}


def _ram(value) -> str:
    """asv's machine.json gives RAM as a string: bytes (asv 0.6), kB in older files."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return str(value or "?")
    return f"{n / (2**30 if n > 2**32 else 2**20):.1f} GiB"
