"""Where the embedded default keeps its data: one folder, found the same way by every
command (as git finds ``.git``, as uv finds ``.venv``).

First match wins:

1. ``PHAROS_DATA_DIR``, when set (read by the settings);
2. a project-local ``.pharos`` folder: the nearest one in the current directory or one
   of its parents, **if the user trusts it** (``pharos info --trust-here`` lists it in
   ``~/.pharos/trusted-folders``);
3. the user's folder, ``~/.pharos``.

Why trust: the local vector store is qdrant-client's local mode, which unpickles what
the folder holds when it opens it. A ``.pharos`` folder that arrived inside a cloned
repository would run its author's code as soon as any ``pharos`` opened it from there,
so an untrusted one is ignored (``pharos info`` says so), as git ignores a repository's
own hooks and direnv an ``.envrc`` nobody allowed.

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


TRUST_FILE = "trusted-folders"


def trust_file() -> Path:
    return user_data_dir() / TRUST_FILE


def trusted_folders() -> set[str]:
    try:
        lines = trust_file().read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    return {line.strip() for line in lines if line.strip()}


def nearest_local(cwd: Path | None = None) -> Path | None:
    """The nearest ``.pharos`` folder in ``cwd`` or its parents, trusted or not."""
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / LOCAL_NAME
        if candidate.is_dir() and not candidate.is_symlink():
            return candidate
    return None


def project_data_dir(cwd: Path | None = None) -> Path | None:
    """The nearest ``.pharos`` folder in ``cwd`` or its parents, if trusted, or None."""
    candidate = nearest_local(cwd)
    if candidate is None:
        return None
    if candidate.resolve() == user_data_dir().resolve():
        return candidate
    return candidate if str(candidate.resolve()) in trusted_folders() else None


def trust(folder: Path) -> Path:
    """Add ``folder`` (a ``.pharos`` folder, made if missing) to the user's trust list."""
    folder = Path(folder).resolve()
    folder.mkdir(mode=0o700, exist_ok=True)
    listed = trusted_folders()
    if str(folder) not in listed:
        user_data_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(trust_file(), "a", encoding="utf-8") as fh:
            fh.write(f"{folder}\n")
    return folder


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
    return DataFolder(path, "project-local: the nearest trusted .pharos folder here or above")


def untrusted_nearby() -> Path | None:
    """A ``.pharos`` folder here or above that is ignored because nobody trusted it."""
    candidate = nearest_local()
    if candidate is None or project_data_dir() is not None:
        return None
    return candidate
