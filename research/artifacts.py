"""Artifacts written per run, all or nothing, with every emitted config kept.

A research command writes into a staging folder inside ``--base-dir`` (``.partial-run-*``) and
only when it has finished moves each file into place with ``os.replace`` (atomic per file),
the config last. A run that fails (bad data, no pair passes the screen, a crash, Ctrl-C)
removes its staging folder, so the base directory stays exactly as the last good run left it:
the daemon never finds new cleaned prices beside an old config.

Every config that ever became ``config/kalman_prod_config.json`` is also kept as
``config/history/<config_id>.json``; a config from before this history existed is archived
there the first time a new one replaces it. Restoring one is a copy::

    cp work/config/history/<config_id>.json work/config/kalman_prod_config.json
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from research.layout import ArtifactLayout
from shared.config import parse_config
from shared.errors import ConfigError, DataError

STAGING_PREFIX = ".partial-run-"


class Stage:
    """Where a running command writes (``layout``) and where its files end up (``final``)."""

    def __init__(self, target: ArtifactLayout, staging_dir: Path) -> None:
        self.target = target
        self.layout = ArtifactLayout(staging_dir)
        self.committed: list[Path] = []

    def final(self, path: str | Path) -> Path:
        """The place a staged file is moved to (a path outside staging is returned as is)."""
        path = Path(path)
        try:
            return self.target.base_dir / path.relative_to(self.layout.base_dir)
        except ValueError:
            return path


def prepare_base_dir(base_dir: Path) -> Path:
    """Create ``base_dir`` if needed; an error naming it when it cannot hold artifacts."""
    if base_dir.exists() and not base_dir.is_dir():
        raise DataError(f"--base-dir {base_dir}: is a file, not a directory; pass a directory")
    try:
        base_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"--base-dir {base_dir}: cannot create it ({exc.strerror}); pass a directory you "
            "can write to"
        ) from None
    return base_dir


@contextmanager
def staged(target: ArtifactLayout) -> Iterator[Stage]:
    """Write into a staging layout; commit every file on success, discard all on failure."""
    base = prepare_base_dir(target.base_dir)
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=base))
    except OSError as exc:
        raise DataError(
            f"--base-dir {base}: cannot write in it ({exc.strerror}); pass a directory you can "
            "write to"
        ) from None
    stage = Stage(target, staging)
    try:
        yield stage
        stage.committed = commit(stage.layout, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def commit(staging: ArtifactLayout, target: ArtifactLayout) -> list[Path]:
    """Move every staged file into ``target`` (config last, archiving the one it replaces)."""
    entries = sorted(staging.base_dir.rglob("*"))
    for folder in (p for p in entries if p.is_dir()):  # the layout's folders, even if empty
        (target.base_dir / folder.relative_to(staging.base_dir)).mkdir(parents=True, exist_ok=True)
    files = [p for p in entries if p.is_file()]
    config = staging.config_json
    ordered = [p for p in files if p != config] + [p for p in files if p == config]
    moved = []
    for source in ordered:
        destination = target.base_dir / source.relative_to(staging.base_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source == config:
            archive_config(target)
        os.replace(source, destination)
        moved.append(destination)
        if source == config:
            archive_config(target)
    return moved


def archive_config(layout: ArtifactLayout) -> Path | None:
    """Copy the current ``kalman_prod_config.json`` to ``config/history/<config_id>.json``
    (atomically); an unreadable config is kept under the hash of its bytes."""
    current = layout.config_json
    if not current.is_file():
        return None
    data = current.read_bytes()
    try:
        name = parse_config(data.decode("utf-8"), source=str(current)).config_id
    except (ConfigError, UnicodeDecodeError, ValueError):
        name = f"unreadable-{hashlib.sha256(data).hexdigest()[:12]}"
    destination = layout.config_history_dir / f"{name}.json"
    if destination.is_file() and destination.read_bytes() == data:
        return destination
    write_atomic(destination, data)
    return destination


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
