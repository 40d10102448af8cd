"""Why the paper account differs from the model: the tracking difference, term by term.

For one order with paper fill ``q_b @ p_b`` (commission ``c_b``) and model fill ``q_m @ p_m``
(commission ``c_m``), marked at today's close ``x``, the paper-minus-model equity is exactly::

    -q_b·(p_b - p)                              slippage   (p = p_m, or the model's fill price
                                                            on that session if it did not fill)
    + (|q_b|·p·rate - c_b)                      commission (the model's rate on the paper qty)
    + (q_b - q_m)·(x - p) + (c_m - |q_b|·p·rate) unfilled  (what the model's extra shares made)

summed over every order either account filled. Cash the broker holds beyond what the recorded
fills imply is dividends and corporate-action cash; what is left (the broker marking positions
at another price, shares a split added) is the residual. The five terms add up to the
difference by construction; on the local paper broker each of them is exactly 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date

from daemon.monitoring.shadow import ModelOrder
from daemon.store import FillRecord

TERMS = ("slippage", "commission", "dividends", "unfilled", "residual")
# The model's real closes of a session (None if it did not model that session).
ClosesOn = Callable[[date], Mapping[str, float] | None]


@dataclass(frozen=True, slots=True)
class Attribution:
    slippage: float = 0.0
    commission: float = 0.0
    dividends: float = 0.0
    unfilled: float = 0.0
    residual: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class OrderComparison:
    """One order as both accounts executed it (the report's trades table)."""

    client_order_id: str
    symbol: str
    decision_session: date | None
    fill_session: date | None
    intended: int  # signed, as the model decided it
    paper_filled: int
    model_filled: int
    paper_price: float | None
    model_price: float | None
    slippage: float  # paper-minus-model dollars from the fill price alone


def compare_orders(
    fills: list[FillRecord],
    orders: list[ModelOrder],
    closes_on: ClosesOn,
    intents: dict[str, tuple[date, int]],
) -> list[OrderComparison]:
    """Pair paper fills with model orders by ``client_order_id`` (orders of either side)."""
    paper = {f.client_order_id: f for f in fills}
    model = {o.client_order_id: o for o in orders}
    out = []
    for cid in list(model) + [c for c in paper if c not in model]:
        fill, order = paper.get(cid), model.get(cid)
        fill_session = fill.session if fill else (order.fill_session if order else None)
        symbol = fill.symbol if fill else order.symbol  # type: ignore[union-attr]
        ref = _reference_price(fill, order, closes_on)
        q_b = fill.signed_quantity if fill else 0
        decided = order.decision_session if order else intents.get(cid, (None, 0))[0]
        out.append(
            OrderComparison(
                client_order_id=cid,
                symbol=symbol,
                decision_session=decided,
                fill_session=fill_session,
                intended=order.signed_quantity if order else intents.get(cid, (None, q_b))[1],
                paper_filled=q_b,
                model_filled=order.filled_quantity if order else 0,
                paper_price=fill.price if fill else None,
                model_price=ref,
                slippage=-q_b * (fill.price - ref) if fill and ref is not None else 0.0,
            )
        )
    return out


def _reference_price(
    fill: FillRecord | None, order: ModelOrder | None, closes_on: ClosesOn
) -> float | None:
    if order is not None and order.filled_quantity and order.fill_price is not None:
        return order.fill_price
    when = fill.session if fill else (order.fill_session if order else None)
    closes = None if when is None else closes_on(when)
    if closes is None:
        return None
    symbol = fill.symbol if fill else order.symbol  # type: ignore[union-attr]
    return closes.get(symbol)


def attribute(
    *,
    initial_cash: float,
    rate: float,
    fills: list[FillRecord],
    orders: list[ModelOrder],
    closes_on: ClosesOn,
    today: Mapping[str, float],
    paper_cash: float,
    difference: float,
    model_corporate_cash: float = 0.0,
) -> Attribution:
    """The cumulative attribution, at ``today``'s closes, of ``difference`` (paper minus model equity),
    see the module doc. ``model_corporate_cash``: the model's cash in lieu of split fractions.
    ``fills`` are the paper fills of the modelled sessions in the order the
    store recorded them (the broker's order, so the implied cash is summed as the broker did)."""
    paper = {f.client_order_id: f for f in fills}
    model = {o.client_order_id: o for o in orders if o.fill_session is not None}
    slippage = commission = unfilled = 0.0
    implied_cash = initial_cash
    # A symbol a hand-over let go has no close today; both accounts are out of it, so its
    # quantity differences net to zero and any one price per symbol cancels out.
    marks: dict[str, float] = dict(today)
    for cid in [*paper, *(c for c in model if c not in paper)]:
        fill, order = paper.get(cid), model.get(cid)
        ref = _reference_price(fill, order, closes_on)
        if fill is not None:
            implied_cash = implied_cash - fill.signed_quantity * fill.price - fill.commission
        if ref is None:  # a paper fill on a session the model has no closes for: residual
            continue
        q_b, p_b, c_b = (fill.signed_quantity, fill.price, fill.commission) if fill else (0, 0, 0)
        q_m, c_m = (order.filled_quantity, order.commission) if order else (0, 0.0)
        symbol = fill.symbol if fill else order.symbol  # type: ignore[union-attr]
        share = abs(q_b) * ref * rate
        slippage += -q_b * (p_b - ref) if q_b else 0.0
        commission += share - c_b
        mark = marks.setdefault(symbol, ref)
        unfilled += (q_b - q_m) * (mark - ref) + (c_m - share)
    # The broker's cash beyond the fills: dividends and cash in lieu; the model's own cash in
    # lieu (it books the same splits) is netted out, so only what differs is explained here.
    dividends = paper_cash - implied_cash - model_corporate_cash
    explained = slippage + commission + dividends + unfilled
    return Attribution(
        slippage=slippage,
        commission=commission,
        dividends=dividends,
        unfilled=unfilled,
        residual=difference - explained,
    )
