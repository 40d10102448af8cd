"""The emitted production config: every seed key, pairs with screen statistics, data window,
selection metrics, provenance; it round-trips through shared.config, and bad files fail with an
error that names the key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.commands.backtest import read_config
from research.data.market_data import align_closes
from research.search.grid import SEED_GRID
from research.search.optimize import build_config, prices_sha256
from shared.config import dump_config, parse_config
from shared.errors import ConfigError

SEED_KEYS = (
    "window",
    "entry_z",
    "exit_z",
    "stop_z",
    "stake",
    "long_only",
    "delta",
    "R",
    "initial_cash",
    "commission",
    "note",
)


@pytest.fixture
def prices() -> pd.DataFrame:
    dates = pd.bdate_range("2024-01-02", periods=120)
    rng = np.random.default_rng(0)
    b = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))
    return pd.DataFrame({"AAA": 0.5 * b + 10 + rng.normal(0, 0.3, 120), "BBB": b}, index=dates)


@pytest.fixture
def selected() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "asset_1": "AAA",
                "asset_2": "BBB",
                "corr": 0.92,
                "pvalue": 0.017,
                "coint_t": -3.7,
                "crit_1pct": -3.9,
                "crit_5pct": -3.34,
                "crit_10pct": -3.05,
                "hedge_ratio": 0.5698,
                "intercept": 88.8,
                "n_obs": np.int64(120),
            }
        ]
    )


def best_row() -> pd.Series:
    return pd.Series(
        {
            "window": np.int64(60),
            "entry_z": 2.5,
            "exit_z": 0.5,
            "stop_z": 3.5,
            "stake": np.int64(25),
            "long_only": np.bool_(False),
            "delta": 1e-5,
            "R": 0.001,
            "final_value": 100497.077275,
            "total_return": 0.004971,
            "sharpe_ratio": 0.033068,
            "max_dd_pct": 0.223872,
            "max_dd_abs": 225.489606,
            "total_trades": np.int64(34),
            "n_days": np.int64(120),
        }
    )


def test_emitted_config_round_trips_and_carries_what_the_daemon_needs(
    prices: pd.DataFrame, selected: pd.DataFrame
) -> None:
    data = align_closes(prices, ["AAA", "BBB"])
    now = datetime(2025, 12, 6, 12, 0, tzinfo=UTC)
    config = build_config(
        best_row(),
        selected,
        data,
        SEED_GRID,
        engine="fast",
        source="unit",
        sha256="ab" * 32,
        now=now,
    )
    text = dump_config(config)
    payload = json.loads(text)
    assert list(payload)[: len(SEED_KEYS)] == list(SEED_KEYS)
    assert parse_config(text) == config
    assert (config.window, config.stake, config.long_only) == (60, 25, False)
    assert config.pairs[0].pvalue == 0.017 and config.pairs[0].n_obs == 120
    assert config.data.first_session.isoformat() == "2024-01-02"
    assert config.data.n_sessions == 120 and config.data.source == "unit"
    assert config.selection_metrics["sharpe_ratio"] == 0.033068
    assert config.provenance.generated_at is not None
    assert config.provenance.generated_at.tzinfo is not None
    assert config.provenance.grid_size == 72 and config.provenance.engine == "fast"
    assert config.provenance.grid is not None and config.provenance.grid["stake"] == [25, 50, 75]


def test_undefined_sharpe_is_written_as_null(prices: pd.DataFrame, selected: pd.DataFrame) -> None:
    row = best_row()
    row["sharpe_ratio"] = np.nan
    data = align_closes(prices, ["AAA", "BBB"])
    config = build_config(row, selected, data, SEED_GRID, engine="fast", source="u", sha256="x")
    assert json.loads(dump_config(config))["selection_metrics"]["sharpe_ratio"] is None


def test_prices_hash_equals_the_hash_of_the_cleaned_csv_file(
    prices: pd.DataFrame, tmp_path: Path
) -> None:
    import hashlib

    out = prices.copy()
    out.index = out.index.strftime("%Y-%m-%d")
    path = tmp_path / "adj_close_wide.csv"
    out.to_csv(path, index_label="date")
    assert prices_sha256(prices) == hashlib.sha256(path.read_bytes()).hexdigest()


def good_payload(prices: pd.DataFrame, selected: pd.DataFrame) -> dict[str, object]:
    data = align_closes(prices, ["AAA", "BBB"])
    config = build_config(
        best_row(), selected, data, SEED_GRID, engine="fast", source="u", sha256="x"
    )
    payload: dict[str, object] = json.loads(dump_config(config))
    return payload


@pytest.mark.parametrize(
    ("mutate", "key", "fragment"),
    [
        (lambda p: p.pop("stop_z"), "stop_z", "missing"),
        (lambda p: p.update(stopz=4.0), "stopz", "not a known key"),
        (lambda p: p.update(window=1), "window", "greater than or equal to 2"),
        (lambda p: p.update(commission=1.5), "commission", "less than 1"),
        (lambda p: p.update(exit_z=3.0), None, "exit_z (3.0) must be below entry_z"),
        (lambda p: p["pairs"][0].pop("hedge_ratio"), "pairs.0.hedge_ratio", "missing"),
    ],
)
def test_bad_config_files_fail_with_an_error_naming_the_file_and_key(
    tmp_path: Path, prices: pd.DataFrame, selected: pd.DataFrame, mutate, key, fragment
) -> None:
    payload = good_payload(prices, selected)
    mutate(payload)
    path = tmp_path / "kalman_prod_config.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ConfigError) as info:
        read_config(path)
    message = str(info.value)
    assert message.startswith(str(path)) and fragment in message
    if key:
        assert f"key '{key}'" in message


def test_malformed_or_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "kalman_prod_config.json"
    path.write_text('{"window": 60,')
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_config(path)
    with pytest.raises(ConfigError, match="cannot read the config"):
        read_config(tmp_path / "nope.json")
