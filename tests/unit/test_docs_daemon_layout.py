"""docs/daemon.md's "Layout" lists every module under daemon/, grouped as the layers contract
orders the groups, and names no module that does not exist."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.docs_markdown import REPO, headings, links, section

PAGE = REPO / "docs" / "daemon.md"
DAEMON = REPO / "daemon"


def _docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def modules_on_disk() -> set[str]:
    """Every module under daemon/, relative to it; a package's ``__init__.py`` only when it
    holds more than its docstring (its group's heading describes the package)."""
    return {
        str(path.relative_to(DAEMON))
        for path in DAEMON.rglob("*.py")
        if not (path.name == "__init__.py" and _docstring_only(path))
    }


def modules_in_table() -> list[str]:
    layout = section(PAGE.read_text(encoding="utf-8"), "Layout")
    rows = [line for line in layout.splitlines() if line.startswith("| [")]
    found = []
    for row in rows:
        target = links(row)[0]
        assert target.startswith("../daemon/"), f"a module row links into daemon/: {row}"
        found.append(target.removeprefix("../daemon/"))
    return found


def test_the_module_table_lists_every_module_once() -> None:
    listed = modules_in_table()
    assert len(listed) == len(set(listed)), "a module listed twice"
    on_disk = modules_on_disk()
    assert not on_disk - set(listed), (
        f"missing from docs/daemon.md, Layout: {on_disk - set(listed)}"
    )
    assert not set(listed) - on_disk, f"listed but not in daemon/: {set(listed) - on_disk}"


def test_every_row_sits_under_its_own_group() -> None:
    layout = section(PAGE.read_text(encoding="utf-8"), "Layout")
    group = None
    for line in layout.splitlines():
        if line.startswith("### `"):
            group = line.split("`")[1].rstrip("/")
        elif line.startswith("| ["):
            module = links(line)[0].removeprefix("../daemon/")
            assert module.split("/")[0] == group, f"{module} under the heading of {group}/"


def test_the_groups_are_the_layers_contract_in_its_order() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["type"] == "layers" and c.get("containers") == ["daemon"]
    )
    layers = [name.strip() for layer in contract["layers"] for name in layer.split("|")]
    text = PAGE.read_text(encoding="utf-8")
    groups = [t.split("`")[1].rstrip("/") for level, t in headings(text) if t.startswith("`")]
    groups = [g for g in groups if "/" not in g and (DAEMON / g).is_dir()]
    assert groups == layers
    packages = {p.name for p in DAEMON.iterdir() if (p / "__init__.py").exists()}
    assert set(groups) == packages


def test_the_page_answers_where_a_new_thing_goes() -> None:
    text = section(PAGE.read_text(encoding="utf-8"), "Where a new thing goes")
    for thing in ("A broker", "A feed", "An alert", "A step of the cycle", "A command"):
        assert f"**{thing}**" in text
