"""The state store's record types, and the exact (JSON) form of a pair's strategy state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from daemon.core.statuses import IntentStatus, RunStatus
from shared.kalman import KalmanState
from shared.strategy import PairState


@dataclass(frozen=True, slots=True)
class IntentRecord:
    client_order_id: str
    session: date
    pair_index: int
    leg: str
    symbol: str
    side: str
    quantity: int
    reference_price: float
    attempt: int = 1
    status: IntentStatus = IntentStatus.PENDING
    broker_order_id: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class FillRecord:
    client_order_id: str
    session: date  # the session whose run observed the fill (the fill's bar)
    symbol: str
    signed_quantity: int
    price: float
    commission: float


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    session: date
    pair_index: int
    pair: str
    action: str
    beta: float
    spread: float
    z: float | None
    state: int
    blocked: str | None
    pair_state: PairState


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    session: date
    config_id: str
    status: RunStatus
    started_at: str
    finished_at: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class EquityRecord:
    session: date
    cash: float
    equity: float
    positions: dict[str, int]


def pair_state_to_json(state: PairState) -> str:
    return json.dumps(
        {
            "beta": state.kalman.beta,
            "P": state.kalman.P,
            "spreads": list(state.spreads),
            "state": state.state,
            "bars_seen": state.bars_seen,
        }
    )


def pair_state_from_json(text: str) -> PairState:
    raw = json.loads(text)
    return PairState(
        kalman=KalmanState(beta=float(raw["beta"]), P=float(raw["P"])),
        spreads=tuple(float(s) for s in raw["spreads"]),
        state=int(raw["state"]),
        bars_seen=int(raw["bars_seen"]),
    )


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    """A stored bar the feed later restated (``restated``), or a session it filled in after
    the daemon had moved past it (``filled_late``, ``stored`` is None)."""

    symbol: str
    session: date
    kind: str
    stored: float | None
    fresh: float | None
