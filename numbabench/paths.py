"""Output paths checked before any work starts: a user's bad ``--out`` is one clear line."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import NumbabenchError


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made in ``folder`` (tried for real: permissions, read-only mounts)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".numbabench-check-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


def check_output_file(path, option: str = "--out", example: str = "results.json") -> Path:
    """``path`` must be a file that can be written (made, with its folders, if missing)."""
    path = Path(path)
    if path.is_dir():
        raise NumbabenchError(f"{option} {path} is a folder; give a file name such as {path / example}")
    return _check_folder_for(path, option, path.parent)


def check_output_dir(path, option: str = "--out") -> Path:
    """``path`` must be a folder that can be written into (made if missing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NumbabenchError(f"{option} {path} is a file, not a folder; give a folder for the report")
    _check_folder_for(path, option, path)
    return path


def _check_folder_for(path: Path, option: str, folder: Path) -> Path:
    base = _nearest_existing(folder.resolve() if folder != Path("") else Path.cwd())
    if not base.is_dir():
        raise NumbabenchError(f"{option} {path}: {base} is a file, so no folder can be made under it; "
                              "choose another path")
    if not _can_create_in(base):
        raise NumbabenchError(f"{option} {path}: cannot write in {base} (no permission or read-only); "
                              "choose another path")
    return path
