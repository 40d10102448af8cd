"""Project-wide pytest setup: ``network`` tests are skipped unless ``--run-network`` is given."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-network",
        action="store_true",
        default=False,
        help="run tests marked `network` (they need the internet and, for Alpaca, API keys)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-network"):
        return
    skip = pytest.mark.skip(reason="needs the internet: pass --run-network to run")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)
