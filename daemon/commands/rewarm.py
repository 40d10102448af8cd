"""``pairs-daemon rewarm``: put the strategy on the feed's corrected history, on purpose.

The daemon never rewrites the history it traded on by itself (see :mod:`daemon.feeds.revisions`).
When the feed restated bars, or filled in rows it had missed, and the operator wants the
strategy on the corrected history, this command (run with the service stopped: it takes the
state directory's lock) replaces the stored closes with the feed's current ones from the
config's first session through the last stored session, after the same checks new bars pass,
and marks the pair states for a rebuild: the next session replays the filter and z-window from
the config's first session on the new history, with the positions the store's fills record.
Orders, fills and equity already recorded are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from daemon.config.research_config import load_config
from daemon.cycle.context import DaemonContext
from daemon.cycle.roster_step import check_deployed, previous_roster
from daemon.feeds.bars import validate_closes
from daemon.feeds.reports import REWARM_META
from daemon.feeds.revisions import SymbolComparison, compare_symbol
from daemon.feeds.sanity import check_jumps, exchange_date
from daemon.store.actions import SCALE_META
from daemon.timing.sessions import xnys_sessions
from shared.errors import StateError


@dataclass(frozen=True, slots=True)
class RewarmReport:
    first: date
    last: date
    sessions_before: int
    sessions_after: int
    comparisons: dict[str, SymbolComparison]

    def lines(self) -> list[str]:
        out = [
            f"re-warmed on the feed's history {self.first}..{self.last}: "
            f"{self.sessions_after} sessions (was {self.sessions_before})"
        ]
        for symbol, c in self.comparisons.items():
            out.append(
                f"  {symbol:<8} factor fresh/stored {c.factor:.9g}  restated bars "
                f"{len(c.restated)} (largest {c.max_revision:.3g} relative)"
            )
        out.append("pair states are rebuilt from the config's first session at the next run")
        return out


def rewarm(ctx: DaemonContext) -> RewarmReport:
    config = load_config(ctx.config_path)
    check_deployed(ctx.store, config, ctx.config_path)
    roster = previous_roster(ctx.store, config)  # what the account trades now
    symbols = roster.symbols
    stored = ctx.store.bars(symbols)
    if not len(stored):
        raise StateError(
            f"state file {ctx.store.path} holds no bars yet; nothing to re-warm (the first "
            "session warms the strategy up from the feed)"
        )
    first, last = roster.first_session, max(stored.index)
    fresh = ctx.bars.daily_closes(symbols, first, last)
    fresh = fresh.loc[[first <= d <= last for d in fresh.index]]
    if ctx.settings.data.check_calendar:
        required = xnys_sessions(first, last)
    else:
        required = sorted(set(fresh.index) | set(stored.index))
    fresh = validate_closes(fresh, symbols, required, ctx.bars.name)
    check_jumps(fresh, required, ctx.settings.data.max_daily_move, ctx.bars.name)
    tolerance = ctx.settings.data.rescale_tolerance
    comparisons = {s: compare_symbol(stored[s], fresh[s], tolerance, s) for s in symbols}
    now = ctx.clock.now().isoformat()
    with ctx.store.transaction():
        ctx.store.replace_bars(fresh.loc[required, list(symbols)].astype(float))
        for symbol in symbols:  # the stored scale is now the feed's
            ctx.store.record_rescale(last, symbol, 1.0, now)
        ctx.store.set_meta(REWARM_META, last.isoformat())
        # The new history is adjusted as of today: only splits after today move it again.
        ctx.store.set_meta(SCALE_META, exchange_date(ctx.clock.now()).isoformat())
    ctx.logger.warning(
        "history_rewarmed",
        first=first.isoformat(),
        last=last.isoformat(),
        sessions=len(required),
        factors={s: c.factor for s, c in comparisons.items()},
        restated={s: len(c.restated) for s, c in comparisons.items()},
    )
    return RewarmReport(first, last, len(stored), len(required), comparisons)
