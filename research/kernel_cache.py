"""Where numba keeps the compiled kernels between runs.

Two problems with numba's default (``__pycache__`` next to each source file):

* **Staleness.** numba invalidates a cached function only when *its own* file changes. The
  kernels inline functions from several modules (``research/backtest/fast/*`` and
  ``research/screen/coint/*``), so editing a helper module could leave a stale compiled kernel in use, silently. We therefore
  key the cache directory by a hash of every kernel source: any edit starts a fresh cache.
* **Read-only installs.** The package directory may be read-only (an installed package under a
  hardened service); then we fall back to ``$XDG_CACHE_HOME/kalman-pairs``, then a temp dir,
  instead of recompiling on every run.

A cache dir the user set explicitly (``NUMBA_CACHE_DIR``) is always respected as it is.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

_ENV = "NUMBA_CACHE_DIR"
_RESEARCH_DIR = Path(__file__).resolve().parent
KERNEL_PACKAGES = ("backtest/fast", "screen/coint")  # every package whose modules numba compiles
# Modules of ``shared`` whose constants the kernels compile in (the metrics matrix's columns).
KERNEL_SHARED_MODULES = ("metrics.py",)


def kernel_sources_tag(research_dir: Path = _RESEARCH_DIR) -> str:
    """A short hash of every kernel package's source files and of the shared modules they
    compile constants from (names and contents)."""
    digest = hashlib.sha256()
    for package in KERNEL_PACKAGES:
        for path in sorted((research_dir / package).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    for name in KERNEL_SHARED_MODULES:
        path = research_dir.parent / "shared" / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def choose_cache_dir(source_dir: Path, environ: Mapping[str, str], tag: str) -> str | None:
    """The cache dir to use for kernel sources hashed to ``tag``; None keeps the user's
    explicit ``NUMBA_CACHE_DIR``."""
    if environ.get(_ENV):
        return None
    user_cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (
        source_dir / "__pycache__" / f"numba-{tag}",
        user_cache / "kalman-pairs" / f"numba-{tag}",
        Path(tempfile.gettempdir()) / f"kalman-pairs-numba-{os.getuid()}" / tag,
    ):
        if _writable(candidate):
            return str(candidate)
    return None


_configured = False


def configure_numba_cache() -> None:
    """Set ``NUMBA_CACHE_DIR`` (and numba's live config, if numba is already imported).

    numba fixes a function's cache location when it is decorated, so this runs when the kernel
    packages are imported (their ``__init__``), before any of their modules; later calls are
    no-ops."""
    global _configured
    if _configured:
        return
    _configured = True
    chosen = choose_cache_dir(_RESEARCH_DIR, os.environ, kernel_sources_tag())
    if chosen is None:
        return
    os.environ[_ENV] = chosen
    # numba reads the variable when imported; if it already was, update its live config too.
    import numba

    numba.config.CACHE_DIR = chosen  # type: ignore[attr-defined]
