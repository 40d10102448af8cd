"""The parameter grid: the seed's default, and grids loaded from JSON/TOML with clear errors."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from research.search.grid import SEED_GRID, Grid, grid_from_mapping, load_grid
from shared.errors import ConfigError
from shared.strategy import StrategyParams


def test_seed_grid_enumerates_the_seeds_72_configurations_in_product_order() -> None:
    expected = [
        StrategyParams(window=w, entry_z=e, exit_z=x, stop_z=s, stake=k, long_only=lo)
        for w, e, x, s, k, lo in itertools.product(
            [45, 60, 90], [2.0, 2.5], [0.5], [3.5, 4.0], [25, 50, 75], [False, True]
        )
    ]
    assert SEED_GRID.params() == expected
    assert SEED_GRID.size == 72
    assert (SEED_GRID.initial_cash, SEED_GRID.commission) == (100_000.0, 0.0005)


def test_grid_loads_from_toml_with_scalar_delta_and_seed_defaults_for_omitted_axes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "grid.toml"
    path.write_text("window = [30, 60]\nstake = [10]\nlong_only = [true]\ndelta = 1e-4\n")
    grid = load_grid(path)
    assert grid.window == (30, 60) and grid.stake == (10,) and grid.long_only == (True,)
    assert grid.delta == (1e-4,)
    assert grid.entry_z == SEED_GRID.entry_z  # omitted: the seed's
    assert grid.size == 2 * 2 * 1 * 2 * 1 * 1 * 1 * 1


def test_grid_loads_from_json_and_delta_and_r_can_be_axes(tmp_path: Path) -> None:
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"window": [45], "delta": [1e-5, 1e-4], "R": [0.001, 0.01]}))
    grid = load_grid(path)
    assert grid.size == 1 * 2 * 1 * 2 * 3 * 2 * 2 * 2
    assert {(p.delta, p.R) for p in grid.params()} == {
        (1e-5, 0.001),
        (1e-5, 0.01),
        (1e-4, 0.001),
        (1e-4, 0.01),
    }


def test_grid_as_dict_records_every_axis_for_provenance() -> None:
    d = SEED_GRID.as_dict()
    assert d["window"] == [45, 60, 90] and d["long_only"] == [False, True]
    assert d["initial_cash"] == [100_000.0]


@pytest.mark.parametrize(
    ("raw", "key", "fragment"),
    [
        ({"windows": [45]}, "windows", "not a grid key"),
        ({"window": 45}, "window", "non-empty list"),
        ({"window": []}, "window", "non-empty list"),
        ({"window": [45, 2.5]}, "window", "integer in [2, 10000]"),
        ({"stake": [0]}, "stake", "integer in [1, 1000000]"),
        ({"long_only": ["yes"]}, "long_only", "true or false"),
        ({"entry_z": [-1.0]}, "entry_z", "number > 0"),
        ({"delta": [1.5]}, "delta", "(0, 1)"),
        ({"commission": [0.001]}, "commission", "[0, 1)"),
        ({"exit_z": [2.0]}, "exit_z", "below every entry_z"),
        ({"stop_z": [2.5]}, "entry_z", "below every stop_z"),
    ],
)
def test_bad_grid_values_fail_with_an_error_naming_the_key(
    raw: dict[str, object], key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        grid_from_mapping(raw, source="g.toml")
    assert f"key '{key}'" in str(info.value) and fragment in str(info.value)
    assert str(info.value).startswith("g.toml")


def test_grid_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_grid(tmp_path / "missing.toml")
    bad = tmp_path / "bad.json"
    bad.write_text("{window: [45]")
    with pytest.raises(ConfigError, match=r"bad\.json.*cannot parse"):
        load_grid(bad)
    yaml = tmp_path / "grid.yaml"
    yaml.write_text("window: [45]")
    with pytest.raises(ConfigError, match=r"\.json or \.toml"):
        load_grid(yaml)
    top = tmp_path / "list.json"
    top.write_text("[45, 60]")
    with pytest.raises(ConfigError, match="top level"):
        load_grid(top)


def test_grid_is_frozen() -> None:
    grid = Grid()
    with pytest.raises(AttributeError):
        grid.window = (1,)  # type: ignore[misc]
