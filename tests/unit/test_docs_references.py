"""What the code's docstrings and comments point to exists: Sphinx-style references
(``:mod:`daemon.cycle.run```, ``:func:`...```), repository paths (``daemon/feeds/bars.py``) and
documentation pages (``docs/operations.md``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs_markdown import REPO, resolves

SOURCES = sorted(p for top in ("shared", "research", "daemon") for p in (REPO / top).rglob("*.py"))
_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc):`~?((?:shared|research|daemon)[\w.]*)`")
_PATH = re.compile(
    r"(?<![\w/.-])((?:shared|research|daemon|docs|tests|configs|systemd)/[\w/]+\.(?:py|md|toml))"
)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_reference_in_the_code_exists(source: Path) -> None:
    text = source.read_text(encoding="utf-8")
    broken = [name for name in _ROLE.findall(text) if not resolves(name)]
    broken += [path for path in _PATH.findall(text) if not (REPO / path).exists()]
    assert not broken, f"{source.relative_to(REPO)} points to what does not exist: {broken}"
