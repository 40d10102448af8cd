"""A broker that books no split: Alpaca's paper environment, by public reports, applies no
splits (and pays no dividends) to paper positions.

On a split's ex-date the daemon records the position change the broker should book
(:mod:`daemon.cycle.apply_actions`). If reconciliation then finds the broker holding exactly
the pre-split count (the recorded fills without the split's change), the broker did not book
it: the split is marked as not booked (its position change, fraction and cash in lieu are
undone in the store), a ``split_not_booked`` warning is raised once, and the session goes on
trading what the account actually holds, never halting. The shadow model books no such split
either, so pair integrity does not try to buy the missing shares back and tracking compares
like with like. Entries keep being sized in real shares (the prices did split).
"""

from __future__ import annotations

from datetime import date

from daemon.core.ports import Logger
from daemon.monitoring.alerts import AlertCode, raise_alert
from daemon.store import Store
from daemon.store.actions import adjustments, mark_split_not_booked, splits_not_booked


def explain_unbooked_splits(
    store: Store, mismatches: dict[str, tuple[int, int]], session: date, log: Logger
) -> bool:
    """Mark every applied split that explains a mismatch (store expects the split's change,
    the broker lacks exactly it) as not booked; True if any was."""
    found = False
    done = splits_not_booked(store)
    for adjustment in adjustments(store):
        if adjustment.action_key in done or adjustment.quantity == 0:
            continue
        expected, actual = mismatches.get(adjustment.symbol, (0, 0))
        if (expected, actual) == (0, 0) or expected - actual != adjustment.quantity:
            continue
        with store.transaction():
            mark_split_not_booked(store, adjustment)
        found = True
        raise_alert(
            store,
            log,
            AlertCode.SPLIT_NOT_BOOKED,
            f"the broker did not book the {adjustment.symbol} split of {adjustment.session} "
            f"(it holds {actual:+d}, the pre-split count, not {expected:+d}): a paper account "
            "that applies no splits. The daemon trades what the account holds from now on; "
            "its equity carries the split as a price move (a loss on a long, a gain on a short) "
            "that a real account would not see",
            session=session,
            symbol=adjustment.symbol,
            held=actual,
            booked_would_be=expected,
        )
    return found
