"""The Kalman pairs strategy as a pure step function over frozen state.

``step_pair`` is the whole per-bar decision of the seed's ``KalmanPairsTrading.next`` for one
pair (docs/strategy.md, steps 1-4). Backtrader's ``next()``, the compiled engine's reference and
the daemon's ``run_once`` are thin drivers around it, which is what makes them decide alike.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum

from shared.kalman import KalmanState, kalman_update
from shared.orders import Leg, OrderIntent, Side
from shared.schema import ParamSpec, param, specs_of
from shared.zscore import rolling_zscore


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyParams:
    """The tunable parameters of the seed strategy (the grid's axes plus delta and R).

    The single declaration of every parameter: its name, default, type and bounds (see
    :mod:`shared.schema`). The grid, the production config, the results columns and the compiled
    engine's columns derive from these fields, in this order, which is also the seed's grid
    order. Built by keyword only, so a reordered field cannot silently swap two values.
    """

    window: int = param(60, int, ge=2, le=10_000)
    entry_z: float = param(2.5, float, gt=0)
    exit_z: float = param(0.5, float, ge=0)
    stop_z: float = param(4.0, float, gt=0)
    stake: int = param(50, int, ge=1, le=1_000_000)  # shares per trade: more is a typo
    long_only: bool = param(False, bool)
    delta: float = param(1e-5, float, gt=0, lt=1)
    R: float = param(0.001, float, gt=0, le=1e6)


PARAM_SPECS: dict[str, ParamSpec] = specs_of(fields(StrategyParams))
PARAM_NAMES: tuple[str, ...] = tuple(PARAM_SPECS)


@dataclass(frozen=True, slots=True)
class Pair:
    asset_1: str
    asset_2: str
    hedge_ratio: float


class Action(StrEnum):
    """What a bar's decision did, for logs and the daemon's session summary."""

    WARMING_UP = "warming_up"  # fewer than `window` spreads yet
    FLAT_STD = "flat_std"  # std of the window is 0: the bar is skipped
    HOLD = "hold"
    ENTER_LONG = "enter_long"  # long the spread: buy A, sell B
    ENTER_SHORT = "enter_short"  # short the spread: sell A, buy B
    EXIT = "exit"  # |z| < exit_z
    STOP = "stop"  # |z| > stop_z
    # The daemon only (never in a backtest): a flat pair closes shares a split left on a leg
    # (an exit sized on the pre-split count filled on the ex-date): daemon/core/decide.py.
    CLOSE_RESIDUAL = "close_residual"
    # A pair the account hands over from with ``[handover] dropped = "close"`` closes its legs
    # (shared/handover.py); research's lifecycle simulation does the same.
    CLOSE_DROPPED = "close_dropped"


ENTRIES = (Action.ENTER_LONG, Action.ENTER_SHORT)  # the actions that open a position


@dataclass(frozen=True, slots=True)
class PairState:
    """Everything the strategy remembers about one pair between bars.

    ``spreads`` keeps only the last ``window`` spreads: the seed keeps all of them but reads only
    those, so the decisions are the same and memory stays flat.
    """

    kalman: KalmanState
    spreads: tuple[float, ...] = ()
    state: int = 0  # 0 flat, 1 long spread, -1 short spread (what was *ordered*)
    bars_seen: int = 0

    @classmethod
    def initial(cls, pair: Pair) -> PairState:
        return cls(kalman=KalmanState(beta=float(pair.hedge_ratio), P=1.0))


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one bar for one pair: new state, orders to send, and why."""

    state: PairState
    orders: tuple[OrderIntent, ...]
    action: Action
    beta: float
    spread: float
    z: float | None


def _order(
    pair_index: int, leg: Leg, symbol: str, side: Side, size: int, price: float
) -> OrderIntent | None:
    """The seed's ``buy``/``sell`` call, normalised: size 0 is not sent at all, a negative size
    is sent as its absolute value in the stated direction (measured on backtrader)."""
    if size == 0:
        return None
    return OrderIntent(pair_index, leg, symbol, side, abs(size), price)


def _entry_orders(
    pair_index: int,
    pair: Pair,
    beta: float,
    stake: int,
    direction: int,
    price_a: float,
    price_b: float,
) -> tuple[OrderIntent, ...]:
    qty_b = stake
    qty_a = int(beta * qty_b)  # truncation toward zero, as the seed
    side_a = Side.BUY if direction > 0 else Side.SELL
    side_b = Side.SELL if direction > 0 else Side.BUY
    orders = (
        _order(pair_index, Leg.A, pair.asset_1, side_a, qty_a, price_a),
        _order(pair_index, Leg.B, pair.asset_2, side_b, qty_b, price_b),
    )
    return tuple(o for o in orders if o is not None)


def close_orders(
    pair_index: int, pair: Pair, pos_a: int, pos_b: int, price_a: float, price_b: float
) -> tuple[OrderIntent, ...]:
    orders = []
    for leg, symbol, pos, price in (
        (Leg.A, pair.asset_1, pos_a, price_a),
        (Leg.B, pair.asset_2, pos_b, price_b),
    ):
        if pos != 0:
            side = Side.SELL if pos > 0 else Side.BUY
            orders.append(OrderIntent(pair_index, leg, symbol, side, abs(pos), price))
    return tuple(orders)


def step_pair(
    pair_index: int,
    pair: Pair,
    state: PairState,
    price_a: float,
    price_b: float,
    pos_a: int,
    pos_b: int,
    params: StrategyParams,
) -> Decision:
    """Advance one pair by one bar.

    ``pos_a``/``pos_b`` are the *actual* positions after this bar's fills (not what was
    ordered): a rejected entry leaves ``state != 0`` with flat legs, and the next exit signal
    then just resets ``state`` without sending anything, as in backtrader.
    """
    kalman = kalman_update(state.kalman, price_a, price_b, params.delta, params.R)
    beta = kalman.beta
    spread = price_a - beta * price_b
    spreads = (*state.spreads, spread)[-params.window :]
    new_state = replace(state, kalman=kalman, spreads=spreads, bars_seen=state.bars_seen + 1)

    if len(spreads) < params.window:
        return Decision(new_state, (), Action.WARMING_UP, beta, spread, None)
    z = rolling_zscore(spreads, params.window)
    if z is None:
        return Decision(new_state, (), Action.FLAT_STD, beta, spread, None)

    if state.state == 0 and pos_a == 0 and pos_b == 0:
        if z < -params.entry_z:
            orders = _entry_orders(pair_index, pair, beta, params.stake, 1, price_a, price_b)
            return Decision(replace(new_state, state=1), orders, Action.ENTER_LONG, beta, spread, z)
        if not params.long_only and z > params.entry_z:
            orders = _entry_orders(pair_index, pair, beta, params.stake, -1, price_a, price_b)
            return Decision(
                replace(new_state, state=-1), orders, Action.ENTER_SHORT, beta, spread, z
            )
    elif state.state != 0 and (abs(z) < params.exit_z or abs(z) > params.stop_z):
        orders = close_orders(pair_index, pair, pos_a, pos_b, price_a, price_b)
        action = Action.EXIT if abs(z) < params.exit_z else Action.STOP
        return Decision(replace(new_state, state=0), orders, action, beta, spread, z)
    return Decision(new_state, (), Action.HOLD, beta, spread, z)


def observe_pair(
    pair_index: int,
    pair: Pair,
    state: PairState,
    price_a: float,
    price_b: float,
    params: StrategyParams,
) -> Decision:
    """Advance one pair by one bar *without trading*: the warm-up before a go-live date.

    The Kalman filter and the spread window move exactly as in :func:`step_pair`, but no order
    is produced and the signal state stays flat, so trading starts on the go-live bar from the
    same beta and z that a backtest over the same bars has, with no position carried in.
    """
    decision = step_pair(pair_index, pair, state, price_a, price_b, 0, 0, params)
    return Decision(
        replace(decision.state, state=0),
        (),
        Action.WARMING_UP,
        decision.beta,
        decision.spread,
        decision.z,
    )
