"""Where numba keeps its compiled kernels between runs.

numba caches next to the source (``__pycache__``) and falls back to a per-user cache dir; both
can be read-only (an installed package under a hardened service, a read-only home). Then the
kernels would be recompiled on every run, so we point ``NUMBA_CACHE_DIR`` at a writable
temporary directory instead. A cache dir the user set explicitly is always respected.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_ENV = "NUMBA_CACHE_DIR"


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def choose_cache_dir(source_dir: Path, environ: dict[str, str] | os._Environ[str]) -> str | None:
    """The cache dir to force, or None to keep numba's default (next to the source)."""
    if environ.get(_ENV):
        return None
    if _writable(source_dir / "__pycache__"):
        return None
    user_cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (user_cache / "kalman-pairs" / "numba", _temp_cache()):
        if _writable(candidate):
            return str(candidate)
    return None


def _temp_cache() -> Path:
    return Path(tempfile.gettempdir()) / f"kalman-pairs-numba-{os.getuid()}"


def configure_numba_cache() -> None:
    """Set ``NUMBA_CACHE_DIR`` (and numba's live config, if numba is already imported)."""
    chosen = choose_cache_dir(Path(__file__).resolve().parent, os.environ)
    if chosen is None:
        return
    os.environ[_ENV] = chosen
    # numba reads the variable when imported; if it already was, update its live config too.
    import numba

    numba.config.CACHE_DIR = chosen  # type: ignore[attr-defined]
