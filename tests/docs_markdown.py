"""Reading the project's Markdown pages the way GitHub renders them, for the docs tests.

Only what the tests need: fenced code blocks told apart from prose, headings and their anchors
(GitHub's rule: lower case, punctuation dropped, spaces to hyphens, ``-1``, ``-2`` for repeats),
inline links, code spans and tables.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")


def pages() -> list[Path]:
    """The README and every page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def all_markdown() -> list[Path]:
    """Every Markdown file of the project (the pages, and the READMEs beside the code)."""
    found = [*pages(), *sorted((REPO / "systemd").glob("*.md"))]
    for top in ("daemon", "research", "shared", "tests", "benchmarks"):
        found += sorted((REPO / top).rglob("*.md"))
    return found


@dataclass(frozen=True)
class Block:
    """A run of lines: prose, or one fenced code block (``info`` is its language)."""

    code: bool
    info: str
    lines: tuple[str, ...]


def blocks(text: str) -> Iterator[Block]:
    prose: list[str] = []
    fence: str | None = None
    info = ""
    code: list[str] = []
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            if prose:
                yield Block(False, "", tuple(prose))
                prose = []
            fence, info = match.group(1), line.strip()[3:].strip()
        elif fence is not None and line.strip().startswith(fence):
            yield Block(True, info, tuple(code))
            fence, code = None, []
        elif fence is not None:
            code.append(line)
        else:
            prose.append(line)
    if prose:
        yield Block(False, "", tuple(prose))


def prose_lines(text: str) -> list[str]:
    return [line for b in blocks(text) if not b.code for line in b.lines]


def code_blocks(text: str) -> list[Block]:
    return [b for b in blocks(text) if b.code]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(text: str) -> list[tuple[int, str]]:
    found = []
    for line in prose_lines(text):
        match = _HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, title in headings(text):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(text: str) -> list[str]:
    """Every inline link target outside code (code spans and blocks)."""
    found = []
    for line in prose_lines(text):
        bare = _CODE_SPAN.sub(lambda m: "x" * len(m.group(0)), line)
        found += [m.group(1) for m in _LINK.finditer(bare)]
    return found


def code_spans(text: str) -> list[str]:
    return [m.group(2).strip() for line in prose_lines(text) for m in _CODE_SPAN.finditer(line)]


def section(text: str, title: str) -> str:
    """The text under the heading ``title`` up to the next heading of its level or above."""
    lines = text.splitlines()
    start = level = None
    for i, line in enumerate(lines):
        match = _HEADING.match(line)
        if match is None:
            continue
        if start is None and match.group(2) == title:
            start, level = i + 1, len(match.group(1))
        elif start is not None and level is not None and len(match.group(1)) <= level:
            return "\n".join(lines[start:i])
    if start is None:
        raise KeyError(title)
    return "\n".join(lines[start:])


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every table in ``text`` (its header and rule skipped), as stripped
    cells; an escaped pipe (``\\|``) stays inside its cell."""
    rows: list[list[str]] = []
    table: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line.strip())
            continue
        for row in table[2:]:
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", row.strip("|"))])
        table = []
    return rows


def resolves(name: str) -> bool:
    """Whether a dotted name exists: the longest importable prefix, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False
