"""The command-line side of price validation: the shared options and "read, check, say why".

Every command that reads prices goes through :func:`load_checked` (or :func:`checked` for a
frame it already has), so a file with ``inf``, a frozen ticker or ambiguous dates gets the same
treatment everywhere: unusable tickers are dropped with the ticker, the date and the reason on
stderr, and a ticker the command cannot do without is an error giving that reason.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from research.data.price_validation import DEFAULT_FROZEN_SESSIONS, describe, drop_unusable
from research.data.prices import read_wide_csv


def add_price_check_arguments(parser: argparse.ArgumentParser, *, dates: bool = True) -> None:
    """``--frozen-sessions`` (and ``--date-format`` when the command reads a CSV)."""
    parser.add_argument(
        "--frozen-sessions",
        type=_frozen_sessions,
        default=DEFAULT_FROZEN_SESSIONS,
        metavar="N",
        help="drop a ticker whose close stays the same on N consecutive sessions (a stale "
        f"feed); default {DEFAULT_FROZEN_SESSIONS}, 0 turns the check off",
    )
    if dates:
        parser.add_argument(
            "--date-format",
            metavar="FMT",
            help="strptime format of the price file's dates, e.g. %%d/%%m/%%Y; needed when "
            "dates like 08/12/2020 could be day or month first",
        )


def _frozen_sessions(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value == 1 or value < 0:
        raise argparse.ArgumentTypeError("must be 0 (off) or at least 2 sessions")
    return value


def frozen_limit(args: argparse.Namespace) -> int:
    """The frozen-run limit to apply (0 = off becomes "longer than any history")."""
    value = int(getattr(args, "frozen_sessions", DEFAULT_FROZEN_SESSIONS))
    return value if value > 0 else sys.maxsize


def checked(
    prices: pd.DataFrame, source: str, args: argparse.Namespace, needed: Iterable[str] = ()
) -> pd.DataFrame:
    """``prices`` without unusable tickers (each one reported on stderr)."""
    kept, problems = drop_unusable(
        prices, source=source, frozen_sessions=frozen_limit(args), needed=needed
    )
    for line in describe(problems, source):
        print(f"warning: {line}", file=sys.stderr)
    return kept


def load_checked(path: Path, args: argparse.Namespace, needed: Iterable[str] = ()) -> pd.DataFrame:
    """Read a wide CSV of closes (dates without guessing) and drop its unusable tickers."""
    prices = read_wide_csv(path, getattr(args, "date_format", None))
    return checked(prices, str(path), args, needed)
