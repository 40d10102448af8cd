"""Generate the documentation pages that are derived from the code: ``docs/errors.md``.

    .venv/bin/python -m tests.docs_gen          # rewrite docs/errors.md from the classes
    .venv/bin/python -m tests.docs_gen --check  # exit 1 when the page is out of date

The page is the tree of every exception class the project defines (``shared``, ``research``
and ``daemon``): the subclasses of :class:`shared.errors.PairsError`, then the exceptions that
are not errors. Each class is described by the first paragraph of its docstring, so the page
changes when a class, its place in the tree or its docstring does;
``tests/unit/test_docs_errors.py`` fails until the page is regenerated.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

from shared.errors import PairsError

REPO = Path(__file__).resolve().parents[1]
ERRORS_PAGE = REPO / "docs" / "errors.md"
PACKAGES = ("shared", "research", "daemon")


def project_modules() -> list[str]:
    """Every module of the three packages, imported (nothing runs at import time)."""
    names = []
    for top in PACKAGES:
        package = importlib.import_module(top)
        names.append(top)
        for info in pkgutil.walk_packages(package.__path__, f"{top}."):
            importlib.import_module(info.name)
            names.append(info.name)
    return names


def exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a project module, in a stable order."""
    found: dict[str, type[BaseException]] = {}
    for name in project_modules():
        module = sys.modules[name]
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return sorted(found.values(), key=_order)


def _order(cls: type) -> tuple[int, int, str, int]:
    top = cls.__module__.split(".")[0]
    try:
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        line = 0
    # shared, research, daemon; inside each, the floor (shorter module paths) first
    return (PACKAGES.index(top), cls.__module__.count("."), cls.__module__, line)


def _summary(cls: type) -> str:
    """The first paragraph of the class docstring, on one line."""
    doc = inspect.getdoc(cls) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    first = re.sub(r":(?:class|func|mod|meth|attr|data):", "", first).replace("``", "`")
    return first.replace("|", "\\|")


def _primary_parent(cls: type[BaseException], known: set[type]) -> type | None:
    """The first base that is a project exception: where the class hangs in the tree."""
    return next((b for b in cls.__bases__ if b in known), None)


def _tree(root: type, children: dict[type, list[type]]) -> list[str]:
    """The tree drawn with box characters, each class's module in a column on the right."""
    rows = [(root.__name__, root.__module__)]

    def walk(node: type, prefix: str) -> None:
        kids = children.get(node, [])
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            extra = [b.__name__ for b in kid.__bases__ if b is not node]
            also = f" (also under {', '.join(extra)})" if extra else ""
            rows.append(
                (f"{prefix}{'└── ' if last else '├── '}{kid.__name__}{also}", kid.__module__)
            )
            walk(kid, prefix + ("    " if last else "│   "))

    walk(root, "")
    width = max(len(name) for name, _ in rows) + 2
    return [f"{name:<{width}}{module}" for name, module in rows]


def _row(cls: type) -> str:
    bases = ", ".join(f"`{b.__name__}`" for b in cls.__bases__)
    return f"| `{cls.__name__}` | `{cls.__module__}` | {bases} | {_summary(cls)} |"


def render_errors() -> str:
    classes = exception_classes()
    errors = [c for c in classes if issubclass(c, PairsError)]
    others = [c for c in classes if not issubclass(c, PairsError)]
    known = set(errors)
    children: dict[type, list[type]] = {}
    for cls in errors:
        parent = _primary_parent(cls, known)
        if parent is not None:
            children.setdefault(parent, []).append(cls)
    out = [
        "# Errors",
        "",
        "<!-- Generated from the exception classes by `.venv/bin/python -m tests.docs_gen`: do not",
        "     edit by hand. tests/unit/test_docs_errors.py fails when this page and the code differ. -->",
        "",
        "Every error the project raises on purpose derives from `shared.errors.PairsError`: a caller",
        'that only wants "our error, with a message meant for an operator" catches that, as both',
        "command lines do (`pairs-research` and `pairs-daemon` print the message on one line and",
        "exit 2). Each message says what is wrong, where (file, key, symbol or session) and what to",
        "do. Anything else that escapes is a bug.",
        "",
        "To change this page, change the classes (their docstrings describe them here) and run",
        "`.venv/bin/python -m tests.docs_gen`.",
        "",
        "## The tree",
        "",
        "```",
        *_tree(PairsError, children),
        "```",
        "",
        "A class with two project bases hangs under the first and names the other.",
        "",
        "## The classes",
        "",
        "| Class | Module | Bases | What it means |",
        "|---|---|---|---|",
        *map(_row, errors),
    ]
    if others:
        out += [
            "",
            "## Other exception classes",
            "",
            "Not errors: warnings, and signals a step uses to say something other than failure.",
            "",
            "| Class | Module | Bases | What it means |",
            "|---|---|---|---|",
            *map(_row, others),
        ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.docs_gen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when a page is stale")
    args = parser.parse_args(argv)
    text = render_errors()
    current = ERRORS_PAGE.read_text(encoding="utf-8") if ERRORS_PAGE.exists() else ""
    if args.check:
        if current != text:
            print(f"{ERRORS_PAGE.relative_to(REPO)} is stale: run python -m tests.docs_gen")
            return 1
        return 0
    if current != text:
        ERRORS_PAGE.write_text(text, encoding="utf-8")
        print(f"wrote {ERRORS_PAGE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
