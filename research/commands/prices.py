"""``pairs-research prices download|import|generate``: produce ``data/cleaned/adj_close_wide.csv``.

All three end the same way: restrict to ``--start..--end`` (inclusive), drop unusable tickers
with a reason, align the rest on common sessions, write the cleaned table and
``data/cleaned/cleaning_report.json`` under ``--base-dir``, and print what was dropped.
"""

from __future__ import annotations

import argparse
import calendar
import re
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from research.artifacts import staged
from research.commands.price_checks import add_price_check_arguments, frozen_limit
from research.data.prices import (
    DEFAULT_MIN_BARS,
    DEFAULT_MIN_COVERAGE,
    CleaningReport,
    DroppedTicker,
    clean_prices,
    read_wide_csv,
    restrict_columns,
    write_cleaned,
)
from research.data.synthetic import DEFAULT_SEED, DEFAULT_SESSIONS, DEFAULT_START, generate_universe
from research.data.synthetic import source_label as synthetic_label
from research.data.yahoo import PriceFetcher, YFinanceFetcher, download_closes
from research.layout import ArtifactLayout
from shared.errors import DataError

_RELATIVE = re.compile(r"-(\d+)([dmy])")
_NEW_YORK = ZoneInfo("America/New_York")


def resolve_date(text: str, today: date) -> date:
    """``YYYY-MM-DD``, or a date relative to ``today`` for unattended runs (the monthly
    re-research timer): ``today``, ``yesterday``, ``-30d``, ``-6m``, ``-5y`` (days, months,
    years before today; a month end clamps, 03-31 minus one month is 02-28/29)."""
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    found = _RELATIVE.fullmatch(text)
    if found is None:
        return date.fromisoformat(text)
    count, unit = int(found.group(1)), found.group(2)
    if unit == "d":
        return today - timedelta(days=count)
    months = today.year * 12 + today.month - 1 - (count * 12 if unit == "y" else count)
    year, month = divmod(months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(today.day, last_day))


def iso_date(text: str) -> date:
    """An argparse type: see :func:`resolve_date`; relative dates count from today in New
    York (the exchange's date)."""
    try:
        return resolve_date(text, datetime.now(_NEW_YORK).date())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date like 2024-01-31 (or today, yesterday, -30d, -6m, -5y)"
        ) from None


def split_tickers(text: str) -> list[str]:
    return [t for t in text.replace(",", " ").split() if t]


def add_cleaning_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=iso_date, help="first session kept (YYYY-MM-DD)")
    parser.add_argument("--end", type=iso_date, help="last session kept, inclusive")
    parser.add_argument(
        "--min-coverage",
        type=float,
        default=DEFAULT_MIN_COVERAGE,
        help=f"drop a ticker priced on fewer than this share of sessions ({DEFAULT_MIN_COVERAGE})",
    )
    parser.add_argument(
        "--min-bars",
        type=int,
        default=DEFAULT_MIN_BARS,
        help=f"drop a ticker with fewer bars; also the minimum aligned length ({DEFAULT_MIN_BARS})",
    )
    add_price_check_arguments(parser, dates=False)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "prices",
        help="download, import or generate prices and write the cleaned table",
        description="Produce data/cleaned/adj_close_wide.csv under --base-dir.",
    )
    steps = parser.add_subparsers(dest="source_kind", required=True, metavar="SOURCE")

    dl = steps.add_parser("download", help="adjusted closes from Yahoo Finance (yfinance)")
    dl.add_argument("--tickers", help="tickers, comma or space separated (e.g. SPY,DIA,QQQ)")
    dl.add_argument("--tickers-file", type=Path, help="file with one ticker per line (# comments)")
    dl.add_argument("--refresh", action="store_true", help="ignore the data/raw/ cache")
    dl.add_argument("--attempts", type=int, default=3, help="tries per ticker (default 3)")

    imp = steps.add_parser("import", help="any wide CSV of closes (first column the date)")
    imp.add_argument("file", type=Path, help="wide CSV: date column, then one column per ticker")
    imp.add_argument("--tickers", help="keep only these columns (comma separated)")
    imp.add_argument(
        "--date-format", metavar="FMT", help="date format, e.g. %%d/%%m/%%Y (ambiguous dates)"
    )

    gen = steps.add_parser("generate", help="a deterministic synthetic sample universe (SYN_*)")
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    gen.add_argument(
        "--sessions",
        type=int,
        default=DEFAULT_SESSIONS,
        help=f"business days to generate when --end is not given ({DEFAULT_SESSIONS})",
    )

    for sub in (dl, imp, gen):
        sub.add_argument("--base-dir", type=Path, required=True, help="artifact base directory")
        add_cleaning_arguments(sub)
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    layout = ArtifactLayout(args.base_dir)
    raw, source, failed = load_raw(args, layout)  # downloads are cached in the real data/raw/
    with staged(layout) as stage:
        _, report = clean_and_write(raw, source, args, stage.layout, failed)
    print(report.summary())
    print(f"wrote {layout.cleaned_prices}")
    return 0


