"""A real daemon process SIGKILLed at every step of the cycle, then restarted: the broker ends
with exactly one order per intent, the store is consistent, and positions, fills and equity equal
an uninterrupted run. On the local paper broker and on the local Alpaca-compatible server (which
lives in the test process, outside the killed daemon).

The daemon runs in ``tests.integration.crash_driver`` processes; the kill comes from the
composition root's test-only hook (``PAIRS_DAEMON_TEST_KILL_AT``). One process start per fault:
each process runs sessions until its fault kills it, and the next one resumes from the store.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from daemon.cycle.fault_injection import KILL_ENV, KillSpec, parse_kill_spec
from shared.errors import ConfigError
from tests.integration.crash_matrix import MatrixResult, alpaca_matrix, crash_market, local_matrix
from tests.integration.crash_support import FAULT_STEPS


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return crash_market()


def assert_every_fault_recovered(result: MatrixResult) -> None:
    assert result.problems == [], "\n".join(result.problems)
    assert [f.step for f in result.faults] == [step for step, _ in FAULT_STEPS]
    assert len({f.session for f in result.faults}) == len(FAULT_STEPS)  # one per session
    assert result.orders > 10


def test_sigkill_at_every_step_on_the_local_broker_changes_nothing(
    tmp_path: Path, market: pd.DataFrame
) -> None:
    assert_every_fault_recovered(local_matrix(tmp_path, market))


def test_sigkill_at_every_step_against_the_alpaca_server_changes_nothing(
    tmp_path: Path, market: pd.DataFrame
) -> None:
    assert_every_fault_recovered(alpaca_matrix(tmp_path, market))


@pytest.mark.parametrize("spec", ["nowhere", "2023-13-01@decided", "sent#0", "sql:", "x@started"])
def test_a_malformed_kill_spec_is_refused_naming_the_variable(spec: str) -> None:
    with pytest.raises(ConfigError, match=KILL_ENV):
        parse_kill_spec(spec)


def test_a_kill_spec_names_a_step_and_optionally_the_session_it_applies_to() -> None:
    assert parse_kill_spec("sent#2") == KillSpec(None, "sent#2")
    spec = parse_kill_spec("2023-03-01@sql:INSERT INTO decisions")
    assert spec == KillSpec(date(2023, 3, 1), "sql:INSERT INTO decisions")
