"""Adjusted prices move: a constant re-adjustment is undone on new bars; a restated bar is
reported and never applied."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from daemon.core.errors import BarRefused
from daemon.feeds.bars import merge_bars

SYMBOLS = ["AAA", "BBB"]
DAYS = [date(2024, 3, d) for d in (4, 5, 6, 7, 8)]


def _stored() -> pd.DataFrame:
    return pd.DataFrame({"AAA": [10.0, 11.0, 12.0, 13.0], "BBB": [5.0, 5.5, 6.0, 6.5]}, DAYS[:4])


def _fresh(a_factor: float, b_factor: float = 1.0) -> pd.DataFrame:
    frame = _stored().copy()
    frame["AAA"] *= a_factor
    frame["BBB"] *= b_factor
    frame.loc[DAYS[4]] = [14.0, 7.0]  # the new session, as delivered today
    return frame


def test_unchanged_history_appends_the_new_session_as_is() -> None:
    update = merge_bars(_stored(), _fresh(1.0), SYMBOLS, DAYS[4], DAYS, 1e-6, "feed")
    assert update.factors == {} and update.new_sessions == [DAYS[4]]
    assert update.strategy_closes.loc[DAYS[4], "AAA"] == 14.0


def test_a_dividend_readjustment_is_detected_and_the_new_bar_put_on_the_stored_scale() -> None:
    update = merge_bars(_stored(), _fresh(0.98), SYMBOLS, DAYS[4], DAYS, 1e-6, "feed")
    assert update.factors == {"AAA": pytest.approx(0.98)}
    assert update.strategy_closes.loc[DAYS[4], "AAA"] == pytest.approx(14.0 / 0.98)
    assert update.strategy_closes.loc[DAYS[4], "BBB"] == 7.0
    assert update.real_closes == {"AAA": 14.0, "BBB": 7.0}  # orders use the real price
    assert list(update.strategy_closes.loc[DAYS[:4], "AAA"]) == [10.0, 11.0, 12.0, 13.0]


def test_a_split_is_a_constant_factor_too() -> None:
    fresh = _fresh(1.0, 0.25)
    fresh.loc[DAYS[4], "BBB"] = 1.75  # the new bar on the split-adjusted scale
    update = merge_bars(_stored(), fresh, SYMBOLS, DAYS[4], DAYS, 1e-6, "feed")
    assert update.factors == {"BBB": pytest.approx(0.25)}
    assert update.strategy_closes.loc[DAYS[4], "BBB"] == pytest.approx(7.0)


def test_a_restated_past_bar_is_reported_and_the_stored_history_kept() -> None:
    fresh = _fresh(0.98)
    fresh.loc[DAYS[1], "AAA"] = 11.5 * 0.98  # one past bar rewritten on top of a dividend
    update = merge_bars(_stored(), fresh, SYMBOLS, DAYS[4], DAYS, 1e-6, "feed")
    found = update.restated["AAA"]
    assert found.factor == pytest.approx(0.98, rel=1e-12)  # the median ignores the outlier
    assert list(found.restated) == [DAYS[1]]
    assert found.restated[DAYS[1]] == (11.0, pytest.approx(11.5))
    assert update.strategy_closes.loc[DAYS[1], "AAA"] == 11.0  # never applied
    assert update.strategy_closes.loc[DAYS[4], "AAA"] == pytest.approx(14.0 / 0.98)


def test_a_bad_restatement_of_the_last_stored_bar_does_not_get_a_good_new_bar_refused() -> None:
    fresh = _fresh(1.0)
    fresh.loc[DAYS[3], "AAA"] = 1300.0  # the vendor's ×100 print on a bar already stored
    update = merge_bars(_stored(), fresh, SYMBOLS, DAYS[4], DAYS, 1e-6, "feed")
    assert list(update.restated["AAA"].restated) == [DAYS[3]]  # reported
    assert update.strategy_closes.loc[DAYS[4], "AAA"] == 14.0  # today's bar is used


def test_a_x100_new_bar_is_refused_against_the_stored_previous_close() -> None:
    fresh = _fresh(1.0)
    fresh.loc[DAYS[4], "AAA"] = 1400.0
    with pytest.raises(BarRefused, match=r"moved ×107\.7") as err:
        merge_bars(_stored(), fresh, SYMBOLS, DAYS[4], DAYS, 1e-6, "feed")
    assert err.value.symbol == "AAA" and err.value.session == DAYS[4].isoformat()
