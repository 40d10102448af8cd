"""``walkforward --handover``: the folds' configs run as one account that hands over at each
refit (research/evaluation/lifecycle.py, research/commands/walkforward_handover.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.cli import main
from research.commands.walkforward_handover import fold_config, lifecycle_of
from research.data.market_data import align_closes
from research.data.synthetic import generate_universe
from research.evaluation.lifecycle import (
    Deployment,
    LifecycleRun,
    deployment,
    deployment_of_config,
    run_lifecycle,
)
from research.evaluation.walkforward import Span, WalkForwardResult, walk_forward
from research.evaluation.walkforward_runs import ReferenceRunner
from research.search.grid import Grid
from shared.config import parse_config
from shared.errors import DataError
from shared.handover import HandoverRule
from shared.orders import Fill
from shared.simulation import simulate
from shared.strategy import Action, Pair, StrategyParams

AB = Pair("SYN_A", "SYN_B", 0.6)
DE = Pair("SYN_D", "SYN_E", 1.3)
GRID = Grid(window=(20, 40), entry_z=(1.5, 2.0), stop_z=(3.5,), stake=(20,), long_only=(False,))
PARAMS = StrategyParams(window=20, entry_z=1.5, stake=20)
TRAIN, TEST = 300, 100


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return generate_universe(n_sessions=700)[["SYN_A", "SYN_B", "SYN_C", "SYN_D", "SYN_E"]]


def _scripted(plan: list[list[Pair]]):
    """A chooser that picks ``plan[k]`` on the k-th train window (walk_forward asks in order)."""
    picks = iter(plan)
    return lambda _train: next(picks)


@pytest.fixture(scope="module")
def result(prices: pd.DataFrame) -> WalkForwardResult:
    # folds: tests start at bars 300, 400, 500, 600 (rolling 300-session train windows)
    plan = [[AB], [AB, DE], [DE], []]
    return walk_forward(
        prices,
        GRID.params(),
        _scripted(plan),
        ReferenceRunner(),
        train=Span(sessions=TRAIN),
        test=Span(sessions=TEST),
        n_splits=4,
    )


def _configs(prices: pd.DataFrame, result: WalkForwardResult) -> dict:
    table = pd.DataFrame(
        [
            {"asset_1": p.asset_1, "asset_2": p.asset_2, "hedge_ratio": p.hedge_ratio}
            for p in (AB, DE)
        ]
    )
    return {
        f.fold.index: fold_config(
            prices,
            f,
            table[table["asset_1"].isin([p.asset_1 for p in f.pairs])],
            GRID,
            engine="reference",
            source="synthetic",
            sha256="0" * 64,
        )
        for f in result.folds
        if f.chosen is not None
    }


def _by_date(fills: list[Fill], dates: pd.DatetimeIndex, symbols: set[str]) -> list[tuple]:
    return [
        (dates[f.bar], f.symbol, f.signed_quantity, f.price, f.commission)
        for f in fills
        if f.symbol in symbols
    ]


def test_the_plan_follows_the_folds_choices(prices, result):
    configs = _configs(prices, result)
    run = lifecycle_of(prices, result, configs, "drain", GRID.commission)
    rows = run.plan_rows([(f.fold.index, f.test_dates[0]) for f in result.folds if not f.pairs])
    got = [(r["fold"], r["date"], r["action"], r["pair"]) for r in rows]
    folds = result.folds
    # AB stays from fold 0 to 1: the same config chosen is a keep, another one a change
    same = folds[0].chosen == folds[1].chosen
    day = [f"{f.test_dates[0]:%Y-%m-%d}" for f in folds]
    assert got == [
        (0, day[0], "add", "SYN_A/SYN_B"),
        (1, day[1], "keep" if same else "change", "SYN_A/SYN_B"),
        (1, day[1], "add", "SYN_D/SYN_E"),
        (2, day[2], "keep" if folds[1].chosen == folds[2].chosen else "change", "SYN_D/SYN_E"),
        (2, day[2], "drop", "SYN_A/SYN_B"),
        (3, day[3], "none", ""),
    ]
    counts = run.action_counts()
    assert sum(counts.values()) == 5 and counts["add"] == 2 and counts["drop"] == 1


def test_the_written_configs_warm_from_their_train_start(prices, result):
    for index, config in _configs(prices, result).items():
        fold = result.folds[index]
        again = parse_config(config.model_dump(mode="json"))
        assert again.config_id == config.config_id
        assert again.data.first_session == fold.train_dates[0].date()
        assert again.data.last_session == fold.train_dates[1].date()
        assert again.params == GRID.params()[fold.chosen]
        assert [p.to_pair() for p in again.pairs] == list(fold.pairs)


def test_the_first_fold_is_its_stitched_oos_run(prices, result):
    """Until the first refit the account is fold 0's warm-started test run."""
    run = lifecycle_of(prices, result, _configs(prices, result), "close", GRID.commission)
    first = result.folds[0]
    n = len(first.test_dates)
    assert np.allclose(run.oos_values[:n], result.initial_cash * np.cumprod(1 + first.oos_returns))
    assert run.oos_dates[:n].equals(first.test_dates)
    assert run.oos_dates.equals(result.oos_dates)
    # its filter and z-window were warmed on the train window, bar for bar like the fold's run
    assert [d.warm_from for d in run.deployments] == [f.train_dates[0] for f in result.folds[:3]]
    data = align_closes(prices.iloc[: TRAIN + n], ["SYN_A", "SYN_B"])
    params = GRID.params()[first.chosen]
    ref = simulate(data.closes, data.symbols, [AB], params, trade_from_bar=TRAIN)
    for bar in range(n):
        [(slot, mine)], [theirs] = (
            run.result.decisions[run.oos_from + bar],
            ref.decisions[TRAIN + bar],
        )
        assert slot.pair == AB and (mine.beta, mine.z) == (theirs.beta, theirs.z)


