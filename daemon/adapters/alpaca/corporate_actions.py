"""``AlpacaCorporateActions``: splits, reverse splits and cash dividends from Alpaca's
corporate-actions API (``GET /v1/corporate-actions`` on the data endpoint) through alpaca-py.

Alpaca's records map to :class:`daemon.core.corporate_actions.CorporateAction` as follows:

- ``forward_splits`` / ``reverse_splits``: ratio = ``new_rate / old_rate`` (a 2-for-1 split has
  new_rate 2, old_rate 1: ratio 2.0; a 1-for-4 reverse split new_rate 1, old_rate 4: 0.25);
- ``cash_dividends``: amount = ``rate`` (dollars per share), payable_date = ``payable_date``.

alpaca-py follows ``next_page_token`` itself; the request sets no total limit, so every page is
read. A failure on any page refetches the whole range under our retry policy, and failures
become the project's Alpaca errors (:mod:`daemon.adapters.alpaca.errors`) exactly as for the bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from alpaca.data.enums import CorporateActionsType
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.models.corporate_actions import (
    CashDividend,
    CorporateActionsSet,
    ForwardSplit,
    ReverseSplit,
)
from alpaca.data.requests import CorporateActionsRequest

from daemon.adapters.alpaca.clients import AlpacaCredentials, TimeoutSession
from daemon.adapters.alpaca.retry import RetryPolicy, call
from daemon.core.corporate_actions import ActionKind, CorporateAction
from shared.errors import DataError

SOURCE = "alpaca"
TYPES = [
    CorporateActionsType.FORWARD_SPLIT,
    CorporateActionsType.REVERSE_SPLIT,
    CorporateActionsType.CASH_DIVIDEND,
]


class EdgeCorporateActionsClient(CorporateActionsClient):
    """``CorporateActionsClient`` with a timeout on every request and no internal retry (see
    :mod:`daemon.adapters.alpaca.clients`)."""

    def __init__(self, creds: AlpacaCredentials, *, url: str, timeout_s: float):
        super().__init__(api_key=creds.key_id, secret_key=creds.secret_key, url_override=url)
        self._session = TimeoutSession(timeout_s)
        self._retry_codes = []

    def __repr__(self) -> str:
        return f"EdgeCorporateActionsClient(url={self._base_url!r})"


class AlpacaCorporateActions:
    name = SOURCE

    def __init__(self, client: CorporateActionsClient, *, retry: RetryPolicy | None = None):
        self._client = client
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"AlpacaCorporateActions(client={self._client!r})"

    def corporate_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        if not symbols:
            return []
        if end < start:
            raise DataError(f"corporate-actions range ends ({end}) before it starts ({start})")
        request = CorporateActionsRequest(
            symbols=list(symbols), types=TYPES, start=start, end=end, limit=None
        )
        answer = call(
            lambda: self._client.get_corporate_actions(request),
            what=f"fetching corporate actions for {', '.join(symbols)} {start}..{end}",
            policy=self._retry,
        )
        assert isinstance(answer, CorporateActionsSet), "raw_data must stay off"
        wanted = set(symbols)
        found = [to_action(record) for records in answer.data.values() for record in records]
        return [a for a in found if a is not None and a.symbol in wanted]


def to_action(record: object) -> CorporateAction | None:
    """One Alpaca record as a :class:`CorporateAction`; None for a type the daemon does not
    handle (the request asks for none, but a server may send more)."""
    if isinstance(record, ForwardSplit | ReverseSplit):
        if record.old_rate <= 0:
            raise DataError(
                f"alpaca: split of {record.symbol} on {record.ex_date} has old_rate "
                f"{record.old_rate!r}; cannot compute its ratio",
                symbol=record.symbol,
            )
        return CorporateAction(
            record.symbol,
            ActionKind.SPLIT,
            record.ex_date,
            ratio=record.new_rate / record.old_rate,
            source=SOURCE,
        )
    if isinstance(record, CashDividend):
        return CorporateAction(
            record.symbol,
            ActionKind.DIVIDEND,
            record.ex_date,
            amount=record.rate,
            payable_date=record.payable_date,
            source=SOURCE,
        )
    return None
