"""The config model refuses what would trade wrongly, and config_id ignores labels."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import ConfigError
from tests.unit.daemon_helpers import make_closes, make_config

CLOSES = make_closes(30)


def _pairs(*legs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"asset_1": a, "asset_2": b, "hedge_ratio": 1.0} for a, b in legs]


@pytest.mark.parametrize(
    ("legs", "words"),
    [
        ((("AAA", "BBB"), ("AAA", "BBB")), "pairs.1 (AAA/BBB) duplicates AAA"),
        ((("AAA", "BBB"), ("BBB", "AAA")), "pairs.1 (BBB/AAA) duplicates BBB"),
        ((("AAA", "BBB"), ("CCC", "BBB")), "pairs.1 (CCC/BBB) shares BBB with pairs.0"),
    ],
)
def test_duplicate_and_overlapping_pairs_are_refused_with_the_pair_named(
    legs: tuple[tuple[str, str], ...], words: str
) -> None:
    with pytest.raises(ConfigError, match="key 'pairs'") as err:
        make_config(CLOSES, pairs=_pairs(*legs))
    assert words in str(err.value) and "{" not in str(err.value)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"stake": 10**17}, "stake"),
        ({"stake": 10**20}, "stake"),
        ({"initial_cash": 1e300}, "initial_cash"),
        ({"pairs": [{"asset_1": "AAA", "asset_2": "BBB", "hedge_ratio": 1e308}]}, "hedge_ratio"),
        ({"pairs": [{"asset_1": "AAA", "asset_2": "BBB", "hedge_ratio": -2e4}]}, "hedge_ratio"),
    ],
)
def test_absurd_sizes_are_refused_with_the_key_named(override: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        make_config(CLOSES, **override)


def test_config_id_ignores_labels_and_follows_what_decides_trades() -> None:
    base = make_config(CLOSES)
    data = base.data.model_dump(mode="json")
    relabelled = make_config(
        CLOSES,
        note="renamed",
        data=data | {"source": "another_file.csv", "sha256": "ab" * 32},
        pairs=[
            {"asset_1": "AAA", "asset_2": "BBB", "hedge_ratio": 1.4, "pvalue": 0.01},
            {"asset_1": "CCC", "asset_2": "DDD", "hedge_ratio": 0.9, "corr": 0.9},
        ],
    )
    assert relabelled.config_id == base.config_id
    for changed in (
        make_config(CLOSES, entry_z=1.6),
        make_config(CLOSES, data=data | {"first_session": CLOSES.index[1].isoformat()}),
        make_config(CLOSES, pairs=_pairs(("AAA", "BBB"), ("CCC", "DDD"))),
    ):
        assert changed.config_id != base.config_id
