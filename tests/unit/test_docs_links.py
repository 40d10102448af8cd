"""Every relative link in the Markdown pages reaches a file, and its anchor a heading there;
every path and module the README and docs/ name in code exists."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.docs_markdown import REPO, all_markdown, anchors, code_spans, links, pages, resolves

TOPS = ("shared", "research", "daemon", "tests", "docs", "configs", "systemd", "benchmarks")
DAEMON_GROUPS = {p.name for p in (REPO / "daemon").iterdir() if (p / "__init__.py").exists()}


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("page", all_markdown(), ids=_name)
def test_every_relative_link_reaches_a_file_and_an_existing_anchor(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in links(text):
        if re.match(r"[a-z][a-z+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and dest.suffix == ".md":
            if anchor not in anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{target}: no heading with anchor #{anchor} in {_name(dest)}")
        elif anchor:
            broken.append(f"{target}: an anchor into a file that is not Markdown")
    assert not broken, f"{_name(page)}: " + "; ".join(broken)


def _missing_path(span: str, page: Path) -> str | None:
    if any(ch in span for ch in "<>*{} "):  # a pattern (<name>, *.png), not a path
        return None
    top = span.split("/")[0]
    if "/" in span and top in TOPS:
        return None if (REPO / span).exists() else span
    if page.name == "daemon.md" and "/" in span and top in DAEMON_GROUPS:
        return None if (REPO / "daemon" / span).exists() else span  # relative to daemon/
    return None


FILE_SUFFIXES = {"lock", "toml", "md", "sqlite", "json", "log", "service", "csv", "html"}


def _missing_module(span: str) -> str | None:
    """A dotted name ``shared.x.y``: the longest importable prefix, then attributes."""
    if not re.fullmatch(r"(shared|research|daemon)(\.\w+)+", span):
        return None
    if span.rsplit(".", 1)[1] in FILE_SUFFIXES:  # a file name (daemon.lock), not a module
        return None
    return None if resolves(span) else span


@pytest.mark.parametrize("page", pages(), ids=_name)
def test_every_path_and_module_named_in_code_exists(page: Path) -> None:
    spans = code_spans(page.read_text(encoding="utf-8"))
    missing = sorted(
        {m for s in spans for m in (_missing_path(s, page), _missing_module(s)) if m is not None}
    )
    assert not missing, f"{_name(page)} names what does not exist: {missing}"


def test_anchors_follow_githubs_rule() -> None:
    text = "# The cycle: `run_once(ctx, session)`\n## Order windows (Alpaca)\n## A\n## A\n"
    assert anchors(text) == {"the-cycle-run_oncectx-session", "order-windows-alpaca", "a", "a-1"}
