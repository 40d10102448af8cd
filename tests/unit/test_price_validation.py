"""Price validation and date reading: what is refused or dropped, and the words used."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.data.price_dates import parse_session_dates
from research.data.price_validation import (
    DEFAULT_FROZEN_SESSIONS,
    drop_unusable,
    find_problems,
    longest_frozen_run,
    series_problem,
)
from shared.errors import DataError


def _series(values: list[float] | np.ndarray) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2024-01-01", periods=len(values)))


def _walk(n: int = 50, seed: int = 0) -> np.ndarray:
    return 100 + np.cumsum(np.random.default_rng(seed).normal(0, 1, n))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (np.inf, "non-finite close inf on 2024-01-04"),
        (-np.inf, "non-finite close -inf on 2024-01-04"),
        (1e300, "absurd close 1e+300 on 2024-01-04 (above 1e+08)"),
        (-3.5, "non-positive close -3.5 on 2024-01-04"),
        (0.0, "non-positive close 0 on 2024-01-04"),
    ],
)
def test_a_bad_close_is_named_with_its_date(bad: float, reason: str) -> None:
    values = _walk()
    values[3] = bad
    assert series_problem(_series(values)) == reason


def test_a_misplaced_decimal_point_is_an_absurd_jump() -> None:
    values = _walk()
    values[10] = values[10] * 1000
    reason = series_problem(_series(values))
    assert reason is not None and reason.startswith("absurd jump from ")
    assert "on 2024-01-15 (a factor beyond 100 in one session)" in reason


def test_a_constant_series_is_named_constant() -> None:
    assert series_problem(_series([42.0] * 30)) == (
        "constant close 42 on all 30 sessions (2024-01-01 .. 2024-02-09)"
    )


def test_a_frozen_stretch_at_the_limit_is_dropped_and_one_session_shorter_is_kept() -> None:
    values = _walk(60)
    values[20 : 20 + DEFAULT_FROZEN_SESSIONS] = values[20]
    reason = series_problem(_series(values))
    assert reason == (
        f"frozen: the close stays {values[20]:g} for 10 sessions (2024-01-29 .. 2024-02-09; "
        "the limit is 9, see --frozen-sessions)"
    )
    values = _walk(60)
    values[20 : 20 + DEFAULT_FROZEN_SESSIONS - 1] = values[20]
    assert series_problem(_series(values)) is None


def test_gaps_are_not_problems_and_an_empty_series_is_left_to_coverage_rules() -> None:
    values = _walk()
    values[5:8] = np.nan
    assert series_problem(_series(values)) is None
    assert series_problem(_series([np.nan] * 5)) is None


def test_longest_frozen_run_reports_its_length_and_start() -> None:
    assert longest_frozen_run(np.array([1.0, 2, 2, 2, 3, 3])) == (3, 1)
    assert longest_frozen_run(np.array([5.0])) == (1, 0)


def test_drop_unusable_keeps_the_good_tickers_and_says_why_the_others_went() -> None:
    frame = pd.DataFrame({"A": _walk(seed=1), "B": _walk(seed=2), "C": [7.0] * 50})
    frame.index = pd.bdate_range("2024-01-01", periods=50)
    kept, problems = drop_unusable(frame, source="f.csv")
    assert list(kept.columns) == ["A", "B"]
    assert [p.symbol for p in problems] == ["C"]


def test_a_needed_ticker_that_is_unusable_is_an_error_naming_it() -> None:
    values = _walk()
    values[3] = np.inf
    frame = pd.DataFrame({"A": values, "B": _walk(seed=3)})
    frame.index = pd.bdate_range("2024-01-01", periods=50)
    with pytest.raises(DataError, match=r"f.csv: ticker A: non-finite close inf on 2024-01-04"):
        drop_unusable(frame, source="f.csv", needed=["A", "B"])


def test_a_frozen_limit_below_two_is_refused() -> None:
    with pytest.raises(DataError, match="at least 2"):
        find_problems(pd.DataFrame({"A": _walk()}), frozen_sessions=1)


# -- dates -------------------------------------------------------------------------------

TODAY = date(2026, 1, 1)


def _dates(values: list[str], fmt: str | None = None) -> list[str]:
    parsed = parse_session_dates(Path("p.csv"), pd.Series(values, name="date"), fmt, TODAY)
    return list(parsed.strftime("%Y-%m-%d"))


def test_iso_dates_and_timestamps_with_offsets_are_read_as_sessions() -> None:
    stamps = ["2020-12-08 16:00:00-05:00", "2020-12-09 16:00:00-05:00"]
    assert _dates(stamps) == ["2020-12-08", "2020-12-09"]


def test_day_first_dates_are_read_day_first_when_the_file_settles_it() -> None:
    assert _dates(["08/12/2020", "13/12/2020"]) == ["2020-12-08", "2020-12-13"]


def test_month_first_dates_are_read_month_first_when_the_file_settles_it() -> None:
    assert _dates(["12/08/2020", "12/13/2020"]) == ["2020-12-08", "2020-12-13"]


def test_dates_that_could_be_either_order_are_refused_naming_both_formats() -> None:
    with pytest.raises(DataError) as err:
        _dates(["08/12/2020", "09/12/2020"])
    message = str(err.value)
    assert "ambiguous dates: '08/12/2020' could be day/month or month/day" in message
    assert "--date-format %d/%m/%Y (day first) or %m/%d/%Y (month first)" in message


def test_a_file_mixing_both_orders_is_refused() -> None:
    with pytest.raises(DataError, match=r"mixes day-first \('13/01/2020'\) and month-first"):
        _dates(["13/01/2020", "01/14/2020"])


def test_a_given_date_format_settles_ambiguous_dates_and_must_match_every_row() -> None:
    assert _dates(["08/12/2020", "09/12/2020"], "%d/%m/%Y") == ["2020-12-08", "2020-12-09"]
    assert _dates(["08/12/2020", "09/12/2020"], "%m/%d/%Y") == ["2020-08-12", "2020-09-12"]
    with pytest.raises(DataError, match=r"line 3: '2020-12-09' .* does not match --date-format"):
        _dates(["08/12/2020", "2020-12-09"], "%d/%m/%Y")


def test_a_session_after_today_is_refused_with_its_line() -> None:
    with pytest.raises(DataError) as err:
        _dates(["2025-12-30", "2030-01-02", "2025-12-31"])
    assert "line 3: session 2030-01-02 is in the future (today is 2026-01-01)" in str(err.value)