def test_one_deployment_is_the_reference_backtest_from_its_start(prices):
    dates = prices.index
    start, warm = dates[350], dates[50]
    run = run_lifecycle(
        prices,
        [deployment(0, start, [AB, DE], PARAMS, "c0", warm)],
        "drain",
        oos_first=dates[300],
        oos_last=dates[-1],
    )
    data = align_closes(prices.iloc[50:], ["SYN_A", "SYN_B", "SYN_D", "SYN_E"])
    ref = simulate(data.closes, data.symbols, [AB, DE], PARAMS, trade_from_bar=300)
    # the account's closes start at the warm-up (bar 50), its OOS sessions at bar 300
    assert run.data.dates.equals(data.dates) and run.oos_from == 250
    assert np.array_equal(run.result.values, ref.values)
    assert _by_date(run.result.fills, run.data.dates, set(data.symbols)) == _by_date(
        ref.fills, data.dates, set(data.symbols)
    )
    assert len(ref.fills) > 10  # it traded


def _holding_bar(prices: pd.DataFrame, after: int) -> int:
    """A bar after ``after`` at whose end AB (traded from bar 300) holds a position and the next
    bar brings no fill of its own, so a hand-over there has something to drain or close."""
    data = align_closes(prices, ["SYN_A", "SYN_B"])
    ref = simulate(data.closes, data.symbols, [AB], PARAMS, trade_from_bar=300)
    position = np.zeros(data.n_bars, dtype=int)
    for f in ref.fills:
        if f.symbol == "SYN_A":
            position[f.bar :] += f.signed_quantity
    filled = {f.bar for f in ref.fills}
    return next(b for b in range(after, data.n_bars - 5) if position[b] and b + 1 not in filled)


def _two_generations(
    prices: pd.DataFrame, rule: HandoverRule, second: list[Pair]
) -> tuple[LifecycleRun, int]:
    dates = prices.index
    handover = _holding_bar(prices, 420)
    deployments: list[Deployment] = [
        deployment(0, dates[300], [AB], PARAMS, "c0", dates[0]),
        deployment(1, dates[handover], second, PARAMS, "c1", dates[handover - TRAIN]),
    ]
    run = run_lifecycle(
        prices,
        deployments,
        rule,
        oos_first=dates[300],
        oos_last=dates[-1],
    )
    return run, handover


