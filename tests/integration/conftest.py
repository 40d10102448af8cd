"""Fixtures shared by the daemon-on-Alpaca-server tests: the synthetic market and its config,
the same sessions replayed on the local paper broker (the reference), and a running local
Alpaca-compatible server. A module that defines a fixture of the same name uses its own."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness, running_harness
from tests.integration.test_daemon_on_alpaca_server import Replay, make_market, replay_locally


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, ProdConfig]:
    return make_market()


@pytest.fixture(scope="module")
def local_replay(
    market: tuple[pd.DataFrame, ProdConfig], tmp_path_factory: pytest.TempPathFactory
) -> Replay:
    return replay_locally(tmp_path_factory.mktemp("local"), market)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness() as h:
        yield h