def load_raw(
    args: argparse.Namespace, layout: ArtifactLayout, fetch: PriceFetcher | None = None
) -> tuple[pd.DataFrame, str, tuple[DroppedTicker, ...]]:
    """The uncleaned wide table, its source label, and tickers that failed to download.

    ``fetch`` replaces the yfinance adapter (tests pass recorded answers)."""
    if args.source_kind == "download":
        return _download(args, layout, fetch or YFinanceFetcher())
    if args.source_kind == "import":
        frame = read_wide_csv(args.file, getattr(args, "date_format", None))
        keep = split_tickers(args.tickers) if args.tickers else None
        return restrict_columns(frame, keep), f"csv:{args.file.name}", ()
    return _generate(args), synthetic_label(args.seed), ()


def _download(
    args: argparse.Namespace, layout: ArtifactLayout, fetch: PriceFetcher
) -> tuple[pd.DataFrame, str, tuple[DroppedTicker, ...]]:
    tickers = _tickers(args)
    if args.start is None or args.end is None:
        raise DataError("download needs --start and --end (the cache is keyed by the range)")
    result = download_closes(
        tickers,
        args.start,
        args.end,
        cache_dir=layout.raw_dir,
        fetch=fetch,
        refresh=args.refresh,
        attempts=args.attempts,
        progress=not args.no_progress,
    )
    for ticker, why in result.failed.items():
        print(f"download failed for {ticker}: {why}", file=sys.stderr)
    if not result.closes:
        raise DataError(
            f"no ticker could be downloaded ({', '.join(result.failed)}); when every ticker "
            "fails the cause is usually the network or Yahoo (offline, rate-limited) rather than "
            "the symbols; retry later, or import a CSV with `prices import`"
        )
    if result.from_cache:
        print(f"from cache ({layout.raw_dir}): {', '.join(result.from_cache)}", file=sys.stderr)
    failed = tuple(DroppedTicker(t, f"download failed: {w}") for t, w in result.failed.items())
    return result.wide(), "yfinance", failed


def _tickers(args: argparse.Namespace) -> list[str]:
    tickers = split_tickers(args.tickers) if args.tickers else []
    if args.tickers_file:
        if not args.tickers_file.is_file():
            raise DataError(f"{args.tickers_file}: no such tickers file")
        for line in args.tickers_file.read_text().splitlines():
            tickers += split_tickers(line.split("#", 1)[0])
    if not tickers:
        raise DataError("no tickers: pass --tickers SPY,DIA,... or --tickers-file FILE")
    return tickers


def _generate(args: argparse.Namespace) -> pd.DataFrame:
    first = args.start or DEFAULT_START
    sessions = args.sessions
    if args.end is not None:
        # With both ends given the synthetic universe spans exactly the requested window.
        sessions = len(pd.bdate_range(first, args.end))
    return generate_universe(seed=args.seed, start=first, n_sessions=sessions)


def clean_and_write(
    raw: pd.DataFrame,
    source: str,
    args: argparse.Namespace,
    layout: ArtifactLayout,
    failed: tuple[DroppedTicker, ...] = (),
) -> tuple[pd.DataFrame, CleaningReport]:
    cleaned, report = clean_prices(
        raw,
        source=source,
        start=args.start,
        end=args.end,
        min_coverage=args.min_coverage,
        min_bars=args.min_bars,
        frozen_sessions=frozen_limit(args),
    )
    if failed:
        report = replace(report, dropped=failed + report.dropped)
    write_cleaned(cleaned, report, layout)
    return cleaned, report
