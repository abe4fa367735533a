"""Where the embedded default keeps its data: one folder, found the same way by every
command (as git finds ``.git``, as uv finds ``.venv``).

First match wins:

1. ``PHAROS_DATA_DIR``, when set (read by the settings);
2. a project-local ``.pharos`` folder: the nearest one in the current directory or one
   of its parents (what ``scripts/quickstart PATH --local`` makes);
3. the user's folder, ``~/.pharos``.

The folder holds the SQLite metadata file, the local Qdrant directory and the parse
cache. ``pharos info`` prints it and why it was chosen; messages that say "nothing
stored" name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LOCAL_NAME = ".pharos"
ENV = "PHAROS_DATA_DIR"


def user_data_dir() -> Path:
    return Path("~").expanduser() / LOCAL_NAME


def project_data_dir(cwd: Path | None = None) -> Path | None:
    """The nearest ``.pharos`` folder in ``cwd`` or its parents, or None."""
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / LOCAL_NAME
        if candidate.is_dir():
            return candidate
    return None


def default_data_dir() -> Path:
    """Rules 2 and 3 (the settings apply rule 1)."""
    return project_data_dir() or user_data_dir()


@dataclass(frozen=True, slots=True)
class DataFolder:
    path: Path
    why: str  # set by PHAROS_DATA_DIR | project-local | the user's folder

    def __str__(self) -> str:
        return f"{self.path} ({self.why})"


def describe(path: Path) -> DataFolder:
    """``path`` (the settings' ``data_dir``) with the rule that chose it."""
    path = Path(path).expanduser()
    if path != default_data_dir():
        return DataFolder(path, f"set by {ENV}")
    if path == user_data_dir():
        return DataFolder(path, "the user's folder")
    return DataFolder(path, "project-local: the nearest .pharos folder here or above")
