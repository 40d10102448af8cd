"""docs/layout.md, "Who reads the environment", names exactly the modules that read the process
environment (``os.environ``, ``os.getenv``)."""

from __future__ import annotations

import re

from tests.docs_markdown import REPO, section, table_rows

PAGE = REPO / "docs" / "layout.md"
READS = re.compile(r"\bos\.(environ|getenv)\b")


def test_the_environment_table_names_every_module_that_reads_it() -> None:
    readers = {
        str(path.relative_to(REPO))
        for top in ("shared", "research", "daemon")
        for path in (REPO / top).rglob("*.py")
        if READS.search(path.read_text(encoding="utf-8"))
    }
    text = section(PAGE.read_text(encoding="utf-8"), "Who reads the environment")
    documented = {row[0].strip("`") for row in table_rows(text)}
    assert readers == documented


def test_shared_reads_no_environment() -> None:
    for path in (REPO / "shared").rglob("*.py"):
        assert not READS.search(path.read_text(encoding="utf-8")), path