def test_an_added_pair_trades_as_a_backtest_from_the_handover(prices):
    run, handover = _two_generations(prices, "drain", [DE])
    warm = handover - TRAIN
    data = align_closes(prices.iloc[warm:], ["SYN_D", "SYN_E"])
    alone = simulate(data.closes, data.symbols, [DE], PARAMS, trade_from_bar=TRAIN)
    mine = _by_date(run.result.fills, run.data.dates, {"SYN_D", "SYN_E"})
    assert mine == _by_date(alone.fills, data.dates, {"SYN_D", "SYN_E"})
    assert len(mine) >= 4 and not run.result.rejections  # it traded; cash never bound


def test_a_dropped_pair_closes_on_the_handover_session(prices):
    run, handover = _two_generations(prices, "close", [DE])
    ab = {"SYN_A", "SYN_B"}
    actions = [d.action for slot, d in run.result.decisions[handover] if slot.pair == AB]
    assert actions == [Action.CLOSE_DROPPED]
    after = [f for f in run.result.fills if f.symbol in ab and f.bar > handover]
    assert {f.bar for f in after} == {handover + 1}  # the close fills next bar, then nothing
    held = {s: sum(f.signed_quantity for f in run.result.fills if f.symbol == s) for s in ab}
    assert held == {"SYN_A": 0, "SYN_B": 0}
    assert all(slot.pair != AB for slot, _ in run.result.decisions[handover + 1])


def test_a_dropped_pair_drains_by_its_own_exit(prices):
    run, handover = _two_generations(prices, "drain", [DE])
    data = align_closes(prices, ["SYN_A", "SYN_B"])
    alone = simulate(data.closes, data.symbols, [AB], PARAMS, trade_from_bar=300)
    ab = {"SYN_A", "SYN_B"}
    mine = [f for f in run.result.fills if f.symbol in ab and f.bar > handover]
    exit_bar = min(f.bar for f in alone.fills if f.bar > handover)
    # the drained pair's only fills after the hand-over are its standalone exit; no new entry
    assert mine == [f for f in alone.fills if f.bar == exit_bar]
    assert sum(f.signed_quantity for f in run.result.fills if f.symbol == "SYN_A") == 0


def test_a_ticker_without_prices_on_the_span_is_refused_by_name(prices):
    late = prices.copy()
    late.iloc[:120, late.columns.get_loc("SYN_E")] = np.nan
    dates = prices.index
    with pytest.raises(DataError, match=r"SYN_E has no close on .*priced from"):
        run_lifecycle(
            late,
            [deployment(0, dates[300], [DE], PARAMS, "c0", dates[0])],
            "drain",
            oos_first=dates[300],
            oos_last=dates[-1],
        )


GRID_TOML = (
    "window = [20, 40]\nentry_z = [1.5, 2.0]\nstake = [20]\nstop_z = [3.5]\nlong_only = [false]\n"
)


def _cli(tmp_path: Path, prices: pd.DataFrame, out: str, *extra: str) -> Path:
    """``pairs-research walkforward --rescreen`` on 600 synthetic sessions; its reports folder."""
    frame = prices.iloc[:600].copy()
    frame.index = frame.index.strftime("%Y-%m-%d")
    frame.to_csv(tmp_path / "prices.csv", index_label="date")
    (tmp_path / "grid.toml").write_text(GRID_TOML)
    code = main(
        [
            "walkforward", "--base-dir", str(tmp_path / out), "--prices",
            str(tmp_path / "prices.csv"), "--rescreen", "--screen-engine", "fast",
            "--engine", "reference", "--grid", str(tmp_path / "grid.toml"),
            "--train", str(TRAIN), "--test", "150", "--splits", "4", "--no-plots", "--quiet",
            *extra,
        ]
    )  # fmt: skip
    assert code == 0
    return tmp_path / out / "reports"


