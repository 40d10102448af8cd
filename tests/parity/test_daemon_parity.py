"""The daemon trades exactly like the backtest: ``run_once`` per session (fresh contexts, and for
the go-live case a fresh process per session), state only through the SQLite store, the local
paper broker, against the reference, backtrader and fast engines on the same bars.

A go-live case is held to every engine's backtest with ``trade_from_bar`` at the go-live bar
(bars before it only warm the filter up, see ``shared.strategy.observe_pair``).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from daemon.core.decide import rebuild_states
from daemon.core.roster import config_slots
from daemon.store import Store
from research.cli import main as research_main
from shared.simulation import simulate
from tests.parity import synthetic_pairs as sp
from tests.parity.daemon_cases import (
    ENGINES,
    Case,
    Replayed,
    as_daily,
    compare,
    config_for,
    expected,
    go_live_at,
    open_signal_bars,
    replay,
)
from tests.parity.daemon_scenarios import go_live_case, margin_and_size_zero_case, seed_best_case


def assert_parity(case: Case, got: Replayed, engines: tuple[str, ...] = ENGINES) -> None:
    for engine in engines:
        tally = compare(case, got, expected(case, engine))
        assert tally.mismatches == [], "\n".join(tally.mismatches)
    assert got.fills, f"{case.name}: the case must trade to prove anything"


def test_the_seed_grids_best_config_on_generated_data_trades_like_every_engine(
    tmp_path: Path,
) -> None:
    case = seed_best_case()
    assert_parity(case, replay(tmp_path, case))


def test_margin_rejected_and_size_zero_orders_are_the_backtests(tmp_path: Path) -> None:
    case = margin_and_size_zero_case()
    got = replay(tmp_path, case)
    assert_parity(case, got)
    assert any(status == "rejected" for *_, status in got.intents)
    entries_b_only = {d for d, sym, *_ in got.intents if sym == "HUGE"} - {
        d for d, sym, *_ in got.intents if sym == "TINY"
    }
    assert entries_b_only, "some entries must send the B leg only (int(beta*stake) == 0)"


@pytest.fixture(scope="module")
def go_live_replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, Replayed, Path]:
    """A fresh forked process per session; the first one warms up from the bars alone."""
    case = go_live_case()
    tmp = tmp_path_factory.mktemp("go_live")
    return case, replay(tmp, case, process="fork"), tmp / "state"


def test_a_go_live_after_the_first_session_trades_like_every_engine_from_that_date(
    go_live_replay: tuple[Case, Replayed, Path],
) -> None:
    case, got, _ = go_live_replay
    config = case.config
    full = simulate(
        case.closes.to_numpy(),
        list(case.closes.columns),
        config.pair_list,
        config.params,
        config.initial_cash,
        config.commission,
    )
    assert case.go_live_bar in open_signal_bars(full.decisions), (
        "the case should go live while a backtest from the first session holds a position"
    )
    assert_parity(case, got)


def test_the_backtest_command_with_trade_from_reproduces_the_daemons_go_live_run(
    go_live_replay: tuple[Case, Replayed, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    case, got, state_dir = go_live_replay
    prices, config = state_dir.parent / "prices.csv", state_dir.parent / "config.json"
    go_live = case.closes.index[case.go_live_bar].isoformat()
    argv = ["backtest", "--prices", str(prices), "--config", str(config), "--json"]
    assert research_main([*argv, "--engine", "fast", "--trade-from", go_live, "--verify"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_days"] == len(case.closes)
    assert math.isclose(printed["final_value"], got.equity[-1], rel_tol=1e-9)


def test_beta_and_z_restored_from_the_store_or_rebuilt_from_bars_equal_the_backtests(
    go_live_replay: tuple[Case, Replayed, Path],
) -> None:
    case, got, state_dir = go_live_replay
    config, closes = case.config, case.closes
    sim = simulate(
        closes.to_numpy(),
        list(closes.columns),
        config.pair_list,
        config.params,
        config.initial_cash,
        config.commission,
        trade_from_bar=case.go_live_bar,
    )
    store = Store.open(state_dir, read_only=True)
    try:
        for bar in range(case.go_live_bar, len(closes)):
            session = closes.index[bar]
            decided = got.decisions[session]
            want = sim.decisions[bar]
            assert [(d.beta, d.z) for d in decided] == [(w.beta, w.z) for w in want], session
            before = sim.decisions[bar - 1]
            rebuilt = rebuild_states(
                config_slots(config),
                closes.iloc[:bar],
                closes.index[case.go_live_bar],
                lambda d: store.expected_positions(through=d),
            )
            assert rebuilt == [w.state for w in before], f"rebuilt from bars, {session}"
            if bar > case.go_live_bar:
                loaded = [d.pair_state for d in got.decisions[closes.index[bar - 1]]]
                assert loaded == [w.state for w in before], f"loaded from the store, {session}"
    finally:
        store.close()


def _random_case(seed: int, n_pairs: int, params: dict[str, object]) -> Case:
    ds = sp.portfolio(seed, n_pairs=n_pairs, n_bars=55)
    closes = as_daily(ds.prices)
    return Case(f"random_{seed}_{n_pairs}", closes, config_for(closes, list(ds.pairs), **params))


PARAMS = st.fixed_dictionaries(
    {
        "window": st.integers(4, 16),
        "entry_z": st.floats(0.6, 2.2),
        "exit_z": st.floats(0.0, 0.6),
        "stop_z": st.floats(2.3, 4.5),
        "stake": st.integers(1, 80),
        "long_only": st.booleans(),
        "delta": st.sampled_from([1e-5, 1e-4, 1e-3]),
        "R": st.sampled_from([1e-3, 1e-2]),
        "commission": st.sampled_from([0.0, 0.0005, 0.002]),
    }
)


@settings(
    max_examples=5,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(seed=st.integers(0, 10_000), n_pairs=st.integers(1, 3), params=PARAMS)
def test_random_configs_and_portfolios_trade_like_every_engine(
    seed: int, n_pairs: int, params: dict[str, object]
) -> None:
    case = _random_case(seed, n_pairs, params)
    with tempfile.TemporaryDirectory() as tmp:
        got = replay(Path(tmp), case)
    for engine in ENGINES:
        tally = compare(case, got, expected(case, engine))
        assert tally.mismatches == [], "\n".join(tally.mismatches)


@settings(
    max_examples=6,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
@given(
    seed=st.integers(0, 10_000),
    n_pairs=st.integers(1, 3),
    params=PARAMS,
    where=st.sampled_from(["open", "mid"]),
    fraction=st.floats(0.0, 1.0, exclude_max=True),
)
def test_random_go_live_dates_trade_like_every_engine_from_that_date(
    seed: int, n_pairs: int, params: dict[str, object], where: str, fraction: float
) -> None:
    case = _random_case(seed, n_pairs, params)
    config, closes = case.config, case.closes
    full = simulate(
        closes.to_numpy(),
        list(closes.columns),
        config.pair_list,
        config.params,
        config.initial_cash,
        config.commission,
    )
    open_bars = open_signal_bars(full.decisions)
    assume(where == "mid" or open_bars)
    bar = go_live_at(where, fraction, len(closes), open_bars)
    case = Case(f"{case.name}_go_live_{bar}", closes, config, go_live_bar=bar)
    with tempfile.TemporaryDirectory() as tmp:
        got = replay(Path(tmp), case)
    event(f"go-live {where}, {'traded' if got.fills else 'flat'} after it")
    for engine in ENGINES:
        tally = compare(case, got, expected(case, engine))
        assert tally.mismatches == [], "\n".join(tally.mismatches)
