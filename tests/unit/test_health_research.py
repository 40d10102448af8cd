"""Pair health on the research side: the config records each pair's formation half-life (schema
2; a schema-1 config still loads), ``pairs-research health`` measures a config's pairs as the
daemon does, and ``backtest --on-degraded no_new_entries`` is the reference backtest with the
rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import coint

from research.cli import main as research_main
from research.data.market_data import align_closes
from research.evaluation.pair_health import config_health, entry_rule
from research.search.grid import SEED_GRID
from research.search.optimize import build_config
from shared.config import SCHEMA_VERSION, dump_config, parse_config
from shared.errors import ConfigError
from shared.health import HealthRules, spread_half_life
from shared.simulation import simulate
from tests.parity.daemon_scenarios import degrading_pair_case
from tests.unit.test_config_roundtrip import best_row


@pytest.fixture
def prices() -> pd.DataFrame:
    dates = pd.bdate_range("2024-01-02", periods=120)
    rng = np.random.default_rng(0)
    b = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))
    return pd.DataFrame({"AAA": 0.5 * b + 10 + rng.normal(0, 0.3, 120), "BBB": b}, index=dates)


def _selected() -> pd.DataFrame:
    return pd.DataFrame([{"asset_1": "AAA", "asset_2": "BBB", "hedge_ratio": 0.5, "pvalue": 0.01}])


def test_the_emitted_config_records_the_formation_half_life(prices: pd.DataFrame) -> None:
    data = align_closes(prices, ["AAA", "BBB"])
    config = build_config(
        best_row(), _selected(), data, SEED_GRID, engine="fast", source="u", sha256="x"
    )
    want = spread_half_life(prices["AAA"].to_numpy(), prices["BBB"].to_numpy())
    assert config.schema_version == SCHEMA_VERSION == 2
    assert config.pairs[0].half_life == want and 0 < want < 5
    payload = json.loads(dump_config(config))
    assert payload["schema_version"] == 2 and payload["pairs"][0]["half_life"] == want
    assert parse_config(dump_config(config)) == config


def test_a_schema_1_config_without_half_lives_still_loads_and_its_half_life_is_unknown(
    prices: pd.DataFrame,
) -> None:
    data = align_closes(prices, ["AAA", "BBB"])
    config = build_config(
        best_row(), _selected(), data, SEED_GRID, engine="fast", source="u", sha256="x"
    )
    old = json.loads(dump_config(config))
    old["schema_version"] = 1
    del old["pairs"][0]["half_life"]
    loaded = parse_config(old)
    assert loaded.schema_version == 1 and loaded.pairs[0].half_life is None
    assert loaded.config_id == config.config_id  # a label: it decides no trade
    old["pairs"][0]["half_life"] = 3.0
    with pytest.raises(ConfigError, match="half_life needs schema_version 2"):
        parse_config(old)
    old["schema_version"] = 3
    with pytest.raises(ConfigError, match="schema_version"):
        parse_config(old)


@pytest.fixture
def degrading_files(tmp_path: Path) -> tuple[Path, Path]:
    case = degrading_pair_case()
    prices, config = tmp_path / "prices.csv", tmp_path / "config.json"
    case.closes.to_csv(prices)
    config.write_text(dump_config(case.config), encoding="utf-8")
    return prices, config


def test_the_health_command_measures_like_statsmodels_on_the_trailing_window(
    degrading_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    prices, config = degrading_files
    argv = ["health", "--prices", str(prices), "--config", str(config), "--health-window", "80"]
    assert research_main([*argv, "--json", "--end", "2021-08-31"]) == 0
    printed = json.loads(capsys.readouterr().out)
    case = degrading_pair_case()
    closes = case.closes.loc[[d.isoformat() <= "2021-08-31" for d in case.closes.index]]
    for a, b in (("AAA", "BBB"), ("CCC", "DDD")):
        t, p, _ = coint(closes[a].to_numpy()[-80:], closes[b].to_numpy()[-80:])
        got = printed[f"{a}/{b}"]
        assert (got["coint_t"], got["pvalue"]) == (t, p)
        assert got["session"] == closes.index[-1].isoformat()
    assert printed["AAA/BBB"]["status"] == "healthy"
    assert printed["CCC/DDD"]["status"] == "degraded"
    assert research_main(argv) == 0
    out = capsys.readouterr().out
    assert "CCC/DDD" in out and "DEGRADED" in out and "1 of 2 pairs healthy" in out
    assert research_main([*argv[:-1], "30"]) == 2  # below the shortest window


def test_backtest_on_degraded_is_the_reference_backtest_with_the_rule(
    degrading_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    prices, config_path = degrading_files
    argv = ["backtest", "--prices", str(prices), "--config", str(config_path), "--json"]
    rule = ["--on-degraded", "no_new_entries", "--health-window", "80"]
    assert research_main([*argv, *rule]) == 0
    printed = json.loads(capsys.readouterr().out)
    case = degrading_pair_case()
    config, closes = case.config, case.closes
    sim = simulate(
        closes.to_numpy(),
        list(closes.columns),
        config.pair_list,
        config.params,
        config.initial_cash,
        config.commission,
        entry_rule=entry_rule(config, HealthRules(window=80)),
    )
    assert printed["blocked_entries"] == len(sim.blocked) > 0
    assert printed["final_value"] == pytest.approx(sim.metrics.final_value, rel=1e-12)
    assert research_main([*argv, "--engine", "reference"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["final_value"] != printed["final_value"]
    assert research_main([*argv, *rule, "--engine", "fast"]) == 2
    assert "reference engine only" in capsys.readouterr().err


def test_config_health_reports_every_pair_at_the_requested_session() -> None:
    case = degrading_pair_case()
    frame = case.closes.copy()
    frame.index = pd.DatetimeIndex(frame.index)
    rows = config_health(frame, case.config, HealthRules(window=80))
    assert [r.pair for r in rows] == ["AAA/BBB", "CCC/DDD"]
    assert rows[1].health.formation_half_life == case.config.pairs[1].half_life
    assert rows[1].health.degraded and not rows[0].health.blocks_entries