@pytest.mark.parametrize("mode", [[], ["--anchored"]], ids=["rolling", "anchored"])
def test_the_cli_writes_the_lifecycle_files(tmp_path: Path, prices, mode, capsys):
    reports = _cli(tmp_path, prices, "out", "--handover", "close", *mode)
    assert "one account handing over (close): Sharpe" in capsys.readouterr().out
    folds = pd.read_csv(reports / "walkforward_folds.csv")
    summary = json.loads((reports / "walkforward_summary.json").read_text())
    plan = pd.read_csv(reports / "walkforward_handover.csv", keep_default_na=False)
    assert list(plan.columns) == ["fold", "date", "action", "pair", "detail"]
    assert summary["handover"] == "close"
    assert sum(summary["handover_actions"].values()) == (plan["action"] != "none").sum()
    assert folds["pairs"].notna().sum() >= 2  # the screen found pairs: configs to hand over to
    for fold in folds.itertuples():
        path = reports / "walkforward_configs" / f"fold_{fold.fold:02d}.json"
        if not isinstance(fold.pairs, str):  # a fold without pairs writes no config
            assert not path.exists()
            continue
        config = parse_config(path.read_text())
        assert str(config.data.first_session) == fold.train_first
        pairs = " ".join(f"{p.asset_1}/{p.asset_2}:{p.hedge_ratio:.6g}" for p in config.pair_list)
        assert pairs == fold.pairs  # the fold's own screen's pairs, not another fold's
        rows = plan[plan["fold"] == fold.fold]
        assert set(rows["date"]) == {fold.test_first}
        kept = set(rows.loc[rows["action"].isin(["keep", "change", "add"]), "pair"])
        assert kept == {f"{p.asset_1}/{p.asset_2}" for p in config.pair_list}
    fills = pd.read_csv(reports / "walkforward_lifecycle_fills.csv")
    assert list(fills.columns) == ["date", "symbol", "quantity", "price", "commission"]
    equity = pd.read_csv(reports / "walkforward_lifecycle_equity.csv")
    assert len(equity) == 600 - TRAIN and list(equity["fold"].unique()) == list(folds["fold"])
    last = equity["equity"].iloc[-1]
    assert last == pytest.approx(summary["lifecycle_final_value"])
    assert len(fills) > 0 and fills["date"].min() > folds["test_first"].iloc[0]
    # what a daemon replay would do: deploy each written config on its hand-over date
    deployments = [
        deployment_of_config(
            fold,
            pd.Timestamp(day),
            parse_config((reports / "walkforward_configs" / f"fold_{fold:02d}.json").read_text()),
        )
        for fold, day in plan[plan["action"] != "none"].groupby("fold")["date"].first().items()
    ]
    again = run_lifecycle(
        prices.iloc[:600],
        deployments,
        "close",
        oos_first=pd.Timestamp(equity["date"].iloc[0]),
        oos_last=pd.Timestamp(equity["date"].iloc[-1]),
    )
    assert np.allclose(again.oos_values, equity["equity"], rtol=0, atol=1e-6)
    assert len(again.fill_rows()) == len(fills)


def test_without_handover_the_reports_are_unchanged(tmp_path: Path, prices):
    plain = _cli(tmp_path, prices, "plain")
    lived = _cli(tmp_path, prices, "lived", "--handover", "drain")
    for name in ("walkforward_folds.csv", "walkforward_oos_equity.csv"):
        assert (plain / name).read_text() == (lived / name).read_text()
    assert sorted(p.name for p in plain.iterdir()) == [
        "walkforward_config_sharpes.csv",
        "walkforward_folds.csv",
        "walkforward_oos_equity.csv",
        "walkforward_summary.json",
    ]
    summary = json.loads((plain / "walkforward_summary.json").read_text())
    assert not [k for k in summary if "lifecycle" in k or "handover" in k]


def test_without_any_config_the_account_holds_cash(prices):
    dates = prices.index
    run = run_lifecycle(prices, [], "drain", oos_first=dates[300], oos_last=dates[-1])
    assert run.oos_dates.equals(dates[300:])
    assert (run.oos_values == run.initial_cash).all() and not run.result.fills
    assert run.plan_rows([(0, dates[300])])[0]["action"] == "none"
