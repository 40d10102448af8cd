"""``[health] on_degraded = "no_new_entries"``: the daemon and research's backtest with the same
rule decide alike, on synthetic data where a pair degrades (``degrading_pair_case``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.settings import HealthSettings
from shared.simulation import simulate
from tests.parity.daemon_cases import Case, Replayed, compare, expected, replay
from tests.parity.daemon_scenarios import degrading_pair_case


@pytest.fixture(scope="module")
def degrading(tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Replayed]:
    case = degrading_pair_case()
    return case, replay(tmp_path_factory.mktemp("health"), case)


def test_the_daemon_with_the_rule_trades_like_the_backtest_with_the_rule(
    degrading: tuple[Case, Replayed],
) -> None:
    case, got = degrading
    assert case.engines == ("reference",)
    tally = compare(case, got, expected(case, "reference"))
    assert tally.mismatches == [], "\n".join(tally.mismatches)
    blocked = [(d, r.pair_index) for d, rows in got.decisions.items() for r in rows if r.blocked]
    assert blocked, "the rule must block some entries to prove anything"
    assert {k for _, k in blocked} == {1}, "only the pair whose spread breaks is blocked"
    assert all(
        r.blocked.startswith("health: CCC/DDD degraded")
        for rows in got.decisions.values()
        for r in rows
        if r.blocked
    )
    assert any(f[1] == "CCC" for f in got.fills), "the degrading pair traded before its break"
    assert got.fills


def test_the_rule_changes_the_trades_and_without_it_the_daemon_is_the_plain_backtest(
    degrading: tuple[Case, Replayed], tmp_path: Path
) -> None:
    case, got_on = degrading
    plain = Case(case.name + "_alert", case.closes, case.config, health=HealthSettings(window=80))
    assert plain.entry_rule is None
    got_off = replay(tmp_path, plain)
    for engine in plain.engines:
        tally = compare(plain, got_off, expected(plain, engine))
        assert tally.mismatches == [], "\n".join(tally.mismatches)
    assert got_off.fills != got_on.fills
    assert not any(r.blocked for rows in got_off.decisions.values() for r in rows)
    closes = case.closes
    sim = simulate(
        closes.to_numpy(),
        list(closes.columns),
        case.config.pair_list,
        case.config.params,
        case.config.initial_cash,
        case.config.commission,
    )
    assert sim.blocked == []
