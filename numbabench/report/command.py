"""``numbabench report [RESULTS.json ...] [--asv RESULTS_DIR] [--out DIR]``.

With no arguments: the newest ``results/<this machine>-*.json`` and ``.asv/results`` when it
exists, else the asv history committed under ``reports/<this machine>/asv``. Prints the path of the page it wrote. A missing, corrupt or foreign file is one line and
exit status 2 (``NumbabenchError``, printed by the CLI).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import NumbabenchError

DEFAULT_ASV = Path(".asv") / "results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Turn results files of `numbabench run` and asv results folders into one "
                          "self-contained HTML page with plots (reports/<machine>/index.html).")
    parser.add_argument("results", nargs="*", type=Path, metavar="RESULTS.json",
                        help="results files of `numbabench run` (default: the newest of this machine under "
                             "results/); a folder is read as asv results")
    parser.add_argument("--asv", action="append", type=Path, default=None, metavar="RESULTS_DIR",
                        help="an asv results folder (e.g. .asv/results); may be given more than once "
                             "(default with no RESULTS: .asv/results if it exists, else the history committed "
                             "under reports/<machine>/asv)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for index.html and the figures (default reports/<machine>)")


def newest_results(folder: Path = Path("results")) -> Path | None:
    """The newest results file of this machine under ``folder`` (by the name's timestamp, then mtime)."""
    from ..machine import machine_name

    files = [p for p in folder.glob(f"{machine_name()}-*.json") if p.is_file()]
    if not files:
        return None
    return max(files, key=lambda p: (p.stat().st_mtime, p.name))


def committed_history(reports: Path = Path("reports")) -> Path | None:
    """The asv history committed for this machine (``reports/<machine>/asv``), if there is one."""
    from ..machine import machine_name

    folder = reports / machine_name() / "asv"
    return folder if folder.is_dir() and any(folder.rglob("machine.json")) else None


def resolve_inputs(args) -> tuple[list[Path], list[Path]]:
    results: list[Path] = []
    asv: list[Path] = list(args.asv or [])
    for p in args.results:
        if p.is_dir():
            asv.append(p)  # an asv results folder given without --asv
        else:
            results.append(p)
    if not args.results and not args.asv:
        newest = newest_results()
        if newest is not None:
            results.append(newest)
        committed = committed_history()
        if DEFAULT_ASV.is_dir() and any(DEFAULT_ASV.glob("*/machine.json")):
            asv.append(DEFAULT_ASV)
        elif committed is not None:
            asv.append(committed)
        if not results and not asv:
            from ..machine import machine_name

            raise NumbabenchError(
                f"nothing to report: no results/{machine_name()}-*.json and no .asv/results here; "
                "run `numbabench run` first, or name a results file")
    return results, asv


def run(args) -> int:
    from ..paths import check_output_dir
    from . import build

    if args.out is not None:
        check_output_dir(args.out)  # a bad --out is one line before anything is read
    results, asv = resolve_inputs(args)
    page = build(results=results, asv=asv, out=args.out)
    print(f"report: {page}")
    return 0
