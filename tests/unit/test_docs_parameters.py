"""docs/strategy.md's parameter table is the declarations: every parameter of
``StrategyParams`` and the account's two numbers, in order, with their type, default and bounds.

When a declaration changes, the failure shows the row to write."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from research.search.grid import SEED_GRID
from shared.schema import ACCOUNT_SPECS, ParamSpec
from shared.strategy import PARAM_SPECS, StrategyParams
from tests.docs_markdown import REPO, section, table_rows

PAGE = REPO / "docs" / "strategy.md"


def number(value: Any) -> str:
    """How the page writes a number: ``10,000``, ``2.5``, ``1e-5``, ``1e12``, ``100,000.0``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if value.is_integer() and abs(value) >= 1e6:
        return re.sub(r"e\+?0*", "e", f"{value:.0e}")
    if value.is_integer():
        return f"{value:,.1f}"
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{m[1].lstrip('+')}{m[2]}", repr(value))


def bounds(name: str, spec: ParamSpec) -> str:
    if spec.kind is bool:
        return "—"
    low = (number(spec.ge), "≤") if spec.ge is not None else None
    low = (number(spec.gt), "<") if spec.gt is not None else low
    high = (number(spec.le), "≤") if spec.le is not None else None
    high = (number(spec.lt), "<") if spec.lt is not None else high
    if low and high:
        return f"{low[0]} {low[1]} {name} {high[1]} {high[0]}"
    if low:
        return f"{name} {'≥' if low[1] == '≤' else '>'} {low[0]}"
    if high:
        return f"{name} {high[1]} {high[0]}"
    return "—"


def expected_rows() -> list[list[str]]:
    defaults = {f.name: f.default for f in dataclasses.fields(StrategyParams)}
    defaults.update({name: getattr(SEED_GRID, name) for name in ACCOUNT_SPECS})
    specs = {**PARAM_SPECS, **ACCOUNT_SPECS}
    return [
        [f"`{name}`", spec.kind.__name__, number(defaults[name]), bounds(name, spec)]
        for name, spec in specs.items()
    ]


def documented_rows() -> list[list[str]]:
    text = section(PAGE.read_text(encoding="utf-8"), "Parameters")
    return [row[:4] for row in table_rows(text)]


def test_the_parameter_table_lists_every_declaration_with_its_default_and_bounds() -> None:
    expected = expected_rows()
    documented = documented_rows()
    assert [r[0] for r in documented] == [r[0] for r in expected], "parameters, in order"
    for doc, want in zip(documented, expected, strict=True):
        assert doc == want, f"docs/strategy.md row should start: | {' | '.join(want)} |"


def test_numbers_are_written_the_way_a_reader_expects() -> None:
    assert [number(v) for v in (10_000, 2.5, 1e-5, 1e6, 1e12, 100_000.0, 0.0005, 0)] == [
        "10,000",
        "2.5",
        "1e-5",
        "1e6",
        "1e12",
        "100,000.0",
        "0.0005",
        "0",
    ]
